package resolve

import (
	"context"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	cdp "github.com/tributary-cdp/tributary"
	"github.com/tributary-cdp/tributary/batch/cleanse"
	"github.com/tributary-cdp/tributary/lake"
	"github.com/tributary-cdp/tributary/lake/laketest"
	"github.com/tributary-cdp/tributary/lake/local"
	tsql "github.com/tributary-cdp/tributary/sql"
	"github.com/tributary-cdp/tributary/sql/sqltest"
)

type ev struct {
	off                   int64
	typ                   cdp.EventType
	msg, user, anon, prev string
	traits                string
	ts                    time.Time
}

var t0 = time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)

func day(n int) time.Time { return t0.AddDate(0, 0, n) }

// putEvents lands one file of events in partition 0 and commits it.
func putEvents(t *testing.T, st lake.Storage, evs []ev) {
	t.Helper()
	var rows []lake.EventRow
	for _, e := range evs {
		ce := &cdp.Event{Workspace: "default", MessageID: e.msg, Type: e.typ, UserID: e.user, AnonymousID: e.anon, PreviousID: e.prev,
			Timestamp: e.ts, ReceivedAt: e.ts, Traits: json.RawMessage(e.traits)}
		rows = append(rows, lake.NewEventRow(ce, 0, e.off))
	}
	laketest.CommitEvents(t, st, rows...)
}

// readMap returns "type:value" → cdp_id of the committed identity map.
func readMap(t *testing.T, st lake.Storage) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, r := range sqltest.Rows(t, st, TableIdentityMap, "m", "SELECT id_type || ':' || id_value, cdp_id FROM m") {
		out[r[0]] = r[1]
	}
	return out
}

func run(t *testing.T, st lake.Storage, id string) *Report {
	t.Helper()
	cfg := DefaultConfig()
	cfg.Storage, cfg.SpoolDir, cfg.CacheDir = st, t.TempDir(), t.TempDir()
	cfg.Caps = map[string]int{"email": 2}
	rep, err := Run(context.Background(), cfg, id)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%s: %s", id, rep)
	return rep
}

// Resolving twice with new data keeps every cluster's id: a merge keeps
// the oldest member's id, junk and shared values link nothing.
func TestResolveStableIDs(t *testing.T) {
	st, err := local.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	putEvents(t, st, []ev{
		{0, cdp.Page, "m0", "", "a1", "", ``, day(0)},
		{1, cdp.Identify, "m1", "u1", "a1", "", `{"email":" Ann@X.com "}`, day(1)},
		{2, cdp.Identify, "m1", "u1", "a1", "", `{"email":" Ann@X.com "}`, day(1)},   // retry
		{3, cdp.Identify, "m3", "u2", "a2", "", `{"email":"test@test.com"}`, day(2)}, // junk email
		{4, cdp.Identify, "m4", "u3", "", "", `{"email":"test@test.com","phone":"(415) 555-2671"}`, day(3)},
		{5, cdp.Identify, "m5", "u4", "", "", `{"email":"family@x.com"}`, day(4)},
		{6, cdp.Identify, "m6", "u5", "", "", `{"email":"family@x.com"}`, day(5)},
		{7, cdp.Identify, "m7", "u6", "", "", `{"email":"family@x.com"}`, day(6)}, // 3 users > cap 2: shared
	})
	r1 := run(t, st, "run1")
	m1 := readMap(t, st)
	if m1["user_id:u1"] == "" || m1["user_id:u1"] != m1["anonymous_id:a1"] || m1["user_id:u1"] != m1["email:ann@x.com"] {
		t.Fatalf("u1, a1 and ann@x.com not one profile: %v", m1)
	}
	if m1["user_id:u2"] == m1["user_id:u3"] {
		t.Errorf("junk email test@test.com merged u2 and u3")
	}
	if _, ok := m1["email:test@test.com"]; ok {
		t.Errorf("junk email in the map")
	}
	if m1["user_id:u4"] == m1["user_id:u5"] {
		t.Errorf("shared email merged u4 and u5")
	}
	if m1["phone:+14155552671"] != m1["user_id:u3"] {
		t.Errorf("phone not normalized to E.164 or not linked to u3: %v", m1)
	}
	if r1.Shared != 1 || r1.NewProfiles != r1.Profiles {
		t.Errorf("first run: shared %d, new %d of %d profiles", r1.Shared, r1.NewProfiles, r1.Profiles)
	}

	// New data: u3 aliases to u1 (a merge: u1's cluster is older, so its id
	// wins), and a new user appears.
	putEvents(t, st, []ev{
		{8, cdp.Alias, "m8", "u1", "", "u3", ``, day(7)},
		{9, cdp.Identify, "m9", "u9", "a9", "", `{"email":"nine@x.com"}`, day(8)},
	})
	r2 := run(t, st, "run2")
	m2 := readMap(t, st)
	for k, id := range m1 {
		if k == "user_id:u3" || k == "phone:+14155552671" {
			continue
		}
		if m2[k] != id {
			t.Errorf("%s: cdp_id %s became %s", k, id, m2[k])
		}
	}
	if m2["user_id:u3"] != m1["user_id:u1"] || m2["phone:+14155552671"] != m1["user_id:u1"] {
		t.Errorf("u3 merged into u1 should take u1's id %s, got %s", m1["user_id:u1"], m2["user_id:u3"])
	}
	if r2.Merges != 1 || r2.NewProfiles != 1 || r2.NewEdges == 0 {
		t.Errorf("second run: merges %d (want 1), new profiles %d (want 1), new edges %d", r2.Merges, r2.NewProfiles, r2.NewEdges)
	}
	// A third run over the same data changes nothing and appends no edge.
	r3 := run(t, st, "run3")
	if r3.NewEdges != 0 || r3.Merges != 0 || r3.Splits != 0 || r3.NewProfiles != 0 {
		t.Errorf("idempotent run: %s", r3)
	}
	if !strings.Contains(r1.String(), "ALARM") && len(r1.Alarms) > 0 {
		t.Errorf("alarms not in the report")
	}

	ex, err := Explain(context.Background(), st, t.TempDir(), tsql.DefaultConfig(), "default", "email", " ANN@x.com")
	if err != nil {
		t.Fatal(err)
	}
	if ex.CDPID != m2["user_id:u1"] || len(ex.Edges) < 3 || len(ex.Members) < 5 {
		t.Errorf("explain: %+v", ex)
	}
}

// Over clean/events resolve takes the rows as they are (cleanse kept one
// per message); over raw/events it deduplicates itself. Both must give the
// same identity map.
func TestResolveOverCleanEventsEqualsRaw(t *testing.T) {
	evs := []ev{
		{0, cdp.Page, "m0", "", "a1", "", ``, day(0)},
		{1, cdp.Identify, "m1", "u1", "a1", "", `{"email":" Ann@X.com ","phone":"(415) 555-2671"}`, day(1)},
		{2, cdp.Identify, "m1", "u1", "a1", "", `{"email":" Ann@X.com ","phone":"(415) 555-2671"}`, day(2)}, // retry, later copy
		{3, cdp.Identify, "m3", "u2", "a2", "", `{"email":"test@test.com"}`, day(2)},
		{4, cdp.Alias, "m4", "u2", "", "a3", ``, day(3)},
		{5, cdp.Identify, "m5", "u3", " a4 ", "", `{"phone":"415.555.2671"}`, day(4)},
	}
	raw, err := local.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	putEvents(t, raw, evs)
	run(t, raw, "raw")

	clean, err := local.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	putEvents(t, clean, evs)
	ccfg := cleanse.DefaultConfig()
	ccfg.Storage, ccfg.SpoolDir, ccfg.CacheDir = clean, t.TempDir(), t.TempDir()
	if _, err := cleanse.Run(context.Background(), ccfg, "cleanse"); err != nil {
		t.Fatal(err)
	}
	if m, err := lake.LatestManifest(context.Background(), clean, TableCleanEvents); err != nil || len(m.Files) == 0 {
		t.Fatalf("cleanse wrote no clean/events: %v", err)
	}
	run(t, clean, "clean")

	want, got := readMap(t, raw), readMap(t, clean)
	if len(want) < 6 || !reflect.DeepEqual(got, want) {
		t.Fatalf("over clean/events %v\nover raw/events   %v", got, want)
	}
}
