package main_test

import (
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/tributary-cdp/tributary/internal/testenv"
)

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
	write := func(name, body string) string {
		t.Helper()
		path := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return path
	}
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
