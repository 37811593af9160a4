package speed

import (
	"bufio"
	"bytes"
	"context"
	"encoding/gob"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/parquet-go/parquet-go"
	"github.com/segmentio/kafka-go"

	cdp "github.com/tributary-cdp/tributary"
	"github.com/tributary-cdp/tributary/lake"
	"github.com/tributary-cdp/tributary/lake/local"
)

// curatedRow is the part of curated/profiles the speed layer reads, as the curate job writes it.
type curatedRow struct {
	Workspace    string     `parquet:"workspace"`
	CDPID        string     `parquet:"cdp_id"`
	Identifiers  string     `parquet:"identifiers"`
	Traits       string     `parquet:"traits"`
	Provenance   string     `parquet:"provenance"`
	EventsTotal  int64      `parquet:"events_total"`
	EventCounts  string     `parquet:"event_counts"`
	PageViews    int64      `parquet:"page_views"`
	ScreenViews  int64      `parquet:"screen_views"`
	FirstSeen    *time.Time `parquet:"first_seen,optional,timestamp(microsecond)"`
	LastSeen     *time.Time `parquet:"last_seen,optional,timestamp(microsecond)"`
	RevenueTotal float64    `parquet:"revenue_total"`
	OrdersTotal  int64      `parquet:"orders_total"`
	EventDays    string     `parquet:"event_days"`
	Orders       string     `parquet:"orders"`
}

type idmapRow struct {
	Workspace string `parquet:"workspace"`
	IDType    string `parquet:"id_type"`
	IDValue   string `parquet:"id_value"`
	CDPID     string `parquet:"cdp_id"`
}

func putParquet[T any](t *testing.T, st lake.Storage, key string, rows []T) lake.File {
	t.Helper()
	var buf bytes.Buffer
	w := parquet.NewGenericWriter[T](&buf)
	if _, err := w.Write(rows); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := st.Put(context.Background(), key, &buf); err != nil {
		t.Fatal(err)
	}
	return lake.File{Path: key, Rows: int64(len(rows)), Workspace: "default"}
}

// curate is a miniature curate job: it reads cdp.events below w, counts
// every messageId once (its first copy), and writes the profiles of the
// clusters clusterOf gives to user ids, as the curate job would.
func curate(t *testing.T, addr string, st lake.Storage, version int64, w map[int]int64, clusterOf func(user string) string) *Build {
	t.Helper()
	type agg struct {
		row    curatedRow
		ids    map[string]bool
		counts map[string]int64
		days   map[[2]string]int
		rev    int64
	}
	profiles := map[string]*agg{}
	seen := map[string]bool{}
	prep := NewPreparer(DefaultStoreConfig())
	for p := 0; p < 4; p++ {
		if w[p] == 0 {
			continue
		}
		r := kafka.NewReader(kafka.ReaderConfig{Brokers: []string{addr}, Topic: cdp.TopicEvents, Partition: p, MaxWait: 20 * time.Millisecond})
		r.SetOffset(0)
		for {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			m, err := r.FetchMessage(ctx)
			cancel()
			if err != nil {
				t.Fatal(err)
			}
			if m.Offset >= w[p] {
				break
			}
			o := prep.Prepare(p, m.Offset, m.Value)
			e := o.Event
			if o.Err != nil || seen[e.MessageID] {
				if m.Offset+1 == w[p] {
					break
				}
				continue
			}
			seen[e.MessageID] = true
			id := clusterOf(e.UserID)
			a := profiles[id]
			if a == nil {
				a = &agg{row: curatedRow{Workspace: "default", CDPID: id}, ids: map[string]bool{}, counts: map[string]int64{}, days: map[[2]string]int{}}
				profiles[id] = a
			}
			a.ids[e.UserID] = true
			a.row.EventsTotal++
			ts := e.Timestamp.UTC().Truncate(time.Microsecond)
			if a.row.FirstSeen == nil || ts.Before(*a.row.FirstSeen) {
				a.row.FirstSeen = &ts
			}
			if a.row.LastSeen == nil || ts.After(*a.row.LastSeen) {
				a.row.LastSeen = &ts
			}
			switch e.Type {
			case cdp.Track:
				a.counts[e.Event]++
				a.days[[2]string{e.Event, ts.Format(time.DateOnly)}]++
				a.rev += o.Revenue
				a.row.OrdersTotal += o.Orders
			case cdp.Page:
				a.row.PageViews++
			case cdp.Identify:
				a.row.Traits = string(e.Traits) // one trait set per user in these tests
				a.row.Provenance = fmt.Sprintf(`{"plan":{"source":"events","record":%q,"time":%q}}`, e.MessageID, ts.Format(time.RFC3339Nano))
			}
			if m.Offset+1 == w[p] {
				break
			}
		}
		r.Close()
	}
	var rows []curatedRow
	var idmap []idmapRow
	for id, a := range profiles {
		var ids []cdp.Identifier
		for u := range a.ids {
			ids = append(ids, cdp.Identifier{Type: cdp.IDUserID, Value: u})
			idmap = append(idmap, idmapRow{"default", cdp.IDUserID, u, id})
		}
		b, _ := json.Marshal(ids)
		a.row.Identifiers = string(b)
		b, _ = json.Marshal(a.counts)
		a.row.EventCounts = string(b)
		var days []map[string]any
		for k, n := range a.days {
			days = append(days, map[string]any{"event": k[0], "day": k[1], "n": n})
		}
		b, _ = json.Marshal(days)
		a.row.EventDays = string(b)
		a.row.RevenueTotal = float64(a.rev) / 1e6
		if a.row.Traits == "" {
			a.row.Traits, a.row.Provenance = "{}", "{}"
		}
		rows = append(rows, a.row)
	}
	sort.Slice(rows, func(i, j int) bool { return rows[i].CDPID < rows[j].CDPID })
	wm := map[int32]int64{}
	for p, off := range w {
		wm[int32(p)] = off
	}
	return &Build{
		Version: version, Watermark: wm, RequestedAt: time.Now(),
		Profiles:    []lake.File{putParquet(t, st, fmt.Sprintf("curated/profiles/workspace=default/v%d.parquet", version), rows)},
		IdentityMap: []lake.File{putParquet(t, st, fmt.Sprintf("curated/identity_map/workspace=default/v%d.parquet", version), idmap)},
	}
}

// startReconciler runs a reconciler of c on the builds of src; stop
// (also at cleanup) ends it.
func startReconciler(t *testing.T, c *Consumer, st lake.Storage, src *testSource) (rc ReconcilerConfig, stop func()) {
	t.Helper()
	rc = DefaultReconcilerConfig()
	rc.Lake, rc.Source, rc.Interval = st, src, 20*time.Millisecond
	rec, err := NewReconciler(c, rc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- rec.Run(ctx) }()
	var once sync.Once
	stop = func() { once.Do(func() { cancel(); <-done }) }
	t.Cleanup(stop)
	return rc, stop
}

// testSource hands builds to a reconciler and collects its reports.
type testSource struct {
	mu   sync.Mutex
	b    *Build
	acks chan ReconcileReport
}

func (s *testSource) Latest(context.Context) (*Build, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b, nil
}

func (s *testSource) Acknowledge(_ context.Context, r ReconcileReport) error {
	s.acks <- r
	return nil
}

func (s *testSource) publish(b *Build) {
	s.mu.Lock()
	s.b = b
	s.mu.Unlock()
}

func (s *testSource) await(t *testing.T, version int64) ReconcileReport {
	t.Helper()
	timeout := time.After(60 * time.Second)
	for {
		select {
		case r := <-s.acks:
			if r.Err != nil {
				t.Fatalf("reconcile v%d: %v", r.Version, r.Err)
			}
			if r.Version >= version {
				return r
			}
		case <-timeout:
			t.Fatalf("no acknowledgment of v%d", version)
		}
	}
}

// traffic sends events of users u0..u(users-1) with unique messageIds and,
// now and then, a retry of an earlier one (same messageId, new offset).
type traffic struct {
	users int
	n     int
	sent  []msg
	per   map[string]int64 // unique events per user
	rng   *rand.Rand
}

func newTraffic(users int) *traffic {
	return &traffic{users: users, per: map[string]int64{}, rng: rand.New(rand.NewPCG(7, 9))}
}

func (tr *traffic) batch(count int) [][]byte {
	var out [][]byte
	for range count {
		if len(tr.sent) > 0 && tr.rng.IntN(5) == 0 {
			out = append(out, tr.sent[tr.rng.IntN(len(tr.sent))].value()) // a client retry
			continue
		}
		i := tr.n
		tr.n++
		u := fmt.Sprintf("u%d", tr.rng.IntN(tr.users))
		m := msg{typ: cdp.Track, user: u, event: "Tick", id: fmt.Sprintf("e%d", i), at: time.Duration(i) * 10 * time.Second}
		switch i % 7 {
		case 0:
			m.typ, m.event, m.traits = cdp.Identify, "", fmt.Sprintf(`{"plan":"p%d"}`, i)
		case 1:
			m.event, m.props = "Order Completed", fmt.Sprintf(`{"revenue":%d.25}`, i%50)
		case 2:
			m.typ, m.event, m.name = cdp.Page, "", "Home"
		}
		tr.sent = append(tr.sent, m)
		tr.per[u]++
		out = append(out, m.value())
	}
	return out
}

// pairs: users 2k and 2k+1 are one person to the batch layer.
func pairs(user string) string {
	var n int
	fmt.Sscanf(user, "u%d", &n)
	return fmt.Sprintf("cluster-%d", n/2)
}

func offsetsOf(t *testing.T, c *Consumer) map[int]int64 {
	var w map[int]int64
	if err := c.Do(context.Background(), func(s *Store) { w = s.Offsets() }); err != nil {
		t.Fatal(err)
	}
	return w
}

func awaitApplied(t *testing.T, c *Consumer, addr string) {
	t.Helper()
	client := &kafka.Client{Addr: kafka.TCP(addr)}
	resp, err := client.ListOffsets(context.Background(), &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{
		cdp.TopicEvents: {kafka.LastOffsetOf(0), kafka.LastOffsetOf(1), kafka.LastOffsetOf(2), kafka.LastOffsetOf(3)}}})
	if err != nil {
		t.Fatal(err)
	}
	end := map[int]int64{}
	for _, p := range resp.Topics[cdp.TopicEvents] {
		end[p.Partition] = p.LastOffset
	}
	waitFor(t, "every event applied", 30*time.Second, func() bool {
		got := offsetsOf(t, c)
		for p, off := range end {
			if off > 0 && got[p] < off {
				return false
			}
		}
		return true
	})
}

// checkExact asserts that every batch cluster holds exactly the unique
// events of its users and that both users find the same cdp id.
func checkExact(t *testing.T, c *Consumer, tr *traffic) {
	t.Helper()
	for k := 0; k < tr.users; k += 2 {
		a, b := fmt.Sprintf("u%d", k), fmt.Sprintf("u%d", k+1)
		var idA, idB string
		var n int64
		_ = c.View("default", cdp.Identifier{Type: cdp.IDUserID, Value: a}, func(p *Profile) { idA, n = p.CDPID, p.EventsTotal })
		_ = c.View("default", cdp.Identifier{Type: cdp.IDUserID, Value: b}, func(p *Profile) { idB = p.CDPID })
		if want := tr.per[a] + tr.per[b]; n != want || idA != idB || idA != pairs(a) {
			t.Errorf("%s+%s: %d events in %s / %s, want %d in %s", a, b, n, idA, idB, want, pairs(a))
		}
	}
}

func TestReconcileSwapIsExact(t *testing.T) {
	b := startBroker(t)
	dir := filepath.Join(t.TempDir(), "speed")
	st, err := local.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	tr := newTraffic(40)
	produce(t, b.Addr(), tr.batch(600)...)
	c, stop := runConsumer(t, b.Addr(), dir)
	awaitApplied(t, c, b.Addr())
	w1 := offsetsOf(t, c)

	// Deltas after W (with retries of events before it), then the build of W.
	produce(t, b.Addr(), tr.batch(400)...)
	awaitApplied(t, c, b.Addr())
	src := &testSource{acks: make(chan ReconcileReport, 16)}
	rc, stopRec := startReconciler(t, c, st, src)

	// Look-ups and traffic go on during the swap; a user is never missing
	// and its count never goes down.
	var stopLookups atomic.Bool
	lookupsDone := make(chan error, 1)
	go func() {
		last := map[string]int64{}
		var lookups int
		for !stopLookups.Load() {
			u := fmt.Sprintf("u%d", lookups%40)
			lookups++
			n := eventsTotal(c, u)
			if n < 0 {
				lookupsDone <- fmt.Errorf("%s not found during the reconcile", u)
				return
			}
			if n < last[u] {
				lookupsDone <- fmt.Errorf("%s: events_total went from %d to %d", u, last[u], n)
				return
			}
			last[u] = n
		}
		lookupsDone <- nil
	}()
	src.publish(curate(t, b.Addr(), st, 1, w1, pairs))
	for range 5 {
		produce(t, b.Addr(), tr.batch(50)...)
	}
	rep := src.await(t, 1)
	if rep.BaseProfiles != 20 || rep.Profiles != 20 || rep.ReplayedEvents < 400 || rep.MemPeakBytes < rep.MemBeforeBytes {
		t.Errorf("report %+v", rep)
	}
	produce(t, b.Addr(), tr.batch(100)...)
	awaitApplied(t, c, b.Addr())
	stopLookups.Store(true)
	if err := <-lookupsDone; err != nil {
		t.Fatal(err)
	}
	checkExact(t, c, tr)

	// Recent events from before W came over from the live profiles.
	_ = c.View("default", cdp.Identifier{Type: cdp.IDUserID, Value: "u0"}, func(p *Profile) {
		if n := p.recent.len(); n != DefaultStoreConfig().RecentEvents {
			t.Errorf("u0 has %d recent events after the swap", n)
		}
		if p.LastPage() != "Home" {
			t.Errorf("u0's last page after the swap: %q", p.LastPage())
		}
	})
	// Look-ups by the batch cdp id, and traits from the base.
	if err := c.View("default", cdp.Identifier{Type: IDCDP, Value: "cluster-3"}, func(p *Profile) {}); err != nil {
		t.Errorf("look-up by batch cdp id: %v", err)
	}

	// A second build, later watermark, while events keep coming.
	w2 := offsetsOf(t, c)
	produce(t, b.Addr(), tr.batch(200)...)
	src.publish(curate(t, b.Addr(), st, 2, w2, pairs))
	produce(t, b.Addr(), tr.batch(100)...)
	src.await(t, 2)
	awaitApplied(t, c, b.Addr())
	checkExact(t, c, tr)

	// The applied version is checkpointed: a restart does not reload it,
	// only confirms it, and stays exact.
	stopRec()
	stop()
	c2, _ := runConsumer(t, b.Addr(), dir)
	produce(t, b.Addr(), tr.batch(100)...)
	awaitApplied(t, c2, b.Addr())
	checkExact(t, c2, tr)
	var base int64
	c2.Do(context.Background(), func(s *Store) { base = s.BaseVersion() })
	if base != 2 {
		t.Errorf("base version after restart %d, want 2", base)
	}
	rec2, _ := NewReconciler(c2, rc)
	ctx2, cancel2 := context.WithCancel(context.Background())
	defer cancel2()
	go rec2.Run(ctx2)
	if r := src.await(t, 2); r.Load != 0 || r.ReplayedEvents != 0 {
		t.Errorf("restart re-applied the build: %+v", r)
	}
}

// readSegmentChanges returns every change on cdp.segment-changes, deduplicated by key.
func readSegmentChanges(t *testing.T, addr string) []cdp.SegmentChange {
	t.Helper()
	var out []cdp.SegmentChange
	seen := map[string]bool{}
	for p := range 4 {
		r := kafka.NewReader(kafka.ReaderConfig{Brokers: []string{addr}, Topic: cdp.TopicSegmentChanges, Partition: p, MaxWait: 20 * time.Millisecond})
		for {
			ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
			m, err := r.FetchMessage(ctx)
			cancel()
			if err != nil {
				break
			}
			var c cdp.SegmentChange
			if err := json.Unmarshal(m.Value, &c); err != nil {
				t.Fatal(err)
			}
			if !seen[c.Key] {
				seen[c.Key] = true
				out = append(out, c)
			}
		}
		r.Close()
	}
	sort.Slice(out, func(i, j int) bool { return out[i].CDPID+out[i].SegmentID < out[j].CDPID+out[j].SegmentID })
	return out
}

func TestReconcilePublishesOnlyRealSegmentChanges(t *testing.T) {
	b := startBroker(t)
	st, err := local.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	seg, err := cdp.ParseSegment([]byte("id: active\nworkspace: default\ncondition:\n  computed: {name: events_total, op: gte, value: 3}\n"))
	if err != nil {
		t.Fatal(err)
	}
	cfg := DefaultConfig()
	cfg.Brokers, cfg.Dir, cfg.CheckpointInterval, cfg.MaxWait = []string{b.Addr()}, t.TempDir(), time.Hour, 20*time.Millisecond
	cfg.Segments.Segments = []*cdp.Segment{seg}
	cfg.Segments.Now = func() time.Time { return t0 }
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	defer func() { cancel(); <-done; c.Close() }()

	var evs [][]byte
	for i, u := range []string{"u0", "u0", "u1", "u1", "u2", "u2", "u2", "u4", "u4", "u4", "u5"} {
		evs = append(evs, msg{typ: cdp.Track, user: u, event: "Tick", id: fmt.Sprint("s", i), at: time.Duration(i) * time.Second}.value())
	}
	produce(t, b.Addr(), evs...)
	awaitApplied(t, c, b.Addr())
	u2ID := NewCDPID("default", cdp.Identifier{Type: cdp.IDUserID, Value: "u2"})
	u4ID := NewCDPID("default", cdp.Identifier{Type: cdp.IDUserID, Value: "u4"})
	waitFor(t, "u2 and u4 in the segment", 10*time.Second, func() bool { return len(readSegmentChanges(t, b.Addr())) == 2 })

	// The build merges u0+u1 (4 events: enters), u2 alone as cluster-1
	// (its old id leaves, the new one enters) and u4+u5 as cluster-2 under
	// u4's own id (already in: no change).
	clusters := map[string]string{"u0": "cluster-0", "u1": "cluster-0", "u2": "cluster-1", "u4": u4ID, "u5": u4ID}
	src := &testSource{acks: make(chan ReconcileReport, 4)}
	rc := DefaultReconcilerConfig()
	rc.Lake, rc.Source, rc.Interval = st, src, 20*time.Millisecond
	rec, err := NewReconciler(c, rc)
	if err != nil {
		t.Fatal(err)
	}
	go rec.Run(ctx)
	src.publish(curate(t, b.Addr(), st, 1, offsetsOf(t, c), func(u string) string { return clusters[u] }))
	src.await(t, 1)
	var got []string
	waitFor(t, "the reconcile's changes", 10*time.Second, func() bool {
		got = got[:0]
		for _, ch := range readSegmentChanges(t, b.Addr()) {
			if strings.HasPrefix(ch.Version, "r") {
				got = append(got, fmt.Sprintf("%s %s %s %s", ch.CDPID, ch.SegmentID, ch.Change, ch.Version))
			}
		}
		return len(got) >= 3
	})
	sort.Strings(got)
	want := []string{u2ID + " active exit r1", "cluster-0 active enter r1", "cluster-1 active enter r1"}
	sort.Strings(want)
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("changes after the swap:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	var segs []string
	_ = c.View("default", cdp.Identifier{Type: cdp.IDUserID, Value: "u1"}, func(p *Profile) { segs = c.SegmentsOf(p) })
	if len(segs) != 1 || segs[0] != "active" {
		t.Errorf("u1's segments after the swap: %v", segs)
	}
}

// TestReconcileDuringACheckpointWrite: a reconcile swaps its store in
// while a full checkpoint of the live store is being written, the dedupe
// set (which the new store takes over) frozen for it. The new store's
// checkpoint still holds the messages applied meanwhile: after a restart
// their retries are duplicates.
func TestReconcileDuringACheckpointWrite(t *testing.T) {
	b := startBroker(t)
	dir := filepath.Join(t.TempDir(), "speed")
	st, err := local.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	held, release := make(chan struct{}), make(chan struct{})
	var once, released sync.Once
	c, stop := runConsumer(t, b.Addr(), dir, func(cfg *Config) {
		cfg.beforeWrite = func() { once.Do(func() { close(held); <-release }) }
	})
	free := func() { released.Do(func() { close(release) }) }
	t.Cleanup(free)
	tr := newTraffic(40)
	produce(t, b.Addr(), tr.batch(300)...)
	awaitApplied(t, c, b.Addr())
	w := offsetsOf(t, c)
	if err := c.Do(context.Background(), func(*Store) {
		if err := c.checkpoint(checkpointNow); err != nil {
			t.Error(err)
		}
	}); err != nil {
		t.Fatal(err)
	}
	<-held
	produce(t, b.Addr(), tr.batch(200)...) // into the frozen set's extras
	awaitApplied(t, c, b.Addr())
	src := &testSource{acks: make(chan ReconcileReport, 16)}
	_, stopRec := startReconciler(t, c, st, src)
	src.publish(curate(t, b.Addr(), st, 1, w, pairs))
	src.await(t, 1)
	stopRec()
	free()
	stop() // the final checkpoint is the new store's first: full

	c2, _ := runConsumer(t, b.Addr(), dir)
	var retries [][]byte
	for _, m := range tr.sent[300:] {
		retries = append(retries, m.value())
	}
	produce(t, b.Addr(), retries...)
	awaitApplied(t, c2, b.Addr())
	checkExact(t, c2, tr)
}

// TestReconcileInAChainOfDeltas: a reconcile swaps in a new store while
// the live one checkpoints in deltas; the new store's first checkpoint is
// full and ends the old chain, deltas follow on the new one, and a restart
// from it, with every message retried, counts each exactly once.
func TestReconcileInAChainOfDeltas(t *testing.T) {
	b := startBroker(t)
	dir := filepath.Join(t.TempDir(), "speed")
	st, err := local.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	c, stop := runConsumer(t, b.Addr(), dir, func(cfg *Config) { cfg.CheckpointInterval = 20 * time.Millisecond })
	tr := newTraffic(40)
	produce(t, b.Addr(), tr.batch(300)...)
	awaitApplied(t, c, b.Addr())
	w := offsetsOf(t, c)
	// awaitDelta applies events until a chain other than not has two
	// deltas, and returns its id.
	awaitDelta := func(what string, not uint64) uint64 {
		t.Helper()
		for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
			produce(t, b.Addr(), tr.batch(5)...)
			awaitApplied(t, c, b.Addr())
			h, err := readHeaderOf(filepath.Join(dir, CheckpointFile))
			if err != nil && !errors.Is(err, fs.ErrNotExist) {
				t.Fatal(err)
			}
			d, err := readHeaderOf(filepath.Join(dir, deltaName(2)))
			if err == nil && h.Chain != not && d.Chain == h.Chain {
				return h.Chain
			}
		}
		t.Fatalf("no chain of two deltas %s", what)
		return 0
	}
	before := awaitDelta("before the reconcile", 0)

	src := &testSource{acks: make(chan ReconcileReport, 16)}
	_, stopRec := startReconciler(t, c, st, src)
	src.publish(curate(t, b.Addr(), st, 1, w, pairs))
	src.await(t, 1)
	stopRec()
	awaitDelta("after the reconcile", before) // a full checkpoint of the new store started it
	stop()

	c2, _ := runConsumer(t, b.Addr(), dir)
	var retries [][]byte
	for _, m := range tr.sent {
		retries = append(retries, m.value())
	}
	produce(t, b.Addr(), retries...)
	awaitApplied(t, c2, b.Addr())
	checkExact(t, c2, tr)
}

// readHeaderOf reads the header of a checkpoint file.
func readHeaderOf(path string) (checkpointHeader, error) {
	f, err := os.Open(path)
	if err != nil {
		return checkpointHeader{}, err
	}
	defer f.Close()
	var h checkpointHeader
	err = gob.NewDecoder(bufio.NewReader(f)).Decode(&h)
	return h, err
}
