package speed

import (
	"bufio"
	"encoding/binary"
	"encoding/gob"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// Delta checkpoints. A full checkpoint writes every profile: ~500 MB and
// 2–3 s of a core at a million profiles, ~5 GB at ten million, every
// interval, though most profiles did not change in it. So a full one
// (CheckpointFile) starts a chain, and the checkpoints after it are deltas
// (checkpoint.gob.delta-NNNNNN, 1, 2, …). Each holds what changed since
// the one before: the profiles changed (whole), the cdp ids merged away,
// the dedupe keys added, the segment membership entries set, the
// positions of rejected duplicates added (or cut); and the small state
// whole (offsets, shared identifiers). A load reads the full one, then its
// deltas in order.
//
// Changes are counted in generations: each snapshot starts one (Store.gen),
// and a profile's last change is marked with its generation
// (Profile.changed), so a delta holds the profiles marked since+1..gen.
// A profile changed while a delta is written was marked later; if the
// delta holds it, Store.preserve writes it first, as for a full one.
//
// A delta holds only what changed since the snapshot before, so it needs
// that one published: after a write that failed, or one dropped, the next
// checkpoint is full. So is the first of a new store (a reconcile) and of
// a load from a checkpoint without a chain (before version 5).

// deltaPrefix names the deltas: deltaPrefix and their place in the chain.
const deltaPrefix = CheckpointFile + ".delta-"

func deltaName(seq int) string { return fmt.Sprintf("%s%06d", deltaPrefix, seq) }

// removedID is a cdp id merged away.
type removedID struct{ Workspace, CDPID string }

// chainState is where the store's checkpoints stand.
type chainState struct {
	// id is the chain of the last full checkpoint started (0: none, the
	// next is full); seq, the deltas started on it. Apply goroutine only.
	id  uint64
	seq int
	// Set by the writer as checkpoints are published.
	baseBytes, deltaBytes atomic.Int64
	unpublished           atomic.Bool // the last snapshot is not (yet) published
	// profileBytes is the mean size of a profile at the last full
	// checkpoint, which sized them all: a delta's MemoryEstimate.
	profileBytes atomic.Int64
}

// CheckpointSnapshot starts the next checkpoint of the store: a delta
// when it can be, else a full one (Snapshot). A delta needs the snapshot
// before it published, fewer than StoreConfig.CheckpointDeltas deltas
// since the full one, and deltas smaller together than that one: so a
// load reads at most about twice the full checkpoint, and a store whose
// profiles all change between checkpoints writes every other one full.
// Apply goroutine only.
func (s *Store) CheckpointSnapshot() (*Snapshot, error) {
	c := &s.chain
	delta := c.id != 0 && !c.unpublished.Load() && c.seq < s.cfg.CheckpointDeltas &&
		c.deltaBytes.Load() < c.baseBytes.Load()
	return s.snapshot(delta)
}

// startGen begins the snapshot's generation: it takes what changed since
// the last snapshot (a delta writes it; a full one holds it anyway), and
// places the snapshot in a chain. Apply goroutine only.
func (s *Store) startGen(sn *Snapshot) {
	sn.since, sn.gen = s.lastGen, s.gen
	s.lastGen = s.gen
	s.gen++
	removed, gens, ops := s.removed, s.dedupe.takeLogs(), s.ext.rejectedOps
	s.removed, s.ext.rejectedOps = nil, nil
	c := &s.chain
	if sn.delta {
		c.seq++
		sn.head.Removed, sn.gens, sn.head.RejectedOps = removed, gens, ops
	} else {
		c.id, c.seq = rand.Uint64()|1, 0
		c.deltaBytes.Store(0)
	}
	sn.head.Chain, sn.head.Seq = c.id, c.seq
	c.unpublished.Store(true)
}

// holds reports whether the snapshot writes p: a full one every profile of
// its moment, a delta those changed since the snapshot before (marks past
// gen are changes after the moment, which the next one writes).
func (sn *Snapshot) holds(p *Profile) bool {
	return !sn.delta || p.changed > sn.since && p.changed <= sn.gen
}

// Delta reports whether the snapshot is a delta.
func (sn *Snapshot) Delta() bool { return sn.delta }

// Publish makes tmp, where the snapshot was written (WriteCheckpointTemp,
// n bytes), the store's checkpoint: a full one replaces CheckpointFile
// and removes the deltas of the chain before; a delta goes beside it.
// Either is durable once renamed (PublishCheckpoint).
func (sn *Snapshot) Publish(dir, tmp string, n int64) error {
	name := CheckpointFile
	if sn.delta {
		name = deltaName(sn.head.Seq)
	}
	if err := publishAs(dir, tmp, name); err != nil {
		return err
	}
	c := &sn.s.chain
	if sn.delta {
		c.deltaBytes.Add(n)
	} else {
		c.baseBytes.Store(n)
		// A crash before these are gone leaves deltas of another chain,
		// which loads pass over and starts remove.
		if _, err := RemoveDeltas(dir, 0); err != nil {
			return err
		}
	}
	c.unpublished.Store(false)
	return nil
}

// packLog packs, for a delta, the generations of its moment (oldest
// first; older ones have gone) with the keys each logged since the
// snapshot before.
func packLog(gens []dedupeGen) []dedupeGenFile {
	fs := make([]dedupeGenFile, len(gens))
	for i, g := range gens {
		fs[i] = dedupeGenFile{Index: g.Index, Serial: g.Serial, Packed: make([]byte, 0, 16*g.log.n)}
		for _, b := range g.log.blocks {
			for _, k := range b {
				fs[i].Packed = appendKey(fs[i].Packed, k)
			}
		}
	}
	return fs
}

// applyLog makes the dedupe set the one of a delta's moment: its
// generations, with the keys each got in the delta added.
func (d *dedupe) applyLog(fs []dedupeGenFile) error {
	old := make(map[int64]dedupeGen, len(d.gens))
	for _, g := range d.gens {
		old[g.Serial] = g
	}
	d.gens, d.n = nil, 0
	for _, f := range fs {
		g, ok := old[f.Serial]
		if !ok {
			g = dedupeGen{Index: f.Index, Serial: f.Serial, Set: &keySet{}}
		} else if g.Index != f.Index {
			return fmt.Errorf("dedupe generation %d: index %d, the delta says %d: %w", f.Serial, g.Index, f.Index, errCorrupt)
		}
		if len(f.Packed)%16 != 0 {
			return fmt.Errorf("dedupe keys: %d bytes is not a multiple of 16: %w", len(f.Packed), errCorrupt)
		}
		g.Set.reserve(len(f.Packed) / 16)
		for b := f.Packed; len(b) > 0; b = b[16:] {
			g.Set.add(msgKey{binary.LittleEndian.Uint64(b), binary.LittleEndian.Uint64(b[8:])})
		}
		g.n = g.Set.len()
		d.gens = append(d.gens, g)
		d.n += g.n
		d.serial = max(d.serial, g.Serial)
	}
	return nil
}

// errStaleDelta is a delta of another chain, or of none: what a crash
// between a full checkpoint's rename and RemoveDeltas leaves.
var errStaleDelta = errors.New("delta checkpoint of another chain")

// readDelta applies the delta r, which must be number seq of the store's
// chain, to a store loaded from its full checkpoint and the deltas before
// it. byID finds the handle of a cdp id (its key as a cdp_id identifier).
func (s *Store) readDelta(r io.Reader, seq int, byID map[idKey]uint32) (time.Time, error) {
	br := &sumReader{r: bufio.NewReaderSize(r, 1<<20)}
	dec := gob.NewDecoder(br)
	var h checkpointHeader
	if err := dec.Decode(&h); err != nil {
		return time.Time{}, fmt.Errorf("decode delta checkpoint header: %w", errors.Join(err, errCorrupt))
	}
	if h.Version < 5 || h.Version > checkpointVersion {
		return time.Time{}, fmt.Errorf("delta checkpoint version %d, this build reads 5 to %d: %w", h.Version, checkpointVersion, errCorrupt)
	}
	if h.Chain != s.chain.id || h.Seq != seq {
		return time.Time{}, errStaleDelta
	}
	// The small state, whole.
	s.offsets = h.Offsets
	if s.offsets == nil {
		s.offsets = map[int]int64{}
	}
	s.dedupe.evicted = h.Evicted
	if err := s.dedupe.applyLog(h.Dedupe); err != nil {
		return time.Time{}, err
	}
	clear(s.shared)
	for _, k := range h.Shared {
		s.shared[k] = true
	}
	s.loadExtDelta(&h)
	s.copies = h.PoisonCopies

	for _, r := range h.Removed {
		k := idKeyOf(r.Workspace, IDCDP, r.CDPID)
		hd, ok := byID[k]
		if !ok {
			continue // created and merged away between two checkpoints
		}
		slot := s.table.slot(hd)
		s.stats.identifiers.Add(-int64(len((*slot).Identifiers)))
		s.stats.profiles.Add(-1)
		*slot = nil
		delete(byID, k)
	}
	// Their identifiers now belong to the profiles they merged into,
	// which the delta holds: put re-points them.
	n, err := s.loadProfiles(br, h.Version, -1, func(p *Profile) { s.put(p, byID) })
	if err != nil {
		return time.Time{}, err
	}
	if err := readTrailer(dec, br, h.Version, n); err != nil {
		return time.Time{}, err
	}
	if got := s.stats.profiles.Load(); got != int64(h.Profiles) {
		return time.Time{}, fmt.Errorf("delta checkpoint %d leaves %d profiles, its header says %d: %w", seq, got, h.Profiles, errCorrupt)
	}
	s.stats.shared.Store(int64(len(s.shared)))
	s.stats.dedupeN.Store(int64(s.dedupe.n))
	s.stats.dedupeEvicted.Store(s.dedupe.evicted)
	return h.Written, nil
}

// put puts a profile read from a delta in place of the one of its cdp id,
// or as a new one. Its identifiers include the old one's.
func (s *Store) put(p *Profile, byID map[idKey]uint32) {
	k := idKeyOf(p.Workspace, IDCDP, p.CDPID)
	hd, ok := byID[k]
	if ok {
		s.stats.identifiers.Add(-int64(len(s.table.get(hd).Identifiers)))
	} else {
		s.next++
		hd = s.next
		byID[k] = hd
		s.stats.profiles.Add(1)
	}
	*s.table.slot(hd) = p
	for _, id := range p.Identifiers {
		ik := idKeyOf(p.Workspace, id.Type, id.Value)
		s.index[ik[0]%stripes].t.put(ik, hd)
	}
	s.stats.identifiers.Add(int64(len(p.Identifiers)))
}

// chainInfo is what a load found beside the store.
type chainInfo struct {
	head       checkpointHeader // the full checkpoint's
	written    time.Time        // when the last checkpoint of the chain was
	baseBytes  int64
	deltas     int
	deltaBytes int64
}

// loadChain loads dir's full checkpoint and its deltas, up to number upTo
// (all when upTo < 0); ok=false, with an empty store, when there is none.
//
// With fallback, a delta that does not load (corrupt, or one that does
// not fit the store: two profiles of one cdp id, which deltas, applied by
// cdp id, cannot tell apart) does not stop a start. The chain before it
// is a checkpoint of its own moment, which Kafka replays on from as from
// any: the delta is logged, renamed to checkpoint.gob.refused-NNNNNN
// and the next checkpoint is full. Without, it is an error (cdpctl
// checkpoint).
func loadChain(dir string, cfg StoreConfig, upTo int, fallback bool) (*Store, chainInfo, bool, error) {
	var info chainInfo
	path := filepath.Join(dir, CheckpointFile)
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		s, err := NewStore(cfg)
		return s, info, false, err
	}
	if err != nil {
		return nil, info, false, fmt.Errorf("open speed checkpoint: %w", err)
	}
	defer f.Close()
	s, h, err := readStore(cfg, f)
	if err != nil {
		return nil, info, false, fmt.Errorf("load speed checkpoint %s: %w", path, err)
	}
	info.head, info.written = h, h.Written
	if fi, err := f.Stat(); err == nil {
		info.baseBytes = fi.Size()
	}
	var byID map[idKey]uint32
	for seq := 1; s.chain.id != 0 && (upTo < 0 || seq <= upTo); seq++ {
		path := filepath.Join(dir, deltaName(seq))
		df, err := os.Open(path)
		if errors.Is(err, fs.ErrNotExist) {
			break
		}
		if err != nil {
			return nil, info, false, fmt.Errorf("open speed checkpoint: %w", err)
		}
		if byID == nil {
			byID, err = cdpHandles(s)
		}
		var written time.Time
		if err == nil {
			written, err = s.readDelta(df, seq, byID)
		}
		fi, serr := df.Stat()
		df.Close()
		if errors.Is(err, errStaleDelta) {
			break
		}
		if err != nil && fallback {
			slog.Error("speed checkpoint: a delta checkpoint does not load; starting from the checkpoint before it, which Kafka replays on from",
				"file", path, "err", err)
			if err := os.Rename(path, filepath.Join(dir, fmt.Sprintf("%s.refused-%06d", CheckpointFile, seq))); err != nil {
				return nil, info, false, fmt.Errorf("set aside speed checkpoint %s: %w", path, err)
			}
			s, info, ok, err := loadChain(dir, cfg, seq-1, false)
			if err == nil {
				s.chain.id = 0 // the next checkpoint is full
			}
			return s, info, ok, err
		}
		if err != nil {
			return nil, info, false, fmt.Errorf("load speed checkpoint %s: %w", path, err)
		}
		info.deltas++
		info.written = written
		if serr == nil {
			info.deltaBytes += fi.Size()
		}
	}
	if m := s.ext.members.Load(); m != nil {
		m.changed = nil // as loaded, not changed
	}
	s.ext.rejectedOps = nil
	s.chain.seq = info.deltas
	s.chain.baseBytes.Store(info.baseBytes)
	s.chain.deltaBytes.Store(info.deltaBytes)
	return s, info, true, nil
}

// cdpHandles maps the key of every profile's cdp id (as a cdp_id
// identifier) to its handle, for deltas to apply by; an error when two
// profiles hold one id.
func cdpHandles(s *Store) (map[idKey]uint32, error) {
	byID := make(map[idKey]uint32, s.stats.profiles.Load())
	for hd := uint32(1); hd <= s.next; hd++ {
		if p := s.table.get(hd); p != nil {
			k := idKeyOf(p.Workspace, IDCDP, p.CDPID)
			if _, dup := byID[k]; dup {
				return nil, fmt.Errorf("cdp id %s of workspace %s is held by two profiles, and deltas apply by cdp id: %w", p.CDPID, p.Workspace, errCorrupt)
			}
			byID[k] = hd
		}
	}
	return byID, nil
}

// RemoveDeltas removes the delta checkpoints past the first keep of dir's
// chain: all of them once a full checkpoint replaced their own, and at
// start those a load passed over. Only the directory's one consumer may
// call it.
func RemoveDeltas(dir string, keep int) (int, error) {
	paths, err := filepath.Glob(filepath.Join(dir, deltaPrefix+"*"))
	if err != nil {
		return 0, err
	}
	n := 0
	for _, path := range paths {
		seq, err := strconv.Atoi(strings.TrimPrefix(filepath.Base(path), deltaPrefix))
		if err == nil && seq <= keep {
			continue
		}
		if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return n, fmt.Errorf("remove delta checkpoint: %w", err)
		}
		n++
	}
	return n, nil
}
