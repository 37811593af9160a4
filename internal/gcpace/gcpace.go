// Package gcpace gives the Go garbage collector a minimum headroom: the
// heap may grow by at least a fixed number of bytes over the live heap
// before the next collection, not only by GOGC percent of it.
//
// Go's cost of collecting is the live heap marked per cycle times the
// number of cycles, and the number of cycles is the bytes allocated over
// the headroom. With GOGC=100 a speed layer holding 200 MB of profiles
// collects every 200 MB that the Kafka reader, the embedded broker and
// the apply loop allocate, and each cycle marks every profile again; it
// also turns on write barriers and mark assists for the time it runs.
// A floor on the headroom makes small and middle-sized stores collect
// as rarely as a large one does, which is the point of the runtime's own
// 4 MB minimum heap, raised to a size a server can afford. Once the live
// heap passes headroom × 100 / GOGC, GOGC alone decides, so memory at
// scale is what it was; GOMEMLIMIT still caps the heap whatever the
// headroom says.
package gcpace

import (
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync"
)

// Pacer sets GOGC after each collection to keep the headroom.
type Pacer struct {
	headroom uint64
	base     int // GOGC as configured (environment or SetGCPercent)

	mu      sync.Mutex
	stopped bool
	percent int // the GOGC last set
	sample  []metrics.Sample
}

// Start keeps a headroom of at least headroom bytes over the live heap
// until Stop. It does nothing (and returns a Pacer whose Stop does
// nothing) when headroom is 0 or the collector is off (GOGC=off).
func Start(headroom uint64) *Pacer {
	base := debug.SetGCPercent(100)
	debug.SetGCPercent(base)
	p := &Pacer{headroom: headroom, base: base, percent: base,
		sample: []metrics.Sample{{Name: "/gc/heap/live:bytes"}}}
	if headroom == 0 || base < 0 {
		p.stopped = true
		return p
	}
	p.adjust()
	p.arm()
	return p
}

// Percent is the GOGC the pacer last set.
func (p *Pacer) Percent() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.percent
}

// Stop gives GOGC back its configured value.
func (p *Pacer) Stop() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stopped {
		return
	}
	p.stopped = true
	debug.SetGCPercent(p.base)
	p.percent = p.base
}

// arm registers a cleanup on a fresh object: the first collection that
// finds it unreachable runs adjust and arms the next one.
func (p *Pacer) arm() {
	sentinel := new([16]byte)
	runtime.AddCleanup(sentinel, func(p *Pacer) {
		if p.adjust() {
			p.arm()
		}
	}, p)
}

// adjust sets GOGC for the live heap the last collection marked; false
// once stopped.
func (p *Pacer) adjust() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stopped {
		return false
	}
	metrics.Read(p.sample)
	live := uint64(0)
	if p.sample[0].Value.Kind() == metrics.KindUint64 {
		live = p.sample[0].Value.Uint64()
	}
	want := Percent(p.base, p.headroom, live)
	// Small moves are not worth a pacer update.
	if want != p.percent && (want > p.percent*9/8 || want < p.percent*7/8 || want == p.base) {
		debug.SetGCPercent(want)
		p.percent = want
	}
	return true
}

// maxPercent bounds GOGC while the live heap is tiny (at start).
const maxPercent = 100_000

// Percent is the GOGC that gives a live heap of live bytes at least
// headroom bytes to grow, and never less than base.
func Percent(base int, headroom, live uint64) int {
	if live == 0 {
		live = 1
	}
	want := headroom * 100 / live
	if want > maxPercent {
		want = maxPercent
	}
	return max(base, int(want))
}
