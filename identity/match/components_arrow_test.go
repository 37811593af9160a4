//go:build duckdb_arrow

package match

import (
	"context"
	"testing"

	tsql "github.com/tributary-cdp/tributary/sql"
)

func BenchmarkComponentsArrow(b *testing.B) {
	ctx := context.Background()
	s, err := tsql.Open(ctx, tsql.DefaultConfig())
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	const n = 1_000_000
	chains(b, s, n, 8)
	want, err := ComponentsGo(ctx, s, n)
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		got, err := ComponentsArrow(ctx, s, n)
		if err != nil {
			b.Fatal(err)
		}
		if got[n-1] != want[n-1] {
			b.Fatalf("arrow and rows disagree")
		}
	}
}
