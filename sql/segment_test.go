package sql_test

import (
	"context"
	dsql "database/sql"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	_ "github.com/duckdb/duckdb-go/v2"

	cdp "github.com/tributary-cdp/tributary"
	"github.com/tributary-cdp/tributary/sql"
)

// segNow is the evaluation time of the equality test.
var segNow = time.Date(2026, 11, 22, 2, 0, 0, 0, time.UTC)

type segEvent struct {
	typ, name string
	ts        time.Time
	revenue   float64
}

// segProfile is an in-memory cdp.ProfileView built from the same data that
// is loaded into DuckDB.
type segProfile struct {
	workspace, cdpID string
	traitsJSON       string
	traits           map[string]any
	ids              map[string]bool
	events           []segEvent
	computed         map[string]any
}

func (p *segProfile) Trait(name string) (any, bool) {
	v, ok := p.traits[name]
	return v, ok
}

func (p *segProfile) Computed(name string) (any, bool) {
	if ev, ok := strings.CutPrefix(name, cdp.EventCountsPrefix); ok {
		return float64(p.EventCountSince(ev, time.Time{})), true
	}
	v, ok := p.computed[name]
	return v, ok
}

func (p *segProfile) HasIdentifier(typ string) bool { return p.ids[typ] }

func (p *segProfile) EventCountSince(name string, since time.Time) int {
	n := 0
	for _, e := range p.events {
		if e.typ == "track" && e.name == name && !e.ts.Before(since) {
			n++
		}
	}
	return n
}

// segGenerate builds n synthetic profiles with awkward data on purpose:
// traits of the wrong type, nulls, times with offsets, non-times that look
// almost like times, nested objects, arrays of mixed types.
func segGenerate(n int) []*segProfile {
	r := rand.New(rand.NewPCG(6, 2))
	pick := func(xs ...any) any { return xs[r.IntN(len(xs))] }
	days := func(max int) time.Time {
		return segNow.Add(-time.Duration(r.Int64N(int64(max) * int64(24*time.Hour)))).Truncate(time.Microsecond)
	}
	var out []*segProfile
	for i := range n {
		ws := "default"
		if i%10 == 9 {
			ws = "other"
		}
		p := &segProfile{workspace: ws, cdpID: fmt.Sprintf("c%04d", i), ids: map[string]bool{}, computed: map[string]any{}}
		t := map[string]any{}
		set := func(k string, v any) {
			if v != "<missing>" {
				t[k] = v
			}
		}
		set("plan", pick("free", "pro", "enterprise", "Pro", 7, nil, "<missing>"))
		set("age", pick(r.IntN(80), r.IntN(80), float64(r.IntN(8000))/100, "42", true, "<missing>"))
		set("score", pick(r.Float64(), r.Float64(), 0.5, -1, "<missing>"))
		set("vip", pick(true, false, "true", nil, "<missing>"))
		set("name", pick("Ann", "Jean-Luc", "Zoë", "Dana", "anna", "", 12, "<missing>"))
		set("email_domain", pick("gmail.com", "gmail.co.uk", "example.org", "GMAIL.com", "<missing>"))
		set("tags", pick([]any{"vip", "beta"}, []any{"beta"}, []any{1, "vip "}, []any{}, "vip-list", []any{"é", "vip"}, "<missing>"))
		set("signup_at", pick(
			days(500).Format(time.RFC3339),
			days(500).In(time.FixedZone("", 2*3600)).Format(time.RFC3339Nano),
			days(500).In(time.FixedZone("", -5*3600-1800)).Format(time.RFC3339),
			days(500).Format("2006-01-02"),          // a date, not a time
			days(500).Format("2006-01-02 15:04:05"), // no T, no zone: not a time
			"2026-02-30T10:00:00Z",                  // no such day
			"soon", 1700000000, "<missing>"))
		if r.IntN(3) > 0 {
			t["address"] = map[string]any{"city": pick("Paris", "Berlin", nil), "zip": "75001"}
		} else if r.IntN(2) == 0 {
			t["address"] = "Paris"
		} else { // a key repeated (its last value counts), escaped, in another case
			t["address"] = json.RawMessage(pick(`{"city":"Berlin","city":"Paris"}`, `{"city":"Paris","city":"Berlin"}`, `{"city":"Paris","city":null}`,
				`{"c\u0069ty":"Berlin"}`, `{"City":"Berlin"}`, `{"city":"Paris","City":"Berlin"}`).(string))
		}
		if r.IntN(4) == 0 {
			t["nickname"] = pick("x", nil)
		}
		b, _ := json.Marshal(t)
		p.traitsJSON = string(b)
		if err := json.Unmarshal(b, &p.traits); err != nil {
			panic(err)
		}
		for _, typ := range []string{cdp.IDEmail, cdp.IDPhone, cdp.IDUserID, cdp.IDAnonymousID, "customer_id"} {
			if r.IntN(2) == 0 {
				p.ids[typ] = true
			}
		}
		ne := r.IntN(25)
		if r.IntN(8) == 0 {
			ne = 0
		}
		for range ne {
			e := segEvent{typ: "track", ts: days(120)}
			if r.IntN(10) == 0 { // on the edge of a window some test segment uses
				edge := cdp.WindowStart(segNow, []int{14, 30, 60}[r.IntN(3)])
				e.ts = edge.Add(time.Duration(r.IntN(3)-1) * time.Microsecond)
			}
			switch r.IntN(6) {
			case 0, 1:
				e.name = "Order Completed"
				e.revenue = float64(r.IntN(30000)) / 100
			case 2:
				e.name = "Product Viewed"
			case 3:
				e.name = "Café Visit"
			case 4:
				e.typ, e.name = "page", ""
			default:
				e.typ, e.name = "identify", ""
			}
			p.events = append(p.events, e)
		}
		if r.IntN(5) == 0 { // exactly on the edge of a window (see edge_cases.yaml)
			edge := cdp.WindowStart(segNow, []int{30, 60}[r.IntN(2)])
			ts := edge.Add(time.Duration(r.IntN(3)-1) * time.Microsecond)
			if len(p.events) > 0 && r.IntN(2) == 0 {
				p.events = p.events[:0] // so the edge is also first_seen and last_seen
			}
			p.events = append(p.events, segEvent{typ: "track", name: "Edge Case", ts: ts})
		}
		var total, pages, orders float64
		var revenue float64
		var first, last time.Time
		for _, e := range p.events {
			total++
			if e.typ == "page" {
				pages++
			}
			if e.name == "Order Completed" {
				orders++
				revenue += e.revenue
			}
			if first.IsZero() || e.ts.Before(first) {
				first = e.ts
			}
			if e.ts.After(last) {
				last = e.ts
			}
		}
		p.computed[cdp.ComputedEventsTotal] = total
		p.computed[cdp.ComputedPageViews] = pages
		p.computed[cdp.ComputedOrdersTotal] = orders
		p.computed[cdp.ComputedRevenueTotal] = revenue
		if !first.IsZero() {
			p.computed[cdp.ComputedFirstSeen] = first
			p.computed[cdp.ComputedLastSeen] = last
		}
		out = append(out, p)
	}
	return out
}

// segLoad creates the three relations CompileSegment reads.
func segLoad(t *testing.T, db *dsql.Conn, profiles []*segProfile) {
	t.Helper()
	ctx := context.Background()
	for _, ddl := range []string{
		`CREATE TABLE segment_profiles (workspace VARCHAR, cdp_id VARCHAR, traits VARCHAR, events_total BIGINT,
			page_views BIGINT, revenue_total DOUBLE, orders_total BIGINT, first_seen TIMESTAMP, last_seen TIMESTAMP)`,
		`CREATE TABLE segment_events (workspace VARCHAR, cdp_id VARCHAR, "type" VARCHAR, event VARCHAR, "timestamp" TIMESTAMP)`,
		`CREATE TABLE segment_identifiers (workspace VARCHAR, cdp_id VARCHAR, "type" VARCHAR, value VARCHAR)`,
	} {
		if _, err := db.ExecContext(ctx, ddl); err != nil {
			t.Fatal(err)
		}
	}
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	insP, err := tx.PrepareContext(ctx, `INSERT INTO segment_profiles VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`)
	if err != nil {
		t.Fatal(err)
	}
	insE, err := tx.PrepareContext(ctx, `INSERT INTO segment_events VALUES (?, ?, ?, ?, ?)`)
	if err != nil {
		t.Fatal(err)
	}
	insI, err := tx.PrepareContext(ctx, `INSERT INTO segment_identifiers VALUES (?, ?, ?, ?)`)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range profiles {
		var first, last any
		if v, ok := p.computed[cdp.ComputedFirstSeen]; ok {
			first, last = v, p.computed[cdp.ComputedLastSeen]
		}
		c := p.computed
		if _, err := insP.ExecContext(ctx, p.workspace, p.cdpID, p.traitsJSON, int64(c["events_total"].(float64)),
			int64(c["page_views"].(float64)), c["revenue_total"], int64(c["orders_total"].(float64)), first, last); err != nil {
			t.Fatal(err)
		}
		for _, e := range p.events {
			if _, err := insE.ExecContext(ctx, p.workspace, p.cdpID, e.typ, e.name, e.ts); err != nil {
				t.Fatal(err)
			}
		}
		for typ := range p.ids {
			if _, err := insI.ExecContext(ctx, p.workspace, p.cdpID, typ, typ+"-value"); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
}

// segEqualitySegments are the segments of the equality test, one file per
// segment in testdata/segments; together they use every operator.
func segEqualitySegments(t *testing.T) []*cdp.Segment {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join("..", "testdata", "segments", "*.*"))
	if err != nil {
		t.Fatal(err)
	}
	var segs []*cdp.Segment
	for _, path := range paths {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		s, err := cdp.ParseSegment(b)
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		segs = append(segs, s)
	}
	if len(segs) < 12 {
		t.Fatalf("found %d segments in testdata/segments, want at least 12", len(segs))
	}
	return segs
}

// TestSegmentEvaluatorsAgree runs the Go evaluator and the DuckDB SQL on the
// same profiles and asserts they find the same members.
func TestSegmentEvaluatorsAgree(t *testing.T) {
	profiles := segGenerate(400)
	segs := segEqualitySegments(t)
	assertSegmentOpsCovered(t, segs)

	db := open(t).Conn() // with json_last
	segLoad(t, db, profiles)

	q, err := sql.CompileSegments(segs, segNow)
	if err != nil {
		t.Fatal(err)
	}
	fromSQL := segMembers(t, db, q)
	overDays := segOverDays(t, db, segs)

	byID := map[string]*segProfile{}
	for _, p := range profiles {
		byID[p.workspace+"/"+p.cdpID] = p
	}
	for _, s := range segs {
		var fromGo []string
		inWorkspace := 0
		for _, p := range profiles {
			if p.workspace != s.Workspace {
				continue
			}
			inWorkspace++
			if s.Evaluate(p, segNow) {
				fromGo = append(fromGo, p.workspace+"/"+p.cdpID)
			}
		}
		got := fromSQL[s.Workspace+"/"+s.ID]
		t.Logf("%-8s %-22s %3d of %3d", s.Workspace, s.ID, len(fromGo), inWorkspace)
		if len(fromGo) == 0 || len(fromGo) == inWorkspace {
			t.Errorf("%s: %d members of %d; the test data does not exercise it", s.ID, len(fromGo), inWorkspace)
		}
		if d := overDays[s.Workspace+"/"+s.ID]; !slices.Equal(d, got) {
			t.Errorf("%s: CompileSegmentsOverDays finds %d members, CompileSegments %d", s.ID, len(d), len(got))
		}
		if embedded := segEmbedded(t, db, s); !slices.Equal(embedded, got) {
			t.Errorf("%s: CompileSegmentCondition finds %d members, CompileSegments %d", s.ID, len(embedded), len(got))
		}
		if !slices.Equal(fromGo, got) {
			for _, id := range segSymDiff(fromGo, got) {
				p := byID[id]
				t.Errorf("%s: %s go=%v sql=%v traits=%s computed=%v ids=%v", s.ID, id,
					slices.Contains(fromGo, id), slices.Contains(got, id), p.traitsJSON, p.computed, p.ids)
			}
		}
	}
}

// segOverDays runs the segments through CompileSegmentsOverDays over days
// counted as curate counts them (sql/curate_events.sql).
func segOverDays(t *testing.T, db *dsql.Conn, segs []*cdp.Segment) map[string][]string {
	t.Helper()
	if _, err := db.ExecContext(context.Background(), `CREATE OR REPLACE TABLE segment_event_days AS
		SELECT workspace, cdp_id, event, CAST(make_timestamp(epoch_us("timestamp")) AS DATE) - DATE '1970-01-01' AS day, count(*) AS n
		FROM segment_events WHERE "type" = 'track' AND event IS NOT NULL GROUP BY ALL`); err != nil {
		t.Fatal(err)
	}
	q, err := sql.CompileSegmentsOverDays(segs, segNow)
	if err != nil {
		t.Fatal(err)
	}
	return segMembers(t, db, q)
}

// segMembers runs compiled segments: the sorted members by
// "<workspace>/<segment>".
func segMembers(t *testing.T, db *dsql.Conn, q sql.SegmentQuery) map[string][]string {
	t.Helper()
	rows, err := db.QueryContext(context.Background(), q.SQL, q.Args...)
	if err != nil {
		t.Fatalf("run compiled SQL: %v\n%s", err, q.SQL)
	}
	defer rows.Close()
	out := map[string][]string{}
	for rows.Next() {
		var ws, id, seg string
		if err := rows.Scan(&ws, &id, &seg); err != nil {
			t.Fatal(err)
		}
		out[ws+"/"+seg] = append(out[ws+"/"+seg], ws+"/"+id)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	for _, m := range out {
		slices.Sort(m)
	}
	return out
}

// segEmbedded runs the segment through CompileSegmentCondition, which reads
// segment_events directly instead of the per-day CTE.
func segEmbedded(t *testing.T, db *dsql.Conn, s *cdp.Segment) []string {
	t.Helper()
	q, err := sql.CompileSegmentCondition(s, segNow, 2)
	if err != nil {
		t.Fatal(err)
	}
	rows, err := db.QueryContext(context.Background(), "SELECT p.workspace || '/' || p.cdp_id FROM segment_profiles AS p WHERE p.workspace = $1 AND ("+q.SQL+") ORDER BY 1",
		append([]any{s.Workspace}, q.Args...)...)
	if err != nil {
		t.Fatalf("%s: %v\n%s", s.ID, err, q.SQL)
	}
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return ids
}

func segSymDiff(a, b []string) []string {
	var out []string
	for _, x := range a {
		if !slices.Contains(b, x) {
			out = append(out, x)
		}
	}
	for _, x := range b {
		if !slices.Contains(a, x) {
			out = append(out, x)
		}
	}
	return out
}

// assertSegmentOpsCovered fails when the test segments leave an operator,
// a literal kind or a leaf type untested.
func assertSegmentOpsCovered(t *testing.T, segs []*cdp.Segment) {
	t.Helper()
	seen := map[string]bool{}
	var walk func(c *cdp.Condition)
	walk = func(c *cdp.Condition) {
		for i := range c.All {
			walk(&c.All[i])
		}
		for i := range c.Any {
			walk(&c.Any[i])
		}
		switch {
		case c.All != nil:
			seen["all"] = true
		case c.Any != nil:
			seen["any"] = true
		case c.Not != nil:
			seen["not"] = true
			walk(c.Not)
		case c.Identifier != nil:
			seen["identifier"] = true
		case c.Event != nil:
			seen["event"] = true
			if c.Event.WithinDays > 0 {
				seen["event_window"] = true
			}
		}
		for _, m := range []*cdp.Comparison{c.Trait, c.Computed} {
			if m == nil {
				continue
			}
			seen[string(m.Op)] = true
			vals := []any{m.Value}
			if l, ok := m.Value.([]any); ok {
				vals = l
			}
			for _, v := range vals {
				if k := cdp.LiteralKind(v); k != cdp.KindInvalid {
					seen[k.String()] = true
				}
			}
			if strings.HasPrefix(m.Name, cdp.EventCountsPrefix) {
				seen["event_counts"] = true
			}
		}
	}
	for _, s := range segs {
		walk(&s.Condition)
	}
	want := []string{"all", "any", "not", "identifier", "event", "event_window", "event_counts", "number", "string", "bool", "time"}
	for _, o := range cdp.Ops {
		want = append(want, string(o))
	}
	for _, w := range want {
		if !seen[w] {
			t.Errorf("no test segment uses %s", w)
		}
	}
}

// TestCompileSegmentCondition embeds a condition in a larger query with
// parameters numbered after the caller's own.
func TestCompileSegmentCondition(t *testing.T) {
	seg, err := cdp.ParseSegment([]byte(`
id: pro
workspace: default
condition: {trait: {name: plan, op: eq, value: pro}}
`))
	if err != nil {
		t.Fatal(err)
	}
	q, err := sql.CompileSegmentCondition(seg, segNow, 2)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(q.SQL, "$1") || !strings.Contains(q.SQL, "$2") {
		t.Fatalf("parameters should start at $2: %s", q.SQL)
	}
	db := open(t).Conn()
	segLoad(t, db, nil)
	if _, err := db.ExecContext(context.Background(), `INSERT INTO segment_profiles (workspace, cdp_id, traits) VALUES ('default', 'a', '{"plan":"pro"}'), ('default', 'b', '{"plan":"free"}')`); err != nil {
		t.Fatal(err)
	}
	var n int
	args := append([]any{"default"}, q.Args...)
	if err := db.QueryRowContext(context.Background(), "SELECT count(*) FROM segment_profiles AS p WHERE p.workspace = $1 AND "+q.SQL, args...).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 1 {
		t.Fatalf("got %d members, want 1", n)
	}
}

// TestCompileSegmentBindsValues checks that no value of the definition
// reaches the SQL text.
func TestCompileSegmentBindsValues(t *testing.T) {
	seg, err := cdp.ParseSegment([]byte(`
id: injection
workspace: default
condition:
  any:
    - trait: {name: plan, op: eq, value: "x'); DROP TABLE segment_profiles; --"}
    - event: {name: "Robert'); DROP TABLE", min_count: 2}
    - identifier: {type: evil_type}
    - computed: {name: "event_counts.'; SELECT 1; --", op: gt, value: 1}
`))
	if err != nil {
		t.Fatal(err)
	}
	q, err := sql.CompileSegment(seg, segNow)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"DROP", "Robert", "evil_type", "; SELECT", "injection", "plan"} {
		if strings.Contains(q.SQL, s) {
			t.Errorf("SQL text contains %q:\n%s", s, q.SQL)
		}
	}
}
