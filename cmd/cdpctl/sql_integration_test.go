package main_test

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/segmentio/kafka-go"

	"github.com/tributary-cdp/tributary/batch/cleanse"
	"github.com/tributary-cdp/tributary/batch/curate"
	"github.com/tributary-cdp/tributary/batch/resolve"
	"github.com/tributary-cdp/tributary/internal/testenv"
	"github.com/tributary-cdp/tributary/lake"
	tsql "github.com/tributary-cdp/tributary/sql"
)

func cdpctl(t *testing.T, in *testenv.Instance, stdin string, args ...string) string {
	t.Helper()
	cmd := exec.Command(in.Bin, args...)
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.Output()
	if err != nil {
		msg := ""
		if ee, ok := err.(*exec.ExitError); ok {
			msg = string(ee.Stderr)
		}
		t.Fatalf("cdpctl %v: %v\n%s%s", args, err, out, msg)
	}
	return string(out)
}

// sendOrders sends n Order Completed events for users u0..u(n-1).
func sendOrders(t *testing.T, in *testenv.Instance, n int) {
	t.Helper()
	var sb strings.Builder
	sb.WriteString(`{"batch":[`)
	for i := range n {
		if i > 0 {
			sb.WriteByte(',')
		}
		fmt.Fprintf(&sb, `{"type":"track","userId":"u%d","event":"Order Completed","properties":{"order_id":"o-%d","revenue":%d},"messageId":"o-%d"}`, i, i, 10*(i+1), i)
	}
	sb.WriteString(`]}`)
	if st, err := post(t, in.URL()+"/v1/batch", in.WriteKey, []byte(sb.String()), false); err != nil || st != 200 {
		t.Fatalf("batch: %d %v", st, err)
	}
}

func TestSQLOverTheLocalLake(t *testing.T) {
	in := testenv.Init(t).WithoutSchedules(t)
	in.Serve(t)
	sendOrders(t, in, 4)
	cdpctl(t, in, "", "job", "run", "land", "--data-dir", in.DataDir, "--kafka-brokers", in.Broker)
	dd := []string{"--data-dir", in.DataDir}

	table := cdpctl(t, in, "", append([]string{"sql", "SELECT user_id, json_extract(properties, '$.revenue')::INT AS revenue FROM events ORDER BY user_id"}, dd...)...)
	if !strings.Contains(table, "user_id") || !strings.Contains(table, "u3       40") && !strings.Contains(table, "u3") || !strings.Contains(table, "(4 rows)") {
		t.Fatalf("table output:\n%s", table)
	}
	csv := cdpctl(t, in, "", append([]string{"sql", "--format", "csv", "SELECT user_id, json_extract(properties, '$.revenue')::INT AS revenue FROM events ORDER BY user_id"}, dd...)...)
	if csv != "user_id,revenue\nu0,10\nu1,20\nu2,30\nu3,40\n" {
		t.Fatalf("csv output:\n%q", csv)
	}
	js := cdpctl(t, in, "", append([]string{"sql", "--format", "json", "SELECT count(*) AS n, sum(json_extract(properties, '$.revenue')::INT) AS total FROM events"}, dd...)...)
	var rows []map[string]any
	if err := json.Unmarshal([]byte(js), &rows); err != nil || len(rows) != 1 || rows[0]["n"].(float64) != 4 || rows[0]["total"].(float64) != 100 {
		t.Fatalf("json output %q: %v", js, err)
	}
	// Before curate has run, its views are there, empty: a join of the
	// events with the profiles has no rows, not an error.
	if out := cdpctl(t, in, "", append([]string{"sql", "--format", "csv",
		"SELECT count(*) AS n FROM events JOIN identity_map ON id_value = user_id JOIN profiles USING (cdp_id)"}, dd...)...); out != "n\n0\n" {
		t.Fatalf("a join over views before their jobs: %q", out)
	}
	// A zone's view of no source says where the sources are; other names
	// get DuckDB's error alone.
	out, err := exec.Command(in.Bin, append([]string{"sql", "SELECT count(*) FROM raw_crm"}, dd...)...).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "no view raw_crm: no source defines that table") {
		t.Fatalf("the view of a source not defined: %v\n%s", err, out)
	}
	out, err = exec.Command(in.Bin, append([]string{"sql", "SELECT count(*) FROM profile"}, dd...)...).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "Table with name profile does not exist") || strings.Contains(string(out), "no view") {
		t.Fatalf("an unknown name: %v\n%s", err, out)
	}
	// A script file with several statements, and statements on stdin.
	script := filepath.Join(t.TempDir(), "q.sql")
	os.WriteFile(script, []byte("-- counts\nSELECT count(*) AS n FROM events;\nSELECT 'a;b' AS s;\n"), 0o644)
	if out := cdpctl(t, in, "", append([]string{"sql", "--format", "csv", "--file", script}, dd...)...); out != "n\n4\ns\na;b\n" {
		t.Fatalf("--file output %q", out)
	}
	if out := cdpctl(t, in, "SELECT max(user_id) AS m FROM events;", append([]string{"sql", "--format", "csv"}, dd...)...); out != "m\nu3\n" {
		t.Fatalf("stdin output %q", out)
	}
	// Parquet out, read back through DuckDB.
	pq := filepath.Join(t.TempDir(), "events.parquet")
	cdpctl(t, in, "", append([]string{"sql", "--format", "parquet", "--output", pq, "SELECT * FROM events"}, dd...)...)
	if out := cdpctl(t, in, "", append([]string{"sql", "--format", "csv", fmt.Sprintf("SELECT count(*) AS n FROM read_parquet('%s')", pq)}, dd...)...); out != "n\n4\n" {
		t.Fatalf("parquet round trip %q", out)
	}
	views := cdpctl(t, in, "", append([]string{"sql", "--print-views"}, dd...)...)
	if !strings.Contains(views, `CREATE OR REPLACE VIEW "events"`) || !strings.Contains(views, "read_parquet") ||
		!strings.Contains(views, "-- curated/profiles: no files yet, an empty view\n"+`CREATE OR REPLACE VIEW "profiles" AS SELECT CAST(NULL AS VARCHAR) AS "workspace"`) ||
		!regexp.MustCompile(`(?m)^-- raw/events: 4 rows in (1 file|[02-9]\d* files)$`).MatchString(views) {
		t.Fatalf("--print-views:\n%s", views)
	}
}

func TestSQLOverAnS3Lake(t *testing.T) {
	m := testenv.StartMinIO(t)
	in := testenv.Init(t).WithoutSchedules(t)
	// Point the instance at MinIO: lake URL and S3 settings in the config.
	cfgPath := filepath.Join(in.DataDir, "tributary.yaml")
	b, _ := os.ReadFile(cfgPath)
	b = []byte(strings.Replace(string(b), "lake: {}", fmt.Sprintf("lake:\n    url: s3://lake/tributary\n    s3:\n        endpoint: %s\n        access_key: %s\n        secret_key: %s\n        insecure: true", m.Endpoint, m.AccessKey, m.SecretKey), 1))
	os.WriteFile(cfgPath, b, 0o600)
	in.Serve(t)
	sendOrders(t, in, 3)
	cdpctl(t, in, "", "job", "run", "land", "--data-dir", in.DataDir, "--kafka-brokers", in.Broker)
	out := cdpctl(t, in, "", "sql", "--data-dir", in.DataDir, "--format", "csv", "SELECT count(*) AS n, min(user_id) AS first FROM events")
	if out != "n,first\n3,u0\n" {
		t.Fatalf("S3 lake query: %q", out)
	}
	// The second query is served from the ETag cache.
	if _, err := os.Stat(filepath.Join(in.DataDir, "cache", "lake", "raw", "events")); err != nil {
		t.Fatalf("no local cache of the S3 lake: %v", err)
	}
	if out := cdpctl(t, in, "", "sql", "--data-dir", in.DataDir, "--format", "csv", "SELECT count(*) AS n FROM events"); out != "n\n3\n" {
		t.Fatalf("cached query: %q", out)
	}
}

// viewColumns reads the columns of every view of `cdpctl sql`: view →
// lines "column\ttype".
func viewColumns(t *testing.T, in *testenv.Instance) map[string][]string {
	t.Helper()
	out := cdpctl(t, in, "", "sql", "--data-dir", in.DataDir, "--format", "csv",
		"SELECT table_name, column_name, data_type FROM information_schema.columns ORDER BY table_name, ordinal_position")
	rows, err := csv.NewReader(strings.NewReader(out)).ReadAll()
	if err != nil || len(rows) == 0 {
		t.Fatalf("columns %q: %v", out, err)
	}
	m := map[string][]string{}
	for _, r := range rows[1:] {
		m[r[0]] = append(m[r[0]], r[1]+"\t"+r[2])
	}
	return m
}

var update = flag.Bool("update", false, "rewrite sql/lake_tables.tsv from the views of the lake TestEmptyViewsAreTheLakesViews builds")

// Every table the jobs write has its view on a fresh lake, empty, with the
// columns and types of its view once the jobs have written files: the
// columns of sql/lake_tables.tsv are those of a lake the test builds
// through the real jobs, so a change to a row struct or a job's SQL fails
// here until the file is regenerated (-update).
func TestEmptyViewsAreTheLakesViews(t *testing.T) {
	tables := []string{lake.TableEvents, lake.TableRejected, cleanse.TableCleanEvents, cleanse.TableQuarantineEvents,
		resolve.TableIdentityMap, resolve.TableIdentityEdges, curate.TableProfiles, curate.TableSegmentMembership}
	columns := func(in *testenv.Instance) map[string][]string { return viewColumns(t, in) }

	// A lake with files in every table: events, one with an email cleanse
	// rejects, a message that is no event, and a segment with members.
	in := testenv.Init(t).WithoutSchedules(t)
	in.Serve(t)
	sendOrders(t, in, 3)
	if code, err := post(t, in.URL()+"/v1/identify", in.WriteKey, []byte(`{"userId":"u0","anonymousId":"a0","traits":{"email":"not an email"}}`), false); err != nil || code != 200 {
		t.Fatalf("identify: %d %v", code, err)
	}
	w := &kafka.Writer{Addr: kafka.TCP(in.Broker), Topic: "cdp.events", RequiredAcks: kafka.RequireAll}
	if err := w.WriteMessages(context.Background(), kafka.Message{Key: []byte("default/x"), Value: []byte("{")}); err != nil {
		t.Fatal(err)
	}
	w.Close()
	seg := filepath.Join(t.TempDir(), "buyers.yaml")
	if err := os.WriteFile(seg, []byte("id: buyers\nworkspace: default\ncondition:\n  computed: {name: orders_total, op: gt, value: 0}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cdpctl(t, in, "", "segment", "add", seg, "--data-dir", in.DataDir)
	cdpctl(t, in, "", "job", "run", "all", "--data-dir", in.DataDir, "--kafka-brokers", in.Broker)
	full := columns(in)
	want := map[string][]string{}
	for _, table := range tables {
		v := tsql.ViewName(table)
		if full[v] == nil {
			t.Fatalf("the jobs wrote no files of %s: nothing to compare its empty view with", table)
		}
		want[v] = full[v]
	}

	if *update {
		path := filepath.Join(testenv.ModuleRoot(t), "sql", "lake_tables.tsv")
		old, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		var b strings.Builder
		for _, l := range strings.SplitAfter(string(old), "\n") {
			if strings.HasPrefix(l, "--") { // the header
				b.WriteString(l)
			}
		}
		for _, table := range tables {
			for _, c := range want[tsql.ViewName(table)] {
				fmt.Fprintf(&b, "%s\t%s\n", table, c)
			}
		}
		if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("wrote %s: run the test again (without TRIBUTARY_BIN, or with a binary built since) to check it", path)
		return
	}

	empty := columns(testenv.Init(t))
	for v := range empty {
		if want[v] == nil {
			t.Errorf("a fresh lake has a view %s that is no table of the jobs", v)
		}
	}
	for v, cols := range want {
		if !slices.Equal(empty[v], cols) {
			t.Errorf("view %s of a fresh lake (-update regenerates sql/lake_tables.tsv):\n%s\nwant the columns of the jobs' files:\n%s",
				v, strings.Join(empty[v], "\n"), strings.Join(cols, "\n"))
		}
	}
}
