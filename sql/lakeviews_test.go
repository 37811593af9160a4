package sql_test

import (
	"context"
	"testing"
	"time"

	cdp "github.com/tributary-cdp/tributary"
	"github.com/tributary-cdp/tributary/lake"
	"github.com/tributary-cdp/tributary/lake/laketest"
	"github.com/tributary-cdp/tributary/lake/local"
	"github.com/tributary-cdp/tributary/sql"
)

// A table the jobs write has a view whether it has files or not: a run
// that wrote no rows (segment_membership without members) leaves it
// empty, as does a lake where its job never ran. A source's table without
// files has none.
func TestLakeViewsOfTablesWithoutFiles(t *testing.T) {
	ctx := context.Background()
	st, err := local.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	e := cdp.Event{Workspace: "acme", MessageID: "m1", Type: cdp.Track, Event: "Order Completed", UserID: "u1", Timestamp: now, ReceivedAt: now}
	laketest.CommitEventsOn(t, st, "acme", now.Format(time.DateOnly), lake.NewEventRow(&e, 0, 0))
	for _, table := range []string{"curated/segment_membership", "raw/crm"} {
		if _, err := lake.Commit(ctx, st, table, lake.CommitInfo{Job: "test"}, func(*lake.Manifest) error { return nil }); err != nil {
			t.Fatal(err)
		}
	}
	views, err := sql.LakeViews(ctx, st, "")
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]sql.View{}
	for _, v := range views {
		byName[v.Name] = v
	}
	for _, name := range []string{"events", "quarantine_events", "clean_events", "quarantine_events_values", "identity_map", "identity_edges", "profiles", "segment_membership"} {
		v, ok := byName[name]
		if !ok || (name == "events") != (len(v.Files) == 1) || (name == "events") == (len(v.Columns) > 0) {
			t.Errorf("view %s: %+v (present %v)", name, v, ok)
		}
	}
	if v, ok := byName["raw_crm"]; ok || len(views) != 8 {
		t.Errorf("%d views, raw_crm %+v", len(views), v)
	}

	s := open(t)
	if err := s.CreateViews(ctx, views); err != nil {
		t.Fatal(err)
	}
	var n int64
	if err := s.QueryRow(ctx, `SELECT count(*) FROM events e JOIN identity_map m ON m.id_value = e.user_id
		JOIN segment_membership s ON s.workspace = m.workspace AND s.cdp_id = m.cdp_id WHERE s.segment_id = 'buyers'`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("join over empty views: %d %v", n, err)
	}
}
