package ingest_test

import (
	"bufio"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/tributary-cdp/tributary/batch/ingest"
	"github.com/tributary-cdp/tributary/lake/local"
)

func writeCSV(b *testing.B, path string, rows int) {
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	w := bufio.NewWriter(f)
	rng := rand.New(rand.NewPCG(1, 2))
	w.WriteString("\xef\xbb\xbf\"Customer ID\",\"E-mail\",\"Phone\",\"DOB\"\r\n")
	for i := range rows {
		fmt.Fprintf(w, "C%08d,\" User%d@Example.com \",(%03d) 555-%04d,%02d/%02d/%04d\r\n", i, i, 201+rng.IntN(700), rng.IntN(10000), 1+rng.IntN(12), 1+rng.IntN(28), 1950+rng.IntN(55))
	}
	w.Flush()
}

// BenchmarkIngestCSV ingests a 100,000-row CSV through the example
// source, and through the same source without its phone_e164 transform
// (libphonenumber parsing dominates the first).
func BenchmarkIngestCSV(b *testing.B) {
	b.Run("example", func(b *testing.B) { benchIngest(b, nil) })
	b.Run("no_phone_e164", func(b *testing.B) {
		benchIngest(b, func(s string) string { return replace(s, `transforms: ["phone_e164:US"], `, "") })
	})
}

func benchIngest(b *testing.B, edit func(string) string) {
	const rows = 100_000
	drop := b.TempDir()
	writeCSV(b, filepath.Join(drop, "c.csv"), rows)
	def, err := os.ReadFile("../../testdata/ingest/crm_customers.yaml")
	if err != nil {
		b.Fatal(err)
	}
	text := replace(string(def), "file:///drops/crm", "file://"+drop)
	if edit != nil {
		text = edit(text)
	}
	src, err := ingest.ParseSource([]byte(text))
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		st, _ := local.New(b.TempDir())
		if err := ingest.NewStore(st).Add(context.Background(), src, false); err != nil {
			b.Fatal(err)
		}
		cfg := ingest.DefaultConfig()
		cfg.Storage = st
		b.StartTimer()
		res, err := ingest.Run(context.Background(), cfg, ingest.Options{})
		if err != nil || res.Rows != rows {
			b.Fatalf("%v %v", res, err)
		}
	}
	b.ReportMetric(float64(rows*b.N)/b.Elapsed().Seconds(), "rows/s")
}

func replace(s, old, new string) string {
	for i := 0; i+len(old) <= len(s); i++ {
		if s[i:i+len(old)] == old {
			return s[:i] + new + s[i+len(old):]
		}
	}
	return s
}
