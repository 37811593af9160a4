package identity

import (
	"errors"
	"fmt"
	"slices"
	"strings"
)

// Blocklist holds junk identifier values that must never link profiles.
type Blocklist struct {
	// values maps a value to the types it is blocked for ("*": any). Keyed
	// by the value alone, a lookup needs no "type:value" string built for
	// it: the speed layer checks every identifier of every event.
	values map[string][]string
	// allowed, in the same form, are values blocked nowhere (nil: none).
	allowed map[string][]string
	// maybe has a bit per length (mod 64) and first byte (mod 64) of
	// the values: a value whose bit is clear is not among them, known
	// without hashing it (about all an event's identifiers are not).
	maybe [64]uint64
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

// NewBlocklist builds a blocklist from entries "value" (any type) or
// "type:value". Allow entries, in the same form, are never blocked.
func NewBlocklist(entries, allow []string) *Blocklist {
	b := &Blocklist{values: entryMap(entries)}
	for v := range b.values {
		if v != "" {
			b.maybe[len(v)%64] |= 1 << (v[0] % 64)
		}
	}
	if len(allow) > 0 {
		b.allowed = entryMap(allow)
	}
	return b
}

// Junk is the blocklist both layers apply: DefaultJunk and the configured
// blocklist, less the configured allow entries (CheckAllow).
func Junk(blocklist, allow []string) *Blocklist {
	return NewBlocklist(append(slices.Clone(DefaultJunk), blocklist...), allow)
}

// CheckAllow says what is wrong with an allow entry: it must take a value
// off the built-in list (else it allows nothing: a typo?), and one that
// blocklist does not block (the two would contradict).
func CheckAllow(entry string, blocklist []string) error {
	typ, v := parseEntry(entry)
	switch {
	case v == "":
		return errors.New("an empty value never identifies anyone")
	case !NewBlocklist(DefaultJunk, nil).blocks(typ, v):
		return fmt.Errorf("%q is not blocked by the built-in list: nothing to allow", entry)
	case listed(entryMap(blocklist)[v], typ):
		return fmt.Errorf("%q is blocked by blocklist too: remove it from one of them", entry)
	}
	return nil
}

func entryMap(entries []string) map[string][]string {
	m := make(map[string][]string, len(entries))
	for _, e := range entries {
		typ, v := parseEntry(e)
		m[v] = append(m[v], typ)
	}
	return m
}

// parseEntry splits "type:value" or "value" (type "*": any), lower case.
func parseEntry(e string) (typ, value string) {
	e = strings.ToLower(strings.TrimSpace(e))
	if typ, v, ok := strings.Cut(e, ":"); ok && !strings.Contains(typ, "@") && typ != "" && !strings.ContainsAny(typ, " /") && isTypeName(typ) {
		return typ, v
	}
	return "*", e
}

// listed reports whether types (an entry map's) covers typ; typ "*" is
// covered by an entry of any type.
func listed(types []string, typ string) bool {
	return slices.ContainsFunc(types, func(t string) bool { return t == "*" || t == typ || typ == "*" })
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
	if b.allowed != nil && v != "" && listed(b.allowed[v], typ) {
		return false
	}
	return b.blocks(typ, v)
}

// blocks is Blocked without the allow entries, v in lower case and
// trimmed; typ "*" asks whether v is blocked for some type.
func (b *Blocklist) blocks(typ, v string) bool {
	if v == "" || b.maybe[len(v)%64]&(1<<(v[0]%64)) != 0 && listed(b.values[v], typ) {
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
