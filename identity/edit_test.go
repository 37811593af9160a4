package identity

import "testing"

func TestDamerauLevenshtein(t *testing.T) {
	for _, c := range []struct {
		a, b string
		d    int
	}{
		{"", "", 0}, {"", "abc", 3}, {"abc", "", 3}, {"abc", "abc", 0},
		{"abc", "acb", 1}, {"ca", "abc", 2}, // OSA would say 3
		{"kitten", "sitting", 3}, {"ann@example.com", "nan@example.com", 1},
		{"ann@example.com", "ann@exmaple.org", 4}, {"5551234", "5551243", 1},
		{"héllo", "hello", 2}, // bytes, as DuckDB's
	} {
		if got := DamerauLevenshtein(c.a, c.b); got != c.d {
			t.Errorf("DamerauLevenshtein(%q, %q) = %d, want %d", c.a, c.b, got, c.d)
		}
		for k := 0; k <= 3; k++ {
			if got := DamerauLevenshteinWithin(c.a, c.b, k); got != (c.d <= k) {
				t.Errorf("DamerauLevenshteinWithin(%q, %q, %d) = %v", c.a, c.b, k, got)
			}
		}
	}
}

func BenchmarkDamerauLevenshteinWithin(b *testing.B) {
	for b.Loop() {
		DamerauLevenshteinWithin("ann.smith1984@example.com", "anne.smith1948@example.com", 2)
	}
}

// Trimming the common prefix and suffix agrees with the whole computation
// on every pair of short strings over a small alphabet (where
// transpositions across the trimmed parts could matter).
func TestDamerauLevenshteinWithinTrim(t *testing.T) {
	var words []string
	var gen func(s string)
	gen = func(s string) {
		words = append(words, s)
		if len(s) < 5 {
			for _, c := range "abc" {
				gen(s + string(c))
			}
		}
	}
	gen("")
	for _, a := range words {
		for _, b := range words {
			d := DamerauLevenshtein(a, b)
			for k := 0; k <= 3; k++ {
				if got := DamerauLevenshteinWithin(a, b, k); got != (d <= k) {
					t.Fatalf("DamerauLevenshteinWithin(%q, %q, %d) = %v, distance %d", a, b, k, got, d)
				}
			}
		}
	}
}
