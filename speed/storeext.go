package speed

import (
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
)

// storeExt is the part of a store that reconcile and real-time segments
// keep: the positions of rejected duplicates, the build the store's base
// came from, and segment membership as published. Like the rest of the
// store it is written by the apply goroutine only and checkpointed with it.
type storeExt struct {
	// rejected maps the Kafka position (Op.seq) of every message the dedupe
	// rejected to its receivedAt (Unix ns). A reconcile replays cdp.events
	// from the build's watermark into a new store and skips exactly these
	// positions, so the new store makes the live store's decisions (see
	// duplicate).
	rejected    map[int64]int64
	newestRecv  int64
	baseVersion int64 // curated build the base was loaded from; 0 when none
	// replaying is set while a reconcile replays [W, T) into this store.
	replaying bool
	// members is shared by the stores of a reconcile swap (the published
	// state does not change when the store does); nil until first used.
	members atomic.Pointer[membership]
	// rejectedOps are the changes to rejected since the last snapshot, in
	// order, for the next delta checkpoint (delta.go).
	rejectedOps []rejectedOp
	// pruneAt: rejected is pruned when it holds more than this (or
	// maxRejected) positions.
	pruneAt int
}

// rejectedOp is a position added to rejected or, with Cut, the removal of
// every position received before Recv.
type rejectedOp struct {
	Seq, Recv int64
	Cut       bool
}

// maxRejected bounds the rejected positions kept; past it, positions older
// than twice the dedupe window go (a reconcile never replays that far).
var maxRejected = 1 << 20 // a variable for tests

// duplicate reports whether o repeats a message already applied. While a
// reconcile replays, the answer is the live store's: o is a duplicate iff
// the live store rejected the message at o's position. Otherwise the dedupe
// decides and a rejected position is remembered.
func (s *Store) duplicate(o *Op) bool {
	x := &s.ext
	if x.replaying {
		_, dup := x.rejected[o.seq()]
		return dup
	}
	recv := o.Event.ReceivedAt
	if !s.dedupe.seen(o.msgKey, recv) {
		return false
	}
	x.addRejected(o.seq(), recv.UnixNano())
	if len(x.rejected) > max(maxRejected, x.pruneAt) {
		cut := x.newestRecv - 2*int64(s.cfg.DedupeWindow)
		x.cutRejected(cut)
		x.rejectedOps = append(x.rejectedOps, rejectedOp{Recv: cut, Cut: true})
		// When most positions are newer than the cut, the next scan waits
		// until they doubled: a scan at every duplicate past the bound
		// would walk a million positions each time.
		x.pruneAt = 2 * len(x.rejected)
	}
	return true
}

// addRejected records that the message at position seq was rejected.
func (x *storeExt) addRejected(seq, recv int64) {
	x.putRejected(seq, recv)
	x.rejectedOps = append(x.rejectedOps, rejectedOp{Seq: seq, Recv: recv})
}

func (x *storeExt) putRejected(seq, recv int64) {
	if x.rejected == nil {
		x.rejected = map[int64]int64{}
	}
	x.rejected[seq] = recv
	x.newestRecv = max(x.newestRecv, recv)
}

// cutRejected forgets the positions received before cut.
func (x *storeExt) cutRejected(cut int64) {
	for k, v := range x.rejected {
		if v < cut {
			delete(x.rejected, k)
		}
	}
}

// loadOps applies a delta's rejectedOps.
func (x *storeExt) loadOps(ops []rejectedOp) {
	for _, op := range ops {
		if op.Cut {
			x.cutRejected(op.Recv)
		} else {
			x.putRejected(op.Seq, op.Recv)
		}
	}
}

// pruneRejected forgets rejected positions below the watermark w: a later
// build's watermark does not go back, so they are never replayed again.
func (x *storeExt) pruneRejected(w map[int]int64) {
	for k := range x.rejected {
		p, off := splitSeq(k)
		if off < w[p] {
			delete(x.rejected, k)
		}
	}
}

// BaseVersion is the version of the curated build the store's base was
// loaded from (0: none). Apply goroutine only.
func (s *Store) BaseVersion() int64 { return s.ext.baseVersion }

// membership is segment membership as last published, per (workspace,
// cdp id): what consumers of cdp.segment-changes know. Look-ups read it
// concurrently; the apply goroutine writes it. Equal sets share one slice.
type membership struct {
	stripes [64]memberStripe
	sets    map[string][]string        // interned membership lists, apply goroutine only
	snap    atomic.Pointer[memberSnap] // of the snapshot being written, if any
	// changed holds the keys set since the last snapshot, for the next
	// delta checkpoint (delta.go). Apply goroutine only.
	changed map[string]bool
}

type memberStripe struct {
	mu sync.RWMutex
	m  map[string][]string // workspace + "\x00" + cdp id → sorted segment ids
}

func memberKey(workspace, cdpID string) string { return workspace + "\x00" + cdpID }

func memberStripeOf[K string | []byte](k K) int {
	var h uint32 = 2166136261
	for i := 0; i < len(k); i++ {
		h = (h ^ uint32(k[i])) * 16777619
	}
	return int(h % uint32(len(membership{}.stripes)))
}

// get returns the segment ids of a profile; safe from any goroutine. The
// key is built on the stack: look-ups and sweeps call get for every profile.
func (m *membership) get(workspace, cdpID string) []string {
	var buf [128]byte
	k := append(append(append(buf[:0], workspace...), 0), cdpID...)
	st := &m.stripes[memberStripeOf(k)]
	st.mu.RLock()
	v := st.m[string(k)]
	st.mu.RUnlock()
	return v
}

// set records the ids (sorted; empty removes the entry). Apply goroutine only.
func (m *membership) set(workspace, cdpID string, ids []string) {
	k := memberKey(workspace, cdpID)
	i := memberStripeOf(k)
	st := &m.stripes[i]
	if len(ids) > 0 {
		ids = m.intern(ids)
	}
	st.mu.Lock()
	if ms := m.snap.Load(); ms != nil && !ms.copied[i] { // a snapshot keeps the stripe as it was
		ms.copied[i], ms.copies[i] = true, maps.Clone(st.m)
	}
	if st.m == nil {
		st.m = map[string][]string{}
	}
	if len(ids) == 0 {
		delete(st.m, k)
	} else {
		st.m[k] = ids
	}
	st.mu.Unlock()
	if m.changed == nil {
		m.changed = map[string]bool{}
	}
	m.changed[k] = true
}

// takeChanges returns the entries set since the last call (an empty list
// for one removed) and forgets them. Apply goroutine only.
func (m *membership) takeChanges() map[string][]string {
	out := make(map[string][]string, len(m.changed))
	for k := range m.changed {
		out[k] = m.stripes[memberStripeOf(k)].m[k] // the writer reads its own writes
	}
	m.changed = nil
	return out
}

func (m *membership) intern(ids []string) []string {
	k := strings.Join(ids, "\x00")
	if v, ok := m.sets[k]; ok {
		return v
	}
	if m.sets == nil {
		m.sets = map[string][]string{}
	}
	v := slices.Clone(ids)
	if len(m.sets) < 100_000 {
		m.sets[k] = v
	}
	return v
}

// each calls fn for every entry of stripe i. Apply goroutine only (or
// goroutines it waits for); fn must not call set.
func (m *membership) each(i int, fn func(workspace, cdpID string, ids []string)) {
	for k, v := range m.stripes[i].m {
		ws, id, _ := strings.Cut(k, "\x00")
		fn(ws, id, v)
	}
}

// members returns the store's membership, creating it on first use.
func (s *Store) members() *membership {
	if m := s.ext.members.Load(); m != nil {
		return m
	}
	m := &membership{}
	s.ext.members.Store(m)
	return m
}

// SegmentsOf returns the ids of the segments p is in, as published;
// safe from any goroutine.
func (s *Store) SegmentsOf(p *Profile) []string {
	m := s.ext.members.Load()
	if m == nil {
		return nil
	}
	return m.get(p.Workspace, p.CDPID)
}

func (x *storeExt) save(h *checkpointHeader) {
	h.Rejected, h.BaseVersion = x.rejected, x.baseVersion
}

// memberSnap is the membership of a snapshot's moment, copied a stripe
// at a time: by the snapshot's writer, or by the apply goroutine before
// it first changes a stripe the writer has not copied (membership.set).
// Both under the stripe's lock.
type memberSnap struct {
	copied [64]bool
	copies [64]map[string][]string
}

// collect copies the stripes set has not and returns them all in one map.
// The snapshot's writer.
func (ms *memberSnap) collect(m *membership) map[string][]string {
	n := 0
	for i := range m.stripes {
		st := &m.stripes[i]
		st.mu.RLock()
		if !ms.copied[i] {
			// Written under the read lock: set, which reads it under the
			// write lock, waits; look-ups do not read it.
			ms.copied[i], ms.copies[i] = true, maps.Clone(st.m)
		}
		st.mu.RUnlock()
		n += len(ms.copies[i])
	}
	all := make(map[string][]string, n)
	for _, c := range ms.copies {
		maps.Copy(all, c)
	}
	return all
}

func (x *storeExt) load(h *checkpointHeader) {
	x.rejected, x.baseVersion = h.Rejected, h.BaseVersion
	for _, v := range x.rejected {
		x.newestRecv = max(x.newestRecv, v)
	}
	if len(h.Members) > 0 {
		m := &membership{}
		for k, v := range h.Members {
			ws, id, _ := strings.Cut(k, "\x00")
			m.set(ws, id, v)
		}
		x.members.Store(m)
	}
}

// loadExtDelta applies a delta's reconcile and segment state: the build,
// and the rejected positions and membership entries changed since the
// checkpoint before.
func (s *Store) loadExtDelta(h *checkpointHeader) {
	s.ext.baseVersion = h.BaseVersion
	s.ext.loadOps(h.RejectedOps)
	if len(h.MemberChanges) > 0 {
		m := s.members()
		for k, ids := range h.MemberChanges {
			ws, id, _ := strings.Cut(k, "\x00")
			m.set(ws, id, ids)
		}
	}
}

// profileByCDPID finds the profile a cdp id names (its own or one merged
// into it); nil when none. Apply goroutine only (or goroutines it waits for).
func (s *Store) profileByCDPID(workspace, id string) *Profile {
	var kb [2]idKey
	for _, k := range cdpKeys(kb[:0], workspace, id) {
		if h, ok := s.lookupID(k); ok {
			if p := s.table.get(h); p != nil && p.Workspace == workspace {
				return p
			}
		}
	}
	return nil
}

// cdpKeys are the index keys a cdp id may be found under: the key it was
// derived from (NewCDPID) and, for ids that came from a batch build, the
// cdp_id identifier the base loader adds; appended to dst, which a caller
// keeps on its stack (sweeps look every cdp id with a membership up).
func cdpKeys(dst []idKey, workspace, id string) []idKey {
	if k, ok := parseCDPID(id); ok {
		dst = append(dst, k)
	}
	return append(dst, idKeyOf(workspace, IDCDP, id))
}
