package identity

import (
	"fmt"
	"strings"
	"sync"
	"unicode"

	"github.com/nyaruka/phonenumbers"
	"golang.org/x/text/runes"
	"golang.org/x/text/transform"
	"golang.org/x/text/unicode/norm"

	cdp "github.com/tributary-cdp/tributary"
)

// DefaultRegion is the phone region assumed for numbers without a country
// code when none is configured (region "").
const DefaultRegion = "US"

// ValidRegion reports whether libphonenumber knows region, an upper-case
// ISO 3166-1 alpha-2 code ("GB"); "" stands for DefaultRegion.
func ValidRegion(region string) bool {
	return region == "" || phonenumbers.GetSupportedRegions()[region]
}

// Regions are where phone numbers without a country code are read, per
// workspace: a deployment may serve a UK shop and a US shop. Every layer
// reads a workspace's numbers in the same region, or reconcile is not exact.
type Regions struct {
	// Default is the region of the workspaces not in Workspaces ("":
	// DefaultRegion).
	Default string
	// Workspaces maps a workspace id to its own region; nil when every
	// workspace reads Default.
	Workspaces map[string]string
}

// Of returns the region of workspace's numbers.
func (r Regions) Of(workspace string) string {
	if region, ok := r.Workspaces[workspace]; ok {
		return region
	}
	return r.Default
}

// Normalize is Normalize in workspace's region. Only phone numbers are
// read in a region, so only they look it up: the speed layer normalizes
// every identifier of every event, and a map probe for each is wasted.
func (r Regions) Normalize(workspace, typ, value string) string {
	region := r.Default
	if typ == cdp.IDPhone {
		region = r.Of(workspace)
	}
	return Normalize(typ, value, region)
}

// Validate reports a region libphonenumber does not know, naming it.
func (r Regions) Validate() error {
	if !ValidRegion(r.Default) {
		return fmt.Errorf("phone region %q is not one libphonenumber supports (upper case, e.g. US or GB)", r.Default)
	}
	for ws, region := range r.Workspaces {
		if region == "" || !ValidRegion(region) {
			return fmt.Errorf("phone region %q of workspace %s is not one libphonenumber supports (upper case, e.g. US or GB)", region, ws)
		}
	}
	return nil
}

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
	if region == "US" {
		if e, ok := fastNANP(s); ok {
			return e
		}
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
// fastNANP formats the common North American shapes ("4155552671",
// "(415) 555-2671", "415.555.2671", "+1 415 555 2671", "1-415-555-2671")
// without the full parser, which costs ~20µs a number. It gives what
// phonenumbers would (TestFastNANPAgrees) and declines anything else.
func fastNANP(s string) (string, bool) {
	var d [11]byte
	n, plus := 0, false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= '0' && c <= '9':
			if n == len(d) {
				return "", false
			}
			d[n] = c
			n++
		case c == '+' && i == 0:
			plus = true
		case c == ' ' || c == '-' || c == '.' || c == '(' || c == ')':
		default:
			return "", false
		}
	}
	var nat []byte
	switch {
	case n == 10 && !plus:
		nat = d[:10]
	case n == 11 && d[0] == '1':
		nat = d[1:11]
	default:
		return "", false
	}
	// Area code and exchange start with 2-9 in valid NANP numbers; leave
	// the odd ones to the full parser.
	if nat[0] < '2' || nat[3] < '2' {
		return "", false
	}
	return "+1" + string(nat), true
}

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
// when the value is empty or invalid for the type; phone numbers without a
// country code are read in region ("": DefaultRegion). Both layers call it
// with the configured region, so the speed layer, the look-ups and DuckDB
// (through a UDF) agree byte for byte.
func Normalize(typ, value, region string) string {
	if strings.IndexByte(value, 0) >= 0 {
		// None: DuckDB's UDFs get the value cut at U+0000 ("victim\x00x" as
		// "victim"), so the batch layer could not read it as this one does.
		return ""
	}
	switch typ {
	case cdp.IDEmail:
		return NormalizeEmail(value)
	case cdp.IDPhone:
		return NormalizePhone(value, region)
	default:
		return strings.TrimSpace(value)
	}
}
