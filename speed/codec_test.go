package speed

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"reflect"
	"slices"
	"testing"
	"time"

	cdp "github.com/tributary-cdp/tributary"
)

func fullProfile() *Profile {
	p := &Profile{
		CDPID: "cdp_0123", Workspace: "default",
		Identifiers: []cdp.Identifier{{Type: "email", Value: "a@b.co"}, {Type: "user_id", Value: "u1"}},
		Traits:      []Trait{NewTrait("plan", `"pro"`, 5, 7), NewTrait("x", `null`, -1, 0)},
		EventsTotal: 9, PageViews: 2, ScreenViews: 1, OrdersTotal: 3, RevenueMicros: -12_500_000,
		FirstSeen: 100, LastSeen: 200, UpdatedAt: 300,
		Events: []EventCount{{Name: "Order Completed", Total: 3, Days: []DayCount{{Day: -1, N: 1}, {Day: 20000, N: 2}}}},
		Extra: &ProfileExtra{Aliases: []string{"cdp_9"}, LastPage: LWWString{Value: "https://x/", TS: 1, Seq: 2},
			more: &extraMore{groups: []string{"acme", "b"}, orders: []order{
				{id: "o1", ts: 150, seq: 1025, amount: 25_000_000, total: 27_500_000, refundTotal: 1, refundTotalAmount: 2, refundOther: -3,
					flags: orderCompleted | orderHasTotal | orderRefundFull},
				{id: "o2", refundOther: 4},
			}}},
	}
	p.recent.addEvent(RecentEvent{Type: cdp.Track, Name: "Order Completed", MessageID: "m1", TS: 150, Seq: 1025, Properties: `{"revenue":1}`}, 20)
	p.recent.addEvent(RecentEvent{Type: cdp.Page, Name: "Home", MessageID: "m0", TS: 140, Seq: 2049}, 20)
	p.recent.addEvent(RecentEvent{Type: cdp.Group, GroupID: "acme", MessageID: "m2", TS: 160, Seq: 3073, Properties: `{"name":"Acme"}`}, 20)
	p.recent.addEvent(RecentEvent{Type: cdp.Alias, PreviousID: "a1", MessageID: "m3", TS: 170, Seq: 4097}, 20)
	p.recent.addEvent(RecentEvent{Type: cdp.Identify, MessageID: "m4", TS: 180, Seq: 5121, Truncated: true}, 20)
	return p
}

func TestProfileCodecRoundTrip(t *testing.T) {
	for _, p := range []*Profile{fullProfile(), {CDPID: "cdp_1", Workspace: "w"}} {
		got, err := decodeProfile(encodeProfile(nil, p), checkpointVersion, nil)
		if err != nil {
			t.Fatal(err)
		}
		// DeepEqual compares a trait's value pointer by its first byte
		// only: compare the JSON rendering (names and values) too.
		gj, _ := json.Marshal(got)
		pj, _ := json.Marshal(p)
		if !reflect.DeepEqual(got, p) || string(gj) != string(pj) {
			t.Errorf("round trip:\n got %s\nwant %s", gj, pj)
		}
	}
	rec := encodeProfile(nil, fullProfile())
	for i := 0; i < len(rec); i++ {
		if _, err := decodeProfile(rec[:i], checkpointVersion, nil); err == nil {
			t.Fatalf("a record cut at %d of %d bytes decoded", i, len(rec))
		}
	}
}

// TestProfileCodecCoversEveryField fails when Profile gains a field: add
// it to encodeProfile/decodeProfile and to fullProfile, then here. Only
// saved and changed, which snapshots keep for themselves, are not written.
func TestProfileCodecCoversEveryField(t *testing.T) {
	want := map[string]int{"Profile": 17, "ProfileExtra": 3, "extraMore": 2, "order": 9, "Trait": 4, "RecentEvent": 9, "EventCount": 3}
	for _, v := range []any{Profile{}, ProfileExtra{}, extraMore{}, order{}, Trait{}, RecentEvent{}, EventCount{}} {
		typ := reflect.TypeOf(v)
		if n := typ.NumField(); n != want[typ.Name()] {
			t.Errorf("%s has %d fields, the checkpoint codec writes %d", typ.Name(), n, want[typ.Name()])
		}
	}
	p := fullProfile()
	for _, rv := range []reflect.Value{reflect.ValueOf(p).Elem(), reflect.ValueOf(p.Extra).Elem(), reflect.ValueOf(p.Extra.more).Elem(), reflect.ValueOf(p.orders()[0])} {
		for i := range rv.NumField() {
			if name := rv.Type().Field(i).Name; rv.Field(i).IsZero() && name != "saved" && name != "changed" {
				t.Errorf("fullProfile leaves %s.%s zero: the round trip does not cover it", rv.Type().Name(), name)
			}
		}
	}
	set := map[string]bool{}
	for e := range p.RecentEvents() {
		ev := reflect.ValueOf(e)
		for i := range ev.NumField() {
			set[ev.Type().Field(i).Name] = set[ev.Type().Field(i).Name] || !ev.Field(i).IsZero()
		}
	}
	for name, ok := range set {
		if !ok {
			t.Errorf("fullProfile's recent events leave %s zero: the round trip does not cover it", name)
		}
	}
}

// TestCheckpointVersion5Loads: a checkpoint that the version 5 build wrote
// (testdata) loads its recent events as that build kept them: no group or
// previous id, no identify traits (its properties, which it kept instead,
// left out), nothing marked truncated; and writes and loads again as
// this version to the same.
func TestCheckpointVersion5Loads(t *testing.T) {
	s := loadFixture(t, "testdata/checkpoint-v5.gob", 5)
	at := func(sec int) int64 { return t0.Add(time.Duration(sec) * time.Second).UnixNano() }
	want := []RecentEvent{
		{Type: cdp.Track, Name: "Order Completed", MessageID: "m0", TS: at(1), Seq: 0, Properties: `{"revenue":5}`},
		{Type: cdp.Page, Name: "Home", MessageID: "m1", TS: at(2), Seq: 1024, Properties: `{"url":"https://x/"}`},
		{Type: cdp.Identify, MessageID: "m2", TS: at(3), Seq: 2048},
		{Type: cdp.Group, MessageID: "m3", TS: at(4), Seq: 3072},
		{Type: cdp.Alias, MessageID: "m4", TS: at(5), Seq: 4096},
		{Type: cdp.Track, Name: "Big", MessageID: "m5", TS: at(6), Seq: 5120},
	}
	p := view(t, s, cdp.IDUserID, "u1")
	if got := p.recent.events(); !reflect.DeepEqual(got, want) {
		t.Errorf("recent events of version 5:\n got %v\nwant %v", got, want)
	}
	if plan, _ := p.Trait("plan"); p.EventsTotal != 6 || plan != "pro" || !slices.Equal(p.Groups(), []string{"acme"}) {
		t.Errorf("profile of version 5: %d events, plan %v, groups %v", p.EventsTotal, plan, p.Groups())
	}
	q := view(t, rewritten(t, s), cdp.IDUserID, "u1")
	if a, b := canon(p), canon(q); a != b || !reflect.DeepEqual(q.recent.events(), want) {
		t.Errorf("written as version %d and loaded:\n%s %v\nwant\n%s %v", checkpointVersion, b, q.recent.events(), a, want)
	}
}

// loadFixture loads the checkpoint at path, which must be of version.
func loadFixture(t *testing.T, path string, version int) *Store {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	s, h, err := readStore(DefaultStoreConfig(), f)
	if err != nil || h.Version != version {
		t.Fatalf("%s: version %d, want %d: %v", path, h.Version, version, err)
	}
	return s
}

// rewritten is s written as a checkpoint of this version and loaded.
func rewritten(t *testing.T, s *Store) *Store {
	t.Helper()
	var buf bytes.Buffer
	if _, err := s.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	again, err := ReadStore(s.cfg, &buf)
	if err != nil {
		t.Fatal(err)
	}
	return again
}

// TestDedupeGenFileReadsBothForms: checkpoints written before the keys
// were packed still load, to the same set.
func TestDedupeGenFileReadsBothForms(t *testing.T) {
	want := map[msgKey]struct{}{{1, 2}: {}, {3, 1 << 63}: {}, {0, 0}: {}}
	old := dedupeGenFile{Keys: []msgKey{{1, 2}, {3, 1 << 63}, {0, 0}}}
	packed := dedupeGenFile{Packed: packKeys(want)}
	for name, g := range map[string]dedupeGenFile{"keys": old, "packed": packed} {
		set, err := g.keySet()
		got := map[msgKey]struct{}{}
		if err == nil {
			set.each(func(k msgKey) bool { got[k] = struct{}{}; return true })
		}
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("%s: %v, %v; want %v", name, got, err, want)
		}
	}
	if _, err := (&dedupeGenFile{Packed: make([]byte, 15)}).keySet(); !errors.Is(err, errCorrupt) {
		t.Errorf("15 packed bytes: %v, want errCorrupt", err)
	}
}
