package speed

import (
	"bufio"
	"encoding/binary"
	"encoding/gob"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"time"
)

// CheckpointFile is the name of the checkpoint in the speed directory.
const CheckpointFile = "checkpoint.gob"

// checkpointVersion 2: profiles as binary records (codec.go); 3: dedupe
// keys packed (a build that reads only 2 would lose the dedupe set, so it
// refuses 3); 4: the trailer holds a checksum of all before it; 5: delta
// checkpoints (delta.go); 6: recent events hold group and previous ids,
// group traits and whether properties were left out; 7: a profile's
// orders by order_id (orders.go), none in a profile of before. Versions
// 2 and 3 still load, unchecked; each file (a delta too) is read as its own
// version says.
const checkpointVersion = 7

// castagnoli is CRC-32C, which amd64 and arm64 compute in hardware: the
// checksum costs the writer and the loader ~0.1 s a GB.
var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// checkpointHeader opens a checkpoint (gob); the profiles follow one by
// one as uvarint-length-prefixed records (codec.go), then a
// checkpointTrailer (gob).
type checkpointHeader struct {
	Version  int
	Written  time.Time
	Offsets  map[int]int64
	Dedupe   []dedupeGenFile
	Evicted  int64
	Shared   []idKey
	Profiles int
	// Reconcile and segment state (storeext.go); absent in older checkpoints.
	Rejected    map[int64]int64
	BaseVersion int64
	Members     map[string][]string
	// The chain of checkpoints the file is of (a random id its full
	// checkpoint picked) and its place in it (0: the full one), and a
	// delta's cdp ids merged away since the one before (version 5).
	Chain   uint64
	Seq     int
	Removed []removedID
	// MemberChanges is a delta's segment membership: the entries set since
	// the checkpoint before (an empty list for one removed), not Members;
	// RejectedOps its rejected positions, the changes since, not Rejected.
	MemberChanges map[string][]string
	RejectedOps   []rejectedOp
	// PoisonCopies is Store.copies, whole in a delta too; absent before
	// it was written, and a start then reads all of cdp.events.rejected.
	PoisonCopies map[int]copyMark
}

type dedupeGenFile struct {
	Index  int64
	Serial int64    // dedupeGen.Serial (version 5)
	Keys   []msgKey // as written before Packed (still read)
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

// keySet returns the generation's keys, packed or not, in a set sized for them.
func (g *dedupeGenFile) keySet() (*keySet, error) {
	if len(g.Packed)%16 != 0 {
		return nil, fmt.Errorf("dedupe keys: %d bytes is not a multiple of 16: %w", len(g.Packed), errCorrupt)
	}
	set := &keySet{}
	set.reserve(len(g.Keys) + len(g.Packed)/16)
	for _, k := range g.Keys {
		set.add(k)
	}
	for b := g.Packed; len(b) > 0; b = b[16:] {
		set.add(msgKey{binary.LittleEndian.Uint64(b), binary.LittleEndian.Uint64(b[8:])})
	}
	return set, nil
}

type checkpointTrailer struct {
	Profiles int
	End      string
	// Sum is the CRC-32C of the file before the trailer (version 4): a
	// flipped bit in a profile would otherwise load as a wrong count or
	// trait, silently.
	Sum uint32
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
		fs = append(fs, dedupeGenFile{Index: g.Index, Serial: g.Serial, Packed: packKeySet(g.Set)})
	}
	return fs
}

// headerBeside is a checkpoint's header without the dedupe set and the
// segment membership, which a snapshot copies on write. Apply goroutine only.
func (s *Store) headerBeside() checkpointHeader {
	h := checkpointHeader{
		Version: checkpointVersion, Written: time.Now().UTC(), Offsets: s.offsets,
		Evicted: s.dedupe.evicted, Profiles: int(s.stats.profiles.Load()),
	}
	for k := range s.shared {
		h.Shared = append(h.Shared, k)
	}
	s.ext.save(&h)
	h.PoisonCopies = s.copies
	return h
}

// countWriter counts and sums what it writes.
type countWriter struct {
	w   io.Writer
	n   int64
	sum uint32
}

func (c *countWriter) Write(b []byte) (int, error) {
	n, err := c.w.Write(b)
	c.n += int64(n)
	c.sum = crc32.Update(c.sum, castagnoli, b[:n])
	return n, err
}

// sumReader sums what is read through it. It is an io.ByteReader, so gob
// reads no further than its messages.
type sumReader struct {
	r   *bufio.Reader
	sum uint32
	one [1]byte // ReadByte's, not one allocation a byte
}

func (s *sumReader) Read(b []byte) (int, error) {
	n, err := s.r.Read(b)
	s.sum = crc32.Update(s.sum, castagnoli, b[:n])
	return n, err
}

func (s *sumReader) ReadByte() (byte, error) {
	c, err := s.r.ReadByte()
	if err == nil {
		s.one[0] = c
		s.sum = crc32.Update(s.sum, castagnoli, s.one[:])
	}
	return c, err
}

// ReadStore loads a store written by WriteTo.
func ReadStore(cfg StoreConfig, r io.Reader) (*Store, error) {
	s, _, err := readStore(cfg, r)
	return s, err
}

// readStore is ReadStore; it also returns the checkpoint's header.
func readStore(cfg StoreConfig, r io.Reader) (*Store, checkpointHeader, error) {
	s, err := NewStore(cfg)
	if err != nil {
		return nil, checkpointHeader{}, err
	}
	br := &sumReader{r: bufio.NewReaderSize(r, 1<<20)}
	dec := gob.NewDecoder(br) // br is a ByteReader: gob reads exactly its messages
	var h checkpointHeader
	if err := dec.Decode(&h); err != nil {
		return nil, checkpointHeader{}, fmt.Errorf("decode checkpoint header: %w", err)
	}
	if h.Version < 2 || h.Version > checkpointVersion {
		return nil, h, fmt.Errorf("checkpoint version %d, this build reads 2 to %d: %w", h.Version, checkpointVersion, errCorrupt)
	}
	if h.Offsets != nil {
		s.offsets = h.Offsets
	}
	s.dedupe.evicted = h.Evicted
	// The dedupe set is built beside the profiles.
	dedupeErr := make(chan error, 1)
	go func() {
		for _, g := range h.Dedupe {
			set, err := g.keySet()
			if err != nil {
				dedupeErr <- err
				return
			}
			serial := g.Serial
			if h.Version < 5 {
				serial = s.dedupe.serial + 1
			}
			s.dedupe.gens = append(s.dedupe.gens, dedupeGen{Index: g.Index, Serial: serial, Set: set, n: set.len()})
			s.dedupe.serial = max(s.dedupe.serial, serial)
			s.dedupe.n += set.len()
		}
		dedupeErr <- nil
	}()
	for _, k := range h.Shared {
		s.shared[k] = true
	}
	s.stats.shared.Store(int64(len(s.shared)))
	s.ext.load(&h)
	s.copies = h.PoisonCopies
	if h.Profiles > 0 {
		// Two identifiers a profile, the common case, without growing;
		// not past a million profiles on the word of a header that may be
		// corrupt.
		for i := range s.index {
			s.index[i].t.reserve(2 * min(h.Profiles, 1_000_000) / stripes)
		}
	}
	_, perr := s.loadProfiles(br, h.Version, h.Profiles, s.loadNew)
	if err := errors.Join(perr, <-dedupeErr); err != nil {
		return nil, h, err
	}
	s.stats.dedupeN.Store(int64(s.dedupe.n))
	s.stats.dedupeEvicted.Store(s.dedupe.evicted)
	if err := readTrailer(dec, br, h.Version, h.Profiles); err != nil {
		return nil, h, err
	}
	s.chain.id = h.Chain
	return s, h, nil
}

// readTrailer reads the trailer after the n profile records and checks
// it, the checksum and that nothing follows.
func readTrailer(dec *gob.Decoder, br *sumReader, version, n int) error {
	sum := br.sum
	var t checkpointTrailer
	if err := dec.Decode(&t); err != nil {
		return fmt.Errorf("decode checkpoint trailer: %w", err)
	}
	if t.End != trailerEnd || t.Profiles != n {
		return fmt.Errorf("checkpoint trailer says %d profiles, the file holds %d: %w", t.Profiles, n, errCorrupt)
	}
	if version >= 4 && t.Sum != sum {
		return fmt.Errorf("checkpoint checksum (CRC-32C) is %08x, its bytes sum to %08x: %w", t.Sum, sum, errCorrupt)
	}
	switch _, err := br.r.Peek(1); {
	case err == nil:
		return fmt.Errorf("checkpoint has bytes after its trailer: %w", errCorrupt)
	case err != io.EOF:
		return fmt.Errorf("read checkpoint end: %w", err)
	}
	return nil
}

// loadBatch is a run of profile records of a checkpoint, read by one
// goroutine, decoded by another and put in the store by a third.
type loadBatch struct {
	first int    // the index of its first record in the file
	buf   []byte // the records, back to back
	ends  []int  // record i ends at ends[i]
	last  bool   // the records end after it (a delta's end mark was read)
	ps    []*Profile
	err   error
	done  chan struct{} // closed once decoded (or failed)
}

// read reads n records of total from br; a total below 0 reads up to the
// end mark (an empty record) instead, of a delta.
func (b *loadBatch) read(br *sumReader, n, total int) error {
	for i := range n {
		var err error
		start := len(b.buf)
		if b.buf, err = readRecord(br, b.buf); err != nil {
			if total < 0 {
				return fmt.Errorf("read delta checkpoint profile %d: %w", b.first+i+1, err)
			}
			return fmt.Errorf("read checkpoint profile %d of %d: %w", b.first+i+1, total, err)
		}
		if total < 0 && len(b.buf) == start {
			b.last = true
			return nil
		}
		b.ends = append(b.ends, len(b.buf))
	}
	return nil
}

// readRecord appends the next length-prefixed record of br to buf.
func readRecord(br *sumReader, buf []byte) ([]byte, error) {
	size, err := binary.ReadUvarint(br)
	if err != nil || size > 1<<30 {
		return buf, errors.Join(err, errCorrupt)
	}
	// A megabyte at a time: a corrupt length does not allocate more
	// than the file holds.
	for need := int(size); need > 0; {
		k, start := min(need, 1<<20), len(buf)
		buf = slices.Grow(buf, k)[:start+k]
		if _, err := io.ReadFull(br, buf[start:]); err != nil {
			return buf, errors.Join(err, errCorrupt)
		}
		need -= k
	}
	return buf, nil
}

func (b *loadBatch) decode(version int, intern func(string) string) {
	defer close(b.done)
	start := 0
	for i, end := range b.ends {
		p, err := decodeProfile(b.buf[start:end], version, intern)
		if err != nil {
			b.err = fmt.Errorf("decode checkpoint profile %d: %w", b.first+i+1, errors.Join(err, errCorrupt))
			return
		}
		b.ps = append(b.ps, p)
		start = end
	}
}

// loadProfiles reads the n profile records of a checkpoint of the version
// given (n < 0: up to a delta's end mark) and hands them to put in the
// file's order; it returns how many. Decoding is most of a load and a
// restart waits for it, so it runs on every core.
func (s *Store) loadProfiles(br *sumReader, version, n int, put func(p *Profile)) (int, error) {
	const per = 256
	workers := runtime.GOMAXPROCS(0)
	read := make(chan *loadBatch, 2*workers)   // in the file's order
	decode := make(chan *loadBatch, 2*workers) // to the decoders
	free := make(chan []byte, 4*workers)       // batch buffers to reuse
	quit := make(chan struct{})
	defer close(quit)
	go func() {
		defer close(read)
		defer close(decode)
		for first := 0; n < 0 || first < n; first += per {
			b := &loadBatch{first: first, done: make(chan struct{})}
			select {
			case <-quit: // the load failed: read no further
				return
			case b.buf = <-free:
			default:
			}
			k := per
			if n >= 0 {
				k = min(per, n-first)
			}
			b.err = b.read(br, k, n)
			select {
			case read <- b:
			case <-quit:
				return
			}
			if b.err != nil {
				close(b.done)
				return
			}
			decode <- b
			if b.last {
				return
			}
		}
	}()
	names := make([]map[string]string, workers)
	for w := range names {
		m := map[string]string{}
		names[w] = m
		intern := func(v string) string { return internIn(m, v) }
		go func() {
			for b := range decode {
				b.decode(version, intern)
			}
		}()
	}
	got := 0
	for b := range read {
		<-b.done
		if b.err != nil {
			return got, b.err
		}
		for _, p := range b.ps {
			put(p)
		}
		got += len(b.ps)
		select {
		case free <- b.buf[:0]:
		default:
		}
	}
	// The decoders are done (read closes after the last batch was sent to
	// them, and each was waited for): their names are the store's.
	for _, m := range names {
		for k, v := range m {
			if _, ok := s.names[k]; !ok && len(s.names) < maxNames {
				s.names[k] = v
			}
		}
	}
	return got, nil
}

// loadNew is loadProfiles' put of a full checkpoint: the profiles get
// handles 1..n in the file's order. (Checkpoints before version 4 also
// held the store's next handle, and loads numbered on from there: every
// restart left a hole as large as the store in the handle space, which
// snapshots walk, and uint32 handles would have run out.)
func (s *Store) loadNew(p *Profile) {
	s.next++
	hd := s.next
	*s.table.slot(hd) = p
	for _, id := range p.Identifiers {
		k := idKeyOf(p.Workspace, id.Type, id.Value)
		s.index[k[0]%stripes].t.put(k, hd)
	}
	s.stats.identifiers.Add(int64(len(p.Identifiers)))
	s.stats.profiles.Add(1)
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
func PublishCheckpoint(dir, tmp string) error { return publishAs(dir, tmp, CheckpointFile) }

// publishAs is PublishCheckpoint to dir/name.
func publishAs(dir, tmp, name string) error {
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
	if err := os.Rename(tmp, filepath.Join(dir, name)); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("rename checkpoint into place: %w", err)
	}
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
	return nil
}

// RemoveTempCheckpoints deletes the temp files of checkpoints that never
// got renamed into place (a kill during a write leaves one as large as
// the store). Only the directory's one consumer may call it, at start.
func RemoveTempCheckpoints(dir string) (int, error) {
	tmps, err := filepath.Glob(filepath.Join(dir, CheckpointFile+".tmp-*"))
	if err != nil {
		return 0, err
	}
	for i, t := range tmps {
		if err := os.Remove(t); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return i, fmt.Errorf("remove checkpoint temp file: %w", err)
		}
	}
	return len(tmps), nil
}

// LoadCheckpoint reads dir/CheckpointFile and the deltas after it
// (delta.go); with no checkpoint it returns an empty store and ok=false.
// A delta that does not load is set aside, and the store is the one of
// the checkpoint before it (loadChain).
func LoadCheckpoint(dir string, cfg StoreConfig) (s *Store, ok bool, err error) {
	s, _, ok, err = loadChain(dir, cfg, -1, true)
	return s, ok, err
}

// CheckpointInfo describes a checkpoint that loaded: what `cdpctl
// checkpoint` prints.
type CheckpointInfo struct {
	Path          string        `json:"path"`
	Bytes         int64         `json:"bytes"`
	Version       int           `json:"version"`
	Written       time.Time     `json:"written"`
	Profiles      int64         `json:"profiles"`
	Identifiers   int64         `json:"identifiers"`
	DedupeEntries int64         `json:"dedupe_entries"`
	Offsets       map[int]int64 `json:"offsets"`     // next offset to apply, by partition of cdp.events
	Deltas        int           `json:"deltas"`      // delta checkpoints loaded after the full one
	DeltaBytes    int64         `json:"delta_bytes"` // their size
	Load          time.Duration `json:"-"`           // how long loading it took
	Orders        int64         `json:"orders"`      // orders the profiles remember by order_id (orders.go)
	// PoisonCopies is, by partition of cdp.events, the position in
	// cdp.events.rejected at or past which the copies of its poison
	// messages from its offset on lie (poison.go); a start reads all of
	// cdp.events.rejected for a partition without one.
	PoisonCopies map[int]RejectedPosition `json:"poison_copies"`
}

// RejectedPosition is a position in cdp.events.rejected.
type RejectedPosition struct {
	Partition int   `json:"partition"`
	Offset    int64 `json:"offset"`
}

// InspectCheckpoint loads dir/CheckpointFile and its deltas as a restart
// would, checksums and all, and describes them; fs.ErrNotExist when there
// is none. Written is the last one's time.
func InspectCheckpoint(dir string, cfg StoreConfig) (CheckpointInfo, error) {
	path := filepath.Join(dir, CheckpointFile)
	start := time.Now()
	s, ch, ok, err := loadChain(dir, cfg, -1, false)
	if err != nil {
		return CheckpointInfo{}, err
	}
	if !ok {
		return CheckpointInfo{}, fmt.Errorf("%s: %w", path, fs.ErrNotExist)
	}
	info := CheckpointInfo{Path: path, Bytes: ch.baseBytes, Version: ch.head.Version, Written: ch.written.UTC(), Offsets: s.Offsets(),
		Deltas: ch.deltas, DeltaBytes: ch.deltaBytes, Load: time.Since(start)}
	st := s.Stats()
	info.Profiles, info.Identifiers, info.DedupeEntries = st.Profiles, st.Identifiers, st.DedupeEntries
	s.Range(func(p *Profile) bool {
		info.Orders += int64(len(p.orders()))
		return true
	})
	info.PoisonCopies = make(map[int]RejectedPosition, len(s.copies))
	for p, m := range s.copies {
		info.PoisonCopies[p] = RejectedPosition(m)
	}
	return info, nil
}

// statCheckpoint stats the last checkpoint of a chain of deltas deltas.
func statCheckpoint(dir string, deltas int) (fs.FileInfo, error) {
	if deltas > 0 {
		return os.Stat(filepath.Join(dir, deltaName(deltas)))
	}
	return os.Stat(filepath.Join(dir, CheckpointFile))
}
