package curate

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	cdp "github.com/tributary-cdp/tributary"
	"github.com/tributary-cdp/tributary/batch/ingest"
	"github.com/tributary-cdp/tributary/lake"
	"github.com/tributary-cdp/tributary/lake/laketest"
	"github.com/tributary-cdp/tributary/lake/local"
	tsql "github.com/tributary-cdp/tributary/sql"
	"github.com/tributary-cdp/tributary/sql/sqltest"
)

var asOf = time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)

func day(d int) time.Time { return asOf.AddDate(0, 0, -d) }

type ev struct {
	off   int64
	typ   cdp.EventType
	msg   string
	user  string
	anon  string
	event string
	props string
	tr    string
	ts    time.Time
}

// putEvents lands events of partition 0 as one file and commits it.
func putEvents(t *testing.T, st lake.Storage, evs []ev) {
	t.Helper()
	var rows []lake.EventRow
	for _, e := range evs {
		ce := &cdp.Event{Workspace: "default", MessageID: e.msg, Type: e.typ, Event: e.event, UserID: e.user, AnonymousID: e.anon,
			Timestamp: e.ts, ReceivedAt: e.ts, Properties: json.RawMessage(e.props), Traits: json.RawMessage(e.tr)}
		rows = append(rows, lake.NewEventRow(ce, 0, e.off))
	}
	laketest.CommitEvents(t, st, rows...)
}

func TestCurateBuildsGoldenProfiles(t *testing.T) {
	ctx := context.Background()
	st, err := local.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	putEvents(t, st, []ev{
		{0, cdp.Page, "m0", "", "a1", "", ``, ``, day(10)},
		{1, cdp.Identify, "m1", "u1", "a1", "", ``, `{"email":"ann@x.com","plan":"free"}`, day(9)},
		{2, cdp.Track, "m2", "u1", "", "Order Completed", `{"revenue":100}`, ``, day(8)},
		{3, cdp.Identify, "m3", "u1", "", "", ``, `{"plan":"pro","nick":"annie"}`, day(2)},
		{4, cdp.Identify, "m4", "u1", "", "", ``, `{"nick":"old"}`, day(5)}, // arrives late, older: loses
		{5, cdp.Track, "m5", "u1", "", "Order Completed", `{"products":[{"price":10,"quantity":2},{"price":"1.5"}]}`, ``, day(1)},
		{6, cdp.Track, "m2", "u1", "", "Order Completed", `{"revenue":100}`, ``, day(8)}, // a retry: same messageId
		{7, cdp.Track, "m7", "u2", "", "Order Completed", `{"revenue":50}`, ``, day(3)},
	})
	putEvents(t, st, []ev{{8, cdp.Track, "m8", "u1", "", "Order Completed", `{"revenue":1000}`, ``, day(0)}}) // above the watermark
	sqltest.Commit(t, st, TableIdentityMap, TableIdentityMap+"/workspace=default/f.parquet", `SELECT * FROM (VALUES
		('default','user_id','u1','cdp-1'), ('default','anonymous_id','a1','cdp-1'), ('default','email','ann@x.com','cdp-1'),
		('default','customer_id','C1','cdp-1'), ('default','user_id','u2','cdp-2'), ('default','customer_id','C2','cdp-3'))
		AS t(workspace, id_type, id_value, cdp_id)`, map[int32]int64{0: 8})
	src, err := ingest.ParseSource([]byte(`name: crm
workspace: default
location: file:///tmp/none
format: {type: csv}
kind: profiles
fields:
  customer_id: {column: id, identifier: customer_id, required: true}
  first_name: {column: first}
  plan: {column: plan}
`))
	if err != nil {
		t.Fatal(err)
	}
	sqltest.Commit(t, st, "raw/crm", "raw/crm/workspace=default/f.parquet", `SELECT * FROM (VALUES
		('C1', 'Ann', 'enterprise', 'crm.csv', 2, TIMESTAMP '2026-11-01 00:00:00'),
		('C2', 'Bob', NULL, 'crm.csv', 3, TIMESTAMP '2026-11-01 00:00:00'))
		AS t(customer_id, first_name, plan, _file, _line, _ingested_at)`, nil)
	buyers, err := cdp.ParseSegment([]byte("id: buyers\nworkspace: default\ncondition:\n  computed: {name: orders_total, op: gte, value: 1}\n"))
	if err != nil {
		t.Fatal(err)
	}

	cfg := DefaultConfig()
	cfg.Storage, cfg.Now, cfg.Sources, cfg.Segments = st, func() time.Time { return asOf }, []*ingest.Source{src}, []*cdp.Segment{buyers}
	cfg.Rules = []Rule{{Attribute: "plan", Rule: RuleSourcePriority, Priority: []string{"crm", "events"}}}
	res, err := Run(ctx, cfg, "run1")
	if err != nil {
		t.Fatal(err)
	}
	if res.Profiles != 3 || res.Events != 7 || res.Watermark[0] != 8 || res.Segments["default/buyers"] != 2 {
		t.Fatalf("result %+v", res)
	}

	sess, _ := lakeSession(t, st)
	type row struct {
		events, pages, orders int64
		revenue               float64
		traits, prov          string
		rfm                   *string
		aov                   *float64
	}
	get := func(id string) row {
		var r row
		if err := sess.QueryRow(ctx, `SELECT events_total, page_views, orders_total, revenue_total, traits, provenance, rfm_score, avg_order_value
			FROM profiles WHERE cdp_id = $1`, id).Scan(&r.events, &r.pages, &r.orders, &r.revenue, &r.traits, &r.prov, &r.rfm, &r.aov); err != nil {
			t.Fatalf("%s: %v", id, err)
		}
		return r
	}
	p1 := get("cdp-1")
	if p1.events != 6 || p1.pages != 1 || p1.orders != 2 || p1.revenue != 121.5 || p1.aov == nil || *p1.aov != 60.75 || p1.rfm == nil {
		t.Fatalf("cdp-1 computed: %+v", p1)
	}
	var traits map[string]any
	json.Unmarshal([]byte(p1.traits), &traits)
	if traits["plan"] != "enterprise" || traits["nick"] != "annie" || traits["first_name"] != "Ann" || traits["email"] != "ann@x.com" {
		t.Fatalf("cdp-1 traits: %s", p1.traits)
	}
	var prov map[string]map[string]any
	json.Unmarshal([]byte(p1.prov), &prov)
	if prov["plan"]["source"] != "crm" || prov["plan"]["record"] != "C1" || prov["nick"]["source"] != "events" || prov["nick"]["record"] != "m3" {
		t.Fatalf("cdp-1 provenance: %s", p1.prov)
	}
	// Keys in name order, days by UTC date (curate_events.sql), as the
	// speed layer reads them back.
	var counts, days string
	var since int64
	if err := sess.QueryRow(ctx, `SELECT event_counts, event_days, days_since_last_order FROM profiles WHERE cdp_id = 'cdp-1'`).Scan(&counts, &days, &since); err != nil {
		t.Fatal(err)
	}
	if counts != `{"Order Completed":2}` || since != 1 ||
		days != `[{"event":"Order Completed","day":"2026-11-14","n":1},{"event":"Order Completed","day":"2026-11-21","n":1}]` {
		t.Fatalf("cdp-1 event_counts %s, event_days %s, days_since_last_order %d", counts, days, since)
	}
	if p2 := get("cdp-2"); p2.events != 1 || p2.revenue != 50 {
		t.Fatalf("cdp-2: %+v", p2)
	}
	if p3 := get("cdp-3"); p3.events != 0 || p3.traits != `{"customer_id":"C2","first_name":"Bob"}` || p3.rfm != nil {
		t.Fatalf("cdp-3 (CRM only): %+v", p3)
	}
	var members []string
	rows, _ := sess.Query(ctx, `SELECT cdp_id FROM segment_membership WHERE segment_id = 'buyers' ORDER BY 1`)
	for rows.Next() {
		var s string
		rows.Scan(&s)
		members = append(members, s)
	}
	rows.Close()
	if len(members) != 2 || members[0] != "cdp-1" || members[1] != "cdp-2" {
		t.Fatalf("buyers: %v", members)
	}
	m, err := lake.LatestManifest(ctx, st, TableProfiles)
	if err != nil || m.Offsets[0] != 8 {
		t.Fatalf("profiles manifest watermark: %+v %v", m, err)
	}
}

// TestCurateWithoutEventsTypesAsWithThem: a lake of CRM records and no
// events yet gets the curated tables the events would have given, column
// for column and type for type (sql/lake_tables.tsv): profiles'
// first_seen stays a timestamp with time zone.
func TestCurateWithoutEventsTypesAsWithThem(t *testing.T) {
	ctx := context.Background()
	st, err := local.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	sqltest.Commit(t, st, TableIdentityMap, TableIdentityMap+"/workspace=default/f.parquet", `SELECT * FROM (VALUES
		('default','customer_id','C1','cdp-1')) AS t(workspace, id_type, id_value, cdp_id)`, nil)
	src, err := ingest.ParseSource([]byte("name: crm\nworkspace: default\nlocation: file:///tmp/none\nformat: {type: csv}\nkind: profiles\nfields:\n  customer_id: {column: id, identifier: customer_id, required: true}\n  first_name: {column: first}\n"))
	if err != nil {
		t.Fatal(err)
	}
	sqltest.Commit(t, st, "raw/crm", "raw/crm/workspace=default/f.parquet", `SELECT * FROM (VALUES
		('C1', 'Ann', 'crm.csv', 2, TIMESTAMP '2026-11-01 00:00:00')) AS t(customer_id, first_name, _file, _line, _ingested_at)`, nil)
	cfg := DefaultConfig()
	cfg.Storage, cfg.Now, cfg.Sources = st, func() time.Time { return asOf }, []*ingest.Source{src}
	if res, err := Run(ctx, cfg, "run1"); err != nil || res.Profiles != 1 {
		t.Fatalf("curate: %+v, %v", res, err)
	}

	empty, err := local.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	describe := func(st lake.Storage) map[string]string {
		sess, views := lakeSession(t, st)
		out := map[string]string{}
		for _, v := range views {
			var cols string
			if err := sess.QueryRow(ctx, "SELECT string_agg(column_name || ' ' || column_type, ', ') FROM (DESCRIBE "+tsql.QuoteIdent(v.Name)+")").Scan(&cols); err != nil {
				t.Fatal(err)
			}
			out[v.Name] = cols
		}
		return out
	}
	if got, want := describe(st)["profiles"], describe(empty)["profiles"]; got != want {
		t.Errorf("profiles without events:\n%s\nwant (sql/lake_tables.tsv):\n%s", got, want)
	}
}

// lakeSession is a DuckDB session with a view of every table of st, as
// `cdpctl sql` makes them; it closes at the test's end.
func lakeSession(t *testing.T, st lake.Storage) (*tsql.Session, []tsql.View) {
	t.Helper()
	ctx := context.Background()
	sess, err := tsql.Open(ctx, tsql.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sess.Close() })
	views, err := tsql.LakeViews(ctx, st, "")
	if err != nil {
		t.Fatal(err)
	}
	if err := sess.CreateViews(ctx, views); err != nil {
		t.Fatal(err)
	}
	return sess, views
}
