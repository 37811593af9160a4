package activate

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	cdp "github.com/tributary-cdp/tributary"
	"github.com/tributary-cdp/tributary/internal/auth"
	"github.com/tributary-cdp/tributary/internal/broker"
	"github.com/tributary-cdp/tributary/speed"
)

// clock is a settable time for the segments' evaluation.
type clock struct{ ns atomic.Int64 }

func (c *clock) Now() time.Time      { return time.Unix(0, c.ns.Load()).UTC() }
func (c *clock) Set(t time.Time)     { c.ns.Store(t.UnixNano()) }
func (c *clock) Add(d time.Duration) { c.ns.Add(int64(d)) }

func mustSegment(t *testing.T, y string) *cdp.Segment {
	t.Helper()
	s, err := cdp.ParseSegment([]byte(y))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

type segEnv struct {
	addr string
	srv  *httptest.Server
	c    *speed.Consumer
	stop func()
}

// startSegEnv runs a consumer with segments over a fresh or existing dir and serves look-ups.
func startSegEnv(t *testing.T, addr, dir string, clk *clock, segs ...*cdp.Segment) *segEnv {
	t.Helper()
	cfg := speed.DefaultConfig()
	cfg.Brokers, cfg.Dir, cfg.CheckpointInterval, cfg.MaxWait = []string{addr}, dir, time.Hour, 20*time.Millisecond
	cfg.Segments.Segments, cfg.Segments.Now, cfg.Segments.CheckInterval = segs, clk.Now, 10*time.Millisecond
	cfg.Segments.Reloadable = true // as serve runs it (SetSegments)
	c, err := speed.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	keys := auth.NewKeys([]cdp.Workspace{{ID: "default", APIKeys: []cdp.APIKey{{Name: "act", Role: cdp.RoleActivation, Key: activationKey}}}})
	api, err := New(Config{Keys: keys, Profiles: c, Segments: c.SegmentsOf})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	api.Register(mux)
	srv := httptest.NewServer(mux)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		if err := <-done; err != nil {
			t.Errorf("consumer: %v", err)
		}
		c.Close()
		srv.Close()
	}
	t.Cleanup(stop)
	return &segEnv{addr: addr, srv: srv, c: c, stop: stop}
}

func sendEvents(t *testing.T, addr string, evs ...cdp.Event) {
	t.Helper()
	w := &kafka.Writer{Addr: kafka.TCP(addr), Topic: cdp.TopicEvents, Balancer: &kafka.Murmur2Balancer{}, RequiredAcks: kafka.RequireAll, BatchTimeout: time.Millisecond}
	defer w.Close()
	msgs := make([]kafka.Message, len(evs))
	for i, e := range evs {
		b, _ := json.Marshal(e)
		msgs[i] = kafka.Message{Key: []byte(e.Workspace + "/" + e.UserID), Value: b}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := w.WriteMessages(ctx, msgs...); err != nil {
		t.Fatal(err)
	}
}

// segmentsOf looks the profile up over HTTP and returns its segments.
func segmentsOf(t *testing.T, srv *httptest.Server, ref string) ([]string, bool) {
	t.Helper()
	req, _ := http.NewRequest("GET", srv.URL+"/v1/profiles/"+ref, nil)
	req.Header.Set("Authorization", "Bearer "+activationKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode == 404 {
		return nil, false
	}
	var p struct {
		Segments []string `json:"segments"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&p); err != nil {
		t.Fatal(err)
	}
	if p.Segments == nil {
		t.Fatalf("%s: segments is null, want a list", ref)
	}
	return p.Segments, true
}

func awaitSegments(t *testing.T, srv *httptest.Server, ref string, want ...string) {
	t.Helper()
	if want == nil {
		want = []string{}
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		got, ok := segmentsOf(t, srv, ref)
		if ok && slices.Equal(got, want) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: segments %v (found %v), want %v", ref, got, ok, want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// changeReader reads cdp.segment-changes from the start of every partition.
func readChanges(t *testing.T, addr string, n int) []cdp.SegmentChange {
	t.Helper()
	var out []cdp.SegmentChange
	deadline := time.Now().Add(10 * time.Second)
	for {
		out = out[:0]
		seen := map[string]bool{}
		conn, err := kafka.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		parts, err := conn.ReadPartitions(cdp.TopicSegmentChanges)
		conn.Close()
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range parts {
			r := kafka.NewReader(kafka.ReaderConfig{Brokers: []string{addr}, Topic: cdp.TopicSegmentChanges, Partition: p.ID, MaxWait: 20 * time.Millisecond})
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
				if string(m.Key) != c.MessageKey() {
					t.Errorf("message key %q, want %q", m.Key, c.MessageKey())
				}
				if !seen[c.Key] { // at-least-once: consumers drop repeated keys
					seen[c.Key] = true
					out = append(out, c)
				}
			}
			r.Close()
		}
		if len(out) >= n || time.Now().After(deadline) {
			slices.SortStableFunc(out, func(a, b cdp.SegmentChange) int { return a.At.Compare(b.At) })
			return out
		}
	}
}

func TestRealtimeSegmentsEnterExitAndExpire(t *testing.T) {
	b, err := broker.Start(broker.Config{Addr: "127.0.0.1:0", DataDir: t.TempDir(), Partitions: 2})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	clk := &clock{}
	day0 := time.Date(2026, 11, 20, 15, 0, 0, 0, time.UTC)
	clk.Set(day0)
	pro := mustSegment(t, "id: pros\nworkspace: default\ncondition:\n  trait: {name: plan, op: eq, value: pro}\n")
	buyers := mustSegment(t, "id: recent_buyers\nworkspace: default\ncondition:\n  event: {name: Order Completed, min_count: 1, within_days: 2}\n")
	other := mustSegment(t, "id: elsewhere\nworkspace: other\ncondition:\n  computed: {name: events_total, op: gte, value: 0}\n")
	dir := t.TempDir()
	env := startSegEnv(t, b.Addr(), dir, clk, pro, buyers, other)

	ev := func(id string, e cdp.Event) cdp.Event {
		e.Workspace, e.MessageID, e.UserID = "default", id, "u1"
		if e.Timestamp.IsZero() {
			e.Timestamp = clk.Now()
		}
		e.ReceivedAt = clk.Now()
		return e
	}
	sendEvents(t, env.addr, ev("m1", cdp.Event{Type: cdp.Identify, Traits: json.RawMessage(`{"plan":"free"}`)}))
	awaitSegments(t, env.srv, "user_id:u1")
	sendEvents(t, env.addr, ev("m2", cdp.Event{Type: cdp.Identify, Traits: json.RawMessage(`{"plan":"pro"}`)}))
	awaitSegments(t, env.srv, "user_id:u1", "pros")
	sendEvents(t, env.addr, ev("m3", cdp.Event{Type: cdp.Track, Event: "Order Completed", Properties: json.RawMessage(`{"revenue":5}`)}))
	awaitSegments(t, env.srv, "user_id:u1", "pros", "recent_buyers")
	sendEvents(t, env.addr, ev("m4", cdp.Event{Type: cdp.Identify, Traits: json.RawMessage(`{"plan":"free"}`)}))
	awaitSegments(t, env.srv, "user_id:u1", "recent_buyers")

	// The order was on day0: within 2 days holds through day0+2, not at day0+3's midnight.
	clk.Set(time.Date(2026, 11, 22, 23, 59, 0, 0, time.UTC))
	time.Sleep(50 * time.Millisecond) // several checks at an unchanged answer
	if got, _ := segmentsOf(t, env.srv, "user_id:u1"); !slices.Equal(got, []string{"recent_buyers"}) {
		t.Fatalf("before the window ends: %v", got)
	}
	clk.Set(time.Date(2026, 11, 23, 0, 0, 1, 0, time.UTC))
	awaitSegments(t, env.srv, "user_id:u1")

	changes := readChanges(t, env.addr, 4)
	type ch struct {
		seg  string
		kind cdp.SegmentChangeKind
	}
	var got []ch
	for _, c := range changes {
		got = append(got, ch{c.SegmentID, c.Change})
		if c.CDPID == "" || c.Workspace != "default" || c.Version == "" || c.Key != cdp.SegmentChangeKey(c.Workspace, c.SegmentID, c.CDPID, c.Change, c.Version) {
			t.Errorf("change %+v", c)
		}
	}
	want := []ch{{"pros", cdp.SegmentEnter}, {"recent_buyers", cdp.SegmentEnter}, {"pros", cdp.SegmentExit}, {"recent_buyers", cdp.SegmentExit}}
	if !slices.Equal(got, want) {
		t.Fatalf("changes %v, want %v", got, want)
	}
	if v := changes[len(changes)-1].Version; v != "t2026-11-23" {
		t.Errorf("expiry version %q", v)
	}
	if v := changes[0].Version; v[0] != 'p' {
		t.Errorf("event version %q, want p<partition>@<offset>", v)
	}

	// Membership survives a restart: no change is published again.
	sendEvents(t, env.addr, ev("m5", cdp.Event{Type: cdp.Identify, Traits: json.RawMessage(`{"plan":"pro"}`)}))
	awaitSegments(t, env.srv, "user_id:u1", "pros")
	env.stop()
	env2 := startSegEnv(t, b.Addr(), dir, clk, pro, buyers, other)
	awaitSegments(t, env2.srv, "user_id:u1", "pros")
	sendEvents(t, env.addr, ev("m6", cdp.Event{Type: cdp.Track, Event: "Order Completed"}))
	awaitSegments(t, env2.srv, "user_id:u1", "pros", "recent_buyers")
	changes = readChanges(t, env.addr, 6)
	if len(changes) != 6 {
		t.Fatalf("after restart: %d changes, want 6: %+v", len(changes), changes)
	}
}

// SetSegments swaps the definitions under a running consumer: profiles
// enter added segments and leave removed ones, published with a version
// named after the definitions ("d…").
func TestSetSegmentsWhileRunning(t *testing.T) {
	b, err := broker.Start(broker.Config{Addr: "127.0.0.1:0", DataDir: t.TempDir(), Partitions: 2})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	clk := &clock{}
	clk.Set(time.Date(2026, 11, 20, 15, 0, 0, 0, time.UTC))
	pro := mustSegment(t, "id: pros\nworkspace: default\ncondition:\n  trait: {name: plan, op: eq, value: pro}\n")
	buyers := mustSegment(t, "id: buyers\nworkspace: default\ncondition:\n  event: {name: Order Completed, min_count: 1}\n")
	env := startSegEnv(t, b.Addr(), t.TempDir(), clk) // no segments at start
	ev := func(id string, e cdp.Event) cdp.Event {
		e.Workspace, e.MessageID, e.UserID, e.Timestamp, e.ReceivedAt = "default", id, "u1", clk.Now(), clk.Now()
		return e
	}
	sendEvents(t, env.addr,
		ev("m1", cdp.Event{Type: cdp.Identify, Traits: json.RawMessage(`{"plan":"pro"}`)}),
		ev("m2", cdp.Event{Type: cdp.Track, Event: "Order Completed"}))
	awaitSegments(t, env.srv, "user_id:u1")

	ctx := context.Background()
	if err := env.c.SetSegments(ctx, []*cdp.Segment{pro}); err != nil {
		t.Fatal(err)
	}
	awaitSegments(t, env.srv, "user_id:u1", "pros")
	if err := env.c.SetSegments(ctx, []*cdp.Segment{buyers}); err != nil {
		t.Fatal(err)
	}
	awaitSegments(t, env.srv, "user_id:u1", "buyers")

	changes := readChanges(t, env.addr, 3)
	var got []string
	for _, c := range changes {
		if c.Version == "" || c.Version[0] != 'd' {
			t.Errorf("change %+v: version %q, want d<definitions>", c, c.Version)
		}
		got = append(got, string(c.Change)+" "+c.SegmentID)
	}
	slices.Sort(got) // the exit and the entry of the second swap share a time
	want := []string{string(cdp.SegmentEnter) + " buyers", string(cdp.SegmentEnter) + " pros", string(cdp.SegmentExit) + " pros"}
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("changes %q, want %q", got, want)
	}
}
