package cleanse

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	cdp "github.com/tributary-cdp/tributary"
	"github.com/tributary-cdp/tributary/batch/ingest"
	"github.com/tributary-cdp/tributary/identity"
	"github.com/tributary-cdp/tributary/lake"
	"github.com/tributary-cdp/tributary/lake/laketest"
	"github.com/tributary-cdp/tributary/lake/local"
	"github.com/tributary-cdp/tributary/sql/sqltest"
)

func putEvents(t *testing.T, st lake.Storage, part int32, evs []*cdp.Event, first int64) {
	t.Helper()
	rows := make([]lake.EventRow, len(evs))
	for i, e := range evs {
		rows[i] = lake.NewEventRow(e, part, first+int64(i))
	}
	laketest.CommitEvents(t, st, rows...)
}

// rowsOf returns the one text column of query over table (the view t).
func rowsOf(t *testing.T, st lake.Storage, table, query string) []string {
	t.Helper()
	var out []string
	for _, r := range sqltest.Rows(t, st, table, "t", query) {
		out = append(out, r[0])
	}
	return out
}

// The cleansed rows of a small fixture, compared whole.
func TestCleanse(t *testing.T) {
	st, err := local.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	ts := time.Date(2026, 11, 22, 1, 0, 0, 0, time.UTC)
	e := func(id string, typ cdp.EventType, user, anon, traits string) *cdp.Event {
		return &cdp.Event{Workspace: "default", MessageID: id, Type: typ, UserID: user, AnonymousID: anon, Timestamp: ts, ReceivedAt: ts, Traits: json.RawMessage(traits)}
	}
	putEvents(t, st, 0, []*cdp.Event{
		e("m1", cdp.Identify, " u1 ", "a1", `{"email":" Ann@X.com ","phone":"(415) 555-2671"}`),
		e("m2", cdp.Identify, "u2", "", `{"email":"not-an-email","phone":"000"}`),
		e("m3", cdp.Identify, "u3", "0000", `{"email":"test@test.com"}`),
	}, 0)
	putEvents(t, st, 1, []*cdp.Event{e("m1", cdp.Identify, " u1 ", "a1", `{"email":" Ann@X.com "}`)}, 0) // retry in another partition
	// A message the land job rejected: cleanse's quarantine is another table.
	reject := lake.RejectRow{Source: "kafka:cdp.events", Line: -1, Raw: "{", Reason: "bad JSON", QuarantinedAt: ts, KafkaPartition: 0, KafkaOffset: 3}
	laketest.CommitRowsOn(t, st, lake.TableRejected, "_unknown", "2026-11-22", reject)
	cfg := DefaultConfig()
	cfg.Storage, cfg.SpoolDir, cfg.CacheDir = st, t.TempDir(), t.TempDir()
	cfg.Now = func() time.Time { return ts }
	rep, err := Run(context.Background(), cfg, "run1")
	if err != nil {
		t.Fatal(err)
	}
	if rep.RawRows != 4 || rep.Events != 3 || rep.Duplicates != 1 || rep.Quarantined != 4 {
		t.Errorf("report: %s", rep)
	}
	clean := rowsOf(t, st, TableCleanEvents, `SELECT concat_ws('|', message_id, coalesce(user_id, '∅'), coalesce(anonymous_id, '∅'), coalesce(email, '∅'), coalesce(phone, '∅'), kafka_partition) FROM t ORDER BY 1`)
	want := []string{"m1|u1|a1|ann@x.com|+14155552671|0", "m2|u2|∅|∅|∅|0", "m3|u3|∅|∅|∅|0"}
	if strings.Join(clean, "\n") != strings.Join(want, "\n") {
		t.Errorf("clean/events:\n%s\nwant:\n%s", strings.Join(clean, "\n"), strings.Join(want, "\n"))
	}
	q := rowsOf(t, st, TableQuarantineEvents, `SELECT concat_ws('|', message_id, field, value, reason) FROM t ORDER BY 1`)
	wantQ := []string{"m2|traits.email|not-an-email|invalid email", "m2|traits.phone|000|invalid phone", "m3|anonymous_id|0000|blocklisted anonymous_id", "m3|traits.email|test@test.com|blocklisted email"}
	if strings.Join(q, "\n") != strings.Join(wantQ, "\n") {
		t.Errorf("%s:\n%s\nwant:\n%s", TableQuarantineEvents, strings.Join(q, "\n"), strings.Join(wantQ, "\n"))
	}
	if rej, err := lake.ReadTable[lake.RejectRow](context.Background(), st, lake.TableRejected); err != nil || len(rej) != 1 || rej[0] != reject {
		t.Errorf("the land job's rejects after cleanse: %+v, %v", rej, err)
	}
}

func TestCleanseSource(t *testing.T) {
	ctx := context.Background()
	st, err := local.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	sqltest.Commit(t, st, "raw/crm", "raw/crm/workspace=default/date=2026-11-01/x.parquet", `SELECT * FROM (VALUES
		('C1', ' Ann@X.com ', ' Ann  Lee ', '02 Jan 1980', 'sw1a 1aa', '(415) 555-2671', 'a.csv', 2, TIMESTAMP '2026-11-01 00:00:00'),
		('C1', ' Ann@X.com ', ' Ann  Lee ', '02 Jan 1980', 'sw1a 1aa', '(415) 555-2671', 'b.csv', 7, TIMESTAMP '2026-11-02 00:00:00'),
		('C2', 'nope', 'Bob', 'yesterday', NULL, '12', 'a.csv', 3, TIMESTAMP '2026-11-01 00:00:00'),
		-- U+0000: the Go functions would read "cy@x.co" and "(415) 555-2672"
		('C3', 'cy@x.co' || chr(0) || 'evil', 'Cy', NULL, NULL, '(415) 555-2672' || chr(0) || '9', 'a.csv', 4, TIMESTAMP '2026-11-01 00:00:00'))
		AS t(customer_id, email, full_name, birth_date, zip, phone, _file, _line, _ingested_at)`, nil)
	src, err := ingest.ParseSource([]byte("name: crm\nworkspace: default\nlocation: file:///tmp/none\nformat: {type: csv}\nkind: profiles\nfields:\n" +
		"  customer_id: {identifier: customer_id, required: true}\n  email: {identifier: email}\n  full_name: {}\n  birth_date: {}\n  zip: {}\n  phone: {}\n"))
	if err != nil {
		t.Fatal(err)
	}
	cfg := DefaultConfig()
	cfg.Storage, cfg.SpoolDir, cfg.CacheDir, cfg.Sources = st, t.TempDir(), t.TempDir(), []*ingest.Source{src}
	rep, err := Run(ctx, cfg, "run1")
	if err != nil {
		t.Fatal(err)
	}
	if rep.SourceRows != 3 || rep.SourceDuplicates != 1 {
		t.Errorf("report: %s", rep)
	}
	clean := rowsOf(t, st, "clean/crm", `SELECT concat_ws('|', customer_id, coalesce(email, '∅'), full_name, coalesce(birth_date, '∅'), coalesce(zip, '∅'), coalesce(phone, '∅')) FROM t ORDER BY 1`)
	want := []string{"C1|ann@x.com|Ann Lee|1980-01-02|SW1A 1AA|+14155552671", "C2|∅|Bob|∅|∅|∅", "C3|∅|Cy|∅|∅|∅"}
	if strings.Join(clean, "\n") != strings.Join(want, "\n") {
		t.Errorf("clean/crm:\n%s\nwant:\n%s", strings.Join(clean, "\n"), strings.Join(want, "\n"))
	}
	q := rowsOf(t, st, "quarantine/crm_values", `SELECT concat_ws('|', field, value, reason) FROM t ORDER BY 1`)
	wantQ := []string{"birth_date|yesterday|invalid date", "email|cy@x.co\x00evil|invalid email", "email|nope|invalid email",
		"phone|(415) 555-2672\x009|invalid phone", "phone|12|invalid phone"}
	if strings.Join(q, "\n") != strings.Join(wantQ, "\n") {
		t.Errorf("quarantine/crm_values:\n%s\nwant:\n%s", strings.Join(q, "\n"), strings.Join(wantQ, "\n"))
	}
}

// Several identify traits per identifier type: the clean email is the first
// valid one by trait name; a trait of another type is only quarantined; a
// trait name with a '$' is a JSON path, not a SQL parameter.
func TestCleanseTraits(t *testing.T) {
	st, err := local.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	ts := time.Date(2026, 11, 22, 1, 0, 0, 0, time.UTC)
	e := func(id, traits string) *cdp.Event {
		return &cdp.Event{Workspace: "default", MessageID: id, Type: cdp.Identify, UserID: "u", Timestamp: ts, ReceivedAt: ts, Traits: json.RawMessage(traits)}
	}
	putEvents(t, st, 0, []*cdp.Event{
		e("m1", `{"a_email":"nope","b_email":" B@X.com ","email":"c@x.com","crm":"null"}`),
		e("m2", `{"x$now":" D@x.com"}`),
	}, 0)
	cfg := DefaultConfig()
	cfg.Storage, cfg.SpoolDir, cfg.CacheDir = st, t.TempDir(), t.TempDir()
	cfg.IdentifierTraits = map[string]string{"a_email": "email", "b_email": "email", "email": "email", "crm": "customer_id", "x$now": "email"}
	cfg.Now = func() time.Time { return ts }
	if _, err := Run(context.Background(), cfg, "run1"); err != nil {
		t.Fatal(err)
	}
	clean := rowsOf(t, st, TableCleanEvents, `SELECT concat_ws('|', message_id, coalesce(email, '∅'), coalesce(phone, '∅')) FROM t ORDER BY 1`)
	if want := []string{"m1|b@x.com|∅", "m2|d@x.com|∅"}; strings.Join(clean, "\n") != strings.Join(want, "\n") {
		t.Errorf("clean/events:\n%s\nwant:\n%s", strings.Join(clean, "\n"), strings.Join(want, "\n"))
	}
	q := rowsOf(t, st, TableQuarantineEvents, `SELECT concat_ws('|', message_id, field, value, reason) FROM t ORDER BY 1`)
	if want := []string{"m1|traits.a_email|nope|invalid email", "m1|traits.crm|null|blocklisted customer_id"}; strings.Join(q, "\n") != strings.Join(want, "\n") {
		t.Errorf("quarantine/events:\n%s\nwant:\n%s", strings.Join(q, "\n"), strings.Join(want, "\n"))
	}
}

// Two shops in one lake, a US one and a UK one with a phone region of its
// own: the same phone texts are judged per workspace, in its region, in
// events and in a CRM source alike. "020 7946 0018" is a London number in
// the UK shop and none in the US one; "(415) 555-2671" a number of each.
func TestCleansePhoneRegions(t *testing.T) {
	st, err := local.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	ts := time.Date(2026, 11, 22, 1, 0, 0, 0, time.UTC)
	e := func(ws, id, phone string) *cdp.Event {
		return &cdp.Event{Workspace: ws, MessageID: id, Type: cdp.Identify, UserID: "u", Timestamp: ts, ReceivedAt: ts, Traits: json.RawMessage(`{"phone":"` + phone + `"}`)}
	}
	for i, ev := range []*cdp.Event{
		e("us", "m1", "020 7946 0018"), e("us", "m2", "(415) 555-2671"),
		e("uk", "m3", "020 7946 0018"), e("uk", "m4", "(415) 555-2671"),
	} {
		laketest.CommitEventsOn(t, st, ev.Workspace, "2026-11-22", lake.NewEventRow(ev, 0, int64(i)))
	}
	sqltest.Commit(t, st, "raw/crm", "raw/crm/workspace=uk/date=2026-11-01/x.parquet", `SELECT * FROM (VALUES
		('C1', '020 7946 0018', 'a.csv', 2, TIMESTAMP '2026-11-01 00:00:00'))
		AS t(customer_id, phone, _file, _line, _ingested_at)`, nil)
	src, err := ingest.ParseSource([]byte("name: crm\nworkspace: uk\nlocation: file:///tmp/none\nformat: {type: csv}\nkind: profiles\nfields:\n" +
		"  customer_id: {identifier: customer_id, required: true}\n  phone: {identifier: phone}\n"))
	if err != nil {
		t.Fatal(err)
	}
	cfg := DefaultConfig()
	cfg.Storage, cfg.SpoolDir, cfg.CacheDir, cfg.Sources = st, t.TempDir(), t.TempDir(), []*ingest.Source{src}
	cfg.SQL.PhoneRegions = identity.Regions{Default: "US", Workspaces: map[string]string{"uk": "GB"}}
	cfg.Now = func() time.Time { return ts }
	if _, err := Run(context.Background(), cfg, "run1"); err != nil {
		t.Fatal(err)
	}
	clean := rowsOf(t, st, TableCleanEvents, `SELECT concat_ws('|', workspace, message_id, coalesce(phone, '∅')) FROM t ORDER BY message_id`)
	if want := []string{"us|m1|∅", "us|m2|+14155552671", "uk|m3|+442079460018", "uk|m4|+444155552671"}; strings.Join(clean, "\n") != strings.Join(want, "\n") {
		t.Errorf("clean/events:\n%s\nwant:\n%s", strings.Join(clean, "\n"), strings.Join(want, "\n"))
	}
	q := rowsOf(t, st, TableQuarantineEvents, `SELECT concat_ws('|', workspace, message_id, field, value, reason) FROM t ORDER BY 1`)
	if want := []string{"us|m1|traits.phone|020 7946 0018|invalid phone"}; strings.Join(q, "\n") != strings.Join(want, "\n") {
		t.Errorf("quarantine/events:\n%s\nwant:\n%s", strings.Join(q, "\n"), strings.Join(want, "\n"))
	}
	if crm := rowsOf(t, st, "clean/crm", `SELECT concat_ws('|', customer_id, coalesce(phone, '∅')) FROM t`); len(crm) != 1 || crm[0] != "C1|+442079460018" {
		t.Errorf("clean/crm of the UK shop: %q, want C1|+442079460018", crm)
	}
}
