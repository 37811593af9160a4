package cdp_test

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	cdp "github.com/tributary-cdp/tributary"
)

// FuzzParseSegment feeds the segment parser arbitrary input. Whatever
// parses must evaluate without panicking and survive a YAML and JSON round
// trip unchanged. Seeds: testdata/segments and testdata/fuzz/FuzzParseSegment.
func FuzzParseSegment(f *testing.F) {
	paths, _ := filepath.Glob(filepath.Join("testdata", "segments", "*"))
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	now := time.Date(2026, 11, 22, 0, 0, 0, 0, time.UTC)
	rich := fakeProfile{
		traits: map[string]any{
			"plan": "pro", "age": 41.0, "vip": true, "nothing": nil, "tags": []any{"vip", 1.0},
			"address": map[string]any{"city": "Paris"}, "signup_at": "2026-11-01T10:00:00Z",
		},
		computed: map[string]any{"revenue_total": 10.0, "last_seen": now, "first_seen": now.Add(-time.Hour)},
		ids:      map[string]bool{"email": true},
		events:   map[string][]time.Time{"Order Completed": {now}},
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := cdp.ParseSegment(b)
		if err != nil {
			return
		}
		s.Evaluate(fakeProfile{}, now)
		s.Evaluate(rich, now)
		s.TimeSensitive()
		assertRoundTrip(t, s)
	})
}
