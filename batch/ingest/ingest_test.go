package ingest_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tributary-cdp/tributary/batch/ingest"
	"github.com/tributary-cdp/tributary/internal/testenv"
	"github.com/tributary-cdp/tributary/lake"
	"github.com/tributary-cdp/tributary/lake/local"
	"github.com/tributary-cdp/tributary/lake/s3"
)

const fixtures = "../../testdata/ingest"

// customer is a row of raw/crm_customers as the example defines it.
type customer struct {
	CustomerID string     `parquet:"customer_id,optional"`
	Email      string     `parquet:"email,optional"`
	Phone      string     `parquet:"phone,optional"`
	BirthDate  *time.Time `parquet:"birth_date,date,optional"`
	File       string     `parquet:"_file"`
	Line       int64      `parquet:"_line"`
}

func fixture(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(fixtures, name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// exampleSource is the example definition with its location replaced.
func exampleSource(t *testing.T, location string) *ingest.Source {
	t.Helper()
	b := strings.Replace(string(fixture(t, "crm_customers.yaml")), "file:///drops/crm", location, 1)
	src, err := ingest.ParseSource([]byte(b))
	if err != nil {
		t.Fatal(err)
	}
	return src
}

func newLake(t *testing.T) lake.Storage {
	t.Helper()
	st, err := local.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func run(t *testing.T, cfg ingest.Config, opts ingest.Options) ingest.Result {
	t.Helper()
	res, err := ingest.Run(context.Background(), cfg, opts)
	if err != nil {
		t.Fatalf("ingest: %v\n%s", err, res)
	}
	t.Logf("summary: %s", res)
	return res
}

func day(s string) *time.Time {
	t, _ := time.Parse(time.DateOnly, s)
	return &t
}

// checkCRM checks what the nasty crm_customers.csv fixture must give.
func checkCRM(t *testing.T, st lake.Storage, file string) {
	t.Helper()
	ctx := context.Background()
	rows, err := lake.ReadTable[customer](ctx, st, "raw/crm_customers")
	if err != nil {
		t.Fatal(err)
	}
	want := []customer{
		{CustomerID: "C001", Email: "ann@example.com", Phone: "+14155552671", BirthDate: day("1985-03-14"), Line: 2},
		{CustomerID: "C002", Email: "bob@example.com", Phone: "+14155550100", BirthDate: day("1990-03-02"), Line: 3},
		{CustomerID: "C003", Email: "carol@example.com", Phone: "+442079460958", Line: 5},
		{CustomerID: "C008", Email: "heidi@example.com", Phone: "+14155550104", BirthDate: day("2000-02-29"), Line: 10},
		{CustomerID: "C010", Email: "judy@example.com", BirthDate: day("1999-12-31"), Line: 13},
	}
	if len(rows) != len(want) {
		t.Fatalf("landed %d rows, want %d: %+v", len(rows), len(want), rows)
	}
	for i, w := range want {
		g := rows[i]
		if g.CustomerID != w.CustomerID || g.Email != w.Email || g.Phone != w.Phone || g.Line != w.Line || g.File != file ||
			(g.BirthDate == nil) != (w.BirthDate == nil) || g.BirthDate != nil && !g.BirthDate.Equal(*w.BirthDate) {
			t.Errorf("row %d = %+v (birth %v), want %+v (birth %v)", i, g, g.BirthDate, w, w.BirthDate)
		}
	}
	rej, err := lake.ReadTable[lake.RejectRow](ctx, st, "quarantine/crm_customers")
	if err != nil {
		t.Fatal(err)
	}
	wantRej := []struct {
		line   int64
		raw    string
		reason string
	}{
		{6, "C004,dave@example.com,4155550101", "row has 3 columns, the header has 7"},
		{7, ",eve@example.com,4155550102,1990-01-01,no id,,w", "field customer_id (column \"Customer ID\") is required but empty"},
		{8, "C006,frank@example.com,12,1990-01-01,bad phone,,v", "phone_e164: \"12\" is not a phone number"},
		{9, "C007,grace@example.com,4155550103,31/31/2020,bad date,,u", "parse_date: \"31/31/2020\" matches none of the layouts"},
		{11, `C009,ivan@example.com,4155550105,2001-01-01,"unterminated "quote,,s`, "malformed CSV"},
	}
	if len(rej) != len(wantRej) {
		t.Fatalf("quarantined %d rows, want %d: %+v", len(rej), len(wantRej), rej)
	}
	for i, w := range wantRej {
		g := rej[i]
		if g.Line != w.line || g.Raw != w.raw || !strings.Contains(g.Reason, w.reason) || g.File != file || g.Source != "crm_customers" {
			t.Errorf("reject %d = line %d raw %q reason %q file %q\nwant line %d raw %q reason ~%q", i, g.Line, g.Raw, g.Reason, g.File, w.line, w.raw, w.reason)
		}
	}
}

func TestIngestNastyCSVFromDirectory(t *testing.T) {
	ctx := context.Background()
	st := newLake(t)
	drop := t.TempDir()
	if err := ingest.NewStore(st).Add(ctx, exampleSource(t, "file://"+drop), false); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(drop, "export-2026-11-22.csv"), fixture(t, "crm_customers.csv"), 0o644); err != nil {
		t.Fatal(err)
	}
	// An upload in progress is left alone.
	if err := os.WriteFile(filepath.Join(drop, "next.csv.part"), []byte("half"), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := ingest.DefaultConfig()
	cfg.Storage = st

	dry := run(t, cfg, ingest.Options{DryRun: true})
	if dry.Rows != 5 || dry.Quarantined != 5 {
		t.Fatalf("dry run: %+v", dry)
	}
	for _, want := range []string{"1 file to ingest, 5 rows to land, 5 rows to quarantine", "crm_customers/export-2026-11-22.csv: 5 rows to land, 5 to quarantine"} {
		if !strings.Contains(dry.String(), want) {
			t.Errorf("dry run's summary %q lacks %q", dry.String(), want)
		}
	}
	if objs, _ := st.List(ctx, "raw/"); len(objs) != 0 {
		t.Fatalf("dry run wrote %v", objs)
	}
	res := run(t, cfg, ingest.Options{RunID: "r1"})
	if res.Ingested != 1 || res.Rows != 5 || res.Quarantined != 5 {
		t.Fatalf("run: %+v", res)
	}
	for _, want := range []string{"1 file ingested, 5 rows landed, 5 rows quarantined", "crm_customers/export-2026-11-22.csv: 5 rows landed, 5 quarantined"} {
		if !strings.Contains(res.String(), want) {
			t.Errorf("summary %q lacks %q", res.String(), want)
		}
	}
	checkCRM(t, st, "export-2026-11-22.csv")
	files, _ := lake.CommittedFiles(ctx, st, "raw/crm_customers")
	today := time.Now().UTC().Format(time.DateOnly)
	if len(files) != 1 || !strings.HasPrefix(files[0].Path, "raw/crm_customers/workspace=default/date="+today+"/") || files[0].Checksum == "" ||
		!strings.HasSuffix(files[0].Path, files[0].Checksum+".parquet") {
		t.Fatalf("files = %+v", files)
	}

	// Again: nothing new.
	res = run(t, cfg, ingest.Options{})
	if res.Ingested != 0 || res.Rows != 0 {
		t.Fatalf("second run: %+v", res)
	}
	// The same content under another name is not ingested twice.
	if err := os.WriteFile(filepath.Join(drop, "copy.csv"), fixture(t, "crm_customers.csv"), 0o644); err != nil {
		t.Fatal(err)
	}
	res = run(t, cfg, ingest.Options{})
	if res.Ingested != 0 || res.Duplicates != 1 || !strings.Contains(res.String(), "copy.csv: skipped, duplicate of export-2026-11-22.csv") {
		t.Fatalf("duplicate run: %s", res)
	}
	checkCRM(t, st, "export-2026-11-22.csv")
}

func TestIngestLatin1AndFormats(t *testing.T) {
	ctx := context.Background()
	st := newLake(t)
	store := ingest.NewStore(st)
	dir := t.TempDir()
	put := func(sub, name string, b []byte) string {
		d := filepath.Join(dir, sub)
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(d, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
		return "file://" + d
	}
	defs := []string{
		`name: de_crm
workspace: acme
location: ` + put("latin", "kunden.csv", fixture(t, "crm_latin1.csv")) + `
format: {type: csv, delimiter: ";", encoding: latin-1}
kind: profiles
fields:
  customer_id: {column: Kunden-Nr, required: true, identifier: customer_id}
  email: {column: E-Mail, transforms: [email_normalize], identifier: email}
  phone: {column: Telefon, transforms: ["phone_e164:DE"], identifier: phone}
  name: {column: Name, transforms: [trim]}
  name_hash: {column: Name, transforms: [lower, sha256]}
  tier: {column: Name, transforms: [upper, "default:none"]}
`,
		`name: app_events
workspace: acme
location: ` + put("events", "events.jsonl", fixture(t, "events.jsonl")) + `
format: {type: jsonl}
kind: events
fields:
  user_id: {column: user.id, required: true, identifier: user_id}
  email: {column: user.email, transforms: [email_normalize], identifier: email}
  event: {column: event, required: true}
  timestamp: {column: ts, transforms: ["parse_time:2006-01-02T15:04:05Z07:00"]}
  amount: {column: amount}
`,
	}
	for _, d := range defs {
		src, err := ingest.ParseSource([]byte(d))
		if err != nil {
			t.Fatal(err)
		}
		if err := store.Add(ctx, src, false); err != nil {
			t.Fatal(err)
		}
	}
	js := exampleSource(t, put("json", "customers.json", fixture(t, "customers.json")))
	js.Name, js.Format = "json_customers", ingest.Format{Type: "json"}
	if err := store.Add(ctx, js, false); err != nil {
		t.Fatal(err)
	}
	cfg := ingest.DefaultConfig()
	cfg.Storage = st
	res := run(t, cfg, ingest.Options{})
	if res.Ingested != 3 || res.Rows != 3+3+3 || res.Quarantined != 0+3+1 {
		t.Fatalf("run: %s", res)
	}

	type deRow struct {
		CustomerID string `parquet:"customer_id,optional"`
		Email      string `parquet:"email,optional"`
		Phone      string `parquet:"phone,optional"`
		Name       string `parquet:"name,optional"`
		NameHash   string `parquet:"name_hash,optional"`
		Tier       string `parquet:"tier,optional"`
	}
	de, err := lake.ReadTable[deRow](ctx, st, "raw/de_crm")
	if err != nil {
		t.Fatal(err)
	}
	if len(de) != 3 || de[0].Name != "Jürgen Müller" || de[1].Name != "José Ñúñez" || de[2].Name != "Zoë Ærø" ||
		de[0].Phone != "+49301234567" || de[2].Email != "" || len(de[0].NameHash) != 64 || de[1].Tier != "JOSÉ ÑÚÑEZ" {
		t.Fatalf("latin-1 rows: %+v", de)
	}

	type evRow struct {
		UserID    string     `parquet:"user_id,optional"`
		Email     string     `parquet:"email,optional"`
		Event     string     `parquet:"event,optional"`
		Timestamp *time.Time `parquet:"timestamp,timestamp(microsecond),optional"`
		Amount    string     `parquet:"amount,optional"`
		Line      int64      `parquet:"_line"`
	}
	files, _ := lake.CommittedFiles(ctx, st, "raw/app_events")
	if len(files) != 2 || files[0].Date != "2026-11-20" || files[1].Date != "2026-11-21" {
		t.Fatalf("event files by day: %+v", files)
	}
	ev, err := lake.ReadTable[evRow](ctx, st, "raw/app_events")
	if err != nil {
		t.Fatal(err)
	}
	if len(ev) != 3 || ev[0].Email != "a@example.com" || ev[0].Amount != "12.5" || ev[1].Amount != "" ||
		!ev[1].Timestamp.Equal(time.Date(2026, 11, 21, 8, 30, 0, 0, time.UTC)) || ev[2].Line != 7 {
		t.Fatalf("event rows: %+v", ev)
	}
	rej, _ := lake.ReadTable[lake.RejectRow](ctx, st, "quarantine/app_events")
	reasons := []string{}
	for _, r := range rej {
		reasons = append(reasons, r.Reason)
	}
	if len(rej) != 3 || rej[0].Line != 3 || rej[1].Line != 4 || rej[2].Line != 6 || !strings.Contains(reasons[0], "parse_time") ||
		!strings.Contains(reasons[1], "malformed JSON") || !strings.Contains(reasons[2], "want an object") {
		t.Fatalf("event rejects: %+v", rej)
	}

	jc, _ := lake.ReadTable[customer](ctx, st, "raw/json_customers")
	if len(jc) != 3 || jc[1].Email != "j2@example.com" || !jc[1].BirthDate.Equal(*day("1985-02-03")) || jc[2].CustomerID != "4" {
		t.Fatalf("json rows: %+v", jc)
	}

	// Parquet input: the raw table's own output, read back as a source.
	raw, err := lake.ReadObject(ctx, st, files[0].Path)
	if err != nil {
		t.Fatal(err)
	}
	pq := `name: pq_events
workspace: acme
location: ` + put("parquet", "in.parquet", raw) + `
format: {type: parquet}
kind: profiles
fields:
  uid: {column: user_id, required: true}
  email: {column: email}
`
	src, err := ingest.ParseSource([]byte(pq))
	if err != nil {
		t.Fatal(err)
	}
	if err := store.Add(ctx, src, false); err != nil {
		t.Fatal(err)
	}
	res = run(t, cfg, ingest.Options{Sources: []string{"pq_events"}})
	if res.Rows != 1 || res.Quarantined != 0 {
		t.Fatalf("parquet run: %s", res)
	}
}

func TestIngestMissingColumnFailsTheFile(t *testing.T) {
	ctx := context.Background()
	st := newLake(t)
	drop := t.TempDir()
	src := exampleSource(t, "file://"+drop)
	if err := ingest.NewStore(st).Add(ctx, src, false); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(drop, "a.csv"), []byte("Customer ID,Email\nC1,a@b.co\n"), 0o644)
	os.WriteFile(filepath.Join(drop, "b.csv"), fixture(t, "crm_customers.csv"), 0o644)
	cfg := ingest.DefaultConfig()
	cfg.Storage = st
	res, err := ingest.Run(ctx, cfg, ingest.Options{})
	if err == nil || !strings.Contains(err.Error(), `1 file could not be ingested (crm_customers/a.csv: header row has no column "E-mail", "Phone", "DOB"`) {
		t.Fatalf("err = %v", err)
	}
	if !strings.Contains(res.String(), `a.csv: failed: header row has no column "E-mail", "Phone", "DOB"`) || res.Ingested != 1 {
		t.Fatalf("summary: %s", res)
	}
}

// A source whose location cannot be read fails the run, naming it, and
// does not keep the other sources from their drops.
func TestIngestOneSourceDownOthersGoOn(t *testing.T) {
	ctx := context.Background()
	st := newLake(t)
	down := exampleSource(t, "file://"+filepath.Join(t.TempDir(), "gone"))
	down.Name = "aaa_down" // listed first
	drop := t.TempDir()
	os.WriteFile(filepath.Join(drop, "b.csv"), fixture(t, "crm_customers.csv"), 0o644)
	for _, src := range []*ingest.Source{down, exampleSource(t, "file://"+drop)} {
		if err := ingest.NewStore(st).Add(ctx, src, false); err != nil {
			t.Fatal(err)
		}
	}
	cfg := ingest.DefaultConfig()
	cfg.Storage = st
	res, err := ingest.Run(ctx, cfg, ingest.Options{})
	if err == nil || !strings.Contains(err.Error(), "source aaa_down") || strings.Contains(err.Error(), "crm_customers") {
		t.Fatalf("err = %v; want the down source named, and it alone", err)
	}
	if res.Ingested != 1 {
		t.Fatalf("the source that is up ingested %d files, want 1: %s", res.Ingested, res)
	}
}

func TestIngestFromMinIO(t *testing.T) {
	ctx := context.Background()
	m := testenv.StartMinIO(t)
	sc := s3.DefaultConfig()
	sc.Endpoint, sc.AccessKey, sc.SecretKey, sc.Secure = m.Endpoint, m.AccessKey, m.SecretKey, false
	// The drop bucket, as a CRM system would fill it.
	drops := sc
	drops.Bucket, drops.Prefix = "crm-drops", "exports/daily"
	dst, err := s3.New(ctx, drops)
	if err != nil {
		t.Fatal(err)
	}
	if err := dst.Put(ctx, "customers.csv", strings.NewReader(string(fixture(t, "crm_customers.csv")))); err != nil {
		t.Fatal(err)
	}
	// The lake itself on MinIO too.
	lk := sc
	lk.Bucket = "lake"
	st, err := s3.New(ctx, lk)
	if err != nil {
		t.Fatal(err)
	}
	if err := ingest.NewStore(st).Add(ctx, exampleSource(t, "s3://crm-drops/exports/daily"), false); err != nil {
		t.Fatal(err)
	}
	cfg := ingest.DefaultConfig()
	cfg.Storage, cfg.Locations.S3 = st, sc
	res := run(t, cfg, ingest.Options{})
	if res.Ingested != 1 || res.Rows != 5 || res.Quarantined != 5 {
		t.Fatalf("run: %s", res)
	}
	checkCRM(t, st, "customers.csv")
	if err := dst.Put(ctx, "again/customers-copy.csv", strings.NewReader(string(fixture(t, "crm_customers.csv")))); err != nil {
		t.Fatal(err)
	}
	if res := run(t, cfg, ingest.Options{}); res.Duplicates != 1 || res.Ingested != 0 {
		t.Fatalf("duplicate: %s", res)
	}
}

func TestIngestFromSFTP(t *testing.T) {
	ctx := context.Background()
	srv := testenv.StartSFTP(t)
	drop := filepath.Join(srv.Dir, "crm")
	if err := os.MkdirAll(drop, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(drop, "customers.csv"), fixture(t, "crm_customers.csv"), 0o644); err != nil {
		t.Fatal(err)
	}
	st := newLake(t)
	if err := ingest.NewStore(st).Add(ctx, exampleSource(t, srv.URL("crm")), false); err != nil {
		t.Fatal(err)
	}
	cfg := ingest.DefaultConfig()
	cfg.Storage = st
	// Without a key file the error says what to configure.
	if _, err := ingest.Run(ctx, cfg, ingest.Options{}); err == nil || !strings.Contains(err.Error(), "sources.sftp_key_file") {
		t.Fatalf("no key: err = %v", err)
	}
	cfg.Locations.SFTPKeyFile, cfg.Locations.SFTPKnownHosts = srv.KeyFile, srv.KnownHostsFile
	res := run(t, cfg, ingest.Options{})
	if res.Ingested != 1 || res.Rows != 5 || res.Quarantined != 5 {
		t.Fatalf("run: %s", res)
	}
	checkCRM(t, st, "customers.csv")
}

func TestSourceStore(t *testing.T) {
	ctx := context.Background()
	st := newLake(t)
	store := ingest.NewStore(st)
	src := exampleSource(t, "file:///drops/crm")
	if err := store.Add(ctx, src, false); err != nil {
		t.Fatal(err)
	}
	if err := store.Add(ctx, src, false); err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Fatalf("second add: %v", err)
	}
	if err := store.Add(ctx, src, true); err != nil {
		t.Fatal(err)
	}
	got, err := store.Get(ctx, "crm_customers")
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Fields) != 4 || got.Fields[0].Name != "customer_id" || got.Fields[3].Transforms[0] != "parse_date:2006-01-02|01/02/2006" ||
		got.Identifiers()["phone"] != "phone" || !got.Fields[0].Required {
		t.Fatalf("round trip: %+v", got)
	}
	list, _ := store.List(ctx)
	if len(list) != 1 {
		t.Fatalf("list = %v", list)
	}
	if err := store.Remove(ctx, "crm_customers"); err != nil {
		t.Fatal(err)
	}
	if err := store.Remove(ctx, "crm_customers"); !ingest.IsNoSource(err) {
		t.Fatalf("second remove: %v", err)
	}
}

func TestSourceValidation(t *testing.T) {
	base := string(fixture(t, "crm_customers.yaml"))
	cases := []struct {
		name, old, new, want string
	}{
		{"unknown key", "kind: profiles", "kind: profiles\nschedule: daily", "source definition: schedule: is not a known key (line 6)"},
		{"misspelt key", "delimiter:", "delimeter:", "source definition: format.delimeter: is not a known key (line 4)"},
		{"value of the wrong kind", "header: true", "header: maybe", `source definition: format.header: "maybe" is not true or false (line 4)`},
		{"format as a word", "format: {type: csv, header: true, delimiter: \",\", encoding: utf-8}", "format: csv", `source definition: format: "csv" is not a mapping (line 4)`},
		{"unknown field key", "required: true}", "required: true, requird: true}", "requird"},
		{"bad name", "name: crm_customers", "name: CRM-Customers", "name"},
		{"name of a land table", "name: crm_customers", "name: events", `"events" is the table the land job writes`},
		{"name of a quarantine table", "name: crm_customers", "name: crm_values", `"crm_values" ends in _values`},
		{"bad location", "file:///drops/crm", "ftp://host/x", "scheme must be file, s3 or sftp"},
		{"password in sftp", "file:///drops/crm", "sftp://bob:secret@host:22/x", "no password"},
		{"bad format", "type: csv", "type: xlsx", "format.type"},
		{"bad encoding", "encoding: utf-8", "encoding: utf-16", "format.encoding"},
		{"bad delimiter", `delimiter: ","`, `delimiter: ",,"`, "format.delimiter"},
		{"bad kind", "kind: profiles", "kind: orders", "kind"},
		{"events need timestamp", "kind: profiles", "kind: events", "needs a field named timestamp"},
		{"unknown transform", "[trim, lower]", "[trim, titlecase]", `unknown transform "titlecase"`},
		{"phone without region", `"phone_e164:US"`, `"phone_e164"`, "two-letter default region"},
		{"phone unknown region", `"phone_e164:US"`, `"phone_e164:XX"`, `region "XX" is not one libphonenumber supports`},
		{"date without layout", `"parse_date:2006-01-02|01/02/2006"`, `"parse_date:"`, "needs Go layouts"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if !strings.Contains(base, c.old) {
				t.Fatalf("fixture lacks %q", c.old)
			}
			_, err := ingest.ParseSource([]byte(strings.Replace(base, c.old, c.new, 1)))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want it to mention %q", err, c.want)
			}
		})
	}
	if _, err := ingest.ParseSource([]byte(base)); err != nil {
		t.Fatalf("the issue's example does not validate: %v", err)
	}
}

// Of a drop larger than the head it reads, CheckHead judges the rows that
// fit whole: a JSON array cut mid-element is no malformed file.
func TestCheckHeadOfALargeDrop(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	var b strings.Builder
	b.WriteString("[")
	pad := strings.Repeat("x", 2000)
	for i := range 2000 {
		if i > 0 {
			b.WriteString(",\n")
		}
		fmt.Fprintf(&b, `{"id":"c%d","dob":"1990-01-31","pad":"%s"}`, i, pad)
	}
	b.WriteString("]")
	if err := os.WriteFile(filepath.Join(dir, "big.json"), []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	src, err := ingest.ParseSource([]byte("name: big\nworkspace: w\nlocation: file://" + dir + "\nformat: {type: json}\nkind: profiles\n" +
		"fields:\n  id: {required: true}\n  dob: {transforms: [\"parse_date:2006-01-02\"]}\n"))
	if err != nil {
		t.Fatal(err)
	}
	loc, err := ingest.OpenLocation(ctx, src.Location, ingest.LocationConfig{})
	if err != nil {
		t.Fatal(err)
	}
	f := ingest.RemoteFile{Name: "big.json", Size: int64(b.Len())}
	if rows, err := ingest.CheckHead(ctx, loc, src, f); err != nil || rows < 400 || rows > 600 {
		t.Fatalf("CheckHead of a 4 MB array: %d rows, %v", rows, err)
	}
	src.Fields[1].Transforms = []string{"parse_date:01/02/2006"}
	_, err = ingest.CheckHead(ctx, loc, src, f)
	var fe *ingest.FileError
	if !errors.As(err, &fe) || fe.Key != "fields.dob.transforms" || fe.Value != "1990-01-31" {
		t.Fatalf("CheckHead with a layout no value has: %v", err)
	}
}
