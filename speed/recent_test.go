package speed

import (
	"cmp"
	"encoding/json"
	"math/rand/v2"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	cdp "github.com/tributary-cdp/tributary"
)

func cmpRecent(a, b RecentEvent) int {
	return cmp.Or(cmp.Compare(a.TS, b.TS), cmp.Compare(a.Seq, b.Seq))
}

func (l *recentList) addEvent(e RecentEvent, keep int) { l.add(appendRecord(nil, &e), keep) }

// events returns copies of l's events, oldest first.
func (l recentList) events() []RecentEvent {
	var es []RecentEvent
	for e := range l.all() {
		for _, s := range []*string{&e.Name, &e.GroupID, &e.PreviousID, &e.MessageID, &e.Properties} {
			*s = strings.Clone(*s)
		}
		es = append(es, e)
	}
	return es
}

// newestOf is what a list of at most keep holds after es: the newest
// keep by (TS, Seq), oldest first.
func newestOf(es []RecentEvent, keep int) []RecentEvent {
	es = slices.Clone(es)
	slices.SortStableFunc(es, cmpRecent)
	return es[max(0, len(es)-keep):]
}

// randomEvent has a time among few (ties, out of order), strings of 0
// to a few hundred bytes (uvarint lengths of 1 and 2 bytes), and some
// properties left out.
func randomEvent(rng *rand.Rand, i int) RecentEvent {
	e := RecentEvent{Type: cdp.EventTypes[rng.IntN(len(cdp.EventTypes))], MessageID: "m" + strconv.Itoa(i),
		TS: rng.Int64N(50), Seq: int64(i), Properties: strings.Repeat("p", rng.IntN(300))}
	e.setSubject(strings.Repeat("n", rng.IntN(3)*70))
	e.Truncated = e.Properties == "" || rng.IntN(10) == 0
	return e
}

// checkList checks l's header and newest offset against its records.
func checkList(t *testing.T, l recentList) {
	t.Helper()
	if len(l) == 0 {
		return
	}
	n, last := 0, 0
	for off := recentHdr; off < len(l); off = l.end(off) {
		n, last = n+1, off
	}
	if n != l.len() || last != l.newest() {
		t.Fatalf("header says %d records, newest at %d; the records: %d, newest at %d", l.len(), l.newest(), n, last)
	}
}

// TestRecentListKeepsTheNewest checks the list against a sorted slice cut
// to the newest keep: events in any order, ties on time broken by Seq.
func TestRecentListKeepsTheNewest(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, keep := range []int{1, 2, 5, 20} {
		var l recentList
		var want []RecentEvent
		for i := range 2000 {
			e := randomEvent(rng, i)
			l.addEvent(e, keep)
			want = newestOf(append(want, e), keep)
			checkList(t, l)
			if got := l.events(); !reflect.DeepEqual(got, want) {
				t.Fatalf("keep %d, after %d events: got %v, want %v", keep, i+1, got, want)
			}
		}
		if cap(l) > 2*len(l)+512 {
			t.Errorf("keep %d: %d bytes held for %d used", keep, cap(l), len(l))
		}
	}
}

func TestRecentListTiesBySeq(t *testing.T) {
	var l recentList
	for _, seq := range []int64{5, 1, 9, 3} {
		l.addEvent(RecentEvent{Type: cdp.Track, TS: 7, Seq: seq}, 3)
	}
	var seqs []int64
	for e := range l.all() {
		seqs = append(seqs, e.Seq)
	}
	if !slices.Equal(seqs, []int64{3, 5, 9}) {
		t.Errorf("same time, seqs %v; want [3 5 9]", seqs)
	}
}

// TestRecentListKeepLowered: a list filled under a larger keep is cut to
// the new one by the next event, whether that event is kept or not.
func TestRecentListKeepLowered(t *testing.T) {
	fill := func() recentList {
		var l recentList
		for i := range 5 {
			l.addEvent(RecentEvent{Type: cdp.Track, TS: int64(i)}, 5)
		}
		return l
	}
	for _, c := range []struct {
		name string
		ts   int64
		want []int64
	}{
		{"newest", 9, []int64{4, 9}},
		{"middle", 3, []int64{3, 4}},
		{"oldest", -1, []int64{3, 4}},
	} {
		l := fill()
		l.addEvent(RecentEvent{Type: cdp.Track, TS: c.ts, Seq: 1}, 2)
		checkList(t, l)
		var ts []int64
		for e := range l.all() {
			ts = append(ts, e.TS)
		}
		if !slices.Equal(ts, c.want) {
			t.Errorf("%s: cut to 2: %v, want %v", c.name, ts, c.want)
		}
	}
	var l recentList
	l.addEvent(RecentEvent{Type: cdp.Track, TS: 1}, 0)
	if len(l) != 0 {
		t.Error("a list of at most 0 events kept one")
	}
}

// TestRecentListMerge: merging two profiles' lists keeps the newest of
// both, whichever is merged into which, as adding one by one does.
func TestRecentListMerge(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for round := range 300 {
		keep := 1 + rng.IntN(25)
		var a, b recentList
		var all []RecentEvent
		for i := range rng.IntN(40) {
			e := randomEvent(rng, 1000*round+i)
			all = append(all, e)
			if rng.IntN(2) == 0 {
				a.addEvent(e, keep)
			} else {
				b.addEvent(e, keep)
			}
		}
		ab, ba, one := slices.Clone(a), slices.Clone(b), slices.Clone(a)
		ab.merge(b, keep)
		ba.merge(a, keep)
		for rec := range b.records() {
			one.add(rec, keep)
		}
		want := newestOf(all, keep)
		for name, l := range map[string]recentList{"a+b": ab, "b+a": ba, "one by one": one} {
			checkList(t, l)
			if got := l.events(); !reflect.DeepEqual(got, want) && len(got)+len(want) > 0 {
				t.Fatalf("round %d, keep %d, %s: got %v, want %v", round, keep, name, got, want)
			}
		}
		if len(ab) > 0 && cap(ab) != len(ab) && len(b) > 0 {
			t.Errorf("round %d: merged list holds %d bytes for %d", round, cap(ab), len(ab))
		}
	}
}

// TestRecentListNewestFirst: RecentEvents (the activation API's order)
// is all's order reversed.
func TestRecentListNewestFirst(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	p := &Profile{}
	for i := range 50 { // more than backward's offsets on the stack
		e := randomEvent(rng, i)
		p.recent.addEvent(e, 40)
	}
	got := slices.Collect(p.RecentEvents())
	slices.Reverse(got)
	if want := slices.Collect(p.recent.all()); !reflect.DeepEqual(got, want) {
		t.Errorf("newest first, reversed: %v\nwant %v", got, want)
	}
}

// TestRecentCheckpointRoundTrip: a list out of order, cut, merged comes
// back from its checkpoint record the same, byte for byte, with its room
// trimmed; a record with an unknown event type does not load.
func TestRecentCheckpointRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	p := &Profile{CDPID: "cdp_1", Workspace: "w"}
	for i := range 100 {
		e := randomEvent(rng, i)
		p.recent.addEvent(e, 20)
	}
	q := &Profile{}
	q.recent.addEvent(RecentEvent{Type: cdp.Group, MessageID: "g", TS: 49, Seq: 1 << 40}, 20)
	p.recent.merge(q.recent, 20)
	got, err := decodeProfile(encodeProfile(nil, p), checkpointVersion, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got.recent, p.recent) || cap(got.recent) != len(got.recent) {
		t.Errorf("round trip: %d bytes (room %d), want %d", len(got.recent), cap(got.recent), len(p.recent))
	}

	bad := &Profile{CDPID: "cdp_1", Workspace: "w"}
	bad.recent.addEvent(RecentEvent{Type: cdp.Alias, TS: 1}, 20)
	rec := encodeProfile(nil, bad)
	i := strings.Index(string(rec), "alias")
	copy(rec[i:], "alibi")
	if _, err := decodeProfile(rec, checkpointVersion, nil); err == nil || !strings.Contains(err.Error(), `"alibi"`) {
		t.Errorf("a recent event of type alibi: %v", err)
	}
}

// TestApplyRecordsRecentEvents: what an applied event leaves in the list,
// per type, and that nothing of it points into the message or the op,
// which are reused.
func TestApplyRecordsRecentEvents(t *testing.T) {
	cfg := DefaultStoreConfig()
	s, _ := NewStore(cfg)
	prep := NewPreparer(cfg)
	at := time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC)
	big := `{"a":"` + strings.Repeat("x", maxRecentProps) + `"}`
	cases := []struct {
		e    cdp.Event
		want RecentEvent // but for the message id, TS and Seq
	}{
		{cdp.Event{Type: cdp.Track, Event: "Order Completed", Properties: json.RawMessage(`{"revenue":1}`)},
			RecentEvent{Name: "Order Completed", Properties: `{"revenue":1}`}},
		{cdp.Event{Type: cdp.Track, Event: "Big", Properties: json.RawMessage(big)},
			RecentEvent{Name: "Big", Truncated: true}},
		{cdp.Event{Type: cdp.Page, Name: "Home", Properties: json.RawMessage(`{"url":"https://x/"}`)},
			RecentEvent{Name: "Home", Properties: `{"url":"https://x/"}`}},
		{cdp.Event{Type: cdp.Screen, Name: "Cart", Properties: json.RawMessage(`null`)},
			RecentEvent{Name: "Cart"}},
		// A group keeps its traits, not properties; an identify neither (its
		// traits are the profile's).
		{cdp.Event{Type: cdp.Identify, Traits: json.RawMessage(`{"plan":"pro"}`), Properties: json.RawMessage(`{"p":1}`)},
			RecentEvent{}},
		{cdp.Event{Type: cdp.Group, GroupID: "acme", Traits: json.RawMessage(`{"name":"Acme"}`), Properties: json.RawMessage(`{"p":1}`)},
			RecentEvent{GroupID: "acme", Properties: `{"name":"Acme"}`}},
		{cdp.Event{Type: cdp.Group, GroupID: "big", Traits: json.RawMessage(big)},
			RecentEvent{GroupID: "big", Truncated: true}},
		{cdp.Event{Type: cdp.Alias, PreviousID: "a1"},
			RecentEvent{PreviousID: "a1"}},
	}
	var want []RecentEvent
	for i, c := range cases {
		e := c.e
		e.Workspace, e.UserID, e.MessageID = "w", "u1", "m"+strconv.Itoa(i)
		e.Timestamp, e.ReceivedAt = at.Add(time.Duration(-i)*time.Second), at
		v := e.AppendJSON(nil)
		o := prep.Prepare(0, int64(i), v)
		s.Apply(o)
		clear(v)
		prep.Release(o)
		r := c.want
		r.Type, r.MessageID, r.TS, r.Seq = e.Type, e.MessageID, e.Timestamp.UnixNano(), int64(i)<<10
		want = append(want, r)
	}
	prep.Release(prep.Prepare(0, 99, []byte(`{}`)))
	slices.Reverse(want) // the later the message, the older the event
	_ = s.View("w", cdp.Identifier{Type: cdp.IDUserID, Value: "u1"}, func(p *Profile) {
		if got := p.recent.events(); !reflect.DeepEqual(got, want) {
			t.Errorf("recent events:\n got %v\nwant %v", got, want)
		}
	})
}
