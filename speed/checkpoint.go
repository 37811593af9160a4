package speed

import (
	"bufio"
	"encoding/binary"
	"encoding/gob"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

// CheckpointFile is the name of the checkpoint in the speed directory.
const CheckpointFile = "checkpoint.gob"

// checkpointVersion 2: profiles as binary records (codec.go); 3: dedupe
// keys packed (a build that reads only 2 would lose the dedupe set, so it
// refuses 3). Version 2 files still load.
const checkpointVersion = 3

// checkpointHeader opens a checkpoint (gob); the profiles follow one by
// one as uvarint-length-prefixed records (codec.go), then a
// checkpointTrailer (gob).
type checkpointHeader struct {
	Version  int
	Written  time.Time
	Offsets  map[int]int64
	Next     uint32
	Dedupe   []dedupeGenFile
	Evicted  int64
	Shared   []idKey
	Profiles int
	// Reconcile and segment state (storeext.go); absent in older checkpoints.
	Rejected    map[int64]int64
	BaseVersion int64
	Members     map[string][]string
}

type dedupeGenFile struct {
	Index int64
	Keys  []msgKey // as written before Packed (still read)
	// Packed holds the keys, 16 bytes each (little-endian halves): gob
	// writes a byte slice in one go, but a slice of arrays value by value
	// (a million keys took ~0.8 s of the apply loop's pause).
	Packed []byte
}

func packKeys(set map[msgKey]struct{}) []byte {
	b := make([]byte, 0, 16*len(set))
	for k := range set {
		b = appendKey(b, k)
	}
	return b
}

func appendKey(b []byte, k msgKey) []byte {
	b = binary.LittleEndian.AppendUint64(b, k[0])
	return binary.LittleEndian.AppendUint64(b, k[1])
}

// packKeySet packs a dedupe generation's keys as packKeys does.
func packKeySet(set *keySet) []byte {
	b := make([]byte, 0, 16*set.len())
	set.each(func(k msgKey) bool {
		b = appendKey(b, k)
		return true
	})
	return b
}

// set returns the generation's keys, packed or not, as a set.
func (g *dedupeGenFile) set() (map[msgKey]struct{}, error) {
	if len(g.Packed)%16 != 0 {
		return nil, fmt.Errorf("dedupe keys: %d bytes is not a multiple of 16: %w", len(g.Packed), errCorrupt)
	}
	set := make(map[msgKey]struct{}, len(g.Keys)+len(g.Packed)/16)
	for _, k := range g.Keys {
		set[k] = struct{}{}
	}
	for b := g.Packed; len(b) > 0; b = b[16:] {
		set[msgKey{binary.LittleEndian.Uint64(b), binary.LittleEndian.Uint64(b[8:])}] = struct{}{}
	}
	return set, nil
}

type checkpointTrailer struct {
	Profiles int
	End      string
}

const trailerEnd = "tributary-speed-checkpoint-end"

// WriteTo writes the whole store: offsets, dedupe set, hygiene state and
// profiles. Apply goroutine only (the state must not move meanwhile).
func (s *Store) WriteTo(w io.Writer) (int64, error) { return s.writeTo(w, nil) }

// writeTo is WriteTo, a snapshot written at once; edit, when set,
// changes the header before it is written (tests write older versions
// with it).
func (s *Store) writeTo(w io.Writer, edit func(h *checkpointHeader)) (int64, error) {
	sn, err := s.Snapshot()
	if err != nil {
		return 0, err
	}
	sn.edit = edit
	defer s.endSnapshot()
	return sn.WriteTo(w)
}

func packGens(gens []dedupeGen) []dedupeGenFile {
	var fs []dedupeGenFile
	for _, g := range gens {
		fs = append(fs, dedupeGenFile{Index: g.Index, Packed: packKeySet(g.Set)})
	}
	return fs
}

// headerBeside is a checkpoint's header without the dedupe set and the
// segment membership, which a snapshot copies on write. Apply goroutine only.
func (s *Store) headerBeside() checkpointHeader {
	h := checkpointHeader{
		Version: checkpointVersion, Written: time.Now().UTC(), Offsets: s.offsets, Next: s.next,
		Evicted: s.dedupe.evicted, Profiles: int(s.stats.profiles.Load()),
	}
	for k := range s.shared {
		h.Shared = append(h.Shared, k)
	}
	s.ext.save(&h)
	return h
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(b []byte) (int, error) {
	n, err := c.w.Write(b)
	c.n += int64(n)
	return n, err
}

// ReadStore loads a store written by WriteTo.
func ReadStore(cfg StoreConfig, r io.Reader) (*Store, error) {
	s, err := NewStore(cfg)
	if err != nil {
		return nil, err
	}
	br := bufio.NewReaderSize(r, 1<<20)
	dec := gob.NewDecoder(br) // br is a ByteReader: gob reads exactly its messages
	var h checkpointHeader
	if err := dec.Decode(&h); err != nil {
		return nil, fmt.Errorf("decode checkpoint header: %w", err)
	}
	if h.Version != checkpointVersion && h.Version != 2 {
		return nil, fmt.Errorf("checkpoint version %d, this build reads 2 and %d: %w", h.Version, checkpointVersion, errCorrupt)
	}
	if h.Offsets != nil {
		s.offsets = h.Offsets
	}
	s.next = h.Next
	s.dedupe.evicted = h.Evicted
	for _, g := range h.Dedupe {
		keys, err := g.set()
		if err != nil {
			return nil, err
		}
		set := &keySet{}
		for k := range keys {
			set.add(k)
		}
		s.dedupe.gens = append(s.dedupe.gens, dedupeGen{Index: g.Index, Set: set, n: set.len()})
		s.dedupe.n += set.len()
	}
	s.stats.dedupeN.Store(int64(s.dedupe.n))
	s.stats.dedupeEvicted.Store(s.dedupe.evicted)
	for _, k := range h.Shared {
		s.shared[k] = true
	}
	s.stats.shared.Store(int64(len(s.shared)))
	s.ext.load(&h)
	var rec []byte
	for i := range h.Profiles {
		size, err := binary.ReadUvarint(br)
		if err != nil || size > 1<<30 {
			return nil, fmt.Errorf("read checkpoint profile %d of %d: %w", i+1, h.Profiles, errors.Join(err, errCorrupt))
		}
		if uint64(cap(rec)) < size {
			rec = make([]byte, size)
		}
		rec = rec[:size]
		if _, err := io.ReadFull(br, rec); err != nil {
			return nil, fmt.Errorf("read checkpoint profile %d of %d: %w", i+1, h.Profiles, err)
		}
		p, err := decodeProfile(rec, s.intern)
		if err != nil {
			return nil, fmt.Errorf("decode checkpoint profile %d of %d: %w", i+1, h.Profiles, errors.Join(err, errCorrupt))
		}
		s.next++
		hd := s.next
		*s.table.slot(hd) = p
		for _, id := range p.Identifiers {
			k := idKeyOf(p.Workspace, id.Type, id.Value)
			s.index[k[0]%stripes].t.put(k, hd)
		}
		s.stats.profiles.Add(1)
		s.stats.identifiers.Add(int64(len(p.Identifiers)))
	}
	var t checkpointTrailer
	if err := dec.Decode(&t); err != nil {
		return nil, fmt.Errorf("decode checkpoint trailer: %w", err)
	}
	if t.End != trailerEnd || t.Profiles != h.Profiles {
		return nil, fmt.Errorf("checkpoint trailer says %d profiles, header %d: %w", t.Profiles, h.Profiles, errCorrupt)
	}
	return s, nil
}

// SaveCheckpoint writes the store to dir/CheckpointFile: a temp file,
// fsynced, renamed over the old one, and the directory fsynced. A crash at
// any point leaves the previous checkpoint or the new one, never a mix.
func SaveCheckpoint(dir string, s *Store) (int64, error) {
	tmp, n, err := WriteCheckpointTemp(dir, s)
	if err != nil {
		return 0, err
	}
	return n, PublishCheckpoint(dir, tmp)
}

// WriteCheckpointTemp writes a store (*Store, which must hold still
// meanwhile) or a Snapshot (which need not) to a temp file in dir, not
// yet durable nor visible; PublishCheckpoint makes it both.
func WriteCheckpointTemp(dir string, s io.WriterTo) (tmp string, n int64, err error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", 0, fmt.Errorf("create checkpoint dir: %w", err)
	}
	f, err := os.CreateTemp(dir, CheckpointFile+".tmp-*")
	if err != nil {
		return "", 0, fmt.Errorf("create checkpoint temp file: %w", err)
	}
	tmp = f.Name()
	n, err = s.WriteTo(f)
	if cerr := f.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("close checkpoint: %w", cerr)
	}
	if err != nil {
		os.Remove(tmp)
		return "", 0, err
	}
	return tmp, n, nil
}

// PublishCheckpoint fsyncs tmp, renames it over dir/CheckpointFile and
// fsyncs dir. Until the rename the previous checkpoint stays in force.
func PublishCheckpoint(dir, tmp string) error {
	f, err := os.Open(tmp)
	if err != nil {
		return fmt.Errorf("open checkpoint temp file: %w", err)
	}
	err = f.Sync()
	f.Close()
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("fsync checkpoint: %w", err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, CheckpointFile)); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("rename checkpoint into place: %w", err)
	}
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
	return nil
}

// LoadCheckpoint reads dir/CheckpointFile; with no checkpoint it returns
// an empty store and ok=false.
func LoadCheckpoint(dir string, cfg StoreConfig) (s *Store, ok bool, err error) {
	f, err := os.Open(filepath.Join(dir, CheckpointFile))
	if errors.Is(err, fs.ErrNotExist) {
		s, err := NewStore(cfg)
		return s, false, err
	}
	if err != nil {
		return nil, false, fmt.Errorf("open speed checkpoint: %w", err)
	}
	defer f.Close()
	s, err = ReadStore(cfg, f)
	if err != nil {
		return nil, false, fmt.Errorf("load speed checkpoint %s: %w", f.Name(), err)
	}
	return s, true, nil
}

func statCheckpoint(dir string) (fs.FileInfo, error) {
	return os.Stat(filepath.Join(dir, CheckpointFile))
}
