package speed

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	gojson "github.com/goccy/go-json"

	cdp "github.com/tributary-cdp/tributary"
)

// FuzzPrepareApply feeds arbitrary Kafka values through the speed layer:
// it must never panic, and a value that is not a valid event must come
// back as a poison op (counted, skipped), not be applied.
func FuzzPrepareApply(f *testing.F) {
	for _, m := range session() {
		f.Add(m.value())
	}
	for _, s := range []string{
		`{}`, `null`, `[]`, `{"workspace":"w","messageId":"m","type":"identify","userId":"u","traits":[1,2]}`,
		`{"workspace":"w","messageId":"m","type":"track","userId":"u","event":"Order Completed","properties":{"revenue":"1e400"}}`,
		`{"workspace":"w","messageId":"m","type":"alias","userId":"u","previousId":"null"}`,
		`{"workspace":"w","messageId":"m","type":"identify","anonymousId":"a","traits":{"email":"A@B.CO","phone":4155552671}}`,
	} {
		f.Add([]byte(s))
	}
	cfg := DefaultStoreConfig()
	p := NewPreparer(cfg)
	f.Fuzz(func(t *testing.T, v []byte) {
		s, err := NewStore(cfg)
		if err != nil {
			t.Fatal(err)
		}
		o := p.Prepare(0, 0, v)
		s.Apply(o)
		st := s.Stats()
		if o.Err != nil && (st.Poison != 1 || st.Profiles != 0) {
			t.Fatalf("poison op applied: %+v", st)
		}
		if o.Err == nil && st.Poison != 0 {
			t.Fatalf("valid op counted as poison")
		}
	})
}

// FuzzDecodeCanonical checks the fast decoders (the canonical event form,
// trait objects, page urls, order revenue) against the general one: the
// same op, field for field, whatever the input. The fast side recycles
// its ops, as the consumer does, so nothing of one may show in the next.
func FuzzDecodeCanonical(f *testing.F) {
	for _, m := range session() {
		f.Add(m.value())
	}
	for _, v := range benchValues(200) {
		f.Add(v)
	}
	at := time.Date(2026, 11, 1, 10, 0, 0, 123456789, time.FixedZone("x", 3600))
	for _, e := range []cdp.Event{
		{Workspace: "w", MessageID: "m1", Type: cdp.Identify, UserID: "U\u00e9", Timestamp: at, ReceivedAt: at,
			Traits: json.RawMessage(`{ "email" : "A@B.CO", "a\"b": [1, {"x": null}], "n": -1.5e+3, "t": true }`)},
		{Workspace: "w", MessageID: "m2", Type: cdp.Page, Name: "Home", AnonymousID: "a", Timestamp: at, ReceivedAt: at,
			Properties: json.RawMessage(`{"URL":"https://x/","path":"/p","url":"https://y/"}`), Category: "c",
			Context: json.RawMessage(`{"ip":"1.2.3.4"}`), Integrations: json.RawMessage(`{"All":true}`)},
		{Workspace: "w", MessageID: "m3", Type: cdp.Page, AnonymousID: "a", Timestamp: at, ReceivedAt: at, SentAt: &at, OriginalTimestamp: &at,
			Properties: json.RawMessage(`{"url":"https:\/\/x\/","path":"/p"}`)},
		{Workspace: "w", MessageID: "m4", Type: cdp.Identify, UserID: "u", Timestamp: at, ReceivedAt: at,
			Traits: json.RawMessage(`{"plan":"a","plan":"b","phone":4155552671}`)},
		{Workspace: "w", MessageID: "m5", Type: cdp.Track, Event: "Order Completed", UserID: "u", Timestamp: at, ReceivedAt: at,
			Properties: json.RawMessage(`{"revenue":"12.50","products":[{"price":1,"quantity":2}]}`)},
		{Workspace: "w", MessageID: "m7", Type: cdp.Track, Event: "Order Refunded", UserID: "u", Timestamp: at, ReceivedAt: at,
			Properties: json.RawMessage(`{"revenue":null,"total":" 7.25","value":3,"Value":4,"currency":"EUR"}`)},
		{Workspace: "w", MessageID: "m8", Type: cdp.Track, Event: "Order Completed", UserID: "u", Timestamp: at, ReceivedAt: at,
			Properties: json.RawMessage(`{"order_id":"o1","revenue":19.99,"revenue":"x","value":2}`)},
		{Workspace: "w", MessageID: "m9", Type: cdp.Track, Event: "Order Refunded", UserID: "u", Timestamp: at, ReceivedAt: at,
			Properties: json.RawMessage(`{"order_id":1001.50,"ORDER_ID":"x","products":[{"price":"2"}]}`)},
		{Workspace: "w", MessageID: "m10", Type: cdp.Track, Event: "Order Refunded", UserID: "u", Timestamp: at, ReceivedAt: at,
			Properties: json.RawMessage(`{"order_id":"o\u0031","order_id":"o2","products":[]}`)},
		{Workspace: "w", MessageID: "m11", Type: cdp.Track, Event: "Order Completed", UserID: "u", Timestamp: at, ReceivedAt: at,
			Properties: json.RawMessage(`{"products":[{"price":9}],"products":[{"pr\u0069ce":2,"price":3,"quantity":2,"Quantity":4},{"PRICE":1}]}`)},
		{Workspace: "w", MessageID: "m12", Type: cdp.Page, AnonymousID: "a", Timestamp: at, ReceivedAt: at,
			Properties: json.RawMessage(`{"url":"https://x/","url":5,"p\u0061th":"/p","Path":"/q"}`)},
		{Workspace: "w", MessageID: "m6", Type: cdp.Alias, UserID: "u", PreviousID: " a ", GroupID: "g", Timestamp: at, ReceivedAt: at},
	} {
		f.Add(e.AppendJSON(nil))
	}
	for _, s := range []string{
		`{"workspace":"w","messageId":"m","type":"track","userId":"u","timestamp":"2026-11-01T00:00:00Z","receivedAt":"2026-11-01T00:00:00Z","properties":null}`,
		`{"workspace":"w","messageId":"m","type":"track","userId":"u","timestamp":"2026-11-01T00:00:00Z","receivedAt":"2026-11-01T00:00:00Z"} `,
		`{"workspace":"w","messageId":"m","type":"track","userId":"u","timestamp":"2026-11-01T24:00:00Z","receivedAt":"2026-11-01T00:00:00Z"}`,
		`{"workspace":"w","messageId":"m","type":"identify","userId":"u","timestamp":"2026-11-01T00:00:00Z","receivedAt":"2026-11-01T00:00:00Z","traits":{"a":01}}`,
		`{"workspace":"w","messageId":"m","type":"identify","userId":"u","timestamp":"2026-11-01T00:00:00Z","receivedAt":"2026-11-01T00:00:00Z","traits":{"a":"\u00"}}`,
	} {
		f.Add([]byte(s))
	}
	cfg := DefaultStoreConfig()
	fast, general := NewPreparer(cfg), NewPreparer(cfg)
	general.general = true
	f.Fuzz(func(t *testing.T, v []byte) {
		o := fast.Prepare(3, 7, v)
		got, want := describeOp(o), describeOp(general.Prepare(3, 7, v))
		fast.Release(o)
		if got != want {
			t.Fatalf("fast decoders differ from the general one on %q:\n got %s\nwant %s", v, got, want)
		}
	})
}

// describeOp renders everything Prepare produces.
func describeOp(o *Op) string {
	var b strings.Builder
	if o.Err != nil {
		fmt.Fprintf(&b, "err %v; ", o.Err)
	}
	if e := o.Event; e != nil {
		fmt.Fprintf(&b, "event %q %q %q %q %q %q %q %q %q %s %s %q %q; ", e.Workspace, e.MessageID, e.Type, e.Event, e.Name,
			e.UserID, e.AnonymousID, e.PreviousID, e.GroupID, e.Timestamp.Format(time.RFC3339Nano), e.ReceivedAt.Format(time.RFC3339Nano),
			e.Properties, e.Traits)
	}
	fmt.Fprintf(&b, "ids %q page %q recent %q revenue %d orders %d order %+v blocked %q links %v msg %v; traits",
		o.IDs, o.Page, o.recent, o.Revenue, o.Orders, o.Order, o.Blocked, o.links, o.msgKey)
	for _, t := range o.Traits {
		fmt.Fprintf(&b, " %q=%s@%d/%d", t.Name(), t.Value(), t.TS, t.Seq)
	}
	return b.String()
}

// TestDecodeCanonicalTakesCollectorForm: what the collector writes takes
// the fast path (else FuzzDecodeCanonical compares the general decoder
// with itself), and what it does not write does not.
func TestDecodeCanonicalTakesCollectorForm(t *testing.T) {
	at := time.Date(2026, 11, 1, 10, 0, 0, 5, time.UTC)
	full := cdp.Event{Workspace: "w", MessageID: "m", Type: cdp.Page, Event: "e", Name: "n", Category: "c", UserID: "u",
		AnonymousID: "a", PreviousID: "p", GroupID: "g", Timestamp: at, OriginalTimestamp: &at, SentAt: &at, ReceivedAt: at,
		Properties: json.RawMessage(`{"url": "https://x/", "n": [1, 2.5e-3, {"a": null}]}`), Traits: json.RawMessage(`{}`),
		Context: json.RawMessage(`{"ip":"1.2.3.4"}`), Integrations: json.RawMessage(`{"All":true}`)}
	vals := append(benchValues(100), full.AppendJSON(nil))
	for _, m := range session() {
		vals = append(vals, m.value())
	}
	for _, v := range vals {
		var w wireEvent
		if !decodeCanonical(v, &w) {
			t.Errorf("collector form not decoded by the fast path: %s", v)
		}
	}
	canonical := string(full.AppendJSON(nil))
	for name, v := range map[string]string{
		"keys out of order": strings.Replace(canonical, `{"workspace":"w","messageId":"m"`, `{"messageId":"m","workspace":"w"`, 1),
		"space":             strings.Replace(canonical, `"type":"page"`, `"type": "page"`, 1),
		"escape":            strings.Replace(canonical, `"userId":"u"`, `"userId":"\u0075"`, 1),
		"unknown key":       strings.Replace(canonical, `"userId":"u"`, `"userID":"u"`, 1),
		"no receivedAt":     strings.Replace(canonical, `,"receivedAt":"2026-11-01T10:00:00.000000005Z"`, ``, 1),
		"null":              strings.Replace(canonical, `"groupId":"g"`, `"groupId":null`, 1),
		"trailing":          canonical + " ",
	} {
		if v == canonical {
			t.Fatalf("%s: the test's replacement did not apply", name)
		}
		var w wireEvent
		if decodeCanonical([]byte(v), &w) {
			t.Errorf("%s: decoded by the fast path: %s", name, v)
		}
	}
}

// FuzzBaseJSON checks the fast paths of a base load's JSON columns against
// goccy/go-json, which they fall back to.
func FuzzBaseJSON(f *testing.F) {
	for _, s := range [][3]string{
		{`{"email":"a@b.co","plan":"pro","age":31}`, `{"email":{"time":"2026-11-01T10:00:00.5Z","source":"web"},"plan":{"time":"x"}}`, `{"Order Completed":3,"Signed In":-1}`},
		{`{ "a" : [1, {"b": null}] , "c": true }`, `{"a": {"TIME": "2026-11-01T10:00:00Z"}}`, `{"a": 1e3}`},
		{`{"a":1,"a":2}`, `{"a":{"time":"2026-11-01T10:00:00Z"},"a":{"time":"bad"}}`, `{"a":1,"a":2}`},
		{`{"a\u0062":1}`, `{"a":"2026"}`, `{"x":"1"}`},
		{`{}`, ``, `{"n":null}`},
		{`{"a":1,"b":2}`, `{"a":{"time":"2026-11-01T10:00:00Z","partition":3,"offset":41},"b":{"Offset":1,"partition":2}}`, `{}`},
	} {
		f.Add(s[0], s[1], s[2])
	}
	f.Fuzz(func(t *testing.T, traits, provenance, counts string) {
		got, gerr := baseTraits(traits, provenance)
		want, werr := baseTraitsGeneral(traits, provenance)
		if (gerr != nil) != (werr != nil) || fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("traits %q, provenance %q:\n got %v %v\nwant %v %v", traits, provenance, got, gerr, want, werr)
		}
		gc, gerr := baseCounts(counts)
		wc, werr := baseCountsGeneral(counts)
		if (gerr != nil) != (werr != nil) || fmt.Sprint(gc) != fmt.Sprint(wc) {
			t.Fatalf("counts %q:\n got %v %v\nwant %v %v", counts, gc, gerr, wc, werr)
		}
	})
}

// baseTraitsGeneral and baseCountsGeneral are the goccy-only decoding the
// fast paths replaced.
func baseTraitsGeneral(traits, provenance string) ([]traitSpec, error) {
	var m map[string]json.RawMessage
	if !json.Valid([]byte(traits)) {
		return nil, fmt.Errorf("invalid")
	}
	if err := gojson.Unmarshal([]byte(traits), &m); err != nil {
		return nil, err
	}
	var prov map[string]baseProvenance
	if json.Valid([]byte(provenance)) {
		_ = gojson.Unmarshal([]byte(provenance), &prov)
	}
	var specs []traitSpec
	for name, v := range m {
		var at int64
		if t, err := time.Parse(time.RFC3339Nano, prov[name].Time); err == nil {
			at = t.UnixNano()
		}
		seq := int64(baseSeq)
		if x, ok := prov[name]; ok {
			seq = x.seq()
		}
		specs = append(specs, traitSpec{name: name, value: string(v), ts: at, seq: seq})
	}
	slices.SortFunc(specs, func(a, b traitSpec) int { return strings.Compare(a.name, b.name) })
	return specs, nil
}

func baseCountsGeneral(txt string) ([]EventCount, error) {
	var m map[string]int64
	if !json.Valid([]byte(txt)) {
		return nil, fmt.Errorf("invalid")
	}
	if err := gojson.Unmarshal([]byte(txt), &m); err != nil {
		return nil, err
	}
	var counts []EventCount
	for name, n := range m {
		counts = append(counts, EventCount{Name: name, Total: n})
	}
	slices.SortFunc(counts, func(a, b EventCount) int { return strings.Compare(a.Name, b.Name) })
	return counts, nil
}

// FuzzDecodeProfile feeds arbitrary checkpoint records to decodeProfile,
// as of this version and of version 5: it must never panic, and what it
// accepts must encode to a record that decodes to the same (a
// recent-events list comes out in time order, whatever order the record
// held).
func FuzzDecodeProfile(f *testing.F) {
	f.Add(encodeProfile(nil, fullProfile()))
	f.Add(encodeProfile(nil, &Profile{CDPID: "cdp_1", Workspace: "w"}))
	p := fullProfile()
	for i := range 30 {
		e := RecentEvent{Type: cdp.EventTypes[i%len(cdp.EventTypes)], MessageID: strconv.Itoa(i), TS: int64(i % 7), Seq: int64(i),
			Properties: `{"a":1}`, Truncated: i%5 == 0}
		e.setSubject(strings.Repeat("n", i))
		p.recent.addEvent(e, 20)
	}
	f.Add(encodeProfile(nil, p))
	f.Fuzz(func(t *testing.T, rec []byte) {
		for _, version := range []int{5, checkpointVersion} {
			p, err := decodeProfile(rec, version, nil)
			if err != nil {
				continue
			}
			checkList(t, p.recent)
			if !slices.IsSortedFunc(slices.Collect(p.recent.all()), cmpRecent) {
				t.Fatalf("version %d: recent events out of order: %v", version, p.recent.events())
			}
			again := encodeProfile(nil, p)
			q, err := decodeProfile(again, checkpointVersion, nil)
			if err != nil {
				t.Fatalf("version %d: a decoded profile's record does not decode: %v", version, err)
			}
			if b := encodeProfile(nil, q); !bytes.Equal(b, again) {
				t.Fatalf("version %d: decoded twice, the records differ:\n%q\n%q", version, again, b)
			}
		}
	})
}

// FuzzReadStore feeds arbitrary checkpoints to ReadStore (the header, the
// records decoded on every core, the trailer, the checksum): it must never
// panic or hang, and a checkpoint it accepts must write out and load
// again to the same store.
func FuzzReadStore(f *testing.F) {
	s, prep := newTestStore(f)
	applyMix(s, prep, rand.New(rand.NewPCG(5, 5)), 0, 1_500, 300) // two batches of records
	var buf bytes.Buffer
	if _, err := s.WriteTo(&buf); err != nil {
		f.Fatal(err)
	}
	f.Add(buf.Bytes())
	buf.Reset()
	// Unchecked; without recent events, whose records version 6 changed.
	old, oprep := newTestStore(f, func(c *StoreConfig) { c.RecentEvents = 0 })
	applyMix(old, oprep, rand.New(rand.NewPCG(5, 5)), 0, 1_500, 300)
	if _, err := old.writeTo(&buf, func(h *checkpointHeader) { h.Version = 3 }); err != nil {
		f.Fatal(err)
	}
	f.Add(buf.Bytes())
	empty, _ := NewStore(s.cfg)
	buf.Reset()
	empty.WriteTo(&buf)
	f.Add(buf.Bytes())
	f.Fuzz(func(t *testing.T, file []byte) {
		got, err := ReadStore(s.cfg, bytes.NewReader(file))
		if err != nil {
			return
		}
		var again bytes.Buffer
		if _, err := got.WriteTo(&again); err != nil {
			t.Fatalf("a loaded checkpoint does not write: %v", err)
		}
		back, err := ReadStore(s.cfg, &again)
		if err != nil {
			t.Fatalf("a loaded checkpoint, written again, does not load: %v", err)
		}
		if a, b := checkpointDump(got), checkpointDump(back); a != b {
			t.Fatalf("written and loaded again, the store differs:\n%.1000s\n%.1000s", a, b)
		}
	})
}

// FuzzTraitScalar: what the scalar fast path of Profile.Trait decodes,
// encoding/json decodes to the same value.
func FuzzTraitScalar(f *testing.F) {
	for _, s := range []string{`"pro"`, `""`, `"a\"b"`, `"é"`, `42`, `-0.5e3`, `1e400`, `01`, `-`, `true`, `null`, `nul`, ` 1`, `1 `, `"\t"`, `{"a":1}`, `[1]`, `0x10`, `Inf`, `1_0`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		got, ok := scalar(raw)
		if !ok {
			return
		}
		var want any
		if err := json.Unmarshal([]byte(raw), &want); err != nil {
			t.Fatalf("scalar(%q) = %#v, encoding/json: %v", raw, got, err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("scalar(%q) = %#v, encoding/json %#v", raw, got, want)
		}
	})
}
