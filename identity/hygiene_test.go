package identity

import (
	"fmt"
	"slices"
	"testing"
)

func TestBlocked(t *testing.T) {
	b := NewBlocklist(append(slices.Clone(DefaultJunk), "email:Bad@X.co", " spam ", "a b:c"), nil)
	for _, c := range []struct {
		typ, value string
		want       bool
	}{
		{"user_id", "u1", false},
		{"user_id", "", true},
		{"user_id", "  ", true},
		{"anonymous_id", " Undefined ", true}, // any type, case and spaces ignored
		{"email", "test@test.com", true},
		{"user_id", "test@test.com", false}, // typed entries block that type only
		{"email", "bad@x.co", true},
		{"phone", "bad@x.co", false},
		{"user_id", "SPAM", true},
		{"user_id", "a b:c", true}, // not a type name before the colon: a value of any type
		{"a b", "c", false},
		{"device_id", "0000-00", true},
		{"device_id", "0000-01", false},
		{"phone", "+15555555555", true},
	} {
		if got := b.Blocked(c.typ, c.value); got != c.want {
			t.Errorf("Blocked(%q, %q) = %v, want %v", c.typ, c.value, got, c.want)
		}
	}
}

// Allow entries take values off the built-in list: for one type, or for
// every type, the all-zero rule included.
func TestAllowed(t *testing.T) {
	b := Junk([]string{"email:bad@x.co"}, []string{"user_id:1", " Test ", "device_id:0"})
	for _, c := range []struct {
		typ, value string
		want       bool
	}{
		{"user_id", "1", false},
		{"anonymous_id", "1", true}, // allowed for user_id only
		{"user_id", "test", false},
		{"anonymous_id", "TEST", false},
		{"device_id", "0", false},
		{"device_id", "00", true},
		{"user_id", "", true},
		{"email", "bad@x.co", true},
		{"user_id", "-1", true},
	} {
		if got := b.Blocked(c.typ, c.value); got != c.want {
			t.Errorf("Blocked(%q, %q) = %v, want %v", c.typ, c.value, got, c.want)
		}
	}
}

func TestCheckAllow(t *testing.T) {
	blocklist := []string{"email:bad@x.co", "unknown2", "user_id:-1"}
	for _, c := range []struct {
		entry, err string
	}{
		{"user_id:1", ""},
		{"1", ""},
		{"email:Test@Test.com", ""},
		{"device_id:0000", ""}, // the all-zero rule
		{"anonymous_id:-1", ""},
		{" ", "an empty value never identifies anyone"},
		{"user_id:", "an empty value never identifies anyone"},
		{"user_id:42", `"user_id:42" is not blocked by the built-in list: nothing to allow`},
		{"user_id:test@test.com", `"user_id:test@test.com" is not blocked by the built-in list: nothing to allow`},
		{"email:bad@x.co", `"email:bad@x.co" is not blocked by the built-in list: nothing to allow`},
		{"user_id:-1", `"user_id:-1" is blocked by blocklist too: remove it from one of them`},
		{"-1", `"-1" is blocked by blocklist too: remove it from one of them`},
	} {
		err := CheckAllow(c.entry, blocklist)
		if got := fmt.Sprint(err); (c.err == "" && err != nil) || (c.err != "" && got != c.err) {
			t.Errorf("CheckAllow(%q) = %v, want %q", c.entry, err, c.err)
		}
	}
}
