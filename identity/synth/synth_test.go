package synth

import (
	"slices"
	"testing"
)

func TestDeterministicWithTruth(t *testing.T) {
	gen := func(seed uint64) []Record {
		cfg := DefaultConfig()
		cfg.Records, cfg.Seed = 2000, seed
		g, err := New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		var out []Record
		for {
			r, ok := g.Next()
			if !ok {
				return out
			}
			out = append(out, r)
		}
	}
	a, b, c := gen(7), gen(7), gen(8)
	if len(a) != 2000 || !slices.Equal(a, b) {
		t.Fatalf("same seed gave different records (%d, %d)", len(a), len(b))
	}
	if slices.Equal(a, c) {
		t.Fatal("different seeds gave the same records")
	}
	people := map[string]int{}
	for _, r := range a {
		if r.PersonID == "" {
			t.Fatalf("record %s has no truth", r.ID)
		}
		people[r.PersonID]++
	}
	if n := len(people); n < 500 || n > 1200 {
		t.Errorf("%d people for 2000 records, want about 800 (mean 2.5 records each)", n)
	}
}
