package speed

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tributary-cdp/tributary/speed/speedtest"
)

// checkpointTo writes the store's next checkpoint (CheckpointSnapshot) to
// dir as the consumer does; more, when set, runs between the snapshot and
// its write (the apply loop going on). It returns the snapshot and the
// store's dump at its moment.
func checkpointTo(t *testing.T, dir string, s *Store, more func()) (*Snapshot, string, int64) {
	t.Helper()
	want := modelDump(s)
	sn, err := s.CheckpointSnapshot()
	if err != nil {
		t.Fatal(err)
	}
	if more != nil {
		more()
	}
	tmp, n, err := WriteCheckpointTemp(dir, sn)
	if err != nil {
		t.Fatal(err)
	}
	if err := sn.Publish(dir, tmp, n); err != nil {
		t.Fatal(err)
	}
	return sn, want, n
}

func loadChainDump(t *testing.T, dir string, cfg StoreConfig) (string, *Store) {
	t.Helper()
	s, ok, err := LoadCheckpoint(dir, cfg)
	if err != nil || !ok {
		t.Fatalf("load: ok %v, %v", ok, err)
	}
	return modelDump(s), s
}

// TestDeltaChainLoadsAsTheStore: a full checkpoint, then deltas after
// updates, new profiles, merges (of profiles in the base and in earlier
// deltas), dedupe generations started and dropped and segment membership
// changed, each written while the store goes on: the chain loads as the
// store was at the last one's moment, after every delta. A loaded store
// goes on with deltas on its chain.
func TestDeltaChainLoadsAsTheStore(t *testing.T) {
	dir := t.TempDir()
	s, prep := newTestStore(t, func(c *StoreConfig) { c.DedupeWindow = 30 * time.Minute })
	rng := rand.New(rand.NewPCG(11, 12))
	applyMix(s, prep, rng, 0, 4000, 500)
	sn, want, base := checkpointTo(t, dir, s, func() { applyMix(s, prep, rng, 4000, 60, 500) })
	if sn.Delta() {
		t.Fatal("the first checkpoint of a store is a delta")
	}
	if got, _ := loadChainDump(t, dir, s.cfg); got != want {
		t.Fatal("the full checkpoint does not load as the store was")
	}
	next := 4060
	gen0 := s.dedupe.gens[0].Serial
	for k := 1; k <= 6; k++ {
		before := s.Stats()
		people := 500 + 40*k // some new people, merged with known ones by alias
		applyMix(s, prep, rng, next, 25, people)
		next += 25
		m := s.members()
		m.set("default", fmt.Sprintf("cdp_%d", k), []string{"seg_a"})
		m.set("default", fmt.Sprintf("cdp_%d", k-1), nil)
		sn, want, n := checkpointTo(t, dir, s, func() {
			applyMix(s, prep, rng, next, 15, people)
			m.set("default", fmt.Sprintf("cdp_%d", k), []string{"seg_b"})
		})
		next += 15
		if !sn.Delta() {
			t.Fatalf("checkpoint %d after the full one is not a delta", k)
		}
		if n >= base/5 {
			t.Errorf("delta %d is %d bytes, the full checkpoint %d", k, n, base)
		}
		if est, ok := sn.MemoryEstimate(); !ok || math.Abs(float64(est)/float64(s.MemoryEstimate())-1) > 0.1 {
			t.Errorf("delta %d estimates the store at %d bytes (%v), the store sizes itself at %d", k, est, ok, s.MemoryEstimate())
		}
		got, ls := loadChainDump(t, dir, s.cfg)
		if got != want {
			t.Fatalf("after delta %d the chain loads as\n%.3000s\nthe store was\n%.3000s", k, got, want)
		}
		if ls.chain.seq != k {
			t.Errorf("the load counts %d deltas, want %d", ls.chain.seq, k)
		}
		after := s.Stats()
		t.Logf("delta %d: %d bytes (full %d); %d merges, %d new profiles meanwhile", k, n, base, after.Merges-before.Merges, after.Profiles-before.Profiles)
	}
	if s.dedupe.gens[0].Serial == gen0 {
		t.Error("no dedupe generation was dropped along the chain: the test tests too little")
	}

	// A store loaded from the chain writes its next delta on it.
	ls, ok, err := LoadCheckpoint(dir, s.cfg)
	if err != nil || !ok {
		t.Fatal(ok, err)
	}
	applyMix(ls, prep, rng, next, 100, 700)
	sn, want, _ = checkpointTo(t, dir, ls, nil)
	if !sn.Delta() || sn.head.Seq != 7 {
		t.Fatalf("after a load the checkpoint is delta=%v number %d, want delta 7", sn.Delta(), sn.head.Seq)
	}
	if got, _ := loadChainDump(t, dir, s.cfg); got != want {
		t.Fatal("the chain with a delta written after a load does not load as the store was")
	}
	// Every message of the window up to the moment of the last delta
	// before the load (not the 15 applied while it was written) is known
	// to the loaded store.
	reapply(t, ls, prep, next-1000, next-15)
}

// TestDeltaUnderEviction: a dedupe set past its bound evicts whole
// generations; the deltas follow it.
func TestDeltaUnderEviction(t *testing.T) {
	dir := t.TempDir()
	s, prep := newTestStore(t, func(c *StoreConfig) { c.DedupeMaxEntries = 700 })
	rng := rand.New(rand.NewPCG(13, 14))
	applyMix(s, prep, rng, 0, 1000, 300)
	checkpointTo(t, dir, s, nil)
	for k := range 3 {
		applyMix(s, prep, rng, 1000+60*k, 60, 300)
		sn, want, _ := checkpointTo(t, dir, s, nil)
		if got, _ := loadChainDump(t, dir, s.cfg); !sn.Delta() || got != want {
			t.Fatalf("delta %d (a delta: %v) does not load as the store was", k+1, sn.Delta())
		}
	}
	if s.Stats().DedupeEvicted == 0 {
		t.Fatal("nothing was evicted: the test tests nothing")
	}
}

// TestCheckpointIsFullWhenADeltaCannotBe: a delta holds only what changed
// since the snapshot before; after one that was not published, or past
// the chain's bounds, the next checkpoint is full.
func TestCheckpointIsFullWhenADeltaCannotBe(t *testing.T) {
	rng := rand.New(rand.NewPCG(15, 16))
	for _, tc := range []struct {
		name string
		mod  func(*StoreConfig)
		step func(t *testing.T, dir string, s *Store, prep *Preparer) // after a full checkpoint
	}{
		{"deltas off", func(c *StoreConfig) { c.CheckpointDeltas = 0 }, nil},
		{"after a dropped snapshot", nil, func(t *testing.T, dir string, s *Store, prep *Preparer) {
			sn, err := s.CheckpointSnapshot()
			if err != nil || !sn.Delta() {
				t.Fatal(err)
			}
			sn.Drop()
		}},
		{"after a write that failed", nil, func(t *testing.T, dir string, s *Store, prep *Preparer) {
			sn, err := s.CheckpointSnapshot()
			if err != nil || !sn.Delta() {
				t.Fatal(err)
			}
			if _, err := sn.WriteTo(failingWriter{}); err == nil {
				t.Fatal("the write did not fail")
			}
		}},
		{"past the most deltas", func(c *StoreConfig) { c.CheckpointDeltas = 2 }, func(t *testing.T, dir string, s *Store, prep *Preparer) {
			for range 2 {
				applyMix(s, prep, rng, 0, 10, 300)
				if sn, _, _ := checkpointTo(t, dir, s, nil); !sn.Delta() {
					t.Fatal("not a delta")
				}
			}
		}},
		{"deltas as large as the full one", nil, func(t *testing.T, dir string, s *Store, prep *Preparer) {
			for k := 0; s.chain.deltaBytes.Load() < s.chain.baseBytes.Load(); k++ {
				applyMix(s, prep, rng, 5000+1000*k, 1000, 300)
				if sn, _, _ := checkpointTo(t, dir, s, nil); !sn.Delta() {
					t.Fatal("not a delta")
				}
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			s, prep := newTestStore(t, func(c *StoreConfig) {
				if tc.mod != nil {
					tc.mod(c)
				}
			})
			applyMix(s, prep, rng, 0, 2000, 300)
			checkpointTo(t, dir, s, nil)
			if tc.step != nil {
				tc.step(t, dir, s, prep)
			}
			applyMix(s, prep, rng, 9000, 10, 300)
			sn, want, _ := checkpointTo(t, dir, s, nil)
			if sn.Delta() {
				t.Fatal("the checkpoint is a delta")
			}
			if got, _ := loadChainDump(t, dir, s.cfg); got != want {
				t.Fatal("the full checkpoint does not load as the store was")
			}
			if deltas, _ := filepath.Glob(filepath.Join(dir, deltaPrefix+"*")); len(deltas) != 0 {
				t.Fatalf("a full checkpoint left the deltas before it: %v", deltas)
			}
		})
	}
}

type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }

// TestStaleDeltasArePassedOver: a crash between a full checkpoint's rename
// and the removal of the deltas before it leaves deltas of the old chain;
// a load passes over them and RemoveDeltas removes them.
func TestStaleDeltasArePassedOver(t *testing.T) {
	dir := t.TempDir()
	s, prep := newTestStore(t)
	rng := rand.New(rand.NewPCG(17, 18))
	applyMix(s, prep, rng, 0, 2000, 300)
	checkpointTo(t, dir, s, nil)
	old := map[string][]byte{}
	for k := range 2 {
		applyMix(s, prep, rng, 2000+10*k, 10, 300)
		checkpointTo(t, dir, s, nil)
		b, err := os.ReadFile(filepath.Join(dir, deltaName(k+1)))
		if err != nil {
			t.Fatal(err)
		}
		old[deltaName(k+1)] = b
	}
	applyMix(s, prep, rng, 3000, 10, 300)
	sn, err := s.Snapshot() // full
	if err != nil {
		t.Fatal(err)
	}
	want := modelDump(s)
	tmp, n, err := WriteCheckpointTemp(dir, sn)
	if err != nil {
		t.Fatal(err)
	}
	if err := sn.Publish(dir, tmp, n); err != nil {
		t.Fatal(err)
	}
	for name, b := range old { // as if the removal had not happened
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, ls := loadChainDump(t, dir, s.cfg)
	if got != want || ls.chain.seq != 0 {
		t.Fatalf("with stale deltas beside it the full checkpoint loads %d deltas, or not as the store was", ls.chain.seq)
	}
	if n, err := RemoveDeltas(dir, ls.chain.seq); err != nil || n != 2 {
		t.Fatalf("RemoveDeltas removed %d, %v; want 2", n, err)
	}
}

// TestCorruptDeltaIsRefused: a flipped bit in a delta fails it, naming
// the file and the checksum, as in a full checkpoint. cdpctl checkpoint
// says so; a start sets it and the deltas after it aside and loads the
// chain before it (from which Kafka replays), and the next checkpoint is
// full.
func TestCorruptDeltaIsRefused(t *testing.T) {
	dir := t.TempDir()
	s, prep := newTestStore(t)
	rng := rand.New(rand.NewPCG(19, 20))
	applyMix(s, prep, rng, 0, 1000, 300)
	checkpointTo(t, dir, s, nil)
	applyMix(s, prep, rng, 1000, 50, 300)
	_, want, _ := checkpointTo(t, dir, s, nil)
	for k := range 2 {
		applyMix(s, prep, rng, 1050+50*k, 50, 300)
		checkpointTo(t, dir, s, nil)
	}
	path := filepath.Join(dir, deltaName(2))
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)/2] ^= 0x10
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := InspectCheckpoint(dir, s.cfg); err == nil || !errors.Is(err, errCorrupt) || !strings.Contains(err.Error(), deltaName(2)) ||
		!strings.Contains(err.Error(), "checksum") {
		t.Fatalf("inspecting a chain with a corrupt delta: %v", err)
	}
	got, ls := loadChainDump(t, dir, s.cfg)
	if got != want || ls.chain.seq != 1 {
		t.Fatalf("a start over a corrupt delta 2 loads %d deltas, or not as the store was at delta 1", ls.chain.seq)
	}
	if _, err := os.Stat(filepath.Join(dir, CheckpointFile+".refused-000002")); err != nil {
		t.Errorf("the corrupt delta is not set aside: %v", err)
	}
	if n, err := RemoveDeltas(dir, ls.chain.seq); err != nil || n != 1 {
		t.Errorf("a start removes %d deltas after the refused one (%v), want 1", n, err)
	}
	if sn, err := ls.CheckpointSnapshot(); err != nil || sn.Delta() {
		t.Errorf("the checkpoint after a refused delta is a delta (%v)", err)
	}
}

// TestDeltaOverACDPIDHeldTwice: deltas apply by cdp id, so a store where
// two profiles hold one (no path of the speed layer makes one, but a
// batch build might) cannot take them: a start loads the full checkpoint
// alone, which Kafka replays on from.
func TestDeltaOverACDPIDHeldTwice(t *testing.T) {
	dir := t.TempDir()
	s, prep := newTestStore(t)
	rng := rand.New(rand.NewPCG(25, 26))
	applyMix(s, prep, rng, 0, 1000, 300)
	var ps []*Profile
	s.Range(func(p *Profile) bool { ps = append(ps, p); return len(ps) < 2 })
	ps[1].CDPID = ps[0].CDPID
	_, want, _ := checkpointTo(t, dir, s, nil)
	applyMix(s, prep, rng, 1000, 50, 300)
	if sn, _, _ := checkpointTo(t, dir, s, nil); !sn.Delta() {
		t.Fatal("not a delta")
	}
	if _, err := InspectCheckpoint(dir, s.cfg); err == nil || !strings.Contains(err.Error(), "held by two profiles") {
		t.Fatalf("inspecting: %v", err)
	}
	got, ls := loadChainDump(t, dir, s.cfg)
	if got != want || ls.chain.seq != 0 || ls.chain.id != 0 {
		t.Fatal("a start does not load the full checkpoint alone")
	}
}

// FuzzReadDelta applies arbitrary bytes as the first delta of a chain:
// no panic, and whatever it accepts leaves a store whose counts are its
// contents.
func FuzzReadDelta(f *testing.F) {
	s, prep := newTestStore(f)
	rng := rand.New(rand.NewPCG(21, 22))
	applyMix(s, prep, rng, 0, 300, 60)
	var base bytes.Buffer
	sn, err := s.Snapshot()
	if err != nil {
		f.Fatal(err)
	}
	if _, err := sn.WriteTo(&base); err != nil {
		f.Fatal(err)
	}
	s.chain.unpublished.Store(false) // as if published
	s.chain.baseBytes.Store(int64(base.Len()))
	applyMix(s, prep, rng, 300, 15, 80)
	var delta bytes.Buffer
	if sn, err = s.CheckpointSnapshot(); err != nil || !sn.Delta() {
		f.Fatal("no delta", err)
	}
	if _, err := sn.WriteTo(&delta); err != nil {
		f.Fatal(err)
	}
	f.Add(delta.Bytes())
	f.Fuzz(func(t *testing.T, b []byte) {
		ls, err := ReadStore(s.cfg, bytes.NewReader(base.Bytes()))
		if err != nil {
			t.Fatal(err)
		}
		byID, err := cdpHandles(ls)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := ls.readDelta(bytes.NewReader(b), 1, byID); err != nil {
			return
		}
		var profiles, ids int64
		ls.Range(func(p *Profile) bool {
			profiles++
			ids += int64(len(p.Identifiers))
			return true
		})
		if st := ls.Stats(); st.Profiles != profiles || st.Identifiers != ids {
			t.Fatalf("the store counts %d profiles and %d identifiers, holds %d and %d", st.Profiles, st.Identifiers, profiles, ids)
		}
	})
}

// TestDeltaWhileApplying writes a delta from another goroutine while the
// store applies, merges and creates (with -race, a missing lock shows).
func TestDeltaWhileApplying(t *testing.T) {
	dir := t.TempDir()
	s, prep := newTestStore(t)
	rng := rand.New(rand.NewPCG(23, 24))
	applyMix(s, prep, rng, 0, 20000, 3000)
	checkpointTo(t, dir, s, nil)
	applyMix(s, prep, rng, 20000, 1000, 3000)
	want := modelDump(s)
	sn, err := s.CheckpointSnapshot()
	if err != nil || !sn.Delta() {
		t.Fatal("no delta", err)
	}
	type result struct {
		tmp string
		n   int64
		err error
	}
	done := make(chan result)
	go func() {
		tmp, n, err := WriteCheckpointTemp(dir, sn)
		done <- result{tmp, n, err}
	}()
	applyMix(s, prep, rng, 21000, 20000, 4000)
	r := <-done
	if r.err != nil {
		t.Fatal(r.err)
	}
	if err := sn.Publish(dir, r.tmp, r.n); err != nil {
		t.Fatal(err)
	}
	if got, _ := loadChainDump(t, dir, s.cfg); got != want {
		t.Fatal("the delta written while applying does not load as the store was when it was taken")
	}
}

// TestDeltaRejectedPositions: a delta holds the rejected positions added
// and cut since the checkpoint before, in order; past the bound, a cut
// that leaves most positions waits for them to double before it scans
// again.
func TestDeltaRejectedPositions(t *testing.T) {
	defer func(n int) { maxRejected = n }(maxRejected)
	maxRejected = 100
	dir := t.TempDir()
	s, prep := newTestStore(t, func(c *StoreConfig) { c.DedupeWindow = time.Minute })
	rng := rand.New(rand.NewPCG(27, 28))
	off := int64(0)
	send := func(i int) { // message i, at the next position
		e := speedtest.Event(rng, i, 50, t0.Add(time.Duration(i)*time.Second))
		s.Apply(prep.Prepare(0, off, e.AppendJSON(nil)))
		off++
	}
	for i := range 20000 { // a store large beside the deltas
		e := speedtest.Event(rng, -1-i, 5000, t0)
		s.Apply(prep.Prepare(1, int64(i), e.AppendJSON(nil)))
	}
	cuts := 0 // in deltas
	for round := range 12 {
		for i := round * 100; i < round*100+100; i++ {
			send(i)
		}
		for i := round*100 + 40; i < round*100+100; i++ {
			send(i) // a retry: rejected, its position remembered
		}
		sn, want, _ := checkpointTo(t, dir, s, func() { send(round*100 + 99) })
		for _, op := range sn.head.RejectedOps {
			if op.Cut && sn.Delta() {
				cuts++
			}
		}
		if got, _ := loadChainDump(t, dir, s.cfg); got != want {
			t.Fatalf("after round %d the chain loads as\n%.2000s\nthe store was\n%.2000s", round, got, want)
		}
	}
	if cuts == 0 {
		t.Fatal("no delta held a cut: the test tests too little")
	}
	if n := len(s.ext.rejected); n > 4*maxRejected {
		t.Errorf("%d rejected positions kept, bound %d", n, maxRejected)
	}
}
