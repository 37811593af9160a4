package speed

import (
	"encoding/json"
	"errors"
	"reflect"
	"testing"

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
		Extra:  &ProfileExtra{Aliases: []string{"cdp_9"}, LastPage: LWWString{Value: "https://x/", TS: 1, Seq: 2}, Groups: []string{"acme", "b"}},
	}
	p.recent.addEvent(RecentEvent{Type: cdp.Track, Name: "Order Completed", MessageID: "m1", TS: 150, Seq: 1025, Properties: `{"revenue":1}`}, 20)
	p.recent.addEvent(RecentEvent{Type: cdp.Page, Name: "Home", MessageID: "m0", TS: 140, Seq: 2049}, 20)
	return p
}

func TestProfileCodecRoundTrip(t *testing.T) {
	for _, p := range []*Profile{fullProfile(), {CDPID: "cdp_1", Workspace: "w"}} {
		got, err := decodeProfile(encodeProfile(nil, p), nil)
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
		if _, err := decodeProfile(rec[:i], nil); err == nil {
			t.Fatalf("a record cut at %d of %d bytes decoded", i, len(rec))
		}
	}
}

// TestProfileCodecCoversEveryField fails when Profile gains a field: add
// it to encodeProfile/decodeProfile and to fullProfile, then here. Only
// saved and changed, which snapshots keep for themselves, are not written.
func TestProfileCodecCoversEveryField(t *testing.T) {
	want := map[string]int{"Profile": 17, "ProfileExtra": 3, "Trait": 4, "RecentEvent": 6, "EventCount": 3}
	for _, v := range []any{Profile{}, ProfileExtra{}, Trait{}, RecentEvent{}, EventCount{}} {
		typ := reflect.TypeOf(v)
		if n := typ.NumField(); n != want[typ.Name()] {
			t.Errorf("%s has %d fields, the checkpoint codec writes %d", typ.Name(), n, want[typ.Name()])
		}
	}
	p := fullProfile()
	rv := reflect.ValueOf(p).Elem()
	for i := range rv.NumField() {
		if name := rv.Type().Field(i).Name; rv.Field(i).IsZero() && name != "saved" && name != "changed" {
			t.Errorf("fullProfile leaves %s zero: the round trip does not cover it", name)
		}
	}
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
