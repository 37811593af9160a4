package main_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tributary-cdp/tributary/internal/testenv"
)

// A newcomer's mistakes exit non-zero with the flag or field, the value
// and the rule, and change nothing.
func TestMistakesNameTheFlagOrField(t *testing.T) {
	in := testenv.Init(t)
	dir := t.TempDir()
	drop := filepath.Join(dir, "drop")
	write := func(name, body string) string { return writeFile(t, filepath.Join(dir, name), []byte(body)) }
	write("drop/customers.csv", "Customer ID,E-mail\nc1,ann@example.com\n")
	source := func(name, emailColumn string) string {
		return write(name+".yaml", "name: "+name+"\nworkspace: default\nlocation: file://"+drop+"\nformat: {type: csv}\nkind: profiles\n"+
			"fields:\n  customer_id: {column: \"Customer ID\", identifier: customer_id, required: true}\n"+
			"  email: {column: \""+emailColumn+"\", transforms: [trim, lower], identifier: email}\n")
	}
	noWorkspace := write("seg.yaml", "id: pros\ncondition:\n  trait: {name: plan, op: eq, value: pro}\n")

	tests := []struct {
		name string
		args []string
		want string
	}{
		{"job name typo", []string{"job", "run", "curated"}, `unknown job "curated": want one of all, cleanse, compact, curate, ingest, land, reconcile, resolve`},
		{"unquoted query", []string{"sql", "SELECT", "1"}, "QUERY is one argument, 2 were given: quote it"},
		{"progress", []string{"job", "run", "cleanse", "--progress", "fancy"}, `--progress "fancy": want auto, bar, log or none`},
		{"log level", []string{"job", "list", "--log-level", "verbose"}, `--log-level "verbose": want debug, info, warn or error`},
		{"history limit", []string{"job", "history", "-n", "-1"}, "--limit -1: want 0 (all runs) or more"},
		{"day", []string{"job", "run", "compact", "--to", "tomorrow"}, `--to "tomorrow": want a day as YYYY-MM-DD, or today`},
		{"days for all", []string{"job", "run", "all", "--from", "2026-11-20"}, "all's stages work on every day; --from and --to do not apply to it (they limit compact)"},
		{"workspace for cleanse", []string{"job", "run", "cleanse", "--workspace", "default"},
			"cleanse rebuilds clean/events from every committed raw/events file; --workspace, --from and --to do not apply to it"},
		{"segment without workspace", []string{"segment", "add", noWorkspace}, "workspace: is required"},
		{"job workspace", []string{"job", "run", "cleanse", "--workspace", "nope"}, `--workspace: "nope" is not a configured workspace (the config has default;`},
		{"explain workspace", []string{"identity", "explain", "email:ann@example.com", "--workspace", "nope"}, `--workspace: "nope" is not a configured workspace`},
		{"segment list workspace", []string{"segment", "list", "--workspace", "nope"}, `--workspace: "nope" is not a configured workspace`},
		{"source column not in the file", []string{"source", "add", source("crm_typo", "Email")},
			`customers.csv, the newest file at file://` + drop + `, would not ingest: fields.email.column "Email": the header row has no such column (it has "Customer ID", "E-mail")`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := exec.Command(in.Bin, append(tt.args, "--data-dir", in.DataDir)...).CombinedOutput()
			if err == nil || !strings.Contains(string(out), tt.want) {
				t.Fatalf("cdpctl %v: want a failure saying %q, got %v:\n%s", tt.args, tt.want, err, out)
			}
		})
	}
	if out := cdpctl(t, in, "", "source", "list", "--data-dir", in.DataDir); !strings.Contains(out, "no sources") {
		t.Fatalf("a refused source was stored:\n%s", out)
	}
	if out := cdpctl(t, in, "", "segment", "list", "--data-dir", in.DataDir); strings.Contains(out, "pros") {
		t.Fatalf("a refused segment was stored:\n%s", out)
	}

	// The same definition with --no-check is stored; the ingest run then
	// says why the file failed, on the command line and in job history.
	if out := cdpctl(t, in, "", "source", "add", source("crm_typo", "Email"), "--no-check", "--data-dir", in.DataDir); !strings.Contains(out, "source crm_typo added") {
		t.Fatalf("source add --no-check:\n%s", out)
	}
	reason := `crm_typo/customers.csv: header row has no column "Email"`
	out, err := exec.Command(in.Bin, "job", "run", "ingest", "--progress", "none", "--data-dir", in.DataDir).CombinedOutput()
	if err == nil || !strings.Contains(string(out), reason) {
		t.Fatalf("job run ingest: want a failure saying %q, got %v:\n%s", reason, err, out)
	}
	if out := cdpctl(t, in, "", "job", "history", "ingest", "--data-dir", in.DataDir); !strings.Contains(out, reason) {
		t.Fatalf("job history does not say why ingest failed:\n%s", out)
	}

	if out := cdpctl(t, in, "", "source", "add", source("crm_ok", "E-mail"), "--data-dir", in.DataDir); !strings.Contains(out, "the newest, customers.csv, has every column the fields read, and values they take in the first row") {
		t.Fatalf("source add of a matching definition:\n%s", out)
	}
	// A summary of several lines keeps job history's columns: the file's
	// line is a row of its own, under RESULT.
	cdpctl(t, in, "", "source", "remove", "crm_typo", "--data-dir", in.DataDir)
	cdpctl(t, in, "", "job", "run", "ingest", "--progress", "none", "--data-dir", in.DataDir)
	hist := cdpctl(t, in, "", "job", "history", "ingest", "-n", "1", "--data-dir", in.DataDir)
	lines := strings.Split(strings.TrimSpace(hist), "\n")
	col := strings.Index(lines[0], "RESULT")
	if len(lines) != 3 || len(lines[2]) < col || strings.TrimSpace(lines[2][:col]) != "" ||
		lines[2][col:] != "  crm_ok/customers.csv: 1 row landed, 0 quarantined" {
		t.Fatalf("job history of a multi-line summary:\n%s", hist)
	}
}

// `sql --output FILE.parquet` without --format writes Parquet, not a text
// table under a .parquet name.
func TestSQLOutputFormatFollowsTheFileName(t *testing.T) {
	in := testenv.Init(t)
	for _, tt := range []struct{ name, head string }{{"out.parquet", "PAR1"}, {"out.csv", "a\n1\n"}, {"out.txt", "a\n---\n1\n"}} {
		path := filepath.Join(t.TempDir(), tt.name)
		cdpctl(t, in, "", "sql", "SELECT 1 AS a", "--output", path, "--data-dir", in.DataDir)
		b, err := os.ReadFile(path)
		if err != nil || !strings.HasPrefix(string(b), tt.head) {
			t.Fatalf("%s starts %q (%v), want %q", tt.name, b, err, tt.head)
		}
	}
}

// A job that finds no broker where the config says, while a serve of the
// same data dir runs its broker elsewhere (serve --embedded-broker-addr),
// names that process and the flag to pass, rather than "start cdpctl serve".
func TestJobNamesTheServeWhoseBrokerItMissed(t *testing.T) {
	in := testenv.Init(t)
	p := in.Serve(t)
	cfgPath := filepath.Join(in.DataDir, "tributary.yaml")
	b, err := os.ReadFile(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	// Nothing listens at the config's address: not 9092, where another
	// test's broker may.
	const addr = "embedded_addr: 127.0.0.1:9092"
	if !strings.Contains(string(b), addr) {
		t.Fatalf("init wrote no %q:\n%s", addr, b)
	}
	b = []byte(strings.Replace(string(b), addr, "embedded_addr: "+testenv.FreeAddr(t), 1))
	if err := os.WriteFile(cfgPath, b, 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(in.Bin, "job", "run", "land", "--progress", "none", "--data-dir", in.DataDir).CombinedOutput()
	want := fmt.Sprintf("process %d runs this data dir's embedded broker on another address (its --embedded-broker-addr): pass that as --kafka-brokers", p.Cmd.Process.Pid)
	if err == nil || !strings.Contains(string(out), want) {
		t.Fatalf("job run land: want a failure saying %q, got %v:\n%s", want, err, out)
	}
}

// A CRM source whose drop cannot be read fails `job run all`, naming it,
// but does not hold the events back: the stages after ingest still run.
func TestAllGoesOnPastASourceThatIsDown(t *testing.T) {
	in := testenv.Init(t).WithoutSchedules(t)
	in.Serve(t)
	sendOrders(t, in, 2)
	def := filepath.Join(t.TempDir(), "crm_down.yaml")
	if err := os.WriteFile(def, []byte("name: crm_down\nworkspace: default\nlocation: file://"+filepath.Join(t.TempDir(), "gone")+
		"\nformat: {type: csv}\nkind: profiles\nfields:\n  customer_id: {column: id, identifier: customer_id, required: true}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cdpctl(t, in, "", "source", "add", def, "--no-check", "--data-dir", in.DataDir)
	out, err := exec.Command(in.Bin, "job", "run", "all", "--progress", "none", "--data-dir", in.DataDir, "--kafka-brokers", in.Broker).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "stage ingest: job ingest: source crm_down: list") || !strings.Contains(string(out), "the stages after it ran") {
		t.Fatalf("job run all: want a failure naming the source, got %v:\n%s", err, out)
	}
	if n := cdpctl(t, in, "", "sql", "--data-dir", in.DataDir, "--format", "csv", "SELECT count(*) AS n FROM profiles"); !strings.Contains(n, "\n2\n") && !strings.HasSuffix(strings.TrimSpace(n), "\n2") {
		t.Fatalf("curate did not run past the failed ingest: profiles %q", n)
	}
}

// `segment add` stores a condition on an identifier type nothing gives a
// profile, but warns: a typo (emial), or a source not added yet.
func TestSegmentAddWarnsOfAnUnknownIdentifierType(t *testing.T) {
	in := testenv.Init(t)
	dir := t.TempDir()
	add := func(id, typ string) string {
		t.Helper()
		path := filepath.Join(dir, id+".yaml")
		os.WriteFile(path, []byte("id: "+id+"\nworkspace: default\ncondition:\n  any:\n    - identifier: {type: email}\n    - not: {identifier: {type: "+typ+"}}\n"), 0o600)
		out, err := exec.Command(in.Bin, "segment", "add", path, "--data-dir", in.DataDir).CombinedOutput()
		if err != nil {
			t.Fatalf("segment add: %v\n%s", err, out)
		}
		return string(out)
	}
	if out := add("typo", "emial"); !strings.Contains(out, `warning: identifier type "emial" is not a built-in one`) || !strings.Contains(out, "segment default/typo stored") {
		t.Fatalf("no warning for emial:\n%s", out)
	}
	def := filepath.Join(dir, "crm.yaml")
	os.WriteFile(def, []byte("name: crm\nworkspace: default\nlocation: file://"+dir+"\nformat: {type: csv}\nkind: profiles\nfields:\n  loyalty: {column: card, identifier: loyalty_id}\n"), 0o600)
	cdpctl(t, in, "", "source", "add", def, "--no-check", "--data-dir", in.DataDir)
	if out := add("cards", "loyalty_id"); strings.Contains(out, "warning") {
		t.Fatalf("a warning for a type a source declares:\n%s", out)
	}
}

// compact's description says "today's only with --to today": it takes it.
func TestCompactTakesToToday(t *testing.T) {
	in := testenv.Init(t)
	out := cdpctl(t, in, "", "job", "run", "compact", "--to", "today", "--dry-run", "--progress", "none", "--data-dir", in.DataDir)
	if !strings.Contains(out, "compact succeeded") {
		t.Fatalf("job run compact --to today:\n%s", out)
	}
}
