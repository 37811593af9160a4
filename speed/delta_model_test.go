package speed

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	cdp "github.com/tributary-cdp/tributary"
	"github.com/tributary-cdp/tributary/lake/local"
)

var modelSeeds = flag.Int("delta.seeds", 0, "seeds of TestDeltaModel (0: a few; -short fewer)")

// modelStep is one entry of the model test's log: a message at its
// Kafka position, or a segment membership change.
type modelStep struct {
	part   int
	off    int64
	value  []byte
	cdpID  string // a membership change when value is nil
	member []string
}

// modelGen makes the model test's messages: identifies whose emails and
// phones many users share (past the cap of 5), tracks, pages, groups,
// aliases that merge people created long apart, people created and
// merged away at once, duplicates, poison and blocked identifiers.
type modelGen struct {
	rng    *rand.Rand
	i      int
	people int
	base   int // values of the base's identifiers are below it (0: no base)
	offs   [4]int64
	sent   [][]byte
}

func (g *modelGen) person() int {
	if g.rng.IntN(3) == 0 {
		return max(0, g.people-1-g.rng.IntN(10)) // the newest, to merge what a delta just created
	}
	return g.rng.IntN(g.people)
}

func (g *modelGen) event() modelStep {
	i := g.i
	g.i++
	part := g.rng.IntN(4)
	st := modelStep{part: part, off: g.offs[part]}
	g.offs[part]++
	at := t0.Add(time.Duration(i) * time.Second)
	e := &cdp.Event{Workspace: "default", MessageID: "m" + strconv.Itoa(i), ReceivedAt: at,
		Timestamp: at.Add(-time.Duration(g.rng.IntN(300)) * time.Second)}
	if g.rng.IntN(10) == 0 {
		e.Workspace = "w2"
	}
	p, q := g.person(), g.person()
	user, anon := "u"+strconv.Itoa(p), "a"+strconv.Itoa(p)
	if g.base > 0 && g.rng.IntN(4) == 0 { // someone of the base
		user, anon = fmt.Sprintf("user_id-%d", g.rng.IntN(g.base)), fmt.Sprintf("anonymous_id-%d", g.rng.IntN(g.base))
	}
	switch r := g.rng.IntN(100); {
	case r < 6 && len(g.sent) > 0: // again, at another position: recent, or maybe forgotten
		k := len(g.sent) - 1 - g.rng.IntN(min(len(g.sent), 100))
		if g.rng.IntN(4) == 0 {
			k = g.rng.IntN(len(g.sent))
		}
		st.value = g.sent[k]
		return st
	case r < 9:
		st.value = []byte(`{"workspace":"default","messageId":"bad` + strconv.Itoa(i) + `","type":`)
		return st
	case r < 12:
		e.Type, e.UserID, e.AnonymousID = cdp.Identify, []string{"null", "undefined", user}[g.rng.IntN(3)], anon
		e.Traits = []byte(`{"email":"test@test.com","phone":"+15555555555"}`)
	case r < 27:
		e.Type, e.UserID = cdp.Identify, user
		if g.rng.IntN(2) == 0 {
			e.AnonymousID = anon
		}
		e.Traits = fmt.Appendf(nil, `{"email":"e%d@shop.example","phone":"+1555000%04d","plan":%q,"age":%d}`,
			g.rng.IntN(30), g.rng.IntN(300), []string{"free", "pro", "team"}[g.rng.IntN(3)], 18+g.rng.IntN(60))
	case r < 55:
		e.Type, e.Event = cdp.Track, []string{"Product Viewed", "Order Completed", "Signed In"}[g.rng.IntN(3)]
		if g.rng.IntN(2) == 0 {
			e.UserID = user
		} else {
			e.AnonymousID = anon
		}
		e.Properties = fmt.Appendf(nil, `{"order_id":"o%d","revenue":%d.5}`, i, g.rng.IntN(100))
	case r < 68:
		e.Type, e.AnonymousID, e.Name = cdp.Page, anon, "Home"
		e.Properties = fmt.Appendf(nil, `{"url":"https://shop.example/%d","path":"/%d"}`, i%7, i%7)
	case r < 76: // two people become one
		e.Type, e.PreviousID, e.UserID = cdp.Alias, "a"+strconv.Itoa(q), user
	case r < 80:
		e.Type, e.PreviousID, e.UserID = cdp.Alias, "u"+strconv.Itoa(q), user
	case r < 88: // a new person
		g.people++
		e.Type, e.Event, e.AnonymousID = cdp.Track, "Signed In", "a"+strconv.Itoa(g.people-1)
	case r < 93: // a new person, merged at once
		g.people++
		e.Type, e.PreviousID, e.UserID = cdp.Alias, "a"+strconv.Itoa(g.people-1), user
	default:
		e.Type, e.UserID, e.GroupID = cdp.Group, user, "g"+strconv.Itoa(q%5)
	}
	st.value = e.AppendJSON(nil)
	g.sent = append(g.sent, st.value)
	return st
}

// member changes the membership of a profile of s, or of an id it lacks.
func (g *modelGen) member(s *Store) modelStep {
	var ids []string
	s.Range(func(p *Profile) bool {
		ids = append(ids, p.CDPID)
		return true
	})
	slices.Sort(ids)
	id := "cdp_gone" + strconv.Itoa(g.rng.IntN(5))
	if len(ids) > 0 && g.rng.IntN(5) > 0 {
		id = ids[g.rng.IntN(len(ids))]
	}
	var segs []string
	for k := range g.rng.IntN(3) {
		segs = append(segs, "seg_"+strconv.Itoa(k+g.rng.IntN(3)))
	}
	slices.Sort(segs)
	return modelStep{cdpID: id, member: slices.Compact(segs)}
}

func (st modelStep) apply(s *Store, prep *Preparer) {
	if st.value == nil {
		s.members().set("default", st.cdpID, st.member)
		return
	}
	s.Apply(prep.Prepare(st.part, st.off, st.value))
}

// modelDump is checkpointDump with the rest of what a checkpoint holds:
// the dedupe generations' serials, segment membership, shared values,
// rejected positions and the base's version.
func modelDump(s *Store) string {
	var b strings.Builder
	b.WriteString(checkpointDump(s))
	b.WriteString("\nserials")
	for _, g := range s.dedupe.gens {
		fmt.Fprintf(&b, " %d/%d", g.Index, g.Serial)
	}
	fmt.Fprintf(&b, " (last %d), evicted %d\n", s.dedupe.serial, s.dedupe.evicted)
	var lines []string
	if m := s.ext.members.Load(); m != nil {
		for i := range m.stripes {
			m.each(i, func(ws, id string, segs []string) {
				lines = append(lines, fmt.Sprintf("member %s %s %v", ws, id, segs))
			})
		}
	}
	for k, v := range s.shared {
		lines = append(lines, fmt.Sprintf("shared %x %v", k, v))
	}
	for k, v := range s.ext.rejected {
		lines = append(lines, fmt.Sprintf("rejected %d %d", k, v))
	}
	slices.Sort(lines)
	fmt.Fprintf(&b, "base %d\n%s", s.ext.baseVersion, strings.Join(lines, "\n"))
	return b.String()
}

// failAfter fails once n bytes were written.
type failAfter struct{ n int }

func (f *failAfter) Write(b []byte) (int, error) {
	if len(b) > f.n {
		k := f.n
		f.n = 0
		return k, errors.New("disk full")
	}
	f.n -= len(b)
	return len(b), nil
}

// published is the last checkpoint a restart would load: the log's
// length and the store's dump at its moment.
type published struct {
	pos  int
	want string
}

// TestDeltaModel interleaves at random messages of many kinds,
// membership changes, dedupe rotations and evictions, full and delta
// checkpoints (written while the store goes on, or with the writer at
// the same time), checkpoints dropped, failing or cut short by a crash
// (before a delta's rename, between a full one's rename and the removal
// of the deltas before it), and restarts that go on with the loaded
// store after replaying the log from the checkpoint's offsets. Every
// published checkpoint must load as the store was at its moment, and the
// store, however often checkpointed and restarted, must stay the one
// that applied the same log without (shadow).
func TestDeltaModel(t *testing.T) {
	seeds := *modelSeeds
	if seeds == 0 {
		seeds = 4
		if testing.Short() {
			seeds = 2
		}
	}
	defer slog.SetLogLoggerLevel(slog.SetLogLoggerLevel(slog.LevelError)) // shared values warn
	for seed := range seeds {
		t.Run(strconv.Itoa(seed), func(t *testing.T) { runDeltaModel(t, uint64(seed), 150) })
	}
}

func runDeltaModel(t *testing.T, seed uint64, steps int) {
	rng := rand.New(rand.NewPCG(seed, 0xde17a))
	mod := func(c *StoreConfig) {
		c.DedupeWindow = 3 * time.Minute // a generation a minute: an event a second rotates it
		c.DedupeMaxEntries = []int{120, 200, 100_000}[seed%3]
		c.CheckpointDeltas = []int{2, 20}[seed%2]
	}
	cur, prep := newTestStore(t, mod)
	shadow, _ := newTestStore(t, mod)
	cfg := cur.cfg
	dir := t.TempDir()
	g := &modelGen{rng: rng, people: 20}
	if seed%4 == 3 {
		// A store built from a batch build, as a reconcile makes: cdp ids
		// not derived from an identifier, identifiers the build gave to
		// two clusters.
		cur, shadow = modelBase(t, cfg, seed), modelBase(t, cfg, seed)
		g.base = 240
	}
	var log []modelStep
	last := published{want: modelDump(cur)}
	if g.base > 0 { // the consumer checkpoints a swapped-in store at once
		checkpointTo(t, dir, cur, nil)
		last.want = modelDump(cur)
	}
	run := func(n int) {
		for range n {
			var st modelStep
			if rng.IntN(10) == 0 {
				st = g.member(cur)
			} else {
				st = g.event()
			}
			log = append(log, st)
			st.apply(cur, prep)
			st.apply(shadow, prep)
		}
	}
	var stats [7]int
	for step := range steps {
		switch r := rng.IntN(100); {
		case r < 55:
			run(1 + rng.IntN(40))
		case r < 90:
			pos, want := len(log), modelDump(cur)
			if rng.IntN(3) > 0 {
				// Restarts compare always; here a third of the time, for speed.
			} else if sh := modelDump(shadow); sh != want {
				t.Fatalf("step %d: the store is not the one that applied the same log without checkpoints:\n%s", step, diffLines(want, sh))
			}
			sn, err := cur.CheckpointSnapshot()
			if err != nil {
				t.Fatal(err)
			}
			if sn.Delta() {
				stats[0]++
			}
			more := rng.IntN(30)
			var tmp string
			var n int64
			outcome := rng.IntN(20)
			if outcome < 15 && rng.IntN(3) == 0 {
				// The writer at the same time as the apply loop.
				done := make(chan error)
				go func() {
					var err error
					tmp, n, err = WriteCheckpointTemp(dir, sn)
					done <- err
				}()
				run(more)
				if err := <-done; err != nil {
					t.Fatal(err)
				}
			} else {
				run(more)
				if outcome < 15 {
					if tmp, n, err = WriteCheckpointTemp(dir, sn); err != nil {
						t.Fatal(err)
					}
				}
			}
			switch {
			case outcome < 11: // published
				if err := sn.Publish(dir, tmp, n); err != nil {
					t.Fatal(err)
				}
				last = published{pos, want}
				if _, ls := loadChainDump(t, dir, cfg); modelDump(ls) != want {
					t.Fatalf("step %d (a delta: %v, number %d): the chain does not load as the store was:\n%s",
						step, sn.Delta(), sn.head.Seq, diffLines(modelDump(ls), want))
				}
				stats[1]++
			case outcome < 12: // a crash before the rename
				stats[2]++
				cur = restart(t, dir, cfg, prep, cur, log, last, shadow, rng)
			case outcome < 15: // a full one renamed, then a crash before the deltas before it are gone
				if sn.Delta() {
					os.Remove(tmp)
					break
				}
				if err := PublishCheckpoint(dir, tmp); err != nil {
					t.Fatal(err)
				}
				stats[3]++
				last = published{pos, want}
				cur = restart(t, dir, cfg, prep, cur, log, last, shadow, rng)
			case outcome < 18:
				sn.Drop()
				stats[4]++
			default: // the write fails (or, shorter than that, is not published)
				if _, err := sn.WriteTo(&failAfter{rng.IntN(2000)}); err != nil {
					stats[5]++
				}
			}
		default:
			stats[6]++
			cur = restart(t, dir, cfg, prep, cur, log, last, shadow, rng)
		}
	}
	t.Logf("seed %d: %d profiles, %d deltas started, %d published, %d crashes before a rename, %d after a full one's, %d dropped, %d failed, %d restarts; %d evicted, %d shared",
		seed, cur.Stats().Profiles, stats[0], stats[1], stats[2], stats[3], stats[4], stats[5], stats[6], cur.Stats().DedupeEvicted, cur.Stats().Shared)
}

// modelBase loads a generated build of 80 profiles (one a cdp id: the
// resolve job never mints an id twice).
func modelBase(t *testing.T, cfg StoreConfig, seed uint64) *Store {
	t.Helper()
	bc := generated(80, seed)
	seen := map[string]bool{}
	rows := bc.rows[:0]
	for _, r := range bc.rows {
		if k := str(r.Workspace) + "\x00" + str(r.CDPID); !seen[k] {
			seen[k] = true
			rows = append(rows, r)
		}
	}
	st, err := local.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	b := &Build{Version: 1, Watermark: map[int32]int64{},
		Profiles:    putRows(t, st, "curated/profiles/workspace=default", rows, 1000, 100),
		IdentityMap: putRows(t, st, "curated/identity_map/workspace=default", bc.idmap, 1000, 100)}
	s, err := LoadBase(context.Background(), st, b, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// restart loads dir as a restarted process would, checks it is the last
// published checkpoint, replays the log from there (as from its offsets)
// and checks the result is the shadow store. It returns the loaded store.
func restart(t *testing.T, dir string, cfg StoreConfig, prep *Preparer, old *Store, log []modelStep, last published, shadow *Store, rng *rand.Rand) *Store {
	t.Helper()
	if sn := old.snap; sn != nil {
		sn.Drop() // the old process is gone
	}
	if _, err := RemoveTempCheckpoints(dir); err != nil {
		t.Fatal(err)
	}
	ls, ok, err := LoadCheckpoint(dir, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if got := modelDump(ls); got != last.want {
		t.Fatalf("restart (a checkpoint: %v): the store loads as\n%s", ok, diffLines(got, last.want))
	}
	if rng.IntN(2) == 0 { // as New does; else the load's chain id keeps stale deltas out
		if _, err := RemoveDeltas(dir, ls.chain.seq); err != nil {
			t.Fatal(err)
		}
	}
	for _, st := range log[last.pos:] {
		st.apply(ls, prep)
	}
	if got, want := modelDump(ls), modelDump(shadow); got != want {
		t.Fatalf("restart: after the replay the store is\n%s", diffLines(got, want))
	}
	return ls
}

// diffLines shows the lines of got and want that the other lacks.
func diffLines(got, want string) string {
	g, w := strings.Split(got, "\n"), strings.Split(want, "\n")
	var b strings.Builder
	for _, l := range g {
		if !slices.Contains(w, l) {
			fmt.Fprintf(&b, "+ %.300s\n", l)
		}
	}
	for _, l := range w {
		if !slices.Contains(g, l) {
			fmt.Fprintf(&b, "- %.300s\n", l)
		}
	}
	return b.String()
}
