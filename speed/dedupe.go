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
	room    int   // keys to make room for in the first generation (reserve)
	folds   int   // calls of seen since the last fold step, while extras are folded
	serial  int64 // the last generation's Serial
	// logging: each generation logs the keys it gets between two
	// snapshots, for the next delta checkpoint (delta.go).
	logging bool
}

type dedupeGen struct {
	Index  int64  // receivedAt / span of the generation's start
	Serial int64  // numbers the generations in the order they were made
	log    keyLog // the keys added since the last snapshot (dedupe.logging)
	Set    *keySet
	n      int // keys in Set and extra (a key being folded is in both)
	// While a snapshot packs Set (frozen), new keys go to extra; once it
	// is written, extra is folded into Set a part at a time (foldStep).
	frozen bool
	extra  *keySet
}

func (g *dedupeGen) has(k msgKey) bool {
	return g.Set.has(k) || g.extra != nil && g.extra.has(k)
}

// add adds k and reports whether it was new.
func (g *dedupeGen) add(k msgKey) bool {
	if g.extra != nil && g.extra.has(k) {
		return false
	}
	if g.frozen {
		if g.Set.has(k) {
			return false
		}
		if g.extra == nil {
			g.extra = &keySet{}
		}
		g.extra.add(k)
	} else if !g.Set.add(k) {
		return false
	}
	g.n++
	return true
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
	d.foldStep()
	last := len(d.gens) - 1
	for i := range last {
		if d.gens[i].has(k) {
			return true
		}
	}
	if last >= 0 && g <= d.gens[last].Index {
		// The common case: one probe adds k or finds it.
		if !d.gens[last].add(k) {
			return true
		}
		d.logKey(last, k)
	} else {
		if last >= 0 && d.gens[last].has(k) {
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
		d.newGen(g, set)
		// Generations older than three spans before the current one have
		// been kept for at least a window.
		for len(d.gens) > 0 && d.gens[0].Index < g-3 {
			d.drop()
		}
		d.gens[len(d.gens)-1].add(k)
		d.logKey(len(d.gens)-1, k)
	}
	d.n++
	if d.n > d.max {
		if len(d.gens) == 1 {
			d.newGen(d.gens[0].Index, sizedLike(d.gens[0].Set))
		} else {
			d.evicted += int64(d.gens[0].n)
			d.drop()
		}
	}
	return false
}

func (d *dedupe) newGen(index int64, set *keySet) {
	d.serial++
	d.gens = append(d.gens, dedupeGen{Index: index, Serial: d.serial, Set: set})
}

func (d *dedupe) logKey(gen int, k msgKey) {
	if d.logging {
		d.gens[gen].log.add(k)
	}
}

// freeze keeps the generations' sets from changing until thaw, and
// returns them (their keys as of now) for a snapshot to pack meanwhile;
// keys added in between go to the generations' extras. Extras left from
// the last snapshot are folded in first.
func (d *dedupe) freeze() []dedupeGen {
	for d.folding() {
		d.folds = foldEvery
		d.foldStep()
	}
	gens := d.generations()
	for i := range d.gens {
		d.gens[i].frozen = true
	}
	return gens
}

// generations returns the generations as they are (their sets go on
// changing unless frozen).
func (d *dedupe) generations() []dedupeGen {
	gens := make([]dedupeGen, len(d.gens))
	for i, g := range d.gens {
		gens[i] = dedupeGen{Index: g.Index, Serial: g.Serial, Set: g.Set}
	}
	return gens
}

// takeLogs returns the generations with the keys each logged since the
// last call, and starts their logs anew.
func (d *dedupe) takeLogs() []dedupeGen {
	gens := d.generations()
	for i := range d.gens {
		gens[i].log, d.gens[i].log = d.gens[i].log, keyLog{}
	}
	return gens
}

// thaw ends freeze: the extras are folded into the sets from now on.
func (d *dedupe) thaw() {
	for i := range d.gens {
		d.gens[i].frozen = false
	}
	d.folds = 0
}

// foldEvery is how many calls of seen pass between two fold steps: a step
// moves one of an extra's 64 parts (~1/64 of the keys added while a
// snapshot was written) into its set, about a millisecond for a million keys.
const foldEvery = 64

func (d *dedupe) folding() bool {
	for i := range d.gens {
		if d.gens[i].extra != nil && !d.gens[i].frozen {
			return true
		}
	}
	return false
}

// foldStep moves, every foldEvery calls, one part of an extra into its
// set; the extra goes once empty. Until then a key may be in both, which
// has and add allow for.
func (d *dedupe) foldStep() {
	if d.folds++; d.folds < foldEvery {
		return
	}
	d.folds = 0
	for i := range d.gens {
		g := &d.gens[i]
		if g.extra == nil || g.frozen {
			continue
		}
		for p := range g.extra.parts {
			t := &g.extra.parts[p]
			if t.len() == 0 {
				continue
			}
			t.each(func(k [2]uint64, _ struct{}) bool {
				g.Set.add(k)
				return true
			})
			*t = keyTable[struct{}]{}
			return
		}
		g.extra = nil
		return
	}
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
	if g := &d.gens[len(d.gens)-1]; !g.frozen {
		g.Set.reserve(n)
	}
}

func (d *dedupe) drop() {
	d.n -= d.gens[0].n
	d.gens[0] = dedupeGen{}
	d.gens = d.gens[1:]
}

func (d *dedupe) len() int { return d.n }

// keyLog is a list of keys in blocks: it grows by a block, never copying
// (a slice grows by 1.25× past a few hundred entries, so appends to one
// allocated ~5 times the keys' bytes, which paced the GC).
type keyLog struct {
	blocks [][]msgKey
	n      int
}

const keyLogBlock = 4096

func (l *keyLog) add(k msgKey) {
	if l.n%keyLogBlock == 0 {
		l.blocks = append(l.blocks, make([]msgKey, 0, keyLogBlock))
	}
	b := &l.blocks[len(l.blocks)-1]
	*b = append(*b, k)
	l.n++
}
