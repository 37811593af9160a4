package land_test

import (
	"context"
	"testing"

	"github.com/tributary-cdp/tributary/batch/land"
	"github.com/tributary-cdp/tributary/internal/broker"
	"github.com/tributary-cdp/tributary/lake/local"
)

// BenchmarkLand lands 100,000 events (two workspaces, three days, four
// partitions) from the embedded broker into a fresh local lake.
func BenchmarkLand(b *testing.B) {
	const n = 100_000
	br, err := broker.Start(broker.Config{Addr: "127.0.0.1:0", DataDir: b.TempDir(), Partitions: partitions})
	if err != nil {
		b.Fatal(err)
	}
	defer br.Close()
	produce(b, br.Addr(), 0, n)
	b.ResetTimer()
	for range b.N {
		st, err := local.New(b.TempDir())
		if err != nil {
			b.Fatal(err)
		}
		cfg := land.DefaultConfig()
		cfg.Brokers, cfg.Storage = []string{br.Addr()}, st
		res, err := land.Run(context.Background(), cfg, land.Options{})
		if err != nil {
			b.Fatal(err)
		}
		if res.Events+res.Rejected != n {
			b.Fatalf("landed %d", res.Events)
		}
	}
	b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "events/s")
}
