package main_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/tributary-cdp/tributary/internal/testenv"
)

// A count of one reads in the singular wherever the CLI prints it: job
// summaries, sql's row count, identity explain (of an identifier that
// resolve linked to nothing: no edges is no reason to refuse).
func TestCountsOfOneAreSingular(t *testing.T) {
	in := testenv.Init(t).WithoutSchedules(t)
	in.Serve(t)
	sendOrders(t, in, 1)
	drop := t.TempDir()
	os.WriteFile(filepath.Join(drop, "a.csv"), []byte("id\nc1\n"), 0o600)
	def := filepath.Join(t.TempDir(), "crm.yaml")
	os.WriteFile(def, []byte("name: crm\nworkspace: default\nlocation: file://"+drop+
		"\nformat: {type: csv}\nkind: profiles\nfields:\n  customer_id: {column: id, identifier: customer_id, required: true}\n"), 0o600)
	cdpctl(t, in, "", "source", "add", def, "--data-dir", in.DataDir)

	// A dry run says what a run would do, not what it did.
	if out := cdpctl(t, in, "", "job", "run", "ingest", "--dry-run", "--progress", "none", "--data-dir", in.DataDir); !strings.Contains(out, "dry run: 1 file to ingest, 1 row to land, 0 rows to quarantine") {
		t.Errorf("job run ingest --dry-run:\n%s", out)
	}
	out := cdpctl(t, in, "", "job", "run", "all", "--progress", "none", "--data-dir", in.DataDir, "--kafka-brokers", in.Broker)
	for _, want := range []string{
		"1 file ingested, 1 row landed, 0 rows quarantined",
		"crm/a.csv: 1 row landed, 0 quarantined",
		"1 clean event from 1 raw row (0 duplicates removed), 0 values quarantined; 1 CRM row (0 exact duplicates removed)",
		"2 identifiers in 2 profiles (2 new, 0 merges, 0 splits vs last run), 0 edges",
		"2 golden profiles from 1 event, ",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("job run all does not say %q:\n%s", want, out)
		}
	}
	// Sizes and times are written as the bar and the job's own duration are.
	for _, re := range []string{`landed 1 event from 1 partition into 1 file \([0-9.]+ (B|KiB)\), 0 rejected`,
		`build v1: \S+ swapped in [0-9.]+(ns|µs|ms|s) \(load [0-9.]+(ms|s), 0 events replayed in [0-9.]+(ms|s), 2 profiles\)`} {
		if !regexp.MustCompile(re).MatchString(out) {
			t.Errorf("job run all does not match %s:\n%s", re, out)
		}
	}
	if out := cdpctl(t, in, "", "job", "run", "ingest", "--progress", "none", "--data-dir", in.DataDir); !strings.Contains(out, ": 0 files ingested, 0 rows landed, 0 rows quarantined, 1 file ingested before\n") {
		t.Errorf("job run ingest again:\n%s", out)
	}
	if out := cdpctl(t, in, "", "sql", "SELECT 1 AS a", "--data-dir", in.DataDir); !strings.HasSuffix(out, "(1 row)\n") {
		t.Errorf("sql of one row:\n%s", out)
	}
	if out := cdpctl(t, in, "", "identity", "explain", "customer_id:c1", "--data-dir", in.DataDir); !strings.Contains(out, "with 1 identifier:\n") || !strings.Contains(out, "\n0 edges:") {
		t.Errorf("identity explain of a lone identifier:\n%s", out)
	}

	// On the same lake: a type the map has none of is named, with the
	// ones it has.
	want := `the identity map of workspace default has no identifier of type "emial" (it has customer_id, user_id)`
	if out, err := exec.Command(in.Bin, "identity", "explain", "emial:c1", "--data-dir", in.DataDir).CombinedOutput(); err == nil || !strings.Contains(string(out), want) {
		t.Errorf("identity explain emial:c1: want a failure saying %q, got %v:\n%s", want, err, out)
	}

	// A value quarantined is counted as one, its reason labelled.
	if st, err := post(t, in.URL()+"/v1/identify", in.WriteKey, []byte(`{"userId":"u0","traits":{"email":"nope"}}`), false); err != nil || st != 200 {
		t.Fatalf("identify: %d %v", st, err)
	}
	cdpctl(t, in, "", "job", "run", "land", "--progress", "none", "--data-dir", in.DataDir, "--kafka-brokers", in.Broker)
	if out := cdpctl(t, in, "", "job", "run", "cleanse", "--progress", "none", "--data-dir", in.DataDir); !strings.Contains(out, ", 1 value quarantined (invalid email: 1)") {
		t.Errorf("job run cleanse of an invalid email:\n%s", out)
	}
}

// Before any source is added, ingest says so rather than "0 files
// ingested", as if it had looked somewhere.
func TestIngestWithoutSourcesSaysSo(t *testing.T) {
	in := testenv.Init(t)
	if out := cdpctl(t, in, "", "job", "run", "ingest", "--progress", "none", "--data-dir", in.DataDir); !strings.Contains(out, "ingest succeeded in ") ||
		!strings.HasSuffix(out, ": no sources to ingest from (cdpctl source add defines one)\n") {
		t.Fatalf("job run ingest without sources:\n%s", out)
	}
}
