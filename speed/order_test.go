package speed

import (
	"bytes"
	"cmp"
	"encoding/json"
	"flag"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	cdp "github.com/tributary-cdp/tributary"
)

var orderSeeds = flag.Int("order.seeds", 0, "seeds of TestOrderIndependence (0: a few dozen; -short fewer)")

// orderPerson is one person of the order workload: the ids their events
// carry, in the variants a real stream spells them.
type orderPerson struct {
	user, old, older string   // user id, and the ones it replaced (alias chain older → old → user)
	anons            []string // devices
	emails           []string // one address, spelled several ways
	phones           []string // one number, formatted several ways
}

// orderWorkload makes a random event stream over people, sorted by event
// time (the canonical order), with offsets per partition in that order.
// A few messages are sent again (same id), later on their partition.
func orderWorkload(rng *rand.Rand) (msgs []msg) {
	people := make([]orderPerson, 5+rng.IntN(36))
	for i := range people {
		p := &people[i]
		p.user, p.old, p.older = fmt.Sprintf("u%d", i), fmt.Sprintf("u%d-old", i), fmt.Sprintf("u%d-older", i)
		for k := range 1 + rng.IntN(3) {
			p.anons = append(p.anons, fmt.Sprintf("a%d-%d", i, k))
		}
		p.emails = []string{fmt.Sprintf("p%d@example.com", i), fmt.Sprintf(" P%d@Example.COM ", i), fmt.Sprintf("p%d@EXAMPLE.com", i)}
		n := fmt.Sprintf("%04d", i)
		p.phones = []string{"(415) 555-" + n, "415.555." + n, "+1 415 555 " + n, "1-415-555-" + n, "4155550" + n[1:]}
	}
	pick := func(xs []string) string { return xs[rng.IntN(len(xs))] }
	// Times: mostly within eight weeks; identifies on a coarse grid, so
	// that traits tie on timestamp; a few far out, past MaxDays.
	at := func(coarse bool) time.Duration {
		switch {
		case coarse:
			return time.Duration(rng.IntN(6)) * 12 * time.Hour
		case rng.IntN(40) == 0:
			return time.Duration(rng.IntN(900)-450) * 24 * time.Hour
		case rng.IntN(200) == 0:
			return time.Unix(0, 0).Sub(t0) // a client's unset clock
		}
		return time.Duration(rng.IntN(56*24*60)) * time.Minute
	}
	recv := func(at time.Duration) time.Duration {
		if at < 0 {
			return time.Duration(1+rng.IntN(56*24)) * time.Hour // the client's clock was wrong
		}
		return at + time.Duration(1+rng.IntN(3600))*time.Second // sent a little late
	}
	junkUser := []string{"null", "undefined", "0", " NULL "}
	junkAnon := []string{"00000000-0000-0000-0000-000000000000", "unknown"}
	junkTraits := []string{`"email":"test@test.com"`, `"email":"Shared@Corp.example"`, `"phone":"+1 555 555 5555"`, `"email":"not an email"`}
	events := []string{"Product Viewed", "Signed Up", "Cart Viewed", "Login"}
	n := 50 + rng.IntN(351)
	for i := range n {
		p := &people[min(rng.IntN(len(people)), rng.IntN(len(people)))] // some people are busier
		if i%2 == 0 && n > 300 {
			p = &people[0] // one is very busy: its lists and groups fill
		}
		m := msg{partition: rng.IntN(4), at: at(false)}
		m.recv = recv(m.at)
		user := p.user
		if rng.IntN(8) == 0 {
			user = p.old // events sent before the user id changed
		}
		switch r := rng.IntN(100); {
		case r < 20: // anonymous browsing
			m.typ, m.anon, m.event = cdp.Track, pick(p.anons), pick(events)
			m.props = `{"sku":"x"}`
		case r < 30:
			m.typ, m.user, m.event = cdp.Track, user, pick(events)
			if rng.IntN(2) == 0 {
				m.anon = pick(p.anons)
			}
		case r < 40:
			m.typ, m.user, m.event = cdp.Track, user, EventOrderCompleted
			m.props = pick([]string{`{"revenue":12.5}`, `{"total":"7.25"}`, `{"value":3}`,
				`{"products":[{"price":2.5,"quantity":2},{"price":0.1}]}`, `{}`})
		case r < 43:
			m.typ, m.user, m.event, m.props = cdp.Track, user, EventOrderRefunded, `{"revenue":2}`
		case r < 53: // last_page ties on time too
			m.typ, m.name, m.at = cdp.Page, pick([]string{"Home", "Cart", ""}), at(rng.IntN(2) == 0)
			if rng.IntN(2) == 0 {
				m.props = pick([]string{`{"url":"https://x/a"}`, `{"path":"/b"}`, `{"url":"https://x/c","path":"/c"}`})
			}
			if rng.IntN(2) == 0 {
				m.anon = pick(p.anons)
			} else {
				m.user = user
			}
		case r < 58:
			m.typ, m.user, m.name = cdp.Screen, user, pick([]string{"Feed", "Settings"})
		case r < 63:
			m.typ, m.user, m.group = cdp.Group, user, fmt.Sprintf("g%03d", rng.IntN(150))
		case r < 83: // identify: traits that tie on time, emails and phones stitching
			m.typ, m.at = cdp.Identify, at(true)
			var traits []string
			for _, name := range []string{"plan", "city", "name"} {
				if rng.IntN(2) == 0 {
					traits = append(traits, fmt.Sprintf("%q:%q", name, pick([]string{"a", "b", "c", "d"})))
				}
			}
			if rng.IntN(2) == 0 {
				traits = append(traits, fmt.Sprintf(`"email":%q`, pick(p.emails)))
			}
			if rng.IntN(3) == 0 {
				traits = append(traits, fmt.Sprintf(`"phone":%q`, pick(p.phones)))
			}
			if rng.IntN(6) == 0 {
				traits = append(traits, pick(junkTraits))
			}
			switch rng.IntN(4) {
			case 0: // an anonymous visitor leaves an email or a phone
				m.anon = pick(p.anons)
			case 1:
				m.user = user
			default:
				m.user, m.anon = user, pick(p.anons)
			}
			m.traits = "{" + strings.Join(traits, ",") + "}"
		case r < 93: // alias: a device, or the user id chain older → old → user
			m.typ = cdp.Alias
			switch rng.IntN(3) {
			case 0:
				m.prev, m.user = pick(p.anons), p.user
				if rng.IntN(8) == 0 {
					m.prev = pick(junkUser)
				}
			case 1:
				m.prev, m.user = p.old, p.user
			default:
				m.prev, m.user = p.older, p.old
			}
		default: // junk ids, alone or beside a real one
			m.typ, m.event = cdp.Track, pick(events)
			m.user, m.anon = pick(junkUser), pick(junkAnon)
			switch rng.IntN(3) {
			case 0:
				m.user = p.user
			case 1:
				m.anon = pick(p.anons)
			}
			if rng.IntN(3) == 0 {
				m.typ, m.event, m.traits = cdp.Identify, "", "{"+pick(junkTraits)+"}"
			}
		}
		if rng.IntN(10) == 0 {
			m.ws = "w2" // the same ids in another workspace
		}
		msgs = append(msgs, m)
	}
	if rng.IntN(4) == 0 { // one person in more than maxGroups groups, from several devices
		for range 250 {
			m := msg{typ: cdp.Group, user: people[0].user, group: fmt.Sprintf("g%03d", rng.IntN(150)), partition: rng.IntN(4), at: at(false)}
			m.recv = recv(m.at)
			if rng.IntN(2) == 0 {
				m.user, m.anon = "", pick(people[0].anons)
			}
			msgs = append(msgs, m)
		}
	}
	slices.SortStableFunc(msgs, func(a, b msg) int { return cmp.Compare(a.at, b.at) })
	for i := range msgs {
		msgs[i].id = fmt.Sprintf("m%d", i)
	}
	// Retries: the same message again, later on its partition.
	for range rng.IntN(6) {
		i := rng.IntN(len(msgs))
		j := i + rng.IntN(len(msgs)-i)
		msgs = slices.Insert(msgs, j+1, msgs[i])
	}
	next := map[int]int64{}
	for i := range msgs {
		msgs[i].offset = next[msgs[i].partition]
		next[msgs[i].partition]++
	}
	return msgs
}

// orderSegments are the repository's sample segments, evaluated on every
// profile the order test compares.
func orderSegments(t *testing.T) []*cdp.Segment {
	files, err := filepath.Glob("../testdata/segments/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("sample segments: %v %v", files, err)
	}
	var ys []string
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		ys = append(ys, string(b))
	}
	return parseSegments(t, ys)
}

// orderDump renders every profile of s by its smallest identifier: canon
// (no cdp id, no wall clock), its recent events and its segments. ids maps
// the same key to the profile's cdp id and aliases, kept apart: they depend
// on arrival order (see TestOrderIndependence).
func orderDump(t *testing.T, s *Store, segs []*cdp.Segment, now time.Time) (dump, ids map[string]string) {
	dump, ids = map[string]string{}, map[string]string{}
	s.Range(func(p *Profile) bool {
		key := p.Workspace + "/" + p.Identifiers[0].String()
		recent, _ := json.Marshal(slices.Collect(p.RecentEvents()))
		c := *p
		if x := c.Extra; x != nil && x.LastPage == (LWWString{}) && x.more == nil {
			c.Extra = nil // holds only aliases: those of a merge, which needs none
		}
		dump[key] = canon(&c) + "\nrecent " + string(recent) + "\nsegments " + strings.Join(cdp.MemberOf(segs, p.Workspace, p, now), ",")
		ids[key] = p.CDPID + " " + strings.Join(p.Aliases(), ",")
		// The id and every alias find the profile, and each is the id of
		// one of its identifiers (ids are minted from founding identifiers).
		minted := map[string]bool{}
		for _, id := range p.Identifiers {
			minted[NewCDPID(p.Workspace, id)] = true
		}
		for _, id := range append([]string{p.CDPID}, p.Aliases()...) {
			var found string
			if err := s.View(p.Workspace, cdp.Identifier{Type: IDCDP, Value: id}, func(q *Profile) { found = q.CDPID }); err != nil || found != p.CDPID {
				t.Errorf("cdp id %s of %s finds %q (%v)", id, p.CDPID, found, err)
			}
			if !minted[id] {
				t.Errorf("cdp id %s of %s is not minted from any of its identifiers", id, p.CDPID)
			}
		}
		return true
	})
	return dump, ids
}

// TestOrderIndependence: a random stream over many people (identifies
// with traits that tie on time, emails and phones spelled several ways,
// anonymous visitors stitched through user ids, emails and phones in
// any order, alias chains, orders, pages, screens, groups, junk ids,
// retries, a second workspace, four partitions) applied in time order, in
// reverse and in random orders gives every profile the same state: the
// same identifiers, traits, counters, recent events and segments.
//
// Not compared: cdp ids. A cluster keeps the id of the older of the
// clusters it merged, and which clusters existed before a link depends on
// arrival: no rule can make ids order-free and keep them stable (an event
// that links a new identifier to a cluster keeps its id), so ids are
// only checked to find their profile. Nor hygiene caps, which stop
// merging at the (N+1)th user id to arrive.
func TestOrderIndependence(t *testing.T) {
	seeds := *orderSeeds
	if seeds == 0 {
		seeds = 40
		if testing.Short() {
			seeds = 10
		}
	}
	defer slog.SetLogLoggerLevel(slog.SetLogLoggerLevel(slog.LevelError))
	segs := orderSegments(t)
	idDiffs := 0
	for seed := range uint64(seeds) {
		if orderRun(t, seed, segs) {
			idDiffs++
		}
		if t.Failed() {
			t.Fatalf("seed %d (go test -run TestOrderIndependence -order.seeds %d)", seed, seed+1)
		}
	}
	t.Logf("%d of %d seeds: some cdp id differs with arrival order", idDiffs, seeds)
}

// orderRun checks one seed; it reports whether some cdp id depended on order.
func orderRun(t *testing.T, seed uint64, segs []*cdp.Segment) (idsDiffer bool) {
	rng := rand.New(rand.NewPCG(seed, 0x0dde7))
	msgs := orderWorkload(rng)
	byID := map[string][]int{}
	for i, m := range msgs {
		byID[m.id] = append(byID[m.id], i)
	}
	var retries [][]int
	for _, copies := range byID {
		if len(copies) > 1 {
			retries = append(retries, copies)
		}
	}
	keep := []int{2, 5, 20}[rng.IntN(3)]
	mod := func(c *StoreConfig) {
		c.Caps = nil
		c.Blocklist = []string{"email:shared@corp.example"}
		c.RecentEvents = keep
		c.DedupeWindow = 10 * 365 * 24 * time.Hour // longer than the stream: retries are dropped in any order
	}
	now := t0.Add(30 * 24 * time.Hour)
	run := func(perm []int, checkpointAt int) *Store {
		s, p := newTestStore(t, mod)
		prepared := ops(p, msgs)
		for i, j := range perm {
			if i == checkpointAt {
				var buf bytes.Buffer
				if _, err := s.WriteTo(&buf); err != nil {
					t.Fatal(err)
				}
				var err error
				if s, err = ReadStore(s.cfg, &buf); err != nil {
					t.Fatal(err)
				}
			}
			s.Apply(prepared[j])
		}
		return s
	}
	inOrder := make([]int, len(msgs))
	for i := range inOrder {
		inOrder[i] = i
	}
	want, wantIDs := orderDump(t, run(inOrder, -1), segs, now)
	for k := range 6 {
		perm := slices.Clone(inOrder)
		name := "reversed"
		if k == 0 {
			slices.Reverse(perm)
		} else {
			name = fmt.Sprintf("permutation %d", k)
			rng.Shuffle(len(perm), func(a, b int) { perm[a], perm[b] = perm[b], perm[a] })
		}
		// The copies of a message come in their order: they share a
		// partition, which Kafka delivers in order.
		for _, copies := range retries {
			var at []int
			for i, j := range perm {
				if slices.Contains(copies, j) {
					at = append(at, i)
				}
			}
			for i, j := range copies {
				perm[at[i]] = j
			}
		}
		checkpointAt := -1
		if k == 1 {
			checkpointAt = len(perm) / 2
			name += " with a checkpoint halfway"
		}
		got, gotIDs := orderDump(t, run(perm, checkpointAt), segs, now)
		if !orderSame(t, seed, name, got, want) {
			return
		}
		for key := range want {
			idsDiffer = idsDiffer || gotIDs[key] != wantIDs[key]
		}
	}
	return idsDiffer
}

// orderSame reports whether got has the profiles of want, and the first
// difference when not.
func orderSame(t *testing.T, seed uint64, name string, got, want map[string]string) bool {
	keys := slices.Sorted(func(yield func(string) bool) {
		for k := range want {
			if !yield(k) {
				return
			}
		}
	})
	for _, k := range keys {
		g, ok := got[k]
		if !ok {
			var other []string
			for gk := range got {
				if strings.HasPrefix(gk, strings.SplitN(k, "/", 2)[0]+"/") {
					other = append(other, gk)
				}
			}
			slices.Sort(other)
			t.Errorf("seed %d, %s: no profile keyed %s (%d profiles, want %d)\nin order: %s\nprofiles: %v",
				seed, name, k, len(got), len(want), want[k], other)
			return false
		}
		if g != want[k] {
			t.Errorf("seed %d, %s: profile %s differs:\n got %s\nwant %s", seed, name, k, g, want[k])
			return false
		}
	}
	if len(got) != len(want) {
		t.Errorf("seed %d, %s: %d profiles, want %d", seed, name, len(got), len(want))
		return false
	}
	return true
}
