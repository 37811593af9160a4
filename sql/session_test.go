package sql_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	cdp "github.com/tributary-cdp/tributary"
	"github.com/tributary-cdp/tributary/identity"
	"github.com/tributary-cdp/tributary/speed"
	"github.com/tributary-cdp/tributary/speed/activate"
	"github.com/tributary-cdp/tributary/sql"
)

func open(t *testing.T, with ...func(*sql.Config)) *sql.Session {
	t.Helper()
	cfg := sql.DefaultConfig()
	cfg.MemoryLimit, cfg.Threads, cfg.TempDir = "512MB", 1, t.TempDir()
	for _, f := range with {
		f(&cfg)
	}
	s, err := sql.Open(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// The UDFs must agree with the Go functions the speed layer calls, and
// with the speed layer itself under the same configuration: the
// identifiers its preparer keeps of an identify event are those
// usable_identifier keeps, and a look-up finds them. In the default (US)
// and in a UK configuration, where "020 7946 0018" is a London number and
// a US one is not valid without its +1; and in one deployment of two
// workspaces, a UK shop's and a US shop's, each read in its own region by
// every layer.
func TestUDFsAgreeWithGo(t *testing.T) {
	ctx := context.Background()
	inputs := []string{" Ann@Example.COM ", "not-an-email", "(415) 555-2671", "+44 20 7946 0958", "  José  O'Brien-Smith ", "Zoë", "",
		"020 7946 0018", "0044 20 7946 0018", "+1 415 555 2671", "07700 900123", "1", " test "}
	for _, c := range []struct {
		regions identity.Regions
		allow   []string
		london  map[string]string // per workspace, what both layers make of "020 7946 0018"
		one     string            // of user id "1"
	}{
		{identity.Regions{}, nil, map[string]string{"w": ""}, ""},
		{identity.Regions{Default: "GB"}, []string{"user_id:1"}, map[string]string{"w": "+442079460018"}, "1"},
		{identity.Regions{Default: "US", Workspaces: map[string]string{"uk": "GB"}}, nil, map[string]string{"us": "", "uk": "+442079460018"}, ""},
	} {
		s := open(t, func(cfg *sql.Config) { cfg.PhoneRegions, cfg.Allow = c.regions, c.allow })
		prep := speed.NewPreparer(speed.StoreConfig{PhoneRegions: c.regions, Allow: c.allow, IdentifierTraits: map[string]string{"phone": cdp.IDPhone}})
		for ws, london := range c.london {
			region := c.regions.Of(ws)
			for i, in := range inputs {
				var email, phone, name *string
				err := s.QueryRow(ctx, "SELECT normalize_email($1), normalize_phone($2, $1), fold_name($1)", in, ws).Scan(&email, &phone, &name)
				if err != nil {
					t.Fatal(err)
				}
				check := func(fn string, got *string, want string) {
					t.Helper()
					g := ""
					if got != nil {
						g = *got
					}
					if g != want || (got != nil && want == "") {
						t.Errorf("regions %+v, workspace %s: %s(%q) = %v, want %q (NULL when empty)", c.regions, ws, fn, in, g, want)
					}
				}
				check("normalize_email", email, identity.NormalizeEmail(in))
				check("normalize_phone", phone, identity.NormalizePhone(in, region))
				check("fold_name", name, identity.FoldName(in))

				ev, _ := json.Marshal(map[string]any{"workspace": ws, "type": "identify", "messageId": "m", "userId": in, "anonymousId": "a1", "traits": map[string]string{"phone": in}})
				o := prep.Prepare(0, int64(i), ev)
				if o.Err != nil {
					t.Fatal(o.Err)
				}
				speedIDs := map[string]string{}
				for _, id := range o.IDs {
					speedIDs[id.Type] = id.Value
				}
				for _, typ := range []string{cdp.IDUserID, cdp.IDPhone} {
					var usable *string
					if err := s.QueryRow(ctx, "SELECT usable_identifier($1, $2, $3)", ws, typ, in).Scan(&usable); err != nil {
						t.Fatal(err)
					}
					check("usable_identifier("+typ+")", usable, speedIDs[typ])
					if speedIDs[typ] == "" {
						continue
					}
					id, err := activate.ParseRef(typ+":"+in, region)
					if err != nil || id.Value != speedIDs[typ] {
						t.Errorf("regions %+v, workspace %s: look-up of %s:%q = %v, %v; the speed layer keeps %q", c.regions, ws, typ, in, id, err, speedIDs[typ])
					}
				}
			}
			for typ, want := range map[string]string{cdp.IDPhone + ":020 7946 0018": london, cdp.IDUserID + ":1": c.one} {
				var got *string
				typ, in, _ := strings.Cut(typ, ":")
				if err := s.QueryRow(ctx, "SELECT usable_identifier($1, $2, $3)", ws, typ, in).Scan(&got); err != nil {
					t.Fatal(err)
				}
				check := func(g *string) bool { return (g == nil && want == "") || (g != nil && *g == want) }
				if !check(got) {
					t.Errorf("regions %+v, allow %q: usable_identifier(%s, %s, %q) = %v, want %q", c.regions, c.allow, ws, typ, in, got, want)
				}
			}
		}
		// The forms without a workspace read the default region.
		for _, in := range inputs {
			var phone, id *string
			if err := s.QueryRow(ctx, "SELECT normalize_phone($1), normalize_identifier('phone', $1)", in).Scan(&phone, &id); err != nil {
				t.Fatal(err)
			}
			want := identity.NormalizePhone(in, c.regions.Default)
			for fn, got := range map[string]*string{"normalize_phone": phone, "normalize_identifier": id} {
				if (got == nil) != (want == "") || (got != nil && *got != want) {
					t.Errorf("regions %+v: %s(%q) without a workspace = %v, want %q (NULL when empty)", c.regions, fn, in, got, want)
				}
			}
		}
		var blocked bool
		if err := s.QueryRow(ctx, "SELECT blocked_identifier('email', 'test@test.com')").Scan(&blocked); err != nil || !blocked {
			t.Errorf("blocked_identifier(test@test.com) = %v, %v; want true", blocked, err)
		}
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
