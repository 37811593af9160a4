package curate

import (
	"context"
	"encoding/json"
	"reflect"
	"testing"
	"time"

	cdp "github.com/tributary-cdp/tributary"
	"github.com/tributary-cdp/tributary/lake/local"
	"github.com/tributary-cdp/tributary/sql/sqltest"
)

// TestCurateCountsOrdersByOrderID: orders by order_id as the speed layer
// remembers them (speed/orders.go): a copy of an order counts once (the
// earliest), refunds are read in the order's measure and capped, a refund
// that lands before its order waits for it, and the profile's orders
// column holds the memory a reconcile hands over.
func TestCurateCountsOrdersByOrderID(t *testing.T) {
	ctx := context.Background()
	st, err := local.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	oc, or := "Order Completed", "Order Refunded"
	putEvents(t, st, []ev{
		{0, cdp.Track, "m0", "u1", "", oc, `{"order_id":"o1","revenue":30}`, ``, day(3)}, // a later copy, landed first
		{1, cdp.Track, "m1", "u1", "", oc, `{"order_id":"o1","revenue":25,"total":27.5}`, ``, day(4)},
		{2, cdp.Track, "m2", "u1", "", or, `{"order_id":"o1","total":11}`, ``, day(2)},   // 25 × 11 / 27.5
		{3, cdp.Track, "m3", "u1", "", or, `{"order_id":"o2","total":27.5}`, ``, day(6)}, // before its order: all of it
		{4, cdp.Track, "m4", "u1", "", oc, `{"order_id":"o2","revenue":25,"total":27.5}`, ``, day(5)},
		{5, cdp.Track, "m5", "u1", "", or, `{"order_id":"o3"}`, ``, day(5)}, // no amount: all of it
		{6, cdp.Track, "m6", "u1", "", oc, `{"order_id":"o3","revenue":8}`, ``, day(5)},
		{7, cdp.Track, "m7", "u1", "", or, `{"order_id":"o4","total":4}`, ``, day(5)}, // an order not seen: what it carries
		{8, cdp.Track, "m8", "u1", "", oc, `{"order_id":"o5","revenue":10,"total":10}`, ``, day(5)},
		{9, cdp.Track, "m9", "u1", "", or, `{"order_id":"o5","total":6}`, ``, day(4)},
		{10, cdp.Track, "m10", "u1", "", or, `{"order_id":"o5","total":6}`, ``, day(4)}, // capped at the order's 10
		{11, cdp.Track, "m11", "u1", "", oc, `{"revenue":1}`, ``, day(5)},               // no order_id: alone
	})
	sqltest.Commit(t, st, TableIdentityMap, TableIdentityMap+"/workspace=default/f.parquet", `SELECT * FROM (VALUES
		('default','user_id','u1','cdp-1')) AS t(workspace, id_type, id_value, cdp_id)`, map[int32]int64{0: 12})
	cfg := DefaultConfig()
	cfg.Storage, cfg.Now = st, func() time.Time { return asOf }
	if _, err := Run(ctx, cfg, "run1"); err != nil {
		t.Fatal(err)
	}
	sess, _ := lakeSession(t, st)
	var orders int64
	var revenue float64
	var txt string
	if err := sess.QueryRow(ctx, `SELECT orders_total, revenue_total, orders FROM profiles WHERE cdp_id = 'cdp-1'`).Scan(&orders, &revenue, &txt); err != nil {
		t.Fatal(err)
	}
	if orders != 5 || revenue != 15+0+0-4+0+1 {
		t.Errorf("orders_total %d, revenue_total %v; want 5, 12", orders, revenue)
	}
	var got []map[string]any
	if err := json.Unmarshal([]byte(txt), &got); err != nil || len(got) != 5 {
		t.Fatalf("orders %s: %v", txt, err)
	}
	want := map[string]any{"order_id": "o1", "at": float64(day(4).UnixMicro()), "kafka_partition": float64(0), "kafka_offset": float64(1),
		"amount": float64(25e6), "total": 27.5e6, "refund_total": float64(11e6), "refund_total_amount": float64(11e6), "refund_other": float64(0), "refund_full": false}
	if !reflect.DeepEqual(got[0], want) {
		t.Errorf("order o1: %v\nwant %v", got[0], want)
	}
	if o4 := got[3]; o4["order_id"] != "o4" || o4["at"] != nil || o4["amount"] != nil || o4["refund_total_amount"] != float64(4e6) {
		t.Errorf("order o4, never completed: %v", o4)
	}
}
