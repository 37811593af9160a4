package speed

import (
	"math/rand/v2"
	"os"
	"runtime"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/tributary-cdp/tributary/speed/speedtest"
)

// TestApplyCPU measures the CPU time of applying 1M events in the mix of
// `cdpctl bench speed` without Kafka: the apply thread's own CPU (it is
// locked to its OS thread; GC assists included, background marking not)
// and the process's (preparing and GC included) per event. A CPU time,
// not a rate, so that a shared machine moves it less. Run with
// SPEED_APPLY_CPU=1 go test -run ApplyCPU -v ./speed. SPEED_PEOPLE sets
// how many people the events are about (100,000): with 2,000 the store
// stays in the caches, which shows what cache misses cost.
// SPEED_DEDUPE_WINDOW (24h) sets the dedupe window: the events span
// 1,000 s, so with 3m the dedupe rotates its generations as a server's
// does after a day, and a new message is looked for in all four.
func TestApplyCPU(t *testing.T) {
	if os.Getenv("SPEED_APPLY_CPU") == "" {
		t.Skip("SPEED_APPLY_CPU not set")
	}
	const n, chunk = 1_000_000, 10_000
	people := 100_000
	if v, err := strconv.Atoi(os.Getenv("SPEED_PEOPLE")); err == nil {
		people = v
	}
	warm := os.Getenv("SPEED_APPLY_CPU") != "nowarm" // as the consumer does
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	cfg := DefaultStoreConfig()
	if v, err := time.ParseDuration(os.Getenv("SPEED_DEDUPE_WINDOW")); err == nil {
		cfg.DedupeWindow = v
	}
	prep := NewPreparer(cfg)
	s, _ := NewStore(cfg)
	s.Reserve(n) // as the consumer does for the messages it starts behind
	rng := rand.New(rand.NewPCG(1, 1))
	base := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	ops := make([]*Op, 0, chunk)
	var applyCPU time.Duration
	runtime.GC()
	var ms0, ms1 runtime.MemStats
	runtime.ReadMemStats(&ms0)
	proc0 := cpuTime(syscall.RUSAGE_SELF)
	for from := 0; from < n; from += chunk {
		ops = ops[:0]
		for i := from; i < from+chunk; i++ {
			e := speedtest.Event(rng, i, people, base.Add(time.Duration(i)*time.Millisecond))
			ops = append(ops, prep.Prepare(i%8, int64(i/8), e.AppendJSON(nil)))
		}
		t0 := cpuTime(syscall.RUSAGE_THREAD)
		now := s.clock()
		for i, o := range ops {
			if warm && i%warmGroup == 0 && i+warmGroup < len(ops) {
				s.Warm(ops[i+warmGroup:])
			}
			s.ApplyAt(o, now)
		}
		applyCPU += cpuTime(syscall.RUSAGE_THREAD) - t0
		for _, o := range ops {
			prep.Release(o)
		}
	}
	proc := cpuTime(syscall.RUSAGE_SELF) - proc0
	runtime.ReadMemStats(&ms1)
	st := s.Stats()
	t.Logf("apply thread %.2f µs CPU/event; process %.2f µs CPU/event (generating, preparing, GC); %d GCs; %.1f allocations, %.0f B per event; %d profiles, %d merges",
		float64(applyCPU.Nanoseconds())/n/1e3, float64(proc.Nanoseconds())/n/1e3, ms1.NumGC-ms0.NumGC,
		float64(ms1.Mallocs-ms0.Mallocs)/n, float64(ms1.TotalAlloc-ms0.TotalAlloc)/n, st.Profiles, st.Merges)
}

func cpuTime(who int) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(who, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
