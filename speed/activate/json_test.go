package activate

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	cdp "github.com/tributary-cdp/tributary"
	"github.com/tributary-cdp/tributary/speed"
)

// oddTraits are identify traits whose names and values a hand-written
// encoder could get wrong: escapes, unicode, nested objects, numbers.
var oddTraits = []string{
	`{"name":"Zoë \"Z\" 日本","bio":"line\nbreak\ttab \\ back\u2028sep <b>&amp;</b>","ctrl":"\u0001\u001f"}`,
	`{"nested":{"a":[1,2.5,{"b":null,"c":[true,false]}],"é":"ü"},"empty_obj":{},"empty_arr":[]}`,
	`{"int":42,"neg":-0.5,"exp":1e21,"big":12345678901234567890,"small":1.5e-7,"zero":0}`,
	`{"na\"me":"quoted name","ключ":"значение","emoji":"🦀 \ud83e\udd80","slash":"a/b\/c"}`,
	`{"nul":null,"bool":true,"str_num":"007"}`,
}

// TestProfileEncoderMatchesContract renders profiles with odd traits and
// events through the API and compares the document, decoded, with one
// built from the inputs and the profile with encoding/json: same keys in
// the contract's order, same values, number literals kept as sent.
func TestProfileEncoderMatchesContract(t *testing.T) {
	cfg := speed.DefaultStoreConfig()
	store, err := speed.NewStore(cfg)
	if err != nil {
		t.Fatal(err)
	}
	prep := speed.NewPreparer(cfg)
	ts := time.Date(2026, 11, 1, 10, 0, 0, 123456789, time.UTC)
	for i, traits := range oddTraits {
		user := "odd-" + string(rune('a'+i))
		for j, e := range []cdp.Event{
			{Type: cdp.Identify, UserID: user, AnonymousID: "anon-" + user, Traits: json.RawMessage(traits)},
			{Type: cdp.Track, UserID: user, Event: "Order \"Completed\" ü", Properties: json.RawMessage(`{"revenue":10.25,"x":"<y>"}`)},
			{Type: cdp.Track, UserID: user, Event: "Order Completed", Properties: json.RawMessage(`{"revenue":0.1}`)},
			{Type: cdp.Page, UserID: user, Name: "Home \"page\"", Properties: json.RawMessage(`{"url":"https://x.example/ü?a=1&b=2"}`)},
			{Type: cdp.Group, UserID: user, GroupID: "grp/1 ü"},
		} {
			e.Workspace, e.MessageID = "default", user+"-"+string(rune('0'+j))
			e.Timestamp, e.ReceivedAt = ts.Add(time.Duration(j)*time.Second), ts
			b, _ := json.Marshal(e)
			store.Apply(prep.Prepare(0, int64(10*i+j), b))
		}
	}
	keys := newKeys()
	api, err := New(Config{Keys: keys, Profiles: store, Segments: func(*speed.Profile) []string { return []string{"vip \"gold\"", "ü"} }})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	api.Register(mux)

	for i, traits := range oddTraits {
		user := "odd-" + string(rune('a'+i))
		for _, withEvents := range []bool{false, true} {
			path := "/v1/profiles/user_id:" + user
			if withEvents {
				path += "?include=events"
			}
			req := httptest.NewRequest("GET", path, nil)
			req.Header.Set("Authorization", "Bearer "+activationKey)
			w := httptest.NewRecorder()
			mux.ServeHTTP(w, req)
			if w.Code != 200 {
				t.Fatalf("%s: %d %s", path, w.Code, w.Body)
			}
			got := w.Body.Bytes()
			if !json.Valid(got) {
				t.Fatalf("%s: invalid JSON %s", path, got)
			}
			if w.Header().Get("Content-Length") != strconv.Itoa(len(got)) || w.Header().Get("Content-Type") != "application/json" {
				t.Errorf("%s: headers %v for %d bytes", path, w.Header(), len(got))
			}
			var want []byte
			err := store.View("default", cdp.Identifier{Type: cdp.IDUserID, Value: user}, func(p *speed.Profile) {
				want = referenceDoc(t, p, traits, []string{"vip \"gold\"", "ü"}, withEvents)
			})
			if err != nil {
				t.Fatal(err)
			}
			if g, w := decodeNumbers(t, got), decodeNumbers(t, want); !reflect.DeepEqual(g, w) {
				t.Errorf("%s:\n got %s\nwant %s", path, got, want)
			}
			wantKeys := []string{"cdp_id", "workspace", "identifiers", "traits", "computed", "segments", "updated_at"}
			if withEvents {
				wantKeys = append(wantKeys, "events")
			}
			if k := topKeys(t, got); !reflect.DeepEqual(k, wantKeys) {
				t.Errorf("%s: keys %v, want %v", path, k, wantKeys)
			}
		}
	}
}

// referenceDoc is the contract built with encoding/json: traits from the
// identify call's JSON, everything else from the profile's exported state.
func referenceDoc(t *testing.T, p *speed.Profile, traits string, segments []string, withEvents bool) []byte {
	t.Helper()
	type ident struct {
		Type  string `json:"type"`
		Value string `json:"value"`
	}
	tm := func(ns int64) any {
		if ns == 0 {
			return nil
		}
		return time.Unix(0, ns).UTC().Format(time.RFC3339Nano)
	}
	ids := []ident{}
	for _, id := range p.Identifiers {
		ids = append(ids, ident{id.Type, id.Value})
	}
	counts := map[string]int64{}
	for _, e := range p.Events {
		counts[e.Name] = e.Total
	}
	var lastPage any
	if lp := p.LastPage(); lp != "" {
		lastPage = lp
	}
	groups := append([]string{}, p.Groups()...)
	doc := map[string]any{
		"cdp_id": p.CDPID, "workspace": p.Workspace, "identifiers": ids,
		"traits": json.RawMessage(traits),
		"computed": map[string]any{
			"events_total": p.EventsTotal, "event_counts": counts, "page_views": p.PageViews, "screen_views": p.ScreenViews,
			"first_seen": tm(p.FirstSeen), "last_seen": tm(p.LastSeen), "revenue_total": p.Revenue(),
			"orders_total": p.OrdersTotal, "last_page": lastPage, "groups": groups,
		},
		"segments": segments, "updated_at": tm(p.UpdatedAt),
	}
	if withEvents {
		evs := []map[string]any{}
		for e := range p.RecentEvents() {
			m := map[string]any{"type": string(e.Type), "messageId": e.MessageID, "timestamp": tm(e.TS)}
			switch {
			case e.Type == cdp.Group && e.GroupID != "":
				m["groupId"] = e.GroupID
			case e.Type == cdp.Alias && e.PreviousID != "":
				m["previousId"] = e.PreviousID
			case e.Type == cdp.Track && e.Name != "":
				m["event"] = e.Name
			case e.Name != "":
				m["name"] = e.Name
			}
			key := "properties"
			if e.Type == cdp.Identify || e.Type == cdp.Group {
				key = "traits"
			}
			if e.Properties != "" {
				m[key] = json.RawMessage(e.Properties)
			}
			if e.Truncated {
				m[key+"Truncated"] = true
			}
			evs = append(evs, m)
		}
		doc["events"] = evs
	}
	b, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// decodeNumbers decodes b keeping numbers as their literals.
func decodeNumbers(t *testing.T, b []byte) any {
	t.Helper()
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		t.Fatalf("decode %s: %v", b, err)
	}
	return normNumbers(v)
}

// normNumbers makes numbers comparable by value where encoding/json and
// the encoder may spell them differently (10.35 vs 10.350000000000001 do
// not occur; 1e21 vs 1e+21 do).
func normNumbers(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			x[k] = normNumbers(e)
		}
	case []any:
		for i, e := range x {
			x[i] = normNumbers(e)
		}
	case json.Number:
		if f, err := x.Float64(); err == nil && !strings.ContainsAny(x.String(), ".eE") && len(x.String()) > 15 {
			return x.String() // a big integer: the literal must be kept as sent
		} else if err == nil {
			return f
		}
	}
	return v
}

// topKeys lists the top-level keys of the object b in order.
func topKeys(t *testing.T, b []byte) []string {
	t.Helper()
	d := json.NewDecoder(bytes.NewReader(b))
	if _, err := d.Token(); err != nil {
		t.Fatal(err)
	}
	var keys []string
	for d.More() {
		k, err := d.Token()
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, k.(string))
		var skip json.RawMessage
		if err := d.Decode(&skip); err != nil {
			t.Fatal(err)
		}
	}
	return keys
}
