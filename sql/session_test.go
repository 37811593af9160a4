package sql_test

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/tributary-cdp/tributary/identity"
	"github.com/tributary-cdp/tributary/sql"
)

func open(t *testing.T) *sql.Session {
	t.Helper()
	cfg := sql.DefaultConfig()
	cfg.MemoryLimit, cfg.Threads, cfg.TempDir = "512MB", 1, t.TempDir()
	s, err := sql.Open(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// The UDFs must agree with the Go functions the speed layer calls.
func TestUDFsAgreeWithGo(t *testing.T) {
	s := open(t)
	ctx := context.Background()
	inputs := []string{" Ann@Example.COM ", "not-an-email", "(415) 555-2671", "+44 20 7946 0958", "  José  O'Brien-Smith ", "Zoë", ""}
	for _, in := range inputs {
		var email, phone, name *string
		err := s.QueryRow(ctx, "SELECT normalize_email($1), normalize_phone($1), fold_name($1)", in).Scan(&email, &phone, &name)
		if err != nil {
			t.Fatal(err)
		}
		check := func(fn string, got *string, want string) {
			g := ""
			if got != nil {
				g = *got
			}
			if g != want || (got != nil && want == "") {
				t.Errorf("%s(%q) = %v, want %q (NULL when empty)", fn, in, g, want)
			}
		}
		check("normalize_email", email, identity.NormalizeEmail(in))
		check("normalize_phone", phone, identity.NormalizePhone(in, identity.DefaultRegion))
		check("fold_name", name, identity.FoldName(in))
	}
	var blocked bool
	if err := s.QueryRow(ctx, "SELECT blocked_identifier('email', 'test@test.com')").Scan(&blocked); err != nil || !blocked {
		t.Errorf("blocked_identifier(test@test.com) = %v, %v; want true", blocked, err)
	}
}

func TestSettingsAndViews(t *testing.T) {
	s := open(t)
	ctx := context.Background()
	var threads int64
	if err := s.QueryRow(ctx, "SELECT current_setting('threads')").Scan(&threads); err != nil || threads != 1 {
		t.Errorf("threads = %d, %v; want 1", threads, err)
	}
	dir := t.TempDir()
	p := filepath.Join(dir, "it's.parquet")
	if err := s.Exec(ctx, "COPY (SELECT range AS x FROM range(10)) TO '"+filepath.ToSlash(filepath.Join(dir, "it''s.parquet"))+"' (FORMAT parquet)"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(p); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateParquetView(ctx, "v", []string{p, p}); err != nil {
		t.Fatal(err)
	}
	var n, sum int64
	if err := s.QueryRow(ctx, "SELECT count(*), sum(x) FROM v").Scan(&n, &sum); err != nil || n != 20 || sum != 90 {
		t.Errorf("count, sum = %d, %d, %v; want 20, 90", n, sum, err)
	}
}

func TestStatements(t *testing.T) {
	got := sql.Statements("-- c;\nSELECT 1;\n\n-- only a comment\nSELECT ';'\n  FROM t;\n")
	if len(got) != 2 || got[0] != "-- c;\nSELECT 1" {
		t.Errorf("Statements = %q", got)
	}
}

func TestMemoryLimitPercentage(t *testing.T) {
	s, err := sql.Open(context.Background(), sql.Config{MemoryLimit: "35%", Threads: 1})
	if err != nil {
		t.Fatalf("a percentage memory limit: %v", err)
	}
	defer s.Close()
	var limit string
	if err := s.QueryRow(context.Background(), "SELECT current_setting('memory_limit')").Scan(&limit); err != nil || limit == "" {
		t.Fatalf("memory_limit = %q, %v", limit, err)
	}
	if _, err := sql.Open(context.Background(), sql.Config{MemoryLimit: "0%"}); err == nil {
		t.Fatal("0% accepted")
	}
}

func TestTraceSeesEveryStatement(t *testing.T) {
	var seen []string
	cfg := sql.DefaultConfig()
	cfg.Threads, cfg.TempDir = 1, t.TempDir()
	cfg.Trace = func(stmt string, d time.Duration) {
		if d < 0 {
			t.Errorf("%s took %s", stmt, d)
		}
		seen = append(seen, stmt)
	}
	ctx := context.Background()
	s, err := sql.Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	seen = nil // the session's own settings
	if err := s.RunText(ctx, "two.sql", "CREATE TEMP TABLE t AS SELECT 1 AS x;\nINSERT INTO t VALUES (2);\n", nil); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := s.QueryRow(ctx, "SELECT count(*) FROM t").Scan(&n); err != nil || n != 2 {
		t.Fatalf("count %d, %v", n, err)
	}
	want := []string{"CREATE TEMP TABLE t AS SELECT 1 AS x", "INSERT INTO t VALUES (2)", "SELECT count(*) FROM t"}
	if !reflect.DeepEqual(seen, want) {
		t.Fatalf("traced %q, want %q", seen, want)
	}
}

// A spill into a temp_directory whose parents do not exist yet must work:
// the jobs' default is <data-dir>/tmp/duckdb.
func TestSpillIntoNewTempDir(t *testing.T) {
	cfg := sql.DefaultConfig()
	cfg.MemoryLimit, cfg.Threads = "64MB", 1
	cfg.TempDir = filepath.Join(t.TempDir(), "tmp", "duckdb")
	ctx := context.Background()
	s, err := sql.Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var n int64
	if err := s.QueryRow(ctx, "SELECT count(*) FROM (SELECT i, repeat('x', 100) || i AS v FROM range(2000000) t(i) ORDER BY v DESC)").Scan(&n); err != nil || n != 2_000_000 {
		t.Fatalf("sort that spills: %d rows, %v", n, err)
	}
}
