package identity

import (
	"strings"
	"sync"
	"unicode"

	"github.com/nyaruka/phonenumbers"
	"golang.org/x/text/runes"
	"golang.org/x/text/transform"
	"golang.org/x/text/unicode/norm"

	cdp "github.com/tributary-cdp/tributary"
)

// DefaultRegion is the phone region assumed for numbers without a country code.
const DefaultRegion = "US"

// NormalizeEmail trims and lower-cases an email. It returns "" when the
// value is not shaped like an address (one @, a dot in the domain).
func NormalizeEmail(s string) string {
	s = strings.ToLower(strings.TrimSpace(s))
	at := strings.LastIndexByte(s, '@')
	if at <= 0 || at == len(s)-1 || strings.Count(s, "@") != 1 || !strings.Contains(s[at+1:], ".") || strings.ContainsAny(s, " \t\r\n") {
		return ""
	}
	return s
}

// NormalizePhone returns the E.164 form of a phone number ("+14155552671"),
// parsing numbers without a country code in region. "" when invalid.
func NormalizePhone(s, region string) string {
	s = strings.TrimSpace(s)
	if s == "" {
		return ""
	}
	if region == "" {
		region = DefaultRegion
	}
	num, err := phonenumbers.Parse(s, region)
	if err != nil || !phonenumbers.IsPossibleNumber(num) {
		return ""
	}
	return phonenumbers.Format(num, phonenumbers.E164)
}

// foldChains pools accent-stripping transformers: a transform.Chain keeps
// state between calls, so one shared chain corrupts (and panics) under
// concurrent use, as when DuckDB runs the fold_name UDF on several threads.
var foldChains = sync.Pool{New: func() any {
	return transform.Chain(norm.NFD, runes.Remove(runes.In(unicode.Mn)), norm.NFC)
}}

// FoldName lower-cases, strips accents and collapses spaces and punctuation:
// "  José  O'Brien-Smith " → "jose obrien smith".
func FoldName(s string) string {
	t := foldChains.Get().(transform.Transformer)
	out, _, err := transform.String(t, s)
	foldChains.Put(t)
	if err != nil {
		out = s
	}
	var b strings.Builder
	space := false
	for _, r := range strings.ToLower(out) {
		switch {
		case unicode.IsLetter(r) || unicode.IsDigit(r):
			if space && b.Len() > 0 {
				b.WriteByte(' ')
			}
			space = false
			b.WriteRune(r)
		case r == '\'' || r == '’' || r == '.':
			// dropped: O'Brien → obrien
		default:
			space = true
		}
	}
	return b.String()
}

// Normalize returns the canonical value of an identifier of type typ, or ""
// when the value is empty or invalid for the type. Both layers call it, so
// the speed layer, ingest and DuckDB (through a UDF) agree byte for byte.
func Normalize(typ, value string) string {
	switch typ {
	case cdp.IDEmail:
		return NormalizeEmail(value)
	case cdp.IDPhone:
		return NormalizePhone(value, DefaultRegion)
	default:
		return strings.TrimSpace(value)
	}
}
