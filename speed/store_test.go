package speed

import (
	"bytes"
	"encoding/binary"
	"encoding/gob"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	cdp "github.com/tributary-cdp/tributary"
	"github.com/tributary-cdp/tributary/speed/speedtest"
)

var t0 = time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC)

// msg is a test event; offsets are assigned by position unless set.
type msg struct {
	typ       cdp.EventType
	id        string // messageId
	ws        string
	user      string
	anon      string
	prev      string
	event     string
	name      string
	group     string
	at        time.Duration // after t0
	recv      time.Duration // receivedAt after t0 when not at
	traits    string
	props     string
	partition int
	offset    int64
}

func (m msg) value() []byte {
	ws := m.ws
	if ws == "" {
		ws = "default"
	}
	recv := m.at
	if m.recv != 0 {
		recv = m.recv
	}
	e := cdp.Event{Workspace: ws, MessageID: m.id, Type: m.typ, UserID: m.user, AnonymousID: m.anon, PreviousID: m.prev,
		Event: m.event, Name: m.name, GroupID: m.group, Timestamp: t0.Add(m.at), ReceivedAt: t0.Add(recv)}
	if m.traits != "" {
		e.Traits = json.RawMessage(m.traits)
	}
	if m.props != "" {
		e.Properties = json.RawMessage(m.props)
	}
	b, err := json.Marshal(e)
	if err != nil {
		panic(err)
	}
	return b
}

func newTestStore(t testing.TB, mod ...func(*StoreConfig)) (*Store, *Preparer) {
	t.Helper()
	cfg := DefaultStoreConfig()
	cfg.Now = func() time.Time { return t0 }
	for _, f := range mod {
		f(&cfg)
	}
	s, err := NewStore(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s, NewPreparer(cfg)
}

// ops prepares msgs with offsets by position (per partition) unless set.
func ops(p *Preparer, msgs []msg) []*Op {
	next := map[int]int64{}
	out := make([]*Op, len(msgs))
	for i, m := range msgs {
		off := m.offset
		if off == 0 {
			off = next[m.partition]
		}
		next[m.partition] = off + 1
		if m.id == "" {
			m.id = fmt.Sprintf("m%d", i)
		}
		out[i] = p.Prepare(m.partition, off, m.value())
	}
	return out
}

func apply(s *Store, os []*Op) {
	for _, o := range os {
		s.Apply(o)
	}
}

func view(t *testing.T, s *Store, typ, value string) *Profile {
	t.Helper()
	var got *Profile
	err := s.View("default", cdp.Identifier{Type: typ, Value: value}, func(p *Profile) {
		c := *p
		got = &c
	})
	if err != nil {
		t.Fatalf("view %s:%s: %v", typ, value, err)
	}
	return got
}

func TestApplyPerType(t *testing.T) {
	s, p := newTestStore(t)
	apply(s, ops(p, []msg{
		{typ: cdp.Identify, user: "u1", anon: "a1", traits: `{"name":"Ann","email":" Ann@Example.COM ","phone":"(415) 555-2671","plan":"pro"}`},
		{typ: cdp.Track, user: "u1", event: "Product Viewed", at: time.Minute, props: `{"sku":"x"}`},
		{typ: cdp.Track, user: "u1", event: "Order Completed", at: 2 * time.Minute, props: `{"revenue":"12.50","total":20}`},
		{typ: cdp.Track, user: "u1", event: "Order Completed", at: 3 * time.Minute, props: `{"products":[{"price":2.5,"quantity":2},{"price":1}]}`},
		{typ: cdp.Track, user: "u1", event: "Order Refunded", at: 4 * time.Minute, props: `{"value":1}`},
		{typ: cdp.Page, anon: "a1", name: "Home", at: 5 * time.Minute, props: `{"url":"https://shop.example/"}`},
		{typ: cdp.Screen, user: "u1", name: "Cart", at: 6 * time.Minute},
		{typ: cdp.Group, user: "u1", group: "acme", at: 7 * time.Minute},
	}))
	pr := view(t, s, cdp.IDEmail, "ann@example.com")
	checks := []struct {
		name string
		got  any
		want any
	}{
		{"events_total", pr.EventsTotal, int64(8)},
		{"page_views", pr.PageViews, int64(1)},
		{"screen_views", pr.ScreenViews, int64(1)},
		{"orders_total", pr.OrdersTotal, int64(2)},
		{"revenue", pr.Revenue(), 12.5 + 6 - 1},
		{"first_seen", pr.FirstSeen, t0.UnixNano()},
		{"last_seen", pr.LastSeen, t0.Add(7 * time.Minute).UnixNano()},
		{"last_page", pr.LastPage(), "Cart"},
		{"groups", pr.Groups(), []string{"acme"}},
		{"identifiers", pr.Identifiers, []cdp.Identifier{{Type: "anonymous_id", Value: "a1"}, {Type: "email", Value: "ann@example.com"}, {Type: "phone", Value: "+14155552671"}, {Type: "user_id", Value: "u1"}}},
		{"recent", pr.recent.len(), 8},
		{"order count", pr.EventCountSince("Order Completed", t0), 2},
		{"order count later", pr.EventCountSince("Order Completed", t0.Add(48*time.Hour)), 0},
		{"unknown count", pr.EventCountSince("Nope", t0), 0},
		{"has phone", pr.HasIdentifier(cdp.IDPhone), true},
		{"has device", pr.HasIdentifier("device_id"), false},
	}
	for _, c := range checks {
		if !reflect.DeepEqual(c.got, c.want) {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
	if v, ok := pr.Trait("plan"); !ok || v != "pro" {
		t.Errorf("trait plan = %v %v", v, ok)
	}
	if v, ok := pr.Computed("revenue_total"); !ok || v != 17.5 {
		t.Errorf("computed revenue_total = %v", v)
	}
	if v, ok := pr.Computed("event_counts.Order Completed"); !ok || v != float64(2) {
		t.Errorf("computed event_counts = %v", v)
	}
	if !slices.IsSortedFunc(slices.Collect(pr.recent.all()), cmpRecent) {
		t.Error("recent events are not sorted by time")
	}
	// Every identifier finds the same profile, normalized.
	for _, id := range pr.Identifiers {
		if got := view(t, s, id.Type, id.Value); got.CDPID != pr.CDPID {
			t.Errorf("%s finds %s, want %s", id, got.CDPID, pr.CDPID)
		}
	}
	if got := view(t, s, IDCDP, pr.CDPID); got.CDPID != pr.CDPID {
		t.Error("cdp_id look-up")
	}
}

// TestNewProfileID: a profile's id is NewCDPID of its founding event's
// smallest identifier (create prints it from the index key at hand).
func TestNewProfileID(t *testing.T) {
	s, p := newTestStore(t)
	apply(s, ops(p, []msg{{typ: cdp.Track, id: "m1", ws: "w2", user: "u1", anon: "a1", event: "Signed Up"}}))
	var got string
	if err := s.View("w2", cdp.Identifier{Type: cdp.IDUserID, Value: "u1"}, func(pr *Profile) { got = pr.CDPID }); err != nil {
		t.Fatal(err)
	}
	if want := NewCDPID("w2", cdp.Identifier{Type: cdp.IDAnonymousID, Value: "a1"}); got != want {
		t.Errorf("cdp id %s, want %s", got, want)
	}
}

func TestLateTraitsDoNotOverwrite(t *testing.T) {
	s, p := newTestStore(t)
	apply(s, ops(p, []msg{
		{typ: cdp.Identify, user: "u1", at: 2 * time.Hour, traits: `{"plan":"gold","city":"Oslo"}`},
		{typ: cdp.Identify, user: "u1", at: 1 * time.Hour, traits: `{"plan":"free","age":30}`}, // arrives late
		// Same timestamp: the later Kafka position wins.
		{typ: cdp.Identify, user: "u1", at: 2 * time.Hour, traits: `{"city":"Bergen"}`},
	}))
	pr := view(t, s, cdp.IDUserID, "u1")
	for name, want := range map[string]any{"plan": "gold", "city": "Bergen", "age": float64(30)} {
		if v, _ := pr.Trait(name); v != want {
			t.Errorf("trait %s = %v, want %v", name, v, want)
		}
	}
	if pr.FirstSeen != t0.Add(time.Hour).UnixNano() || pr.LastSeen != t0.Add(2*time.Hour).UnixNano() {
		t.Errorf("first/last seen %v %v", time.Unix(0, pr.FirstSeen), time.Unix(0, pr.LastSeen))
	}
}

// TestEpochTimestampCountsAsReceived: 0 ns is a profile's "never seen", so
// an event stamped at the Unix epoch counts at its receivedAt; else
// first_seen was the next event's or 0 by arrival order.
func TestEpochTimestampCountsAsReceived(t *testing.T) {
	epoch := time.Unix(0, 0).Sub(t0)
	msgs := []msg{
		{typ: cdp.Track, user: "u1", event: "A", at: epoch, recv: time.Hour},
		{typ: cdp.Track, user: "u1", event: "A", at: 2 * time.Hour},
	}
	inBothOrders(t, msgs, func(s *Store, reversed bool) {
		if pr := view(t, s, cdp.IDUserID, "u1"); pr.FirstSeen != t0.Add(time.Hour).UnixNano() {
			t.Errorf("reversed %v: first_seen %s, want the epoch event's receivedAt", reversed, time.Unix(0, pr.FirstSeen).UTC())
		}
	})
}

// inBothOrders applies msgs in order and reversed, each into a new store,
// and checks the store.
func inBothOrders(t *testing.T, msgs []msg, check func(s *Store, reversed bool)) {
	for _, reversed := range []bool{false, true} {
		s, p := newTestStore(t)
		prepared := ops(p, msgs)
		if reversed {
			slices.Reverse(prepared)
		}
		apply(s, prepared)
		check(s, reversed)
	}
}

// session is the seeds' story: a session whose end arrives before its
// start, and an anonymous visitor who identifies, then adds an email.
func session() []msg {
	return []msg{
		{typ: cdp.Track, anon: "a1", event: "Session Ended", at: 30 * time.Minute, partition: 1},
		{typ: cdp.Track, anon: "a1", event: "Session Started", at: 0, partition: 1},
		{typ: cdp.Page, anon: "a1", name: "Home", at: time.Minute, props: `{"url":"https://x/"}`, partition: 1},
		{typ: cdp.Identify, anon: "a1", user: "u1", at: 5 * time.Minute, traits: `{"name":"Ann","plan":"free"}`, partition: 2},
		{typ: cdp.Track, user: "u1", event: "Order Completed", at: 10 * time.Minute, props: `{"revenue":9.99}`, partition: 2},
		{typ: cdp.Identify, user: "u1", at: 12 * time.Minute, traits: `{"email":"ann@example.com","plan":"pro"}`, partition: 2},
		{typ: cdp.Track, anon: "a2", event: "Product Viewed", at: 20 * time.Minute, partition: 3},
		{typ: cdp.Alias, prev: "a2", user: "u1", at: 21 * time.Minute, partition: 2},
		{typ: cdp.Page, user: "u1", name: "Cart", at: 25 * time.Minute, partition: 2},
		{typ: cdp.Group, user: "u1", group: "acme", at: 26 * time.Minute, partition: 2},
		{typ: cdp.Identify, user: "u1", at: 8 * time.Minute, traits: `{"plan":"trial"}`, partition: 2},
	}
}

// canon renders a profile's state: without its wall-clock field and
// without cluster ids. Which transient clusters existed before a link, and
// so which id was the older one when they merged, depends on arrival
// order; the state does not. The groups and orders, which JSON does not
// show, are rendered after it.
func canon(p *Profile) string {
	c := *p
	c.UpdatedAt = 0
	c.CDPID = ""
	if c.Extra != nil {
		x := *c.Extra
		x.Aliases = nil
		c.Extra = &x
	}
	b, _ := json.Marshal(c)
	return fmt.Sprintf("%s groups %q orders %+v", b, p.Groups(), p.orders())
}

func TestOutOfOrderGivesSameProfile(t *testing.T) {
	s, p := newTestStore(t)
	in := ops(p, session())
	apply(s, in)
	want := canon(view(t, s, cdp.IDEmail, "ann@example.com"))
	if s.Stats().Profiles != 1 {
		t.Fatalf("in order: %d profiles, want 1", s.Stats().Profiles)
	}
	pr := view(t, s, cdp.IDUserID, "u1")
	if v, _ := pr.Trait("plan"); v != "pro" || pr.EventsTotal != 11 || pr.LastPage() != "Cart" {
		t.Fatalf("in order: plan %v, events %d, last page %q", v, pr.EventsTotal, pr.LastPage())
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range 50 {
		s2, p2 := newTestStore(t)
		shuffled := ops(p2, session()) // same offsets as in order
		rng.Shuffle(len(shuffled), func(a, b int) { shuffled[a], shuffled[b] = shuffled[b], shuffled[a] })
		if i == 0 {
			slices.Reverse(shuffled)
		}
		apply(s2, shuffled)
		if n := s2.Stats().Profiles; n != 1 {
			t.Fatalf("permutation %d: %d profiles, want 1", i, n)
		}
		if got := canon(view(t, s2, cdp.IDEmail, "ann@example.com")); got != want {
			t.Fatalf("permutation %d differs:\n got %s\nwant %s", i, got, want)
		}
	}
}

func TestStitchingMergesAndKeepsOlderID(t *testing.T) {
	s, p := newTestStore(t)
	apply(s, ops(p, []msg{
		{typ: cdp.Track, user: "u1", event: "Signed Up", at: 0},
		{typ: cdp.Track, anon: "a9", event: "Product Viewed", at: time.Hour},
		{typ: cdp.Track, anon: "a9", event: "Product Viewed", at: 2 * time.Hour},
	}))
	older := view(t, s, cdp.IDUserID, "u1").CDPID
	newer := view(t, s, cdp.IDAnonymousID, "a9").CDPID
	if older == newer {
		t.Fatal("two people share a profile before any link")
	}
	apply(s, ops(p, []msg{{typ: cdp.Identify, anon: "a9", user: "u1", at: 3 * time.Hour, offset: 10, id: "link"}}))
	pr := view(t, s, cdp.IDAnonymousID, "a9")
	if pr.CDPID != older {
		t.Errorf("merged id %s, want the older cluster's %s", pr.CDPID, older)
	}
	if pr.EventsTotal != 4 || pr.EventCountSince("Product Viewed", t0) != 2 {
		t.Errorf("merged counters: %d events, %d views", pr.EventsTotal, pr.EventCountSince("Product Viewed", t0))
	}
	if got := view(t, s, IDCDP, newer).CDPID; got != older {
		t.Errorf("the absorbed id %s finds %s, want %s", newer, got, older)
	}
	st := s.Stats()
	if st.Profiles != 1 || st.Merges != 1 || st.Identifiers != 2 {
		t.Errorf("stats %+v", st)
	}
}

// TestAliasLinksPreviousIDAsBoth: an alias's previous id links as a user id
// and as an anonymous id, so it joins the events of that id that came
// before it and after it alike. (Typed by what the store knew, an alias
// before the old user id's first event left that user a profile of their
// own.)
func TestAliasLinksPreviousIDAsBoth(t *testing.T) {
	msgs := []msg{
		{typ: cdp.Track, user: "u1-old", event: "Signed Up"},
		{typ: cdp.Alias, prev: "u1-old", user: "u1", at: time.Minute},
		{typ: cdp.Track, anon: "a1", event: "Product Viewed", at: 2 * time.Minute},
		{typ: cdp.Alias, prev: " a1 ", user: "u1", at: 3 * time.Minute},
		{typ: cdp.Alias, prev: "null", user: "u1", at: 4 * time.Minute}, // junk links nothing
	}
	want := []cdp.Identifier{{Type: cdp.IDAnonymousID, Value: "a1"}, {Type: cdp.IDAnonymousID, Value: "u1-old"},
		{Type: cdp.IDUserID, Value: "a1"}, {Type: cdp.IDUserID, Value: "u1"}, {Type: cdp.IDUserID, Value: "u1-old"}}
	inBothOrders(t, msgs, func(s *Store, reversed bool) {
		if n := s.Stats().Profiles; n != 1 {
			t.Fatalf("reversed %v: %d profiles, want 1", reversed, n)
		}
		if got := view(t, s, cdp.IDUserID, "u1").Identifiers; !slices.Equal(got, want) {
			t.Errorf("reversed %v: identifiers %v, want %v", reversed, got, want)
		}
		if got := s.Stats().Blocked; got[cdp.IDUserID] != 1 || got[cdp.IDAnonymousID] != 1 {
			t.Errorf("reversed %v: blocked %v, want the junk previous id once as each type", reversed, got)
		}
	})
}

// TestAliasedDevicesAreNotUsers: the devices aliased to a user id are on
// the profile as user ids too, but the cap of an email counts users, not
// them.
func TestAliasedDevicesAreNotUsers(t *testing.T) {
	s, p := newTestStore(t)
	msgs := []msg{{typ: cdp.Identify, user: "u1", traits: `{"email":"ann@example.com"}`}}
	for i := range 6 {
		msgs = append(msgs, msg{typ: cdp.Alias, prev: fmt.Sprintf("device-%d", i), user: "u1", at: time.Duration(i) * time.Minute})
	}
	msgs = append(msgs, msg{typ: cdp.Identify, user: "u1", anon: "device-9", traits: `{"email":"ann@example.com"}`, at: time.Hour})
	apply(s, ops(p, msgs))
	if st := s.Stats(); st.Shared != 0 || st.Profiles != 1 {
		t.Errorf("%d shared identifiers, %d profiles: the aliased devices counted as users", st.Shared, st.Profiles)
	}
}

func TestHygiene(t *testing.T) {
	s, p := newTestStore(t, func(c *StoreConfig) { c.Blocklist = []string{"email:shared@corp.example"} })
	var msgs []msg
	// Junk values link nobody.
	for i, junk := range []msg{
		{user: "null"}, {user: "undefined"}, {anon: "00000000-0000-0000-0000-000000000000"}, {user: "0"},
		{traits: `{"email":"test@test.com"}`}, {traits: `{"email":"shared@corp.example"}`}, {traits: `{"phone":"+1 555 555 5555"}`},
	} {
		junk.typ = cdp.Identify
		if junk.user == "" && junk.anon == "" {
			junk.user = fmt.Sprintf("real-%d", i)
		} else if junk.user == "" {
			junk.user = fmt.Sprintf("real-%d", i)
		}
		msgs = append(msgs, junk)
	}
	// One email used by 7 user ids: the first 5 merge, then it is shared.
	for i := range 7 {
		msgs = append(msgs, msg{typ: cdp.Identify, user: fmt.Sprintf("family-%d", i), traits: `{"email":"family@example.com"}`, at: time.Duration(i) * time.Minute})
	}
	apply(s, ops(p, msgs))
	st := s.Stats()
	if st.Blocked[cdp.IDUserID] != 3 || st.Blocked[cdp.IDAnonymousID] != 1 || st.Blocked[cdp.IDEmail] != 2 || st.Blocked[cdp.IDPhone] != 1 {
		t.Errorf("blocked = %v", st.Blocked)
	}
	if st.Capped[cdp.IDEmail] != 2 || st.Shared != 1 {
		t.Errorf("capped = %v, shared = %d", st.Capped, st.Shared)
	}
	for _, junk := range []cdp.Identifier{{Type: "user_id", Value: "null"}, {Type: "email", Value: "test@test.com"}, {Type: "email", Value: "shared@corp.example"}} {
		if err := s.View("default", junk, func(*Profile) {}); err == nil {
			t.Errorf("junk %s was indexed", junk)
		}
	}
	fam := view(t, s, cdp.IDEmail, "family@example.com")
	if n := len(fam.Identifiers); n != 6 { // 5 user ids + the email
		t.Errorf("family profile has %d identifiers, want 6: %v", n, fam.Identifiers)
	}
	if p6 := view(t, s, cdp.IDUserID, "family-6"); p6.CDPID == fam.CDPID || p6.HasIdentifier(cdp.IDEmail) {
		t.Error("the 7th user id was merged through a shared email")
	}
	if v, _ := view(t, s, cdp.IDUserID, "family-6").Trait("email"); v != "family@example.com" {
		t.Error("a shared email is still a trait")
	}
	// An all-blocked event is counted, not applied.
	apply(s, ops(p, []msg{{typ: cdp.Track, user: "null", event: "X", offset: 100, id: "late-junk"}}))
	if s.Stats().Unattributed != 4 { // 3 junk identifies above and this one
		t.Errorf("unattributed = %d", s.Stats().Unattributed)
	}
}

func TestDedupe(t *testing.T) {
	s, p := newTestStore(t)
	apply(s, ops(p, []msg{
		{typ: cdp.Track, user: "u1", event: "A", id: "same"},
		{typ: cdp.Track, user: "u1", event: "A", id: "same", at: time.Hour}, // a retry
		{typ: cdp.Track, user: "u1", event: "A", id: "same", ws: "other"},   // another workspace
		{typ: cdp.Track, user: "u1", event: "A", id: "same", at: 23 * time.Hour},
		{typ: cdp.Track, user: "u1", event: "A", id: "other", at: 50 * time.Hour}, // moves time past the window
		{typ: cdp.Track, user: "u1", event: "A", id: "same", at: 51 * time.Hour},
	}))
	if got := view(t, s, cdp.IDUserID, "u1").EventsTotal; got != 3 {
		t.Errorf("events_total = %d, want 3 (once within 24 h, once more after the window)", got)
	}
	if s.Stats().Duplicates != 2 {
		t.Errorf("duplicates = %d", s.Stats().Duplicates)
	}
}

func TestDedupeBounded(t *testing.T) {
	d := newDedupe(24*time.Hour, 1000)
	for i := range 5000 {
		d.seen(keyOf("w", fmt.Sprint(i)), t0)
	}
	if d.len() > 2000 {
		t.Errorf("dedupe holds %d entries, bound 1000", d.len())
	}
	if !d.seen(keyOf("w", "4999"), t0) {
		t.Error("the newest entry was forgotten")
	}
}

// TestDedupeReserve: a dedupe reserved for the keys it gets does not grow,
// before its first generation and in its newest one; it still finds them.
func TestDedupeReserve(t *testing.T) {
	slots := func(s *keySet) (n int) {
		for i := range s.parts {
			n += len(s.parts[i].slots)
		}
		return n
	}
	d := newDedupe(24*time.Hour, 1_000_000)
	d.reserve(20_000)
	d.seen(keyOf("w", "0"), t0)
	set := d.gens[0].Set
	before := slots(set)
	for i := range 20_000 {
		d.seen(keyOf("w", fmt.Sprint(i)), t0)
	}
	if slots(set) != before {
		t.Errorf("the reserved generation grew from %d to %d slots", before, slots(set))
	}
	d.reserve(30_000)
	before = slots(set)
	for i := range 30_000 {
		d.seen(keyOf("w2", fmt.Sprint(i)), t0)
	}
	if slots(set) != before {
		t.Errorf("the newest generation grew from %d to %d slots", before, slots(set))
	}
	if !d.seen(keyOf("w", "19999"), t0) || !d.seen(keyOf("w2", "0"), t0) || d.len() != 50_000 {
		t.Errorf("reserved dedupe holds %d entries, or lost one", d.len())
	}
}

func TestPoisonAdvancesOffset(t *testing.T) {
	s, p := newTestStore(t)
	for i, v := range [][]byte{[]byte("{not json"), []byte(`{"type":"track","messageId":"x"}`), []byte(`{"type":"nope"}`)} {
		o := p.Prepare(4, int64(i), v)
		if o.Err == nil {
			t.Fatalf("%s: no error", v)
		}
		s.Apply(o)
	}
	if s.Stats().Poison != 3 || s.Offsets()[4] != 3 {
		t.Errorf("poison %d, offset %d", s.Stats().Poison, s.Offsets()[4])
	}
}

func TestCheckpointRoundTrip(t *testing.T) {
	s, p := newTestStore(t)
	apply(s, ops(p, session()))
	var buf bytes.Buffer
	if _, err := s.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	cfg := s.cfg
	s2, err := ReadStore(cfg, &buf)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(s.Offsets(), s2.Offsets()) {
		t.Errorf("offsets %v, want %v", s2.Offsets(), s.Offsets())
	}
	a, b := s.Stats(), s2.Stats()
	if a.Profiles != b.Profiles || a.Identifiers != b.Identifiers || a.DedupeEntries != b.DedupeEntries {
		t.Errorf("stats after load %+v, before %+v", b, a)
	}
	for _, id := range view(t, s, cdp.IDUserID, "u1").Identifiers {
		if got, want := canon(view(t, s2, id.Type, id.Value)), canon(view(t, s, id.Type, id.Value)); got != want {
			t.Errorf("%s after load:\n got %s\nwant %s", id, got, want)
		}
	}
	// The dedupe set survived: replaying the same messages changes nothing.
	before := canon(view(t, s2, cdp.IDUserID, "u1"))
	apply(s2, ops(p, session()))
	if after := canon(view(t, s2, cdp.IDUserID, "u1")); after != before {
		t.Error("a replay after loading the checkpoint changed the profile")
	}
	// A truncated checkpoint is refused.
	buf.Reset()
	s.WriteTo(&buf)
	if _, err := ReadStore(cfg, bytes.NewReader(buf.Bytes()[:buf.Len()-20])); err == nil {
		t.Error("truncated checkpoint loaded")
	}
}

// TestCheckpointLoadInBatches: a checkpoint of many batches of profiles
// (loadProfiles decodes them on every core) loads to the same store, its
// profiles in the file's order, and a cut or a corrupt length anywhere in
// them is an error, never a store.
func TestCheckpointLoadInBatches(t *testing.T) {
	s, prep := newTestStore(t)
	applyMix(s, prep, rand.New(rand.NewPCG(3, 3)), 0, 20_000, 3_000)
	var buf bytes.Buffer
	if _, err := s.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	file := bytes.Clone(buf.Bytes())
	s2, err := ReadStore(s.cfg, &buf)
	if err != nil {
		t.Fatal(err)
	}
	if n := s.Stats().Profiles; n < 4*256 {
		t.Fatalf("%d profiles: not enough for several batches", n)
	}
	if got, want := checkpointDump(s2), checkpointDump(s); got != want {
		t.Fatalf("loaded store differs:\n got %.2000s\nwant %.2000s", got, want)
	}
	order := func(s *Store) (ids []string) {
		s.Range(func(p *Profile) bool { ids = append(ids, p.CDPID); return true })
		return ids
	}
	if !slices.Equal(order(s2), order(s)) {
		t.Error("the loaded profiles are not in the file's order")
	}
	// Handles are numbered from 1 at each load, however many loads.
	for range 2 {
		if n := s2.Stats().Profiles; int64(s2.next) != n {
			t.Fatalf("loaded %d profiles under handles up to %d", n, s2.next)
		}
		var again bytes.Buffer
		if _, err := s2.WriteTo(&again); err != nil {
			t.Fatal(err)
		}
		if s2, err = ReadStore(s.cfg, &again); err != nil {
			t.Fatal(err)
		}
	}
	// The records start after the header; cut in them and after them.
	var h checkpointHeader
	r := bytes.NewReader(file)
	if err := gob.NewDecoder(r).Decode(&h); err != nil {
		t.Fatal(err)
	}
	start := len(file) - r.Len()
	for _, at := range []int{start + 1, start + (len(file)-start)/3, len(file) - 100, len(file) - 1} {
		if _, err := ReadStore(s.cfg, bytes.NewReader(file[:at])); err == nil {
			t.Errorf("checkpoint cut at byte %d of %d loaded", at, len(file))
		}
	}
	// A record length past the end of the file, in the third batch.
	bad := bytes.Clone(file)
	off := start
	for range 600 {
		size, n := binary.Uvarint(bad[off:])
		off += n + int(size)
	}
	copy(bad[off:], binary.AppendUvarint(nil, 1<<24))
	if _, err := ReadStore(s.cfg, bytes.NewReader(bad)); err == nil || !strings.Contains(err.Error(), "profile 601 of") {
		t.Errorf("record 601 with a length past the end: %v", err)
	}
}

// TestCheckpointChecksum: a bit flipped anywhere in a checkpoint is
// refused; one in a trait's value decodes fine and only the checksum
// catches it.
func TestCheckpointChecksum(t *testing.T) {
	s, prep := newTestStore(t)
	applyMix(s, prep, rand.New(rand.NewPCG(4, 4)), 0, 3_000, 500)
	var buf bytes.Buffer
	if _, err := s.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	file := buf.Bytes()
	if _, err := ReadStore(s.cfg, bytes.NewReader(file)); err != nil {
		t.Fatal(err)
	}
	for at := 0; at < len(file); at += 1 + len(file)/300 {
		bad := bytes.Clone(file)
		bad[at] ^= 1 << (at % 8)
		if _, err := ReadStore(s.cfg, bytes.NewReader(bad)); err == nil {
			t.Errorf("bit %d of byte %d of %d flipped: loaded", at%8, at, len(file))
		}
	}
	at := bytes.Index(file, []byte("@example.com"))
	if at < 0 {
		t.Fatal("no email in the checkpoint")
	}
	if _, err := ReadStore(s.cfg, bytes.NewReader(append(bytes.Clone(file), 0))); !errors.Is(err, errCorrupt) {
		t.Errorf("a byte after the trailer: %v, want errCorrupt", err)
	}
	bad := bytes.Clone(file)
	bad[at+1] = 'f' // @fxample.com
	if _, err := ReadStore(s.cfg, bytes.NewReader(bad)); !errors.Is(err, errCorrupt) || !strings.Contains(err.Error(), "checksum") {
		t.Errorf("an email changed: %v, want a checksum error", err)
	}
}

func TestSaveLoadCheckpointFile(t *testing.T) {
	dir := t.TempDir()
	s, p := newTestStore(t)
	if _, ok, err := LoadCheckpoint(dir, s.cfg); err != nil || ok {
		t.Fatalf("empty dir: ok %v err %v", ok, err)
	}
	apply(s, ops(p, session()))
	if _, err := SaveCheckpoint(dir, s); err != nil {
		t.Fatal(err)
	}
	s2, ok, err := LoadCheckpoint(dir, s.cfg)
	if err != nil || !ok {
		t.Fatalf("load: ok %v err %v", ok, err)
	}
	if canon(view(t, s2, cdp.IDUserID, "u1")) != canon(view(t, s, cdp.IDUserID, "u1")) {
		t.Error("profile differs after save/load")
	}
}

func TestOnChangeHook(t *testing.T) {
	var changes []string
	var absorbedAll []string
	s, p := newTestStore(t, func(c *StoreConfig) {
		c.OnChange = func(pr *Profile, absorbed []string) {
			changes = append(changes, pr.CDPID)
			absorbedAll = append(absorbedAll, absorbed...)
		}
	})
	apply(s, ops(p, []msg{
		{typ: cdp.Track, user: "u1", event: "A"},
		{typ: cdp.Track, anon: "a1", event: "A", at: time.Hour},
		{typ: cdp.Identify, anon: "a1", user: "u1", at: 2 * time.Hour},
	}))
	if len(changes) != 3 || len(absorbedAll) != 1 || absorbedAll[0] != changes[1] {
		t.Errorf("changes %v absorbed %v", changes, absorbedAll)
	}
}

func TestEventCountSinceDays(t *testing.T) {
	s, p := newTestStore(t)
	var msgs []msg
	for d := range 500 {
		msgs = append(msgs, msg{typ: cdp.Track, user: "u1", event: "Login", at: time.Duration(d) * 24 * time.Hour})
	}
	apply(s, ops(p, msgs))
	pr := view(t, s, cdp.IDUserID, "u1")
	last := t0.Add(499 * 24 * time.Hour)
	cases := []struct {
		since time.Time
		want  int
	}{
		{last, 1},
		{last.Add(-6 * 24 * time.Hour), 7},
		{last.Add(-24 * time.Hour * (MaxDays - 1)), MaxDays},
		{t0, MaxDays}, // older days are forgotten
	}
	for _, c := range cases {
		if got := pr.EventCountSince("Login", c.since); got != c.want {
			t.Errorf("since %s: %d, want %d", c.since, got, c.want)
		}
	}
	if pr.EventsTotal != 500 {
		t.Errorf("events_total %d", pr.EventsTotal)
	}
}

// TestCheckpointVersion2Loads: a checkpoint written before the dedupe
// keys were packed (version 2) loads with its dedupe set. Its profiles
// keep no recent events, whose records version 6 changed (testdata holds
// a version 5 checkpoint with them).
func TestCheckpointVersion2Loads(t *testing.T) {
	s, p := newTestStore(t, func(c *StoreConfig) { c.RecentEvents = 0 })
	apply(s, ops(p, session()))
	var buf bytes.Buffer
	_, err := s.writeTo(&buf, func(h *checkpointHeader) {
		h.Version = 2
		for i, g := range h.Dedupe {
			set, err := g.keySet()
			if err != nil {
				t.Fatal(err)
			}
			h.Dedupe[i] = dedupeGenFile{Index: g.Index}
			set.each(func(k msgKey) bool {
				h.Dedupe[i].Keys = append(h.Dedupe[i].Keys, k)
				return true
			})
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	s2, err := ReadStore(s.cfg, &buf)
	if err != nil {
		t.Fatal(err)
	}
	if a, b := s.Stats(), s2.Stats(); a.DedupeEntries == 0 || a.DedupeEntries != b.DedupeEntries || a.Profiles != b.Profiles {
		t.Errorf("stats after loading version 2: %+v, before %+v", b, a)
	}
	before := canon(view(t, s2, cdp.IDUserID, "u1"))
	apply(s2, ops(p, session()))
	if after := canon(view(t, s2, cdp.IDUserID, "u1")); after != before {
		t.Error("a replay after loading the version 2 checkpoint changed the profile")
	}
	buf.Reset()
	s.writeTo(&buf, func(h *checkpointHeader) { h.Version = 1 })
	if _, err := ReadStore(s.cfg, &buf); !errors.Is(err, errCorrupt) {
		t.Errorf("version 1 checkpoint: %v, want errCorrupt", err)
	}
}

// TestViewWhileApplying: look-ups from other goroutines while the apply
// goroutine creates, merges and grows the index always find a profile
// that holds the identifier asked for (run with -race: the index is read
// under its stripe's lock while the apply goroutine writes it).
func TestViewWhileApplying(t *testing.T) {
	const people, n = 3_000, 30_000
	s, p := newTestStore(t)
	rng := rand.New(rand.NewPCG(3, 3))
	ops := make([]*Op, n)
	for i := range ops {
		ops[i] = p.Prepare(i%4, int64(i/4), speedtest.Event(rng, i, people, t0.Add(time.Duration(i)*time.Millisecond)).AppendJSON(nil))
	}
	done := make(chan struct{})
	errc := make(chan error, 2)
	for r := range 2 {
		go func() {
			rng := rand.New(rand.NewPCG(uint64(r), 9))
			found := 0
			for {
				select {
				case <-done:
					if found == 0 {
						errc <- errors.New("no look-up found a profile")
						return
					}
					errc <- nil
					return
				default:
				}
				id := cdp.Identifier{Type: cdp.IDUserID, Value: fmt.Sprintf("user-%d", rng.IntN(people))}
				if rng.IntN(2) == 0 {
					id = cdp.Identifier{Type: cdp.IDAnonymousID, Value: fmt.Sprintf("anon-%d", rng.IntN(people))}
				}
				var has bool
				err := s.View("default", id, func(pr *Profile) {
					_, has = slices.BinarySearchFunc(pr.Identifiers, id, cmpIdentifier)
				})
				switch {
				case errors.Is(err, cdp.ErrNotFound):
				case err != nil:
					errc <- err
					return
				case !has:
					errc <- fmt.Errorf("%v found a profile without it", id)
					return
				default:
					found++
				}
			}
		}()
	}
	for i, o := range ops {
		if i%warmGroup == 0 {
			s.Warm(ops[i:])
		}
		s.Apply(o)
	}
	close(done)
	for range 2 {
		if err := <-errc; err != nil {
			t.Error(err)
		}
	}
	if st := s.Stats(); st.Merges == 0 || st.Identifiers < people {
		t.Fatalf("the mix did not merge or index enough: %+v", st)
	}
}

// TestReleasedOpsLeaveStoreStrings: an op released after applying lends
// its buffer of identifiers and page to the next one unless the store kept
// a string of it (Op.kept). A store fed ops released at once ends as one fed
// ops never released; it fails if a kept identifier or last page is
// overwritten by a later op.
func TestReleasedOpsLeaveStoreStrings(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	var msgs []msg
	for i := range 3000 {
		u := rng.IntN(300)
		m := msg{id: fmt.Sprintf("m%d", i), user: fmt.Sprintf("user-%d-%s", u, strings.Repeat("x", u%7)), at: time.Duration(i) * time.Second}
		switch rng.IntN(4) {
		case 0:
			m.typ, m.anon = cdp.Identify, fmt.Sprintf("anon-%d", rng.IntN(600))
			m.traits = fmt.Sprintf(`{"email":"p%d@example.com","plan":"pro"}`, rng.IntN(400))
		case 1:
			m.typ, m.name = cdp.Page, "Home"
			m.props = fmt.Sprintf(`{"url":"https://shop.example/%s"}`, strings.Repeat("p", rng.IntN(40)))
		default:
			m.typ, m.event = cdp.Track, "Signed In"
		}
		msgs = append(msgs, m)
	}
	released, prep := newTestStore(t)
	for i, m := range msgs {
		o := prep.Prepare(0, int64(i), m.value())
		released.Apply(o)
		prep.Release(o)
	}
	kept, prep2 := newTestStore(t)
	apply(kept, ops(prep2, msgs))
	want := map[string]string{}
	kept.Range(func(p *Profile) bool { want[p.CDPID] = canon(p); return true })
	n := 0
	released.Range(func(p *Profile) bool {
		if got := canon(p); got != want[p.CDPID] {
			t.Fatalf("profile %s:\n got %s\nwant %s", p.CDPID, got, want[p.CDPID])
		}
		n++
		return true
	})
	if n != len(want) {
		t.Fatalf("%d profiles, want %d", n, len(want))
	}
}
