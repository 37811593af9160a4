package speed

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	cdp "github.com/tributary-cdp/tributary"
	"github.com/tributary-cdp/tributary/speed/speedtest"
)

// applyMix applies n events of the bench's mix (identify, track, page,
// alias: creates, updates and merges) about people, from event number from.
func applyMix(s *Store, prep *Preparer, rng *rand.Rand, from, n, people int) {
	for i := from; i < from+n; i++ {
		e := speedtest.Event(rng, i, people, t0.Add(time.Duration(i)*time.Second))
		s.Apply(prep.Prepare(i%4, int64(i/4), e.AppendJSON(nil)))
	}
}

// checkpointDump renders what a checkpoint holds of s, in an order that
// does not depend on handles (a loaded store numbers its profiles anew).
func checkpointDump(s *Store) string {
	var recs []string
	s.Range(func(p *Profile) bool {
		recs = append(recs, hex.EncodeToString(encodeProfile(nil, p)))
		return true
	})
	slices.Sort(recs)
	st := s.Stats()
	// The index: its size, and its entries that find no profile (a load
	// rebuilds it from the records, deltas re-point it).
	entries, dangling := 0, 0
	for i := range s.index {
		s.index[i].t.each(func(_ [2]uint64, h uint32) bool {
			entries++
			if s.table.get(h) == nil {
				dangling++
			}
			return true
		})
	}
	return fmt.Sprintf("offsets %v\ndedupe %d\n%s\nprofiles %d identifiers %d index %d (%d without a profile)\n%s",
		s.Offsets(), st.DedupeEntries, dedupeDump(s.dedupe), st.Profiles, st.Identifiers, entries, dangling, strings.Join(recs, "\n"))
}

// dedupeDump lists each generation's keys, sorted, those of its set and
// its extra together.
func dedupeDump(d *dedupe) string {
	var b strings.Builder
	for _, g := range d.gens {
		var keys []string
		for _, set := range []*keySet{g.Set, g.extra} {
			if set != nil {
				set.each(func(k msgKey) bool {
					keys = append(keys, fmt.Sprintf("%x", k))
					return true
				})
			}
		}
		slices.Sort(keys)
		keys = slices.Compact(keys) // a key being folded is in both
		if len(keys) != g.n {
			fmt.Fprintf(&b, "generation %d counts %d keys, holds %d\n", g.Index, g.n, len(keys))
		}
		fmt.Fprintf(&b, "generation %d: %s\n", g.Index, strings.Join(keys, " "))
	}
	return b.String()
}

// reapply applies again the messages from..to-1 of applyMix: each must be
// a duplicate.
func reapply(t *testing.T, s *Store, prep *Preparer, from, to int) {
	t.Helper()
	rng := rand.New(rand.NewPCG(9, 9))
	before := s.Stats()
	applyMix(s, prep, rng, from, to-from, 10)
	after := s.Stats()
	if d := after.Duplicates - before.Duplicates; d != int64(to-from) || after.Applied != before.Applied {
		t.Fatalf("messages %d..%d again: %d duplicates of %d, %d applied", from, to-1, d, to-from, after.Applied-before.Applied)
	}
}

// snapshotNow dumps s and starts a snapshot of it.
func snapshotNow(t *testing.T, s *Store) (string, *Snapshot) {
	t.Helper()
	want := checkpointDump(s)
	sn, err := s.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	return want, sn
}

func loadDump(t *testing.T, b []byte) string {
	t.Helper()
	s, err := ReadStore(DefaultStoreConfig(), bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	return checkpointDump(s)
}

// TestSnapshotIsOfItsMoment: a snapshot written after the store went on
// (updates, merges of profiles it holds into new ones and back, new
// profiles) loads as the store was when it was taken, and the next one
// as the store is then.
func TestSnapshotIsOfItsMoment(t *testing.T) {
	s, prep := newTestStore(t)
	rng := rand.New(rand.NewPCG(1, 2))
	applyMix(s, prep, rng, 0, 3000, 400)
	memAt := s.MemoryEstimate()
	want, sn := snapshotNow(t, s)
	before := s.Stats()
	applyMix(s, prep, rng, 3000, 3000, 600) // changes most profiles, merges some, creates more
	after := s.Stats()
	if after.Merges == before.Merges || after.Profiles == before.Profiles {
		t.Fatalf("the second batch merged %d and created %d profiles: it tests nothing", after.Merges-before.Merges, after.Profiles-before.Profiles)
	}
	var got bytes.Buffer
	if _, err := sn.WriteTo(&got); err != nil {
		t.Fatal(err)
	}
	if g := loadDump(t, got.Bytes()); g != want {
		t.Fatalf("the snapshot loads as\n%.2000s\nthe store was\n%.2000s", g, want)
	}
	if got, ok := sn.MemoryEstimate(); !ok || got != memAt {
		t.Errorf("the snapshot's memory estimate is %d (%v), the store's was %d", got, ok, memAt)
	}

	// Every message, from before the snapshot, while it was written and
	// after (while the dedupe folds what came meanwhile), is known.
	reapply(t, s, prep, 0, 6000)
	applyMix(s, prep, rng, 10000, 5000, 600) // enough seen calls to fold all of it
	for _, g := range s.dedupe.gens {
		if g.extra != nil {
			t.Fatalf("generation %d still has %d keys to fold", g.Index, g.extra.len())
		}
	}
	if d := dedupeDump(s.dedupe); strings.Contains(d, "counts") {
		t.Fatal(d)
	}
	reapply(t, s, prep, 0, 6000)

	// The next snapshot, after more events, is of its own moment.
	applyMix(s, prep, rng, 6000, 500, 600)
	want, sn = snapshotNow(t, s)
	applyMix(s, prep, rng, 6500, 500, 600)
	got.Reset()
	if _, err := sn.WriteTo(&got); err != nil {
		t.Fatal(err)
	}
	if g := loadDump(t, got.Bytes()); g != want {
		t.Fatal("the second snapshot does not load as the store was when it was taken")
	}
}

// TestSnapshotWhileApplying writes a snapshot from another goroutine
// while the store applies, merges and creates (with -race, a missing
// lock shows), and look-ups read it meanwhile.
func TestSnapshotWhileApplying(t *testing.T) {
	s, prep := newTestStore(t)
	rng := rand.New(rand.NewPCG(3, 4))
	applyMix(s, prep, rng, 0, 20000, 3000)
	want, sn := snapshotNow(t, s)
	stop := make(chan struct{})
	looked := make(chan int)
	go func() { // look-ups read the profiles the writer marks
		n := 0
		for {
			select {
			case <-stop:
				looked <- n
				return
			default:
			}
			id := cdp.Identifier{Type: cdp.IDUserID, Value: fmt.Sprintf("user-%d", n%3000)}
			_ = s.View("default", id, func(p *Profile) { _ = p.EventsTotal })
			n++
		}
	}()
	type result struct {
		b   []byte
		err error
	}
	done := make(chan result)
	go func() {
		var b bytes.Buffer
		_, err := sn.WriteTo(&b)
		done <- result{b.Bytes(), err}
	}()
	applyMix(s, prep, rng, 20000, 20000, 4000)
	r := <-done
	close(stop)
	if n := <-looked; n == 0 {
		t.Error("no look-up ran while the snapshot was written")
	}
	if r.err != nil {
		t.Fatal(r.err)
	}
	if g := loadDump(t, r.b); g != want {
		t.Fatal("the snapshot written while applying does not load as the store was when it was taken")
	}
}

// TestSnapshotWhileDedupeRotates: with a 3-minute window the dedupe
// starts and drops generations while a snapshot packs the ones of its
// moment; the snapshot still loads as the store was, and the store still
// finds every message of its window.
func TestSnapshotWhileDedupeRotates(t *testing.T) {
	s, prep := newTestStore(t, func(c *StoreConfig) { c.DedupeWindow = 3 * time.Minute })
	rng := rand.New(rand.NewPCG(5, 6))
	applyMix(s, prep, rng, 0, 2000, 300)
	want, sn := snapshotNow(t, s)
	gens := s.dedupe.gens[0].Index
	applyMix(s, prep, rng, 2000, 100, 300)
	// The first 40 went to the extra of the snapshot's newest generation,
	// an older one by now: still found.
	reapply(t, s, prep, 2000, 2040)
	applyMix(s, prep, rng, 2100, 200, 300) // every generation of the moment goes
	if s.dedupe.gens[0].Index == gens {
		t.Fatal("no generation was dropped while the snapshot was open: the test tests nothing")
	}
	var got bytes.Buffer
	if _, err := sn.WriteTo(&got); err != nil {
		t.Fatal(err)
	}
	if g := loadDump(t, got.Bytes()); g != want {
		t.Fatalf("the snapshot loads as\n%.3000s\nthe store was\n%.3000s", g, want)
	}
	reapply(t, s, prep, 2200, 2300) // within the window, added while frozen
	applyMix(s, prep, rng, 2300, 200, 300)
	if d := dedupeDump(s.dedupe); strings.Contains(d, "counts") {
		t.Fatal(d)
	}
}

// TestSnapshotKeepsMembershipOfItsMoment: segment membership changed
// after the snapshot (entries changed, removed, added, in most stripes)
// is written as it was at the moment.
func TestSnapshotKeepsMembershipOfItsMoment(t *testing.T) {
	s, prep := newTestStore(t)
	applyMix(s, prep, rand.New(rand.NewPCG(7, 8)), 0, 100, 50)
	m := s.members()
	for i := range 200 {
		m.set("default", fmt.Sprintf("cdp_%d", i), []string{"seg_a", fmt.Sprintf("seg_%d", i%3)})
	}
	want := new(memberSnap).collect(m)
	sn, err := s.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	for i := range 300 {
		switch id := fmt.Sprintf("cdp_%d", i); {
		case i < 100:
			m.set("default", id, []string{"seg_b"})
		case i < 200:
			m.set("default", id, nil)
		default:
			m.set("default", id, []string{"seg_c"})
		}
	}
	var got bytes.Buffer
	if _, err := sn.WriteTo(&got); err != nil {
		t.Fatal(err)
	}
	ls, err := ReadStore(DefaultStoreConfig(), bytes.NewReader(got.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	if g := new(memberSnap).collect(ls.members()); !maps.EqualFunc(g, want, slices.Equal) {
		t.Fatalf("the snapshot holds memberships other than the moment's (%d entries, %d then)", len(g), len(want))
	}
	if g := m.get("default", "cdp_250"); !slices.Equal(g, []string{"seg_c"}) {
		t.Fatalf("the live store lost a change made during the snapshot: %v", g)
	}
	if m.snap.Load() != nil {
		t.Error("the written snapshot still copies the membership's stripes")
	}
}

// TestSnapshotAfterAReconcileSwap: a reconcile's new store takes over the
// live store's dedupe set (Reconciler.Apply), frozen when a full snapshot
// of the live store was being written. The new store's first checkpoint
// must still hold the keys the set got meanwhile, in the extras.
func TestSnapshotAfterAReconcileSwap(t *testing.T) {
	live, prep := newTestStore(t)
	rng := rand.New(rand.NewPCG(25, 26))
	applyMix(live, prep, rng, 0, 500, 100)
	sn, err := live.Snapshot() // its write is held while the swap happens
	if err != nil {
		t.Fatal(err)
	}
	ns, _ := newTestStore(t)
	applyMix(ns, prep, rand.New(rand.NewPCG(25, 26)), 0, 500, 100) // as the replay would
	ns.dedupe = live.dedupe                                        // as the swap does
	applyMix(ns, prep, rng, 500, 100, 100)
	if _, err := sn.WriteTo(io.Discard); err != nil {
		t.Fatal(err)
	}
	applyMix(ns, prep, rng, 600, 10, 100)
	var b bytes.Buffer
	if _, err := ns.WriteTo(&b); err != nil {
		t.Fatal(err)
	}
	ls, err := ReadStore(ns.cfg, bytes.NewReader(b.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	reapply(t, ls, prep, 0, 610)
}
