package main_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/parquet-go/parquet-go"

	"github.com/tributary-cdp/tributary/internal/testenv"
	"github.com/tributary-cdp/tributary/lake/s3"
)

// writeFile writes body at path, making its directory, and returns path.
func writeFile(t *testing.T, path string, body []byte) string {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, body, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// A source can be queried from the moment it is added: its views are
// there, empty, with the columns and types its files then have, once a
// drop is ingested and cleansed. The definitions declare every type a field
// can have (text, date, time) plain and under each cleanse treatment that
// retypes or rejects values (identifier, email, phone, name, date,
// postcode), and the drops send rows to every table: raw, quarantine (a
// required field empty, a time that does not parse), clean and its
// quarantined values (an invalid email).
func TestSourceViewsBeforeTheFirstDrop(t *testing.T) {
	in := testenv.Init(t)
	dir := t.TempDir()
	write := func(name, body string) string { return writeFile(t, filepath.Join(dir, name), []byte(body)) }
	const rfc3339 = `"parse_time:2006-01-02T15:04:05Z07:00"`
	crm := write("crm.yaml", "name: crm\nworkspace: default\nlocation: file://"+filepath.Join(dir, "crm")+"\nformat: {type: csv}\nkind: profiles\nfields:\n"+
		"  customer_id: {column: Customer ID, identifier: customer_id, required: true}\n"+
		"  email: {column: E-mail, transforms: [trim, lower], identifier: email}\n"+
		"  phone: {column: Phone}\n"+
		"  first_name: {column: First}\n"+
		"  plan: {}\n"+
		"  tier: {column: Tier, transforms: [sha256]}\n"+
		"  dob: {column: DOB, transforms: [\"parse_date:2006-01-02\"]}\n"+
		"  renewal: {column: Renewal, transforms: [\"parse_date:01/02/2006\"]}\n"+
		"  signed_up: {column: Signup, transforms: ["+rfc3339+"]}\n"+
		"  birthday: {column: Birthday, transforms: ["+rfc3339+"]}\n"+
		"  postcode: {column: Zip}\n")
	orders := write("orders.yaml", "name: crm_orders\nworkspace: default\nlocation: file://"+filepath.Join(dir, "orders")+"\nformat: {type: jsonl}\nkind: events\nfields:\n"+
		"  order_id: {required: true}\n"+
		"  customer_id: {column: customer.id, identifier: customer_id}\n"+
		"  timestamp: {column: ts, transforms: ["+rfc3339+"]}\n"+
		"  day: {transforms: [\"parse_date:2006-01-02\"]}\n"+
		"  amount: {}\n")
	dd := []string{"--data-dir", in.DataDir}
	cdpctl(t, in, "", append([]string{"source", "add", crm}, dd...)...)
	cdpctl(t, in, "", append([]string{"source", "add", orders}, dd...)...)

	views := []string{"raw_crm", "quarantine_crm", "clean_crm", "quarantine_crm_values", "raw_crm_orders", "quarantine_crm_orders"}
	before := viewColumns(t, in)
	for _, v := range views {
		if before[v] == nil {
			t.Fatalf("no view %s after source add; the views: %v", v, slices.Sorted(maps.Keys(before)))
		}
	}
	if _, ok := before["clean_crm_orders"]; ok {
		t.Errorf("an events source has a view clean_crm_orders; cleanse writes no such table")
	}
	// Dashboards over the sources work before the data: no rows, no error.
	if out := cdpctl(t, in, "", append([]string{"sql", "--format", "csv", `SELECT count(*) AS n FROM clean_crm c
		JOIN raw_crm_orders o USING (customer_id) WHERE o.timestamp > c.signed_up AND c.renewal > o.day`}, dd...)...); out != "n\n0\n" {
		t.Fatalf("a join over the views of sources without files: %q", out)
	}

	write("crm/customers.csv", "Customer ID,E-mail,Phone,First,plan,Tier,DOB,Renewal,Signup,Birthday,Zip\n"+
		"c1,Ann@Example.com,+1 415 555 0100,Ann  Lee,pro,gold,1990-01-31,02/01/2027,2026-01-02T03:04:05Z,1990-01-31T00:00:00Z,sw1a 1aa\n"+
		"c2,not an email,,Bob,free,silver,,,,,\n"+
		",nobody@example.com,,,,,,,,,\n")
	write("orders/orders.jsonl", `{"order_id":"o1","customer":{"id":"c1"},"ts":"2026-03-04T05:06:07Z","day":"2026-03-04","amount":10.5}`+"\n"+
		`{"order_id":"o2","customer":{"id":"c1"},"ts":"yesterday","day":"2026-03-04","amount":1}`+"\n")
	cdpctl(t, in, "", append([]string{"job", "run", "ingest", "--progress", "none"}, dd...)...)
	cdpctl(t, in, "", append([]string{"job", "run", "cleanse", "--progress", "none"}, dd...)...)

	printed := cdpctl(t, in, "", append([]string{"sql", "--print-views"}, dd...)...)
	after := viewColumns(t, in)
	for _, v := range views {
		if !strings.Contains(printed, `VIEW "`+v+`" AS SELECT * FROM read_parquet(`) {
			t.Errorf("view %s is not over files after the drop (nothing to compare its empty view with):\n%s", v, printed)
			continue
		}
		if !slices.Equal(before[v], after[v]) {
			t.Errorf("view %s before the first drop:\n%s\nwant the columns of its files:\n%s", v, strings.Join(before[v], "\n"), strings.Join(after[v], "\n"))
		}
	}
}

// customerRow is a row of the Parquet drops below.
type customerRow struct {
	CustomerID string `parquet:"customer_id"`
	Email      string `parquet:"email"`
	DOB        string `parquet:"dob"`
	Note       string `parquet:"note"`
}

// customersParquet is a Parquet drop of n customers; notes of random hex
// make it as large as n says, compressed or not.
func customersParquet(t *testing.T, n int) []byte {
	t.Helper()
	rows := make([]customerRow, n)
	for i := range rows {
		b := make([]byte, 32)
		rand.Read(b)
		rows[i] = customerRow{CustomerID: fmt.Sprintf("c%d", i), Email: fmt.Sprintf("c%d@example.com", i), DOB: "1990-01-31", Note: hex.EncodeToString(b)}
	}
	var buf bytes.Buffer
	if err := parquet.Write(&buf, rows); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// `source add` reads the head of the newest drop, in every format a source
// can have and from every kind of location (of a large Parquet file, over
// SFTP and S3, the footer alone), and refuses a definition that would not
// ingest it, naming the field, the value and the rule; --no-check stores it
// anyway.
func TestSourceAddChecksTheNewestDrop(t *testing.T) {
	in := testenv.Init(t)
	m := testenv.StartMinIO(t)
	srv := testenv.StartSFTP(t)
	cfgPath := filepath.Join(in.DataDir, "tributary.yaml")
	b, err := os.ReadFile(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	cfg := strings.Replace(string(b), "lake: {}", fmt.Sprintf("lake:\n    s3: {endpoint: %s, access_key: %s, secret_key: %s, insecure: true}", m.Endpoint, m.AccessKey, m.SecretKey), 1)
	cfg = strings.Replace(cfg, "sources: {}", fmt.Sprintf("sources: {sftp_key_file: %s, sftp_known_hosts: %s}", srv.KeyFile, srv.KnownHostsFile), 1)
	if cfg == string(b) || os.WriteFile(cfgPath, []byte(cfg), 0o600) != nil {
		t.Fatalf("cannot point the config at MinIO and the SFTP server:\n%s", b)
	}
	ctx := context.Background()
	sc := s3.DefaultConfig()
	sc.Endpoint, sc.AccessKey, sc.SecretKey, sc.Secure, sc.Bucket = m.Endpoint, m.AccessKey, m.SecretKey, false, "drops"
	bucket, err := s3.New(ctx, sc)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	// drop puts a file at a location (file, sftp or s3) and returns its URL.
	drop := func(kind, sub, name string, body []byte) string {
		t.Helper()
		switch kind {
		case "s3":
			if err := bucket.Put(ctx, sub+"/"+name, bytes.NewReader(body)); err != nil {
				t.Fatal(err)
			}
			return "s3://drops/" + sub
		case "sftp":
			writeFile(t, filepath.Join(srv.Dir, sub, name), body)
			return srv.URL(sub)
		}
		return "file://" + filepath.Dir(writeFile(t, filepath.Join(dir, "drops", sub, name), body))
	}
	def := func(name, location, format, fields string) string {
		body := fmt.Sprintf("name: %s\nworkspace: default\nlocation: %s\nformat: %s\nkind: profiles\nfields:\n%s", name, location, format, fields)
		return writeFile(t, filepath.Join(dir, name+".yaml"), []byte(body))
	}
	const (
		csvBody   = "Customer ID,E-mail,DOB\nc1,ann@example.com,1990-01-31\nc2,bob@example.com,1991-02-28\n"
		jsonlBody = `{"customer":{"id":"c1"},"email":"ann@example.com","dob":"1990-01-31","plan":""}` + "\n" +
			`{"customer":{"id":"c2"},"email":"bob@example.com","dob":"1991-02-28"}` + "\n"
	)
	csvLoc := drop("file", "csv", "customers.csv", []byte(csvBody))
	bare := drop("file", "bare", "customers.csv", []byte("c1,ann@example.com,1990-01-31\nc2,bob@example.com,1991-02-28\n"))
	jsonl := drop("file", "jsonl", "customers.jsonl", []byte(jsonlBody))
	jsonArr := drop("file", "json", "customers.json", []byte("["+strings.ReplaceAll(strings.TrimSpace(jsonlBody), "\n", ",\n")+"]"))
	small := drop("file", "parquet", "customers.parquet", customersParquet(t, 2))
	big := customersParquet(t, 40000)
	if len(big) < 2<<20 {
		t.Fatalf("the large Parquet drop is %d bytes: not past the head CheckHead reads", len(big))
	}
	bigSFTP := drop("sftp", "big", "customers.parquet", big)
	bigS3 := drop("s3", "big", "customers.parquet", big)
	csvSFTP := drop("sftp", "csv", "customers.csv", []byte(csvBody))
	jsonlS3 := drop("s3", "jsonl", "customers.jsonl", []byte(jsonlBody))
	// Columns as each format names them, and the transform of dob.
	cols := map[string][3]string{"csv": {"Customer ID", "E-mail", "DOB"}, "bare": {"1", "2", "3"}, "json": {"customer.id", "email", "dob"}, "parquet": {"customer_id", "email", "dob"}}
	good := func(kind string) string {
		c := cols[kind]
		return fmt.Sprintf("  customer_id: {column: %q, required: true, identifier: customer_id}\n  email: {column: %q, identifier: email}\n"+
			"  dob: {column: %q, transforms: [\"parse_date:2006-01-02\"]}\n", c[0], c[1], c[2])
	}
	withEmail := func(kind, email string) string {
		return strings.Replace(good(kind), fmt.Sprintf("%q", cols[kind][1]), fmt.Sprintf("%q", email), 1)
	}
	usDates := func(kind string) string {
		return strings.Replace(good(kind), "parse_date:2006-01-02", "parse_date:01/02/2006", 1)
	}
	dd := []string{"--data-dir", in.DataDir}

	refused := []struct {
		name, location, format, fields string
		want                           []string
	}{
		{"csv_typo", csvLoc, "{type: csv}", withEmail("csv", "Email"),
			[]string{`fields.email.column "Email": the header row has no such column (it has "Customer ID", "E-mail", "DOB"); a column is a name of the header row`}},
		{"csv_layout", csvSFTP, "{type: csv}", usDates("csv"),
			[]string{`fields.dob.transforms "1990-01-31": line 2: parse_date: "1990-01-31" matches none of the layouts 01/02/2006; the transforms reject every value in the first 2 rows: each row would be quarantined`}},
		{"bare_position", bare, "{type: csv, header: false}", withEmail("bare", "4"),
			[]string{`fields.email.column "4": there is no such column in the first 2 rows; without a header row a column is a position, from 1`}},
		{"jsonl_typo", jsonl, "{type: jsonl}", withEmail("json", "Email") + "  plan: {required: true}\n",
			[]string{`fields.email.column "Email": there is no such key in the first 2 rows (the keys there are "customer", "dob", "email", "plan"); a column is a key, or a dotted path`,
				`fields.plan.column "plan": empty throughout the first 2 rows, and the field is required: each row would be quarantined`}},
		{"jsonl_s3_layout", jsonlS3, "{type: jsonl}", usDates("json"), []string{`fields.dob.transforms "1990-01-31": line 1: parse_date:`}},
		{"json_typo", jsonArr, "{type: json}", withEmail("json", "customer.email"),
			[]string{`fields.email.column "customer.email": there is no such key in the first 2 rows`}},
		{"parquet_typo", small, "{type: parquet}", withEmail("parquet", "Email"),
			[]string{`fields.email.column "Email": the parquet file has no such column (it has "customer_id", "email", "dob", "note"); a column is a leaf column`}},
		{"parquet_layout", small, "{type: parquet}", usDates("parquet"), []string{`fields.dob.transforms "1990-01-31": line 1: parse_date:`}},
		{"parquet_sftp_typo", bigSFTP, "{type: parquet}", withEmail("parquet", "Email"), []string{`fields.email.column "Email": the parquet file has no such column`}},
		{"parquet_s3_typo", bigS3, "{type: parquet}", withEmail("parquet", "Email"), []string{`fields.email.column "Email": the parquet file has no such column`}},
	}
	for _, tt := range refused {
		t.Run(tt.name, func(t *testing.T) {
			path := def(tt.name, tt.location, tt.format, tt.fields)
			out, err := exec.Command(in.Bin, append([]string{"source", "add", path}, dd...)...).CombinedOutput()
			for _, want := range append(tt.want, "the newest file at "+tt.location+", would not ingest:", "add it with --no-check") {
				if err == nil || !strings.Contains(string(out), want) {
					t.Errorf("source add: want a failure saying %q, got %v:\n%s", want, err, out)
				}
			}
		})
	}
	if out := cdpctl(t, in, "", append([]string{"source", "list"}, dd...)...); !strings.Contains(out, "no sources") {
		t.Fatalf("a refused source was stored:\n%s", out)
	}

	accepted := []struct{ name, location, format, fields, want string }{
		{"csv_ok", csvSFTP, "{type: csv}", good("csv"), "the newest, customers.csv, has every column the fields read, and values they take in the first 2 rows"},
		{"bare_ok", bare, "{type: csv, header: false}", good("bare"), "and values they take in the first 2 rows"},
		{"jsonl_ok", jsonlS3, "{type: jsonl}", good("json"), "and values they take in the first 2 rows"},
		{"json_ok", jsonArr, "{type: json}", good("json"), "and values they take in the first 2 rows"},
		{"parquet_ok", small, "{type: parquet}", good("parquet"), "and values they take in the first 2 rows"},
		{"parquet_sftp_ok", bigSFTP, "{type: parquet}", good("parquet"), "1 file there now; the newest, customers.parquet, has every column the fields read\n"},
		{"parquet_s3_ok", bigS3, "{type: parquet}", good("parquet"), "1 file there now; the newest, customers.parquet, has every column the fields read\n"},
		{"jsonl_unchecked", jsonl, "{type: jsonl}", withEmail("json", "Email"), "source jsonl_unchecked added"},
	}
	for _, tt := range accepted {
		args := []string{"source", "add", def(tt.name, tt.location, tt.format, tt.fields)}
		if strings.HasSuffix(tt.name, "_unchecked") {
			args = append(args, "--no-check")
		}
		if out := cdpctl(t, in, "", append(args, dd...)...); !strings.Contains(out, tt.want) {
			t.Errorf("source add %s: want %q in:\n%s", tt.name, tt.want, out)
		}
	}
}
