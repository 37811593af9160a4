package identity

import (
	"slices"
	"strings"
)

// Blocklist holds junk identifier values that must never link profiles.
type Blocklist struct {
	// values maps a value to the types it is blocked for ("*": any). Keyed
	// by the value alone, a lookup needs no "type:value" string built for
	// it: the speed layer checks every identifier of every event.
	values map[string][]string
}

// DefaultJunk are values seen in real data that identify nobody.
var DefaultJunk = []string{
	"", "null", "nil", "none", "undefined", "unknown", "n/a", "na", "0", "-1", "1", "test", "anonymous",
	"00000000-0000-0000-0000-000000000000", "00000000000000000000000000000000",
	"ffffffff-ffff-ffff-ffff-ffffffffffff",
	"email:test@test.com", "email:test@example.com", "email:noemail@noemail.com", "email:no@email.com",
	"email:none@none.com", "email:example@example.com", "email:a@a.com", "email:email@email.com",
	"phone:+10000000000", "phone:+11111111111", "phone:+15555555555", "phone:+11234567890",
}

// NewBlocklist builds a blocklist from entries "value" (any type) or "type:value".
func NewBlocklist(entries []string) *Blocklist {
	b := &Blocklist{values: make(map[string][]string, len(entries))}
	for _, e := range entries {
		e = strings.ToLower(strings.TrimSpace(e))
		if typ, v, ok := strings.Cut(e, ":"); ok && !strings.Contains(typ, "@") && typ != "" && !strings.ContainsAny(typ, " /") && isTypeName(typ) {
			b.values[v] = append(b.values[v], typ)
			continue
		}
		b.values[e] = append(b.values[e], "*")
	}
	return b
}

func isTypeName(s string) bool {
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r == '_' || r >= '0' && r <= '9') {
			return false
		}
	}
	return true
}

// Blocked reports whether a normalized value must not be used as an identifier.
func (b *Blocklist) Blocked(typ, value string) bool {
	v := strings.ToLower(strings.TrimSpace(value))
	if v == "" || slices.ContainsFunc(b.values[v], func(t string) bool { return t == "*" || t == typ }) {
		return true
	}
	// All-zero ids of any length ("0000", "000000000"), common in device ids.
	for i := 0; i < len(v); i++ {
		if v[i] != '0' && v[i] != '-' {
			return false
		}
	}
	return true
}
