package speed

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/parquet-go/parquet-go"
	"github.com/segmentio/kafka-go"

	cdp "github.com/tributary-cdp/tributary"
	"github.com/tributary-cdp/tributary/internal/broker"
	"github.com/tributary-cdp/tributary/lake"
	"github.com/tributary-cdp/tributary/lake/local"
)

var (
	reconcileProfiles = flag.Int("reconcile.profiles", 100_000, "profiles of BenchmarkReconcileSwap's build")
	reconcileSegments = flag.Bool("reconcile.segments", true, "BenchmarkReconcileSwap evaluates real-time segments (benchSegments)")
)

// benchSegments are BenchmarkReconcileSwap's real-time segments: traits,
// an event count in a window (time-sensitive) and an identifier; most
// profiles are in three or four.
var benchSegments = []string{
	"id: adults\nworkspace: default\ncondition:\n  trait: {name: age, op: gte, value: 18}\n",
	"id: lyon_pro\nworkspace: default\ncondition:\n  all:\n    - trait: {name: city, op: eq, value: Lyon}\n    - trait: {name: plan, op: eq, value: pro}\n",
	"id: ticking\nworkspace: default\ncondition:\n  event: {name: Tick, min_count: 2, within_days: 60}\n",
	"id: reachable\nworkspace: default\ncondition:\n  identifier: {type: email}\n",
}

// BenchmarkReconcileSwap measures a reconcile of a build of
// -reconcile.profiles profiles into a running speed layer that holds them
// already (3 events each before the watermark, 10% more after it): base
// load, replay of the deltas, the apply loop's pause at the swap, the heap
// before, at the peak of and after the reconcile, and look-up latency
// while it runs; with -reconcile.segments (the default), the segments
// sweep after the swap, and a second sweep timed alone (no traffic, no
// change to publish), its wall and process CPU time.
//
//	go test ./speed -run '^$' -bench BenchmarkReconcileSwap -benchtime 1x
func BenchmarkReconcileSwap(b *testing.B) {
	n := *reconcileProfiles
	br, err := broker.Start(broker.Config{Addr: "127.0.0.1:0", DataDir: b.TempDir(), Partitions: 8})
	if err != nil {
		b.Fatal(err)
	}
	defer br.Close()
	st, err := local.New(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	at := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	value := func(i, u int) kafka.Message {
		user := "user-" + strconv.Itoa(u)
		e := cdp.Event{Workspace: "default", MessageID: "m" + strconv.Itoa(i), UserID: user, Timestamp: at.Add(time.Duration(i) * time.Millisecond), ReceivedAt: at}
		if i < n {
			e.Type = cdp.Identify
			e.Traits = json.RawMessage(fmt.Sprintf(`{"email":"person%d@example.com","name":"Person %d","plan":"pro","age":%d,"city":"Lyon"}`, u, u, u%80))
		} else {
			e.Type, e.Event = cdp.Track, "Tick"
		}
		return kafka.Message{Key: []byte("default/" + user), Value: e.AppendJSON(nil)}
	}
	w := &kafka.Writer{Addr: kafka.TCP(br.Addr()), Topic: cdp.TopicEvents, Balancer: &kafka.Murmur2Balancer{},
		RequiredAcks: kafka.RequireAll, BatchSize: 1000, BatchTimeout: 5 * time.Millisecond}
	defer w.Close()
	produceRange := func(from, to int) {
		const chunk = 5000
		for i := from; i < to; i += chunk {
			msgs := make([]kafka.Message, 0, chunk)
			for j := i; j < min(i+chunk, to); j++ {
				msgs = append(msgs, value(j, j%n))
			}
			if err := w.WriteMessages(context.Background(), msgs...); err != nil {
				b.Fatal(err)
			}
		}
	}
	before, after := 3*n, 3*n+n/10
	produceRange(0, before)

	cfg := DefaultConfig()
	cfg.Brokers, cfg.Dir, cfg.CheckpointInterval, cfg.MaxWait = []string{br.Addr()}, b.TempDir(), time.Hour, 50*time.Millisecond
	if *reconcileSegments {
		for _, y := range benchSegments {
			seg, err := cdp.ParseSegment([]byte(y))
			if err != nil {
				b.Fatal(err)
			}
			cfg.Segments.Segments = append(cfg.Segments.Segments, seg)
		}
	}
	c, err := New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	defer func() { cancel(); <-done; c.Close() }()
	applied := func(total int) {
		deadline := time.Now().Add(5 * time.Minute)
		for {
			var got int64
			c.Do(ctx, func(s *Store) {
				for _, off := range s.offsets {
					got += off
				}
			})
			if got >= int64(total) {
				return
			}
			if time.Now().After(deadline) {
				b.Fatalf("%d of %d events applied", got, total)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	applied(before)
	var wm map[int]int64
	c.Do(ctx, func(s *Store) { wm = s.Offsets() })
	produceRange(before, after)
	applied(after)

	// The build: every user with its email, 5 traits, 3 events.
	var buf bytes.Buffer
	pw := parquet.NewGenericWriter[curatedRow](&buf)
	first := at
	for u := range n {
		user := "user-" + strconv.Itoa(u)
		ids, _ := json.Marshal([]cdp.Identifier{{Type: cdp.IDEmail, Value: fmt.Sprintf("person%d@example.com", u)}, {Type: cdp.IDUserID, Value: user}})
		// The live profile's cdp id (from its smallest identifier, the
		// email), as a build derives it: the reconcile renames nobody.
		row := curatedRow{Workspace: "default", CDPID: NewCDPID("default", cdp.Identifier{Type: cdp.IDEmail, Value: fmt.Sprintf("person%d@example.com", u)}), Identifiers: string(ids),
			Traits:      fmt.Sprintf(`{"email":"person%d@example.com","name":"Person %d","plan":"pro","age":%d,"city":"Lyon"}`, u, u, u%80),
			Provenance:  `{"plan":{"source":"events","record":"m1","time":"2026-11-01T00:00:00Z"}}`,
			EventsTotal: 3, EventCounts: `{"Tick":2}`, EventDays: `[{"event":"Tick","day":"2026-11-01","n":2}]`, FirstSeen: &first, LastSeen: &first}
		if _, err := pw.Write([]curatedRow{row}); err != nil {
			b.Fatal(err)
		}
	}
	if err := pw.Close(); err != nil {
		b.Fatal(err)
	}
	if err := st.Put(ctx, "curated/profiles/workspace=default/bench.parquet", &buf); err != nil {
		b.Fatal(err)
	}
	wm32 := map[int32]int64{}
	for p, off := range wm {
		wm32[int32(p)] = off
	}
	rec, err := NewReconciler(c, ReconcilerConfig{Lake: st, Source: &testSource{}, Interval: time.Hour, CatchUpTimeout: time.Minute})
	if err != nil {
		b.Fatal(err)
	}

	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		build := &Build{Version: int64(i + 1), Watermark: wm32, Profiles: []lake.File{{Path: "curated/profiles/workspace=default/bench.parquet"}}}
		// Look-ups go on meanwhile: their latency is part of the figure.
		var stop atomic.Bool
		var lat []time.Duration
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := 0; !stop.Load(); k++ {
				t0 := time.Now()
				if err := c.View("default", cdp.Identifier{Type: cdp.IDUserID, Value: "user-" + strconv.Itoa(k%n)}, func(*Profile) {}); err != nil {
					b.Errorf("look-up during the reconcile: %v", err)
					return
				}
				lat = append(lat, time.Since(t0))
				if k%100 == 99 {
					time.Sleep(time.Millisecond) // a steady look-up load, not a spinning core
				}
			}
		}()
		// And live traffic, about 20,000 events/s: the swap applies what
		// arrived during the replay.
		wg.Add(1)
		var live atomic.Int64
		go func() {
			defer wg.Done()
			next := after + i*1_000_000
			for !stop.Load() {
				t0 := time.Now()
				produceRange(next, next+500)
				next += 500
				live.Add(500)
				time.Sleep(max(0, 25*time.Millisecond-time.Since(t0)))
			}
		}()
		start := time.Now()
		old := slog.SetLogLoggerLevel(slog.LevelDebug)
		rep := rec.Apply(ctx, build)
		slog.SetLogLoggerLevel(old)
		total := time.Since(start)
		stop.Store(true)
		wg.Wait()
		if rep.Err != nil {
			b.Fatal(rep.Err)
		}
		slices.Sort(lat)
		p99, worst := lat[len(lat)*99/100], lat[len(lat)-1]
		if c.segs != nil {
			b.ReportMetric(rep.Sweep.Seconds(), "sweep-s")
			t0, cpu0 := time.Now(), cpuTime(syscall.RUSAGE_SELF)
			if err := c.segs.sweep(ctx, "bench", false); err != nil {
				b.Fatal(err)
			}
			wall, cpu := time.Since(t0), cpuTime(syscall.RUSAGE_SELF)-cpu0
			b.ReportMetric(wall.Seconds(), "resweep-s")
			b.ReportMetric(cpu.Seconds(), "resweep-cpu-s")
		}
		b.ReportMetric(float64(rep.Swap)/float64(time.Millisecond), "swap-ms")
		b.ReportMetric(rep.Load.Seconds(), "load-s")
		b.ReportMetric(rep.Replay.Seconds(), "replay-s")
		b.ReportMetric(float64(rep.MemBeforeBytes)/(1<<20), "heap-before-MiB")
		b.ReportMetric(float64(rep.MemPeakBytes)/(1<<20), "heap-peak-MiB")
		b.ReportMetric(float64(rep.MemAfterBytes)/(1<<20), "heap-after-MiB")
		b.Logf("build of %d profiles (%d events before W, %d deltas): total %.2f s, load %.2f s, replay %.2f s (%d events), swap %.2f ms, profiles after %d; heap before %d MiB, peak %d MiB, after %d MiB; %d look-ups meanwhile, p99 %s, max %s; %d live events meanwhile",
			rep.BaseProfiles, before, after-before, total.Seconds(), rep.Load.Seconds(), rep.Replay.Seconds(), rep.ReplayedEvents, float64(rep.Swap)/float64(time.Millisecond), rep.Profiles,
			rep.MemBeforeBytes>>20, rep.MemPeakBytes>>20, rep.MemAfterBytes>>20, len(lat), p99, worst, live.Load())
	}
}
