package cdp

import (
	"math"
	"testing"
)

func TestParseAmount(t *testing.T) {
	for in, want := range map[string]float64{
		" 12.5 ": 12.5, "1e3": 1000, "Infinity": math.Inf(1),
		"1e400": math.Inf(1), "-1e400": math.Inf(-1), "1e-400": 0,
	} {
		if got, ok := ParseAmount(in); !ok || got != want {
			t.Errorf("ParseAmount(%q) = %v, %v; want %v", in, got, ok, want)
		}
	}
	for _, in := range []string{"", "1,5", "true", "1e"} {
		if got, ok := ParseAmount(in); ok {
			t.Errorf("ParseAmount(%q) = %v, want none", in, got)
		}
	}
}
