package identity

import (
	"slices"
	"testing"
)

func TestBlocked(t *testing.T) {
	b := NewBlocklist(append(slices.Clone(DefaultJunk), "email:Bad@X.co", " spam ", "a b:c"))
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
