package speed

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"runtime"
	"runtime/pprof"
	"strconv"
	"syscall"
	"testing"
	"time"

	cdp "github.com/tributary-cdp/tributary"
	"github.com/tributary-cdp/tributary/speed/speedtest"
)

// benchValues is a synthetic mix like `cdpctl bench speed`: identify,
// track, page and alias over 100k people.
func benchValues(n int) [][]byte {
	rng := rand.New(rand.NewPCG(1, 1))
	at := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	out := make([][]byte, n)
	for i := range n {
		p := rng.IntN(100_000)
		e := cdp.Event{Workspace: "default", MessageID: "m" + strconv.Itoa(i), Timestamp: at.Add(time.Duration(i) * time.Millisecond), ReceivedAt: at}
		user, anon := "user-"+strconv.Itoa(p), "anon-"+strconv.Itoa(p)
		switch r := rng.IntN(100); {
		case r < 10:
			e.Type, e.UserID, e.AnonymousID = cdp.Identify, user, anon
			e.Traits = json.RawMessage(fmt.Sprintf(`{"email":"person%d@example.com","name":"Person %d","plan":"pro","age":%d}`, p, p, rng.IntN(80)))
		case r < 75:
			e.Type, e.Event, e.UserID = cdp.Track, fmt.Sprintf("Event %d", rng.IntN(10)), user
			e.Properties = json.RawMessage(`{"sku":"sku-1","price":12}`)
		case r < 95:
			e.Type, e.AnonymousID, e.Name = cdp.Page, anon, "Home"
			e.Properties = json.RawMessage(`{"url":"https://shop.example/"}`)
		default:
			e.Type, e.PreviousID, e.UserID = cdp.Alias, anon, user
		}
		out[i] = e.AppendJSON(nil)
	}
	return out
}

func BenchmarkPrepare(b *testing.B) {
	vals := benchValues(10_000)
	p := NewPreparer(DefaultStoreConfig())
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		p.Prepare(0, int64(i), vals[i%len(vals)])
	}
}

// mixValues returns n events of the mix of `cdpctl bench speed` as the
// collector writes them.
func mixValues(n int) [][]byte {
	rng := rand.New(rand.NewPCG(1, 1))
	at := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	vals := make([][]byte, n)
	for i := range vals {
		vals[i] = speedtest.Event(rng, i, 100_000, at.Add(time.Duration(i)*time.Millisecond)).AppendJSON(nil)
	}
	return vals
}

// BenchmarkPrepareReleased prepares the events of `cdpctl bench speed`
// as the consumer does, each op released once applied, so that the pool
// serves the next: what a fetch goroutine spends per event (BenchmarkPrepare
// allocates every op afresh). thread-ns/op is the CPU time of the
// benchmark's thread (GC assists included, background marking not),
// which a busy machine moves less than ns/op.
func BenchmarkPrepareReleased(b *testing.B) {
	vals := mixValues(10_000)
	p := NewPreparer(DefaultStoreConfig())
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	b.ResetTimer()
	t0 := cpuTime(syscall.RUSAGE_THREAD)
	for i := 0; i < b.N; i++ {
		p.Release(p.Prepare(i%8, int64(i), vals[i%len(vals)]))
	}
	b.ReportMetric(float64((cpuTime(syscall.RUSAGE_THREAD)-t0).Nanoseconds())/float64(b.N), "thread-ns/op")
}

// BenchmarkPrepareHandoff prepares as a fetch goroutine of the consumer
// does: each value a fresh copy (kafka-go allocates every message), each
// op queued to an apply goroutine that applies it to a store and releases
// it, so that ops come back from the other core. prep-ns/op is the CPU
// time of the preparing thread (BenchmarkPrepareReleased keeps its ops in
// its own cache), proc-ns/op the process's, applying and GC included.
func BenchmarkPrepareHandoff(b *testing.B) {
	vals := mixValues(200_000)
	cfg := DefaultStoreConfig()
	p := NewPreparer(cfg)
	var s *Store
	q := newOpQueue(opQueueLen)
	ctx, cancel := context.WithCancel(context.Background())
	applied := make(chan struct{})
	go func() {
		defer close(applied)
		runtime.LockOSThread()
		var spare []*Op
		for n := 0; n < b.N; {
			<-q.ready
			batch := q.take(spare)
			for i, op := range batch {
				if op.Offset%int64(len(vals)) == 0 {
					s, _ = NewStore(cfg) // the values repeat: a store that has seen them takes them as duplicates
				}
				if i%warmGroup == 0 && i+warmGroup < len(batch) {
					s.Warm(batch[i+warmGroup:])
				}
				s.Apply(op)
				p.Release(op)
			}
			n += len(batch)
			clear(batch)
			spare = batch
		}
	}()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	b.ResetTimer()
	t0, p0 := cpuTime(syscall.RUSAGE_THREAD), cpuTime(syscall.RUSAGE_SELF)
	for i := 0; i < b.N; i++ {
		v := vals[i%len(vals)]
		q.put(ctx, p.Prepare(i%8, int64(i), append(make([]byte, 0, len(v)), v...)))
	}
	prep := cpuTime(syscall.RUSAGE_THREAD) - t0
	<-applied
	b.ReportMetric(float64(prep.Nanoseconds())/float64(b.N), "prep-ns/op")
	b.ReportMetric(float64((cpuTime(syscall.RUSAGE_SELF)-p0).Nanoseconds())/float64(b.N), "proc-ns/op")
	cancel()
}

func BenchmarkApply(b *testing.B) {
	vals := benchValues(300_000)
	cfg := DefaultStoreConfig()
	p := NewPreparer(cfg)
	ops := make([]*Op, len(vals))
	for i, v := range vals {
		ops[i] = p.Prepare(i%8, int64(i), v)
	}
	s, _ := NewStore(cfg)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if i%len(ops) == 0 && i > 0 {
			b.StopTimer()
			s, _ = NewStore(cfg)
			b.StartTimer()
		}
		s.Apply(ops[i%len(ops)])
	}
}

// BenchmarkMemoryPerProfile reports the live heap per profile of 10 traits.
func BenchmarkMemoryPerProfile(b *testing.B) {
	const n = 100_000
	cfg := DefaultStoreConfig()
	p := NewPreparer(cfg)
	at := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	for range b.N {
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		s, _ := NewStore(cfg)
		for i := range n {
			e := cdp.Event{Workspace: "default", MessageID: "rss-" + strconv.Itoa(i), Type: cdp.Identify,
				UserID: "user-" + strconv.Itoa(i), Timestamp: at, ReceivedAt: at,
				Traits: json.RawMessage(fmt.Sprintf(`{"email":"person%d@example.com","first_name":"First%d","last_name":"Last%d","plan":"pro",`+
					`"age":%d,"city":"City %d","country":"NO","company":"Company %d","title":"Engineer","created_at":"2024-01-%02dT10:00:00Z"}`,
					i, i, i, 18+i%60, i%500, i%10000, 1+i%28))}
			s.Apply(p.Prepare(i%8, int64(i/8), e.AppendJSON(nil)))
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/n, "B/profile")
		if path := os.Getenv("SPEED_HEAP_PROFILE"); path != "" {
			f, _ := os.Create(path)
			pprof.WriteHeapProfile(f)
			f.Close()
		}
		runtime.KeepAlive(s)
	}
}

// BenchmarkSnapshotAtDedupeCap: how long the apply loop stops for a
// checkpoint (Store.Snapshot) and how long the writer then takes, with
// the dedupe set at its 10M-entry cap, which the pause once had to pack.
func BenchmarkSnapshotAtDedupeCap(b *testing.B) {
	s, err := NewStore(DefaultStoreConfig())
	if err != nil {
		b.Fatal(err)
	}
	s.Reserve(s.cfg.DedupeMaxEntries)
	at := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	for i := range uint64(s.cfg.DedupeMaxEntries) {
		s.dedupe.seen(msgKey{i*0x9E3779B97F4A7C15 + 1, i}, at)
	}
	var pause, write time.Duration
	b.ResetTimer()
	for range b.N {
		start := time.Now()
		sn, err := s.Snapshot()
		if err != nil {
			b.Fatal(err)
		}
		pause += time.Since(start)
		if _, err := sn.WriteTo(io.Discard); err != nil {
			b.Fatal(err)
		}
		write += time.Since(start)
		s.endSnapshot()
	}
	b.ReportMetric(float64(pause.Microseconds())/float64(b.N), "µs-pause/op")
	b.ReportMetric(float64(write.Milliseconds())/float64(b.N), "ms-write/op")
	b.ReportMetric(float64(s.dedupe.len()), "dedupe-keys")
}
