package main_test

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tributary-cdp/tributary/internal/testenv"
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
		fmt.Fprintf(&sb, `{"type":"track","userId":"u%d","event":"Order Completed","properties":{"revenue":%d},"messageId":"o-%d"}`, i, 10*(i+1), i)
	}
	sb.WriteString(`]}`)
	if st, err := post(t, in.URL()+"/v1/batch", in.WriteKey, []byte(sb.String()), false); err != nil || st != 200 {
		t.Fatalf("batch: %d %v", st, err)
	}
}

func TestSQLOverTheLocalLake(t *testing.T) {
	in := testenv.Init(t)
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
	// Before curate has run, its views do not exist, and the error says why.
	out, err := exec.Command(in.Bin, append([]string{"sql", "SELECT count(*) FROM segment_membership"}, dd...)...).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "no view segment_membership: the lake has no files of its table yet") {
		t.Fatalf("a view before its job: %v\n%s", err, out)
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
	if !strings.Contains(views, `CREATE OR REPLACE VIEW "events"`) || !strings.Contains(views, "read_parquet") {
		t.Fatalf("--print-views:\n%s", views)
	}
}

func TestSQLOverAnS3Lake(t *testing.T) {
	m := testenv.StartMinIO(t)
	in := testenv.Init(t)
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
