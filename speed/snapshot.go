package speed

import (
	"bufio"
	"encoding/binary"
	"encoding/gob"
	"errors"
	"fmt"
	"io"
	"maps"
	"sync"
	"sync/atomic"
)

// A Snapshot is a checkpoint of a store as of one moment, written while
// the apply goroutine goes on applying. Writing a million profiles takes
// seconds, and a store that held still for it stopped freshness for as
// long; a snapshot stops it only to copy the small part of the header
// (offsets, hygiene state): microseconds.
//
// The profiles are copied on write: each is written once, by whichever
// comes first, the writer walking the handles that existed at the moment
// or the apply goroutine about to change (or merge away) a profile the
// writer has not reached (Store.preserve). Profile.saved holds the
// snapshot that wrote it. Both do it under the profile's stripe lock, so
// neither sees the other's half. Profiles created after the moment have
// handles past Snapshot.next and are not written. The dedupe set's
// generations are frozen meanwhile (dedupe.freeze): keys added go to a
// set beside them, folded in after. Segment membership is copied a
// stripe at a time, like the profiles (memberSnap).
type Snapshot struct {
	s     *Store
	epoch uint32 // Profile.saved of the profiles written
	next  uint32 // the handles of the moment are 1..next
	count int    // profiles at the moment
	head  checkpointHeader
	gens  []dedupeGen // frozen until done
	// members is the store's segment membership, copied a stripe at a
	// time (memberSnap), nil when it had none.
	members *membership
	msnap   *memberSnap

	mu    sync.Mutex
	side  []byte // records (length-prefixed) the apply goroutine wrote
	sideN int
	done  atomic.Bool  // the walk is over (or the snapshot dropped): nothing goes to side, the dedupe may thaw
	mem   atomic.Int64 // MemoryEstimate of the store at the moment, once written
	// beside is the part of mem that is not profiles; est, a delta's
	// MemoryEstimate: beside and the profiles at the last full one's mean.
	beside, est int64

	scratch []byte                  // the apply goroutine's
	edit    func(*checkpointHeader) // Store.writeTo's

	// A delta (delta.go) holds the profiles changed in generations
	// since+1..gen, the dedupe keys added meanwhile (gens' logs) and the
	// cdp ids merged away (in head); a full checkpoint, gen alone.
	delta      bool
	since, gen uint32
}

// snapshots numbers the snapshots of all stores: a profile a reconcile
// moves to a new store must not look written by that store's snapshots.
var snapshots atomic.Uint32

// Snapshot starts a checkpoint of the store as it is now; write it with
// its WriteTo (WriteCheckpointTemp) from any goroutine while the apply
// goroutine goes on, or Drop it. One at a time. Apply goroutine only.
// It is a full checkpoint; CheckpointSnapshot may start a delta instead.
func (s *Store) Snapshot() (*Snapshot, error) { return s.snapshot(false) }

func (s *Store) snapshot(delta bool) (*Snapshot, error) {
	if sn := s.snap; sn != nil && !sn.done.Load() {
		return nil, errors.New("a checkpoint snapshot is still being written")
	}
	// Also thaws a dedupe set a reconcile's swap took over frozen, by the
	// old store's snapshot: written by now (one at a time), but that store
	// applies no more to end it, and its extras would not be written.
	s.endSnapshot()
	sn := &Snapshot{s: s, epoch: snapshots.Add(1), next: s.next, count: int(s.stats.profiles.Load()), delta: delta}
	sn.head = s.headerBeside()
	// The header is encoded by the writer: what the apply goroutine goes
	// on changing is copied.
	sn.head.Offsets = maps.Clone(sn.head.Offsets)
	if delta {
		sn.head.Rejected = nil // its changes instead (startGen)
	} else {
		sn.head.Rejected = maps.Clone(sn.head.Rejected)
	}
	s.startGen(sn)
	if !delta {
		sn.gens = s.dedupe.freeze()
	}
	if m := s.ext.members.Load(); m != nil {
		if delta {
			sn.head.MemberChanges = m.takeChanges()
		} else { // a full one holds them all
			m.changed = nil
			sn.members, sn.msnap = m, &memberSnap{}
			m.snap.Store(sn.msnap)
		}
	}
	sn.beside = s.memoryBesideProfiles()
	sn.mem.Store(sn.beside)
	if mean := s.chain.profileBytes.Load(); delta && mean > 0 {
		sn.est = sn.beside + int64(sn.count)*mean
	}
	s.snap = sn
	return sn, nil
}

// Drop ends a snapshot that will not be written (WriteTo ends it too).
func (sn *Snapshot) Drop() {
	sn.done.Store(true)
	// Not left to the apply goroutine: the membership may have moved to
	// another store (a reconcile), and this one may never apply again.
	if sn.members != nil {
		sn.members.snap.CompareAndSwap(sn.msnap, nil)
	}
}

// MemoryEstimate is the store's Store.MemoryEstimate at the moment of the
// snapshot, once WriteTo has returned: walking a million profiles for it
// would stop the apply loop again. A delta does not size the profiles it
// does not write (that was most of its time): it counts them at the mean
// size of the last full checkpoint's, ok=false before there is one.
func (sn *Snapshot) MemoryEstimate() (n int64, ok bool) {
	if sn.delta {
		return sn.est, sn.est > 0
	}
	return sn.mem.Load(), true
}

// endSnapshot lets the store go on without the snapshot, once written.
// Apply goroutine only.
func (s *Store) endSnapshot() {
	s.snap = nil
	s.dedupe.thaw()
}

// preserve writes p, of handle h, to the snapshot under way before the
// apply goroutine changes it, when the snapshot holds it and has not
// written it yet. The caller holds h's stripe lock for writing.
// Then it marks p changed in the current generation.
func (s *Store) preserve(h uint32, p *Profile) {
	if sn := s.snap; sn != nil && h <= sn.next && p.saved != sn.epoch && sn.holds(p) {
		sn.write(p)
	}
	p.changed = s.gen
}

// write adds p to the records the apply goroutine wrote.
func (sn *Snapshot) write(p *Profile) {
	p.saved = sn.epoch
	sn.mem.Add(int64(p.memSize()))
	sn.scratch = encodeProfile(sn.scratch[:0], p)
	sn.mu.Lock()
	sn.side = binary.AppendUvarint(sn.side, uint64(len(sn.scratch)))
	sn.side = append(sn.side, sn.scratch...)
	sn.sideN++
	sn.mu.Unlock()
}

// WriteTo writes the checkpoint: the header, the profiles of the moment
// and the trailer (checkpointHeader, encodeProfile records,
// checkpointTrailer). Once.
func (sn *Snapshot) WriteTo(w io.Writer) (int64, error) {
	defer sn.Drop()
	s := sn.s
	cw := &countWriter{w: w}
	bw := bufio.NewWriterSize(cw, 1<<20)
	enc := gob.NewEncoder(bw)
	if sn.delta {
		sn.head.Dedupe = packLog(sn.gens)
	} else {
		sn.head.Dedupe = packGens(sn.gens)
	}
	if sn.members != nil {
		sn.head.Members = sn.msnap.collect(sn.members)
	}
	if sn.edit != nil {
		sn.edit(&sn.head)
	}
	if err := enc.Encode(&sn.head); err != nil {
		return cw.n, fmt.Errorf("encode checkpoint header: %w", err)
	}
	sn.head.Dedupe, sn.head.Members = nil, nil
	n := 0
	var rec, spare []byte
	var lb [binary.MaxVarintLen64]byte
	for h := uint32(1); h <= sn.next; h++ {
		ps := &s.profiles[h%stripes]
		ps.mu.RLock()
		p := s.table.get(h)
		ok := p != nil && p.saved != sn.epoch && sn.holds(p)
		if ok {
			// Written under the read lock: the apply goroutine, which
			// would read saved under the write lock, waits; readers of
			// the profile do not look at saved.
			p.saved = sn.epoch
			sn.mem.Add(int64(p.memSize()))
			rec = encodeProfile(rec[:0], p)
		}
		ps.mu.RUnlock()
		if ok {
			bw.Write(lb[:binary.PutUvarint(lb[:], uint64(len(rec)))])
			bw.Write(rec)
			n++
		}
		if h%4096 == 0 {
			var k int
			spare, k = sn.drain(bw, spare)
			n += k
		}
	}
	sn.done.Store(true)
	// A record the apply goroutine wrote before the walk passed its
	// handle is in side by now: it held the stripe lock the walk waited for.
	_, k := sn.drain(bw, spare)
	n += k
	if sn.delta {
		bw.WriteByte(0) // the end of a delta's records: a record is never empty
	}
	// The sum is of everything before the trailer: flushed first.
	if err := bw.Flush(); err != nil {
		return cw.n, fmt.Errorf("write checkpoint: %w", err)
	}
	if err := enc.Encode(&checkpointTrailer{Profiles: n, End: trailerEnd, Sum: cw.sum}); err != nil {
		return cw.n, fmt.Errorf("encode checkpoint trailer: %w", err)
	}
	if err := bw.Flush(); err != nil {
		return cw.n, fmt.Errorf("write checkpoint: %w", err)
	}
	if n != sn.count && !sn.delta {
		return cw.n, fmt.Errorf("checkpoint snapshot wrote %d profiles of %d", n, sn.count)
	}
	if !sn.delta && n > 0 {
		s.chain.profileBytes.Store((sn.mem.Load() - sn.beside) / int64(n))
	}
	return cw.n, nil
}

// drain writes the records the apply goroutine added since the last
// drain; it returns their buffer (for the next spare) and their number.
func (sn *Snapshot) drain(w io.Writer, spare []byte) ([]byte, int) {
	sn.mu.Lock()
	b, k := sn.side, sn.sideN
	sn.side, sn.sideN = spare[:0], 0
	sn.mu.Unlock()
	w.Write(b)
	return b, k
}
