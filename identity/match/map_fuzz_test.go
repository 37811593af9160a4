package match

import (
	"strings"
	"testing"
)

// FuzzParseMap: --map is outside input. It never panics, and what it
// accepts maps only to known attributes, each from one column.
func FuzzParseMap(f *testing.F) {
	for _, s := range []string{
		"given_name=first_name,surname=last_name",
		"a=ignore,b=ignore",
		" x = email , y=phone,",
		"=first_name", "a=b=c", "a=first_name,b=first_name", "", ",,,", "é=dob",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		m, err := ParseMap(s)
		if err != nil {
			return
		}
		seen := map[string]bool{}
		for src, attr := range m {
			if src == "" || strings.Contains(src, ",") {
				t.Fatalf("accepted source column %q from %q", src, s)
			}
			if attr != "ignore" && !IsAttribute(attr) {
				t.Fatalf("accepted attribute %q from %q", attr, s)
			}
			if attr != "ignore" && seen[attr] {
				t.Fatalf("attribute %s mapped twice from %q", attr, s)
			}
			seen[attr] = true
		}
	})
}
