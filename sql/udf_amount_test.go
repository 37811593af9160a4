package sql_test

import (
	"context"
	"testing"

	cdp "github.com/tributary-cdp/tributary"
)

// parse_amount reads amounts as the speed layer does, where DuckDB's cast
// disagrees on some spellings.
func TestParseAmountAgreesWithGo(t *testing.T) {
	s := open(t)
	for _, in := range []string{"12.5", " 12.5 ", "1e3", "NaN", "Infinity", "1,5", "+5", ".5", "5.", "0x1p4", "1_000", "1e400", "", "true"} {
		var got *float64
		if err := s.QueryRow(context.Background(), "SELECT parse_amount($1)", in).Scan(&got); err != nil {
			t.Fatal(err)
		}
		want, ok := cdp.ParseAmount(in)
		if (got != nil) != ok || ok && *got != want && !(want != want && *got != *got) {
			t.Errorf("parse_amount(%q) = %v, want %v (%v)", in, got, want, ok)
		}
	}
}
