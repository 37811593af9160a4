package land

import (
	"encoding/json"
	"fmt"
	"reflect"
	"testing"
	"time"

	cdp "github.com/tributary-cdp/tributary"
	"github.com/tributary-cdp/tributary/lake"
)

func decodeSeeds() [][]byte {
	at := time.Date(2026, 11, 1, 10, 0, 0, 123456789, time.FixedZone("x", 3600))
	utc := time.Date(2026, 9, 25, 23, 30, 10, 0, time.UTC)
	var out [][]byte
	for _, e := range []cdp.Event{
		{Workspace: "w", MessageID: "m0", Type: cdp.Page, Event: "e", Name: "n", Category: "c", UserID: "u",
			AnonymousID: "a", PreviousID: "p", GroupID: "g", Timestamp: at, OriginalTimestamp: &at, SentAt: &utc, ReceivedAt: utc,
			Properties: json.RawMessage(`{"url": "https://x/", "n": [1, 2.5e-3, {"a": null}]}`), Traits: json.RawMessage(`{}`),
			Context: json.RawMessage(`{"ip":"1.2.3.4"}`), Integrations: json.RawMessage(`{"All":true}`)},
		{Workspace: "w", MessageID: "m1", Type: cdp.Identify, UserID: "U\u00e9", Timestamp: at, ReceivedAt: at,
			Traits: json.RawMessage(`{ "email" : "A@B.CO", "a\"b": [1, {"x": null}], "n": -1.5e+3, "t": true }`)},
		{Workspace: "w", MessageID: "m2", Type: cdp.Identify, UserID: "web-5001", AnonymousID: "anon-b55fcc04", Timestamp: utc, ReceivedAt: utc,
			Traits: json.RawMessage(`{"email":"matthew.turing1@inbox.example.com","first_name":"Matthew"}`)},
		{Workspace: "w", MessageID: "m3", Type: cdp.Track, Event: "Order Completed", UserID: "u", Timestamp: at, ReceivedAt: at,
			Properties: json.RawMessage(`{"revenue":"12.50","products":[{"price":1,"quantity":2}]}`)},
		{Workspace: "w", MessageID: "m4", Type: cdp.Alias, UserID: "u", PreviousID: " a ", Timestamp: at, ReceivedAt: at},
		{Workspace: "w", MessageID: "m5", Type: cdp.Group, AnonymousID: "a", GroupID: "g", Timestamp: time.Time{}, ReceivedAt: at},
		{Workspace: "", MessageID: "m6", Type: cdp.Track, Event: "e", UserID: "u", Timestamp: at, ReceivedAt: at},
		{Workspace: "w", MessageID: "m7", Type: cdp.Track, UserID: "u", Timestamp: at, ReceivedAt: at},
		{Workspace: "w", MessageID: "", Type: cdp.Track, Event: "e", UserID: "u", Timestamp: at, ReceivedAt: at},
		{Workspace: "w", MessageID: "m9", Type: "nope", Event: "e", UserID: "u", Timestamp: at, ReceivedAt: at},
	} {
		out = append(out, e.AppendJSON(nil))
		v, _ := json.Marshal(e)
		out = append(out, v)
	}
	for _, s := range []string{
		`{"workspace":"w","messageId":"m","type":"track","event":"e","userId":"u","timestamp":"2026-11-01T00:00:00Z","receivedAt":"2026-11-01T00:00:00Z","properties":null}`,
		`{"workspace":"w","messageId":"m","type":"track","event":"e","userId":"u","timestamp":"2026-11-01T00:00:00Z","receivedAt":"2026-11-01T00:00:00Z"} `,
		`{"workspace":"w","messageId":"m","type":"track","event":"e","userId":"u","timestamp":"2026-11-01T24:00:00Z","receivedAt":"2026-11-01T00:00:00Z"}`,
		`{"workspace":"w","messageId":"m","type":"track","event":"e","userId":"u","timestamp":"2026-11-01T00:00:00+02:00","receivedAt":"2026-11-01T00:00:00.5-07:30"}`,
		`{"workspace":"w","messageId":"m","type":"identify","userId":"u","timestamp":"2026-11-01T00:00:00Z","receivedAt":"2026-11-01T00:00:00Z","traits":{"a":01}}`,
		`{"workspace":"w","messageId":"m","type":"identify","userId":"u","timestamp":"2026-11-01T00:00:00Z","receivedAt":"2026-11-01T00:00:00Z","traits":{"a":"\u00"}}`,
		`{"workspace":"w","messageId":"m","type":"identify","userId":"u","timestamp":"2026-11-01T00:00:00Z","receivedAt":"2026-11-01T00:00:00Z","traits":[1]}`,
		`{"workspace":"w","messageId":"m","type":"identify","userId":"u","timestamp":"2026-11-01T00:00:00Z","receivedAt":"2026-11-01T00:00:00Z","Traits":{}}`,
		`{"workspace":"w","messageId":"m","type":"identify","userId":"u","userId":"v","timestamp":"2026-11-01T00:00:00Z","receivedAt":"2026-11-01T00:00:00Z"}`,
		`{"workspace":"acme","type":"nope"`,
		`{"":"","":"","":"e29","tim\`,
		`{"workspace":"acme","type":"track","event":"e","userId":"\u00`,
		`{"workspace":"acme","type":"track","event":"e","userId":"u","timestamp":"2026-11-20T12:00:00Z\`,
	} {
		out = append(out, []byte(s))
	}
	return out
}

// FuzzDecode checks the canonical decoder against the general one: the
// same row or the same error, whatever the input.
func FuzzDecode(f *testing.F) {
	for _, v := range decodeSeeds() {
		f.Add(v)
	}
	f.Fuzz(func(t *testing.T, v []byte) {
		in := append([]byte(nil), v...)
		got, gotErr := decode(in, 3, 7)
		want, wantErr := decodeGeneral(v, 3, 7)
		if fmt.Sprint(gotErr) != fmt.Sprint(wantErr) || !reflect.DeepEqual(got, want) {
			t.Fatalf("decode differs from the general decoder on %q:\n got %+v, %v\nwant %+v, %v", v, got, gotErr, want, wantErr)
		}
	})
}

// TestDecodeCanonicalTakesCollectorForm: what the collector writes takes
// the fast path (else FuzzDecode compares the general decoder with
// itself), and what it does not write does not.
func TestDecodeCanonicalTakesCollectorForm(t *testing.T) {
	seeds := decodeSeeds()
	fast := 0
	for _, v := range seeds {
		var r lake.EventRow
		if decodeCanonical(v, &r) {
			fast++
		}
	}
	// The six valid events other than m1 (a non-ASCII userId), both as
	// AppendJSON and as json.Marshal writes them (the same here), and the
	// one string with zone offsets.
	if fast != 11 {
		t.Errorf("%d of %d seeds took the canonical path, want 11", fast, len(seeds))
	}
	var r lake.EventRow
	if !decodeCanonical(seeds[0], &r) || r.Category != "c" || r.OriginalTimestamp == nil || r.SentAt == nil || r.Integrations != `{"All":true}` {
		t.Errorf("the full event did not take the canonical path whole: %+v", r)
	}
}

// A message written past the collector (kcat, another producer) with a
// byte that is not UTF-8 or a lone surrogate lands mended, on either
// path, so that DuckDB can read the file cleanse reads.
func TestDecodeMendsText(t *testing.T) {
	head := `{"workspace":"w","messageId":"m","type":"identify","userId":"u","timestamp":"2026-11-01T00:00:00Z","receivedAt":"2026-11-01T00:00:00Z",`
	for _, c := range []struct{ in, traits string }{
		{head + `"traits":{"name":"Jos` + "\xe9" + `"}}`, `{"name":"Jos` + "\uFFFD" + `"}`},
		{head + `"traits":{"name":"cut \ud83d"}}`, `{"name":"cut \ufffd"}`}, // the escape stays an escape
		{head + `"traits":{"name":"pair \ud83d\ude00"}}`, `{"name":"pair \ud83d\ude00"}`},
	} {
		r, err := decode([]byte(c.in), 0, 1)
		if err != nil || r.Traits != c.traits {
			t.Errorf("%q: traits %q, %v; want %q", c.in, r.Traits, err, c.traits)
		}
		g, err := decodeGeneral([]byte(c.in), 0, 1)
		if err != nil || g.Traits != c.traits {
			t.Errorf("%q: general path traits %q, %v; want %q", c.in, g.Traits, err, c.traits)
		}
	}
}
