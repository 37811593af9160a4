package speed

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

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
	return fmt.Sprintf("offsets %v\ndedupe %d\nprofiles %d identifiers %d\n%s",
		s.Offsets(), st.DedupeEntries, st.Profiles, st.Identifiers, strings.Join(recs, "\n"))
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
	var at bytes.Buffer
	if _, err := s.WriteTo(&at); err != nil {
		t.Fatal(err)
	}
	want := loadDump(t, at.Bytes())
	memAt := s.MemoryEstimate()
	sn, err := s.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
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
	if got, want := sn.MemoryEstimate(), memAt; got != want {
		t.Errorf("the snapshot's memory estimate is %d, the store's was %d", got, want)
	}

	// The next snapshot, after more events, is of its own moment.
	applyMix(s, prep, rng, 6000, 500, 600)
	want = checkpointDump(s)
	sn, err = s.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
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
	want := checkpointDump(s)
	sn, err := s.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
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
	if r.err != nil {
		t.Fatal(r.err)
	}
	if g := loadDump(t, r.b); g != want {
		t.Fatal("the snapshot written while applying does not load as the store was when it was taken")
	}
}
