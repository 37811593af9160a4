package speed

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"testing"
	"time"

	cdp "github.com/tributary-cdp/tributary"
	"github.com/tributary-cdp/tributary/lake"
	"github.com/tributary-cdp/tributary/lake/local"
)

// completed and refunded are order events of user u1 (anonymous when anon).
func completed(at time.Duration, props string) msg {
	return msg{typ: cdp.Track, user: "u1", event: EventOrderCompleted, at: at, props: props}
}

func refunded(at time.Duration, props string) msg {
	return msg{typ: cdp.Track, user: "u1", event: EventOrderRefunded, at: at, props: props}
}

// TestOrdersByOrderID: an order counts once, its refunds in its measure,
// and every arrival order of its events gives the same totals.
func TestOrdersByOrderID(t *testing.T) {
	cases := []struct {
		name    string
		msgs    []msg
		revenue int64 // millionths
		orders  int64
	}{
		{"completed twice counts once, the earliest", []msg{
			completed(2*time.Minute, `{"order_id":"o1","revenue":30}`),
			completed(time.Minute, `{"order_id":"o1","revenue":25}`),
		}, 25_000_000, 1},
		{"equal times: the earlier Kafka position", []msg{
			completed(time.Minute, `{"order_id":"o1","revenue":25}`),
			completed(time.Minute, `{"order_id":"o1","revenue":30}`),
		}, 25_000_000, 1},
		{"a number as order_id, as spelt", []msg{
			completed(time.Minute, `{"order_id":1001,"revenue":25}`),
			completed(2*time.Minute, `{"order_id":1001.0,"revenue":25}`),
		}, 50_000_000, 2},
		{"a refund without an amount is all of it", []msg{
			completed(time.Minute, `{"order_id":"o1","revenue":25,"total":27.5}`),
			refunded(2*time.Minute, `{"order_id":"o1"}`),
		}, 0, 1},
		{"a refund of the order's total is all of its revenue", []msg{
			completed(time.Minute, `{"order_id":"o1","revenue":25,"total":27.5}`),
			refunded(2*time.Minute, `{"order_id":"o1","total":27.5}`),
		}, 0, 1},
		{"a partial refund in total, in the order's revenue", []msg{
			completed(time.Minute, `{"order_id":"o1","revenue":25,"total":27.5}`),
			refunded(2*time.Minute, `{"order_id":"o1","total":11}`),
		}, 15_000_000, 1},
		{"rounded down", []msg{
			completed(time.Minute, `{"order_id":"o1","revenue":10,"total":30}`),
			refunded(2*time.Minute, `{"order_id":"o1","total":10}`),
		}, 10_000_000 - 3_333_333, 1},
		{"a refund in total of an order without one: its amount", []msg{
			completed(time.Minute, `{"order_id":"o1","revenue":25}`),
			refunded(2*time.Minute, `{"order_id":"o1","total":10,"revenue":8}`),
		}, 17_000_000, 1},
		{"refunds without a total: their amounts", []msg{
			completed(time.Minute, `{"order_id":"o1","revenue":25,"total":27.5}`),
			refunded(2*time.Minute, `{"order_id":"o1","value":5}`),
			refunded(3*time.Minute, `{"order_id":"o1","products":[{"price":2,"quantity":2}]}`),
		}, 16_000_000, 1},
		{"partial refunds take off no more than the order counted", []msg{
			completed(time.Minute, `{"order_id":"o1","revenue":25,"total":27.5}`),
			refunded(2*time.Minute, `{"order_id":"o1","total":20}`),
			refunded(3*time.Minute, `{"order_id":"o1","total":20}`),
			refunded(4*time.Minute, `{"order_id":"o1","value":3}`),
		}, 0, 1},
		{"a negative refund adds nothing", []msg{
			completed(time.Minute, `{"order_id":"o1","revenue":25}`),
			refunded(2*time.Minute, `{"order_id":"o1","value":-5}`),
		}, 25_000_000, 1},
		{"products not a list, and entries that are no object, as the batch layer reads them", []msg{
			completed(time.Minute, `{"order_id":"o1","revenue":5,"products":"x"}`),
			refunded(2*time.Minute, `{"order_id":"o1","products":[1,{"price":2},null,"s"]}`),
			refunded(3*time.Minute, `{"products":{"a":{"price":1}}}`),
		}, 3_000_000, 1},
		{"a refund of an order not seen takes off what it carries", []msg{
			refunded(time.Minute, `{"order_id":"o9","total":4}`),
			refunded(2*time.Minute, `{"order_id":"o8"}`),
		}, -4_000_000, 0},
		{"events without an order_id are read alone", []msg{
			completed(time.Minute, `{"revenue":25,"total":27.5}`),
			completed(2*time.Minute, `{"order_id":"","revenue":25}`),
			refunded(3*time.Minute, `{"total":27.5}`),
			refunded(4*time.Minute, `{}`),
		}, 22_500_000, 2},
		{"orders apart", []msg{
			completed(time.Minute, `{"order_id":"o1","revenue":25}`),
			completed(time.Minute, `{"order_id":"o2","total":10}`),
			refunded(2*time.Minute, `{"order_id":"o2","total":10}`),
			completed(3*time.Minute, `{"revenue":1}`),
		}, 26_000_000, 3},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(7, 7))
			for i := range 12 {
				s, p := newTestStore(t)
				prepared := ops(p, c.msgs) // the same positions in every order
				switch i {
				case 0:
				case 1:
					slices.Reverse(prepared)
				default:
					rng.Shuffle(len(prepared), func(a, b int) { prepared[a], prepared[b] = prepared[b], prepared[a] })
				}
				apply(s, prepared)
				pr := view(t, s, cdp.IDUserID, "u1")
				if pr.RevenueMicros != c.revenue || pr.OrdersTotal != c.orders {
					t.Fatalf("arrival %d: revenue %d, orders %d; want %d, %d", i, pr.RevenueMicros, pr.OrdersTotal, c.revenue, c.orders)
				}
			}
		})
	}
}

// TestOrdersMergeWithProfiles: two profiles that hold the same order
// (a completion on the device, its copy and the refund under the user)
// merge into one that counts it once, as if one profile had seen all.
func TestOrdersMergeWithProfiles(t *testing.T) {
	msgs := []msg{
		{typ: cdp.Track, anon: "a1", event: EventOrderCompleted, at: time.Minute, props: `{"order_id":"o1","revenue":25,"total":27.5}`},
		{typ: cdp.Track, anon: "a1", event: EventOrderCompleted, at: time.Minute, props: `{"order_id":"o2","revenue":5}`},
		completed(2*time.Minute, `{"order_id":"o1","revenue":99}`),
		refunded(3*time.Minute, `{"order_id":"o1","total":11}`),
		refunded(3*time.Minute, `{"order_id":"o3","total":1}`),
		{typ: cdp.Identify, anon: "a1", user: "u1", at: 4 * time.Minute},
	}
	inBothOrders(t, msgs, func(s *Store, reversed bool) {
		pr := view(t, s, cdp.IDUserID, "u1")
		if n := s.Stats().Merges; !reversed && n != 1 {
			t.Fatalf("%d merges: the test merges no profiles holding the same order", n)
		}
		if pr.RevenueMicros != 15_000_000+5_000_000-1_000_000 || pr.OrdersTotal != 2 || len(pr.orders()) != 3 {
			t.Errorf("reversed %v: revenue %d, orders %d, %d remembered", reversed, pr.RevenueMicros, pr.OrdersTotal, len(pr.orders()))
		}
	})
}

// TestOrdersOutlastCheckpoints: the orders go through a checkpoint, a
// snapshot written while the store applies (of its moment), and a
// delta; a refund after the load finds its order.
func TestOrdersOutlastCheckpoints(t *testing.T) {
	s, p := newTestStore(t)
	apply(s, ops(p, []msg{
		completed(time.Minute, `{"order_id":"o1","revenue":25,"total":27.5}`),
		refunded(2*time.Minute, `{"order_id":"o2","total":3}`),
	}))
	sn, err := s.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	apply(s, ops(p, []msg{{id: "late", typ: cdp.Track, user: "u1", event: EventOrderCompleted, at: 3 * time.Minute, props: `{"order_id":"o2","revenue":7}`}}))
	var buf bytes.Buffer
	if _, err := sn.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	s2, err := ReadStore(s.cfg, &buf)
	if err != nil {
		t.Fatal(err)
	}
	if pr := view(t, s2, cdp.IDUserID, "u1"); pr.RevenueMicros != 22_000_000 || pr.OrdersTotal != 1 || len(pr.orders()) != 2 {
		t.Fatalf("the snapshot holds revenue %d, %d orders, %d remembered; want its moment's", pr.RevenueMicros, pr.OrdersTotal, len(pr.orders()))
	}
	if pr := view(t, s, cdp.IDUserID, "u1"); pr.RevenueMicros != 29_000_000 || pr.OrdersTotal != 2 {
		t.Fatalf("the store: revenue %d, %d orders", pr.RevenueMicros, pr.OrdersTotal)
	}
	// A refund of o1 after the load, in the order's measure.
	apply(s2, ops(p, []msg{{id: "r1", typ: cdp.Track, user: "u1", event: EventOrderRefunded, at: 4 * time.Minute, props: `{"order_id":"o1","total":27.5}`}}))
	if pr := view(t, s2, cdp.IDUserID, "u1"); pr.RevenueMicros != -3_000_000 || pr.OrdersTotal != 1 {
		t.Errorf("after the refund: revenue %d, %d orders", pr.RevenueMicros, pr.OrdersTotal)
	}

	// A full checkpoint, a refund of o2 without an amount, and a delta
	// of it: the chain loads the order as refunded.
	dir := t.TempDir()
	checkpointTo(t, dir, s, nil)
	apply(s, ops(p, []msg{{id: "r2", typ: cdp.Track, user: "u1", event: EventOrderRefunded, at: 5 * time.Minute, props: `{"order_id":"o2"}`}}))
	sn, want, _ := checkpointTo(t, dir, s, nil)
	if !sn.delta {
		t.Fatal("the second checkpoint is not a delta")
	}
	got, s3 := loadChainDump(t, dir, s.cfg)
	if pr := view(t, s3, cdp.IDUserID, "u1"); got != want || pr.RevenueMicros != 25_000_000 || pr.OrdersTotal != 2 {
		t.Errorf("the chain loads revenue %d, %d orders; as the store %v", pr.RevenueMicros, pr.OrdersTotal, got == want)
	}
}

// TestCheckpointVersion6Loads: a checkpoint of the version 6 build
// (testdata), whose profiles remember no orders, loads with the totals
// that build counted (an order and its full refund in total left -2.50
// of it); its orders are unknown, so a refund of one takes off what it
// carries. Written again, it loads the same.
func TestCheckpointVersion6Loads(t *testing.T) {
	s := loadFixture(t, "testdata/checkpoint-v6.gob", 6)
	p := view(t, s, cdp.IDUserID, "u1")
	if p.RevenueMicros != 7_500_000 || p.OrdersTotal != 2 || p.orders() != nil || p.EventsTotal != 4 {
		t.Fatalf("version 6: revenue %d, %d orders, %d remembered, %d events", p.RevenueMicros, p.OrdersTotal, len(p.orders()), p.EventsTotal)
	}
	again := rewritten(t, s)
	if a, b := canon(p), canon(view(t, again, cdp.IDUserID, "u1")); a != b {
		t.Errorf("written as version %d and loaded:\n%s\nwant\n%s", checkpointVersion, b, a)
	}
	_, prep := newTestStore(t)
	apply(again, ops(prep, []msg{{id: "after", typ: cdp.Track, user: "u1", event: EventOrderRefunded, at: time.Hour, props: `{"order_id":"o2","total":4}`}}))
	if p := view(t, again, cdp.IDUserID, "u1"); p.RevenueMicros != 3_500_000 || len(p.orders()) != 1 {
		t.Errorf("a refund after the load: revenue %d, %d remembered", p.RevenueMicros, len(p.orders()))
	}
}

// TestOrdersOutlastAReconcile: a build hands its orders over
// (curated/profiles.orders), so a refund replayed over the base, and one
// after the swap, find their order from before the watermark.
func TestOrdersOutlastAReconcile(t *testing.T) {
	b := startBroker(t)
	st, err := local.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	values := func(msgs ...msg) (out [][]byte) {
		for _, m := range msgs {
			out = append(out, m.value())
		}
		return out
	}
	produce(t, b.Addr(), values(
		msg{id: "c1", typ: cdp.Track, user: "u1", event: EventOrderCompleted, at: time.Minute, props: `{"order_id":"o1","revenue":25,"total":27.5}`},
		msg{id: "c2", typ: cdp.Track, user: "u1", event: EventOrderCompleted, at: 2 * time.Minute, props: `{"order_id":"o1","revenue":25,"total":27.5}`},
	)...)
	c, _ := runConsumer(t, b.Addr(), filepath.Join(t.TempDir(), "speed"))
	awaitApplied(t, c, b.Addr())
	w := offsetsOf(t, c)
	// Replayed over the base: 25 × 11 / 27.5 off.
	produce(t, b.Addr(), values(msg{id: "r1", typ: cdp.Track, user: "u1", event: EventOrderRefunded, at: 3 * time.Minute, props: `{"order_id":"o1","total":11}`})...)
	awaitApplied(t, c, b.Addr())

	wm := map[int32]int64{}
	for p, off := range w {
		wm[int32(p)] = off
	}
	row := curatedRow{Workspace: "default", CDPID: "cdp-1", Identifiers: `[{"type":"user_id","value":"u1"}]`, Traits: "{}", Provenance: "{}",
		EventsTotal: 2, EventCounts: `{"Order Completed":2}`, RevenueTotal: 25, OrdersTotal: 1, EventDays: "[]",
		Orders: fmt.Sprintf(`[{"order_id":"o1","at":%d,"kafka_partition":null,"kafka_offset":null,"amount":25000000,"total":27500000,`+
			`"refund_total":0,"refund_total_amount":0,"refund_other":0,"refund_full":false}]`, t0.Add(time.Minute).UnixMicro())}
	src := &testSource{acks: make(chan ReconcileReport, 4)}
	startReconciler(t, c, st, src)
	src.publish(&Build{Version: 1, Watermark: wm, RequestedAt: time.Now(),
		Profiles:    []lake.File{putParquet(t, st, "curated/profiles/workspace=default/v1.parquet", []curatedRow{row})},
		IdentityMap: []lake.File{putParquet(t, st, "curated/identity_map/workspace=default/v1.parquet", []idmapRow{{"default", cdp.IDUserID, "u1", "cdp-1"}})},
	})
	src.await(t, 1)
	totals := func() (rev, orders int64, id string) {
		_ = c.View("default", cdp.Identifier{Type: cdp.IDUserID, Value: "u1"}, func(p *Profile) { rev, orders, id = p.RevenueMicros, p.OrdersTotal, p.CDPID })
		return
	}
	if rev, orders, id := totals(); rev != 15_000_000 || orders != 1 || id != "cdp-1" {
		t.Fatalf("after the reconcile: %s, revenue %d, %d orders; want cdp-1, 15000000, 1", id, rev, orders)
	}
	// After the swap: a copy of the order, and its refund without an amount.
	produce(t, b.Addr(), values(
		msg{id: "c3", typ: cdp.Track, user: "u1", event: EventOrderCompleted, at: 4 * time.Minute, props: `{"order_id":"o1","revenue":30}`},
		msg{id: "r2", typ: cdp.Track, user: "u1", event: EventOrderRefunded, at: 5 * time.Minute, props: `{"order_id":"o1"}`},
	)...)
	awaitApplied(t, c, b.Addr())
	if rev, orders, _ := totals(); rev != 0 || orders != 1 {
		t.Errorf("a refund after the reconcile: revenue %d, %d orders; want 0, 1", rev, orders)
	}
}

// TestReadOrderKeys: an order's properties are read with exact keys, a
// repeated key's last value counting, as the batch layer reads them
// (json_last) and as identify traits are; the fast reader and the
// general decoder (escaped keys) alike.
func TestReadOrderKeys(t *testing.T) {
	for _, c := range []struct {
		props string
		want  OrderEvent
	}{
		{`{"Revenue":12,"ORDER_ID":"o","Total":3,"value":1}`, OrderEvent{Amount: 1e6, HasAmount: true}},
		{`{"revenue":7,"order_id":"o1","revenue":4,"order_id":"dup"}`, OrderEvent{ID: "dup", Amount: 4e6, HasAmount: true}},
		{`{"revenue":7,"revenue":null,"value":2}`, OrderEvent{Amount: 2e6, HasAmount: true}},
		{`{"total":7,"total":"1.5"}`, OrderEvent{Amount: 1.5e6, HasAmount: true, Total: 1.5e6, HasTotal: true}},
		{`{"rev\u0065nue":5,"order_\u0069d":"o\u0031"}`, OrderEvent{ID: "o1", Amount: 5e6, HasAmount: true}},
		{`{"revenue":5,"rev\u0065nue":6}`, OrderEvent{Amount: 6e6, HasAmount: true}},
		{`{"rev\u0065nue":6,"revenue":5}`, OrderEvent{Amount: 5e6, HasAmount: true}},
		{`{"Revenue":5,"\u0052evenue":6}`, OrderEvent{}},
		{`{"products":[{"price":2,"quantity":3}],"Products":[{"price":9}]}`, OrderEvent{Amount: 6e6, HasAmount: true}},
		{`{"products":[{"price":9}],"products":[{"price":2,"Price":8,"quantity":3,"quantity":2}]}`, OrderEvent{Amount: 4e6, HasAmount: true}},
		{`{"products":[{"PRICE":2},{"pr\u0069ce":"3","quantity":2,"QUANTITY":5},{"price":1,"price":[]}]}`, OrderEvent{Amount: 6e6, HasAmount: true}},
		{`{"products":[{"price":1}],"products":{"price":2}}`, OrderEvent{}},
	} {
		for _, general := range []bool{false, true} {
			var got OrderEvent
			readOrder(&got, []byte(c.props), general)
			if got != c.want {
				t.Errorf("readOrder(%s, general %v) = %+v, want %+v", c.props, general, got, c.want)
			}
		}
	}
}

// TestPageURLKeys: a page's url and path as an order's properties are
// read: exact keys, a repeated key's last value.
func TestPageURLKeys(t *testing.T) {
	for _, c := range []struct{ props, url, path string }{
		{`{"URL":"https://x/","path":"/p","url":"https://y/"}`, "https://y/", "/p"},
		{`{"url":"https://x/","url":"https://y/","Path":"/q"}`, "https://y/", ""},
		{`{"url":"https://x/","url":5,"path":"/p"}`, "", "/p"},
		{`{"\u0075rl":"https:\/\/x\/","url":"https://y/","p\u0061th":"/\u00e9"}`, "https://y/", "/\u00e9"},
	} {
		for _, general := range []bool{false, true} {
			if url, path := pageURL([]byte(c.props), general); url != c.url || path != c.path {
				t.Errorf("pageURL(%s, general %v) = %q, %q, want %q, %q", c.props, general, url, path, c.url, c.path)
			}
		}
	}
}
