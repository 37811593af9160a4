package speed

import (
	"time"

	"github.com/zeebo/xxh3"
)

// msgKey is the 128-bit hash of (workspace, messageId).
type msgKey [2]uint64

func keyOf(workspace, messageID string) msgKey {
	var buf [160]byte
	b := append(buf[:0], workspace...)
	b = append(b, 0)
	b = append(b, messageID...)
	h := xxh3.Hash128(b)
	return msgKey{h.Hi, h.Lo}
}

// dedupe remembers message keys for at least window, in four generations
// of window/3 each; time is the largest receivedAt seen, not the wall
// clock, so a replay from a checkpoint makes exactly the same decisions.
// Memory is bounded by max entries: past it the oldest generation goes
// early (counted by evicted).
type dedupe struct {
	span    int64 // ns per generation
	max     int
	gens    []dedupeGen // oldest first
	n       int
	evicted int64
	room    int // keys to make room for in the first generation (reserve)
}

type dedupeGen struct {
	Index int64 // receivedAt / span of the generation's start
	Set   *keySet
}

func newDedupe(window time.Duration, max int) *dedupe {
	span := int64(window) / 3
	if span <= 0 {
		span = int64(time.Hour)
	}
	return &dedupe{span: span, max: max}
}

// seen reports whether k was added before, and adds it when not.
func (d *dedupe) seen(k msgKey, receivedAt time.Time) bool {
	g := receivedAt.UnixNano() / d.span
	last := len(d.gens) - 1
	for i := range last {
		if d.gens[i].Set.has(k) {
			return true
		}
	}
	if last >= 0 && g <= d.gens[last].Index {
		// The common case: one probe adds k or finds it.
		if !d.gens[last].Set.add(k) {
			return true
		}
	} else {
		if last >= 0 && d.gens[last].Set.has(k) {
			return true
		}
		// A generation gets about as many keys as the one before: sized
		// like it, it need not grow (and rehash) from empty.
		set := &keySet{}
		if last >= 0 {
			set = sizedLike(d.gens[last].Set)
		} else if d.room > 0 {
			set.reserve(d.room)
			d.room = 0
		}
		d.gens = append(d.gens, dedupeGen{Index: g, Set: set})
		// Generations older than three spans before the current one have
		// been kept for at least a window.
		for len(d.gens) > 0 && d.gens[0].Index < g-3 {
			d.drop()
		}
		d.gens[len(d.gens)-1].Set.add(k)
	}
	d.n++
	if d.n > d.max {
		if len(d.gens) == 1 {
			cur := d.gens[0].Index
			d.gens = append(d.gens, dedupeGen{Index: cur, Set: sizedLike(d.gens[0].Set)})
		} else {
			d.evicted += int64(d.gens[0].Set.len())
			d.drop()
		}
	}
	return false
}

// reserve makes room for n more keys in the newest generation, or in the
// first one when there is none yet, so that it does not grow step by
// step, rehashing its keys about once more. At most for a third of max:
// a window's keys spread over three generations or more, and a backlog
// of several would leave the first one oversized for all of them.
func (d *dedupe) reserve(n int) {
	n = min(n, d.max/3)
	if len(d.gens) == 0 {
		d.room = n
		return
	}
	d.gens[len(d.gens)-1].Set.reserve(n)
}

func (d *dedupe) drop() {
	d.n -= d.gens[0].Set.len()
	d.gens[0] = dedupeGen{}
	d.gens = d.gens[1:]
}

func (d *dedupe) len() int { return d.n }
