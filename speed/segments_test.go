package speed

import (
	"context"
	"flag"
	"fmt"
	"math/rand/v2"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	cdp "github.com/tributary-cdp/tributary"
	"github.com/tributary-cdp/tributary/speed/speedtest"
)

// sweepHarness runs segments over s without Kafka: a goroutine of its own
// stands for the apply loop (Do), and changes stay in the publisher's queue.
func sweepHarness(tb testing.TB, s *Store, segs []string, now *time.Time) *segments {
	tb.Helper()
	c := &Consumer{control: make(chan func(*Store))}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for fn := range c.control {
			fn(s)
		}
	}()
	cfg := DefaultSegmentsConfig()
	cfg.Segments = parseSegments(tb, segs)
	cfg.Now = func() time.Time { return *now }
	e := newSegments(c, cfg)
	tb.Cleanup(func() {
		close(c.control)
		<-done
		e.pub.w.Close()
	})
	return e
}

func parseSegments(tb testing.TB, ys []string) []*cdp.Segment {
	tb.Helper()
	var segs []*cdp.Segment
	for _, y := range ys {
		seg, err := cdp.ParseSegment([]byte(y))
		if err != nil {
			tb.Fatal(err)
		}
		segs = append(segs, seg)
	}
	return segs
}

// sweepStore returns a store of the events of `cdpctl bench speed` over
// people people in each of workspaces a, b, c and d, a minute apart (so
// windows of days cut through them), and the time of the last.
func sweepStore(tb testing.TB, people, events int) (*Store, time.Time) {
	tb.Helper()
	s, err := NewStore(DefaultStoreConfig())
	if err != nil {
		tb.Fatal(err)
	}
	prep := NewPreparer(DefaultStoreConfig())
	rng := rand.New(rand.NewPCG(7, 7))
	at := time.Date(2026, 9, 1, 0, 0, 0, 0, time.UTC)
	for i := range events {
		e := speedtest.Event(rng, i, people, at.Add(time.Duration(i)*time.Minute))
		e.Workspace = string(rune('a' + i%4))
		s.Apply(prep.Prepare(i%8, int64(i/8), e.AppendJSON(nil)))
	}
	return s, at.Add(time.Duration(events) * time.Minute)
}

// sweepSequential is the sweep as it was before it ran on every core,
// the reference TestSweepPublishesAsSequential holds it to. It returns
// how many changes are queued before the exits of stale cdp ids (which
// come in the order of a map).
func sweepSequential(e *segments, s *Store, version string, timeOnly bool) (staleFrom int) {
	now := e.cfg.Now()
	for i := range stripes {
		s.table.each(i, func(p *Profile) bool {
			if !timeOnly || e.timeWS[p.Workspace] {
				e.evaluate(s, p, version, now)
			}
			return true
		})
	}
	staleFrom = len(e.pub.q)
	m := s.ext.members.Load()
	if timeOnly || m == nil {
		return staleFrom
	}
	var gone [][2]string
	for i := range m.stripes {
		m.each(i, func(ws, id string, _ []string) {
			if p := s.profileByCDPID(ws, id); p == nil || p.CDPID != id {
				gone = append(gone, [2]string{ws, id})
			}
		})
	}
	for _, g := range gone {
		e.set(s, g[0], g[1], nil, version, now)
	}
	return staleFrom
}

// TestSweepPublishesAsSequential sweeps two copies of a store of many
// profiles in four workspaces, one on every core, one a profile after the
// other: the changes queued must be the same, in the same order (but for
// the exits of stale cdp ids, which follow a map's), and so must the
// membership recorded. Entries into new definitions, exits from removed
// ones, time passing and stale ids are all swept.
func TestSweepPublishesAsSequential(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(max(4, runtime.GOMAXPROCS(0))))
	v1 := []string{
		"id: viewers\nworkspace: a\ncondition:\n  event: {name: Product Viewed, min_count: 1, within_days: 30}\n",
		"id: pro\nworkspace: a\ncondition:\n  trait: {name: plan, op: eq, value: pro}\n",
		"id: buyers\nworkspace: b\ncondition:\n  computed: {name: orders_total, op: gte, value: 1}\n",
		"id: reachable\nworkspace: b\ncondition:\n  identifier: {type: email}\n",
	}
	v2 := []string{
		v1[0],
		"id: team\nworkspace: a\ncondition:\n  trait: {name: plan, op: eq, value: team}\n",
		"id: buyers\nworkspace: b\ncondition:\n  computed: {name: orders_total, op: gte, value: 2}\n",
		v1[3],
		"id: adults\nworkspace: c\ncondition:\n  trait: {name: age, op: gte, value: 40}\n",
	}
	par, now := sweepStore(t, 3000, 120_000)
	seq, _ := sweepStore(t, 3000, 120_000)
	if n := par.Stats().Profiles; n < 20*stripes {
		t.Fatalf("%d profiles: too few to fill every stripe", n)
	}
	clock := now
	ep, es := sweepHarness(t, par, v1, &clock), sweepHarness(t, seq, v1, &clock)
	ctx := context.Background()

	step := func(name, version string, timeOnly bool) {
		t.Helper()
		ep.pub.q, es.pub.q = nil, nil
		if err := ep.sweep(ctx, version, timeOnly); err != nil {
			t.Fatal(err)
		}
		staleFrom := sweepSequential(es, seq, version, timeOnly)
		got, want := queued(ep), queued(es)
		if len(want) < 100 {
			t.Fatalf("%s: only %d changes: the sweep tests little", name, len(want))
		}
		if len(got) != len(want) {
			t.Fatalf("%s: %d changes queued, want %d", name, len(got), len(want))
		}
		for i := range want[:staleFrom] {
			if got[i] != want[i] {
				t.Fatalf("%s: change %d of %d is\n%s\nwant\n%s", name, i, len(want), got[i], want[i])
			}
		}
		got, want = got[staleFrom:], want[staleFrom:]
		slices.Sort(got)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Fatalf("%s: the exits of stale cdp ids differ:\n%s\nwant\n%s", name, strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
		if gm, wm := memberships(par), memberships(seq); !slices.Equal(gm, wm) {
			t.Fatalf("%s: %d memberships recorded, want %d", name, len(gm), len(wm))
		}
	}
	step("first sweep", "t1", false)

	// Stale cdp ids in every workspace (one with no segments), and new definitions.
	for _, s := range []*Store{par, seq} {
		for i := range 300 {
			s.members().set(string(rune('a'+i%4)), fmt.Sprintf("cdp_gone_%d", i), []string{"pro"})
		}
	}
	for _, e := range []*segments{ep, es} {
		e.cfg.Segments = parseSegments(t, v2)
		e.byWS, e.timeWS = groupSegments(e.cfg.Segments)
	}
	step("new definitions", "d2", false)

	clock = now.Add(20 * 24 * time.Hour)
	step("twenty days later", "t3", true)
}

// queued returns the changes in e's queue, key and value.
func queued(e *segments) []string {
	out := make([]string, len(e.pub.q))
	for i, m := range e.pub.q {
		out[i] = string(m.Key) + " " + string(m.Value)
	}
	return out
}

// memberships returns s's membership as sorted lines.
func memberships(s *Store) []string {
	var out []string
	m := s.members()
	for i := range m.stripes {
		m.each(i, func(ws, id string, ids []string) {
			out = append(out, ws+" "+id+" "+strings.Join(ids, ","))
		})
	}
	slices.Sort(out)
	return out
}

var sweepPeople = flag.Int("sweep.people", 25_000, "people of each workspace of BenchmarkSegmentsSweep's store")

// sweepSegments are BenchmarkSegmentsSweep's, in each workspace: traits,
// an event count in a window, an identifier, a computed trait.
var sweepSegments = []string{
	"id: pro\ncondition:\n  trait: {name: plan, op: eq, value: pro}\n",
	"id: over_40\ncondition:\n  trait: {name: age, op: gte, value: 40}\n",
	"id: viewers\ncondition:\n  event: {name: Product Viewed, min_count: 2, within_days: 30}\n",
	"id: reachable\ncondition:\n  identifier: {type: email}\n",
	"id: buyers\ncondition:\n  computed: {name: orders_total, op: gte, value: 1}\n",
}

// BenchmarkSegmentsSweep measures a sweep of a store of the events of
// `cdpctl bench speed` over -sweep.people people in each of 4 workspaces
// (5 events each: about 4 × -sweep.people profiles), with sweepSegments,
// when nothing changes (after a reconcile, most profiles): its wall time
// (ns/op) and the CPU time of the whole process (cpu-ns/op).
//
//	go test ./speed -run '^$' -bench BenchmarkSegmentsSweep -benchtime 3x
func BenchmarkSegmentsSweep(b *testing.B) {
	s, now := sweepStore(b, *sweepPeople, 20**sweepPeople)
	var ys []string
	for _, ws := range []string{"a", "b", "c", "d"} {
		for _, y := range sweepSegments {
			ys = append(ys, strings.Replace(y, "\ncondition:", "\nworkspace: "+ws+"\ncondition:", 1))
		}
	}
	e := sweepHarness(b, s, ys, &now)
	ctx := context.Background()
	if err := e.sweep(ctx, "t0", false); err != nil {
		b.Fatal(err)
	}
	first := len(e.pub.q)
	e.pub.q = nil
	runtime.GC()
	b.ResetTimer()
	cpu0 := cpuTime(syscall.RUSAGE_SELF)
	for i := 0; i < b.N; i++ {
		if err := e.sweep(ctx, "t0", false); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64((cpuTime(syscall.RUSAGE_SELF)-cpu0).Nanoseconds())/float64(b.N), "cpu-ns/op")
	b.ReportMetric(float64(s.Stats().Profiles), "profiles")
	b.ReportMetric(float64(first), "changes-first")
	if len(e.pub.q) != 0 {
		b.Fatalf("%d changes on a sweep that changes nothing", len(e.pub.q))
	}
}
