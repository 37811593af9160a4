package curate

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"strconv"
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

// TestCurateReadsOrderKeysExactly: an order's properties as the speed
// layer reads them (speed.readOrder): keys match exactly, after
// unescaping, and a key written twice counts its last value, for the
// amounts, products and each product's price and quantity as for
// order_id; numbers as written. One person per case.
func TestCurateReadsOrderKeysExactly(t *testing.T) {
	ctx := context.Background()
	st, err := local.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		props   string
		revenue float64
		orderID string // the order's, when one is remembered
	}{
		{`{"Revenue":12,"ORDER_ID":"o","Total":3,"value":1}`, 1, ""},
		{`{"revenue":7,"order_id":"o1","revenue":4,"order_id":"dup"}`, 4, "dup"},
		{`{"revenue":7,"revenue":null,"value":2}`, 2, ""},
		{`{"total":7,"total":"1.5"}`, 1.5, ""},
		{`{"total":3,"total":"x","value":1}`, 1, ""},
		{`{"rev\u0065nue":5,"order_\u0069d":"o\u0031"}`, 5, "o1"},
		{`{"revenue":5,"rev\u0065nue":6}`, 6, ""},
		{`{"rev\u0065nue":6,"revenue":5}`, 5, ""},
		{`{"Revenue":5,"\u0052evenue":6}`, 0, ""},
		{`{"revenue":"12.50","revenue":1e400}`, 0, ""},
		{`{"revenue":1e400,"revenue":12.50}`, 12.5, ""},
		{`{"value":"NaN","value":" 7.25"}`, 7.25, ""},
		{`{"products":[{"price":2,"quantity":3}],"Products":[{"price":9}]}`, 6, ""},
		{`{"products":[{"price":9}],"products":[{"price":2,"Price":8,"quantity":3,"quantity":2}]}`, 4, ""},
		{`{"products":[{"PRICE":2},{"pr\u0069ce":"3","quantity":2,"QUANTITY":5},{"price":1,"price":[]}]}`, 6, ""},
		{`{"products":[{"price":1}],"products":{"price":2}}`, 0, ""},
	}
	var evs []ev
	for i, c := range cases {
		evs = append(evs, ev{int64(i), cdp.Track, fmt.Sprintf("m%d", i), fmt.Sprintf("u%d", i), "", "Order Completed", c.props, ``, day(2)})
	}
	putEvents(t, st, evs)
	sqltest.Commit(t, st, TableIdentityMap, TableIdentityMap+"/workspace=default/f.parquet",
		`SELECT 'default' AS workspace, 'user_id' AS id_type, 'u' || i AS id_value, 'cdp-' || i AS cdp_id FROM range(`+strconv.Itoa(len(cases))+`) AS t(i)`,
		map[int32]int64{0: int64(len(cases))})
	cfg := DefaultConfig()
	cfg.Storage, cfg.Now = st, func() time.Time { return asOf }
	if _, err := Run(ctx, cfg, "run1"); err != nil {
		t.Fatal(err)
	}
	sess, _ := lakeSession(t, st)
	for i, c := range cases {
		var orders int64
		var revenue float64
		var txt *string
		if err := sess.QueryRow(ctx, `SELECT orders_total, revenue_total, orders FROM profiles WHERE cdp_id = $1`, fmt.Sprintf("cdp-%d", i)).Scan(&orders, &revenue, &txt); err != nil {
			t.Fatal(err)
		}
		var got []struct {
			OrderID string `json:"order_id"`
		}
		if txt != nil {
			if err := json.Unmarshal([]byte(*txt), &got); err != nil {
				t.Fatalf("orders %s: %v", *txt, err)
			}
		}
		id := ""
		if len(got) == 1 {
			id = got[0].OrderID
		}
		if orders != 1 || revenue != c.revenue || len(got) > 1 || id != c.orderID {
			t.Errorf("%s: orders_total %d, revenue_total %v, orders %v; want 1, %v, order %q", c.props, orders, revenue, got, c.revenue, c.orderID)
		}
	}
}
