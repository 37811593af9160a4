package match

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/tributary-cdp/tributary/identity/synth"
	tsql "github.com/tributary-cdp/tributary/sql"
)

// chains builds fs_cc_edges: n nodes in chains of length k (a worst case
// for label propagation: k-1 rounds), in shuffled order.
func chains(t testing.TB, s *tsql.Session, n, k int) {
	t.Helper()
	q := fmt.Sprintf(`CREATE OR REPLACE TEMP TABLE fs_cc_edges AS
		SELECT range AS l, range + 1 AS r FROM range(%d) WHERE (range + 1) %% %d <> 0 ORDER BY hash(range)`, n-1, k)
	if err := s.Exec(context.Background(), q); err != nil {
		t.Fatal(err)
	}
}

func TestComponentsAgree(t *testing.T) {
	ctx := context.Background()
	s, err := tsql.Open(ctx, tsql.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	chains(t, s, 1000, 7)
	rounds, err := ComponentsSQL(ctx, s)
	if err != nil {
		t.Fatal(err)
	}
	labels, err := ComponentsGo(ctx, s, 1000)
	if err != nil {
		t.Fatal(err)
	}
	rows, err := s.Query(ctx, "SELECT id, label FROM fs_lp")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	n := 0
	for rows.Next() {
		var id, label int64
		if err := rows.Scan(&id, &label); err != nil {
			t.Fatal(err)
		}
		if labels[id] != int(label) {
			t.Fatalf("node %d: SQL label %d, Go label %d", id, label, labels[id])
		}
		n++
	}
	if n == 0 || rounds < 6 {
		t.Errorf("%d labelled nodes in %d rounds", n, rounds)
	}
}

// BenchmarkComponents compares DuckDB label propagation with the Go
// union-find on 1M nodes in chains of 8.
func BenchmarkComponents(b *testing.B) {
	ctx := context.Background()
	s, err := tsql.Open(ctx, tsql.DefaultConfig())
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	const n = 1_000_000
	chains(b, s, n, 8)
	b.Run("sql-label-propagation", func(b *testing.B) {
		for b.Loop() {
			if _, err := ComponentsSQL(ctx, s); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("go-union-find", func(b *testing.B) {
		for b.Loop() {
			if _, err := ComponentsGo(ctx, s, n); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkResolveSynthetic resolves TRIBUTARY_BENCH_RECORDS (default
// 1,000,000) generated people end to end: generation to CSV is outside the
// timer; load, normalize, block, compare, EM, score and cluster inside.
func BenchmarkResolveSynthetic(b *testing.B) {
	n := 1_000_000
	if v := os.Getenv("TRIBUTARY_BENCH_RECORDS"); v != "" {
		fmt.Sscan(v, &n)
	}
	cfg := synth.DefaultConfig()
	cfg.Records = n
	g, err := synth.New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	path := filepath.Join(b.TempDir(), "people.csv")
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	fmt.Fprintln(f, "record_id,first_name,last_name,dob,email,phone,street,city,postcode,person_id")
	for {
		r, ok := g.Next()
		if !ok {
			break
		}
		fmt.Fprintf(f, "%s,%q,%q,%q,%q,%q,%q,%q,%q,%s\n", r.ID, r.FirstName, r.LastName, r.DOB, r.Email, r.Phone, r.Street, r.City, r.Postcode, r.PersonID)
	}
	f.Close()
	m, _ := ParseMap("first_name=first_name,last_name=last_name,dob=dob,email=email,phone=phone,street=street,city=city,postcode=postcode")
	ctx := context.Background()
	for b.Loop() {
		s, err := tsql.Open(ctx, tsql.DefaultConfig())
		if err != nil {
			b.Fatal(err)
		}
		rep, err := Evaluate(ctx, s, DefaultConfig(), EvalOptions{Inputs: []string{path}, Map: m, Truth: "person_id"})
		s.Close()
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(rep.F1, "F1")
		b.ReportMetric(rep.Precision, "precision")
		b.ReportMetric(rep.Recall, "recall")
		b.ReportMetric(rep.PeakRSSMB, "peak_rss_MiB")
	}
}
