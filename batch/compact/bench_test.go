package compact_test

import (
	"context"
	"testing"

	"github.com/tributary-cdp/tributary/batch/compact"
)

// BenchmarkCompactSmallFiles compacts 400 files of 10 rows (4 partitions
// of one day) into 4.
func BenchmarkCompactSmallFiles(b *testing.B) {
	for b.Loop() {
		b.StopTimer()
		st := localLake(b)
		for p := range int32(4) {
			landRun(b, st, "acme", yesterday, p, 0, 100)
		}
		b.StartTimer()
		if res, err := compact.Run(context.Background(), testConfig(st), compact.Options{}); err != nil || res.Rewrites != 4 {
			b.Fatalf("%+v, %v", res, err)
		}
	}
}
