package gcpace

import (
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"testing"
	"time"
)

func TestPercent(t *testing.T) {
	const mib = 1 << 20
	for _, c := range []struct {
		base           int
		headroom, live uint64
		want           int
	}{
		{100, 512 * mib, 128 * mib, 400},      // small store: the headroom decides
		{100, 512 * mib, 512 * mib, 100},      // at headroom × 100 / GOGC they agree
		{100, 512 * mib, 2048 * mib, 100},     // large store: GOGC decides
		{200, 512 * mib, 1024 * mib, 200},     // a GOGC set higher is kept
		{50, 512 * mib, 0, maxPercent},        // nothing live yet: bounded
		{100, 512 * mib, 1, maxPercent},       // a tiny heap: bounded
		{100, 0, 128 * mib, 100},              // no headroom: GOGC alone
		{100, 3 * 512 * mib, 1024 * mib, 150}, // rounds down
	} {
		if got := Percent(c.base, c.headroom, c.live); got != c.want {
			t.Errorf("Percent(%d, %d MiB, %d B) = %d, want %d", c.base, c.headroom/mib, c.live, got, c.want)
		}
	}
}

// TestPacerFollowsLiveHeap holds live data of known sizes and checks
// that the GOGC in force after collections gives them the headroom, that
// it comes back to the configured GOGC once the live heap passes the
// headroom, and that Stop restores it.
func TestPacerFollowsLiveHeap(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(100))
	const mib = 1 << 20
	p := Start(256 * mib)
	defer p.Stop()
	gogc := func() int {
		s := []metrics.Sample{{Name: "/gc/gogc:percent"}}
		metrics.Read(s)
		return int(s[0].Value.Uint64())
	}
	// until collects until GOGC satisfies ok: the cleanup that adjusts it
	// runs on its own goroutine after the cycle.
	until := func(ok func(int) bool, what string) int {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			runtime.GC()
			time.Sleep(5 * time.Millisecond)
			if pct := gogc(); ok(pct) && pct == p.Percent() {
				return pct
			}
			if time.Now().After(deadline) {
				t.Fatalf("GOGC %d (pacer %d) after 10 s of collections, want %s", gogc(), p.Percent(), what)
			}
		}
	}
	live := make([][]byte, 0, 64)
	hold := func(n int) {
		for range n {
			b := make([]byte, mib)
			for i := range b {
				b[i] = 1
			}
			live = append(live, b)
		}
	}
	hold(32) // ~32 MiB live (plus the test binary's): 256 MiB of headroom is ≥ 400 %
	small := until(func(pct int) bool { return pct >= 400 }, "≥ 400 with ~32 MiB live")
	hold(32 * 7) // ~256 MiB live: the headroom is GOGC's own 100 %
	big := until(func(pct int) bool { return pct <= 110 }, "≤ 110 with ~256 MiB live")
	if big < 100 {
		t.Errorf("GOGC %d below the configured 100", big)
	}
	t.Logf("GOGC %d with ~32 MiB live, %d with ~256 MiB", small, big)
	runtime.KeepAlive(live)
	p.Stop()
	if got := gogc(); got != 100 {
		t.Errorf("GOGC %d after Stop, want the configured 100", got)
	}
}

func TestStartDoesNothingWithoutHeadroomOrGC(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(100))
	if p := Start(0); p.Percent() != 100 {
		t.Errorf("headroom 0: GOGC %d, want 100", p.Percent())
	}
	debug.SetGCPercent(-1)
	p := Start(1 << 30)
	defer p.Stop()
	runtime.GC()
	if got := debug.SetGCPercent(-1); got != -1 {
		t.Errorf("GOGC=off: the pacer set %d", got)
	}
}
