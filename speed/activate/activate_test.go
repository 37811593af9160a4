package activate

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	cdp "github.com/tributary-cdp/tributary"
	"github.com/tributary-cdp/tributary/identity"
	"github.com/tributary-cdp/tributary/internal/auth"
	"github.com/tributary-cdp/tributary/speed"
)

const (
	adminKey      = "ak_admin_0123456789abcdef"
	activationKey = "ak_activation_0123456789"
	analystKey    = "ak_analyst_0123456789abc"
	otherKey      = "ak_other_workspace_01234"
)

func newKeys() *auth.Keys {
	return auth.NewKeys([]cdp.Workspace{
		{ID: "default", APIKeys: []cdp.APIKey{
			{Name: "admin", Role: cdp.RoleAdmin, Key: adminKey},
			{Name: "act", Role: cdp.RoleActivation, Key: activationKey},
			{Name: "ana", Role: cdp.RoleAnalyst, Key: analystKey},
		}},
		{ID: "other", APIKeys: []cdp.APIKey{{Name: "admin", Role: cdp.RoleAdmin, Key: otherKey}}},
	})
}

// newAPI is the API over a store of a few events.
func newAPI(t testing.TB) *API {
	t.Helper()
	keys := newKeys()
	cfg := speed.DefaultStoreConfig()
	store, err := speed.NewStore(cfg)
	if err != nil {
		t.Fatal(err)
	}
	prep := speed.NewPreparer(cfg)
	ts := time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC)
	for i, e := range []cdp.Event{
		{Type: cdp.Track, AnonymousID: "anon-1", Event: "Product Viewed", Properties: json.RawMessage(`{"sku":"a<b"}`)},
		{Type: cdp.Identify, AnonymousID: "anon-1", UserID: "u1", Traits: json.RawMessage(`{"email":"Ann@Example.com","name":"Ann \"A\""}`)},
		{Type: cdp.Track, UserID: "u1", Event: "Order Completed", Properties: json.RawMessage(`{"revenue":19.5}`)},
		{Type: cdp.Page, UserID: "u1", Name: "Home"},
		{Type: cdp.Track, UserID: "team/42 ü", Event: "Slash"},
	} {
		e.Workspace, e.MessageID = "default", "m"+string(rune('a'+i))
		e.Timestamp, e.ReceivedAt = ts.Add(time.Duration(i)*time.Minute), ts
		b, _ := json.Marshal(e)
		store.Apply(prep.Prepare(0, int64(i), b))
	}
	api, err := New(Config{Keys: keys, Profiles: store})
	if err != nil {
		t.Fatal(err)
	}
	return api
}

// newServer serves newAPI through net/http, as the main port does.
func newServer(t testing.TB) *httptest.Server {
	t.Helper()
	mux := http.NewServeMux()
	api := newAPI(t)
	api.Register(mux)
	srv := httptest.NewServer(api.Handler(mux))
	t.Cleanup(srv.Close)
	return srv
}

// newFastServer serves api through fasthttp on a loopback port, as the
// activation listener does, and returns its base URL.
func newFastServer(t testing.TB, api *API) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := api.FastServer()
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	t.Cleanup(func() {
		if err := srv.Shutdown(); err != nil {
			t.Error(err)
		}
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
	return "http://" + ln.Addr().String()
}

// newLoopServer serves api with a Loop (the activation listener) and
// returns its base URL.
func newLoopServer(t testing.TB, api *API) string {
	t.Helper()
	_, ln := startLoop(t, api)
	return "http://" + ln.Addr().String()
}

// startLoop serves api with a Loop on a loopback port until the test ends.
func startLoop(t testing.TB, api *API) (*Loop, net.Listener) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l, err := api.NewLoop(ln, DefaultLoopConfig())
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- l.Run() }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := l.Close(ctx); err != nil {
			t.Error(err)
		}
		if err := <-done; err != nil {
			t.Error(err)
		}
		ln.Close()
	})
	return l, ln
}

// serveAll serves one api through net/http (as the main port), fasthttp
// and the loop, and returns their base URLs in that order.
func serveAll(t testing.TB, api *API) [3]string {
	t.Helper()
	mux := http.NewServeMux()
	api.Register(mux)
	std := httptest.NewServer(api.Handler(mux))
	t.Cleanup(std.Close)
	return [3]string{std.URL, newFastServer(t, api), newLoopServer(t, api)}
}

// transports are the ways the API is served; the contract tests run
// against each. All return the base URL of a server of newAPI.
var transports = []struct {
	name  string
	serve func(testing.TB) string
}{
	{"net/http", func(t testing.TB) string { return newServer(t).URL }},
	{"fasthttp", func(t testing.TB) string { return newFastServer(t, newAPI(t)) }},
	{"loop", func(t testing.TB) string { return newLoopServer(t, newAPI(t)) }},
}

func get(t *testing.T, srv string, path, key string) (int, map[string]any) {
	t.Helper()
	a := fetch(t, "GET", srv+path, key)
	var m map[string]any
	if err := json.Unmarshal([]byte(a.body), &m); err != nil {
		t.Fatalf("%s: invalid JSON %q: %v", path, a.body, err)
	}
	return a.status, m
}

func TestLookupStatuses(t *testing.T) {
	for _, tr := range transports {
		t.Run(tr.name, func(t *testing.T) { testLookupStatuses(t, tr.serve(t)) })
	}
}

func testLookupStatuses(t *testing.T, srv string) {
	cases := []struct {
		name, path, key string
		status          int
		code            string
	}{
		{"admin", "/v1/profiles/user_id:u1", adminKey, 200, ""},
		{"activation", "/v1/profiles/user_id:u1", activationKey, 200, ""},
		{"analyst may not", "/v1/profiles/user_id:u1", analystKey, 403, "forbidden"},
		{"no key", "/v1/profiles/user_id:u1", "", 401, "unauthorized"},
		{"unknown key", "/v1/profiles/user_id:u1", "ak_nope_0000000000000000", 401, "unauthorized"},
		{"unknown profile", "/v1/profiles/user_id:u2", adminKey, 404, "not_found"},
		{"other workspace", "/v1/profiles/user_id:u1", otherKey, 404, "not_found"},
		{"email normalized", "/v1/profiles/email:Ann@Example.com%20", adminKey, 200, ""},
		{"email upper", "/v1/profiles/email:ANN@EXAMPLE.COM", adminKey, 200, ""},
		{"anonymous id", "/v1/profiles/anonymous_id:anon-1", activationKey, 200, ""},
		{"no type", "/v1/profiles/u1", adminKey, 400, "invalid_identifier"},
		{"invalid email", "/v1/profiles/email:nope", adminKey, 400, "invalid_identifier"},
		{"events", "/v1/profiles/user_id:u1/events", adminKey, 200, ""},
		{"escaped slash", "/v1/profiles/user_id:team%2F42%20%C3%BC", adminKey, 200, ""},
		{"escaped slash events", "/v1/profiles/user_id:team%2F42%20%C3%BC/events", adminKey, 200, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			st, body := get(t, srv, c.path, c.key)
			if st != c.status {
				t.Fatalf("status %d, want %d: %v", st, c.status, body)
			}
			if c.code != "" && body["code"] != c.code {
				t.Errorf("code %v, want %s", body["code"], c.code)
			}
		})
	}
	// A value's / sent unescaped makes another path: the 404 says how to send it.
	for path, hint := range map[string]bool{
		"/v1/profiles/user_id:team/42":        true,
		"/v1/profiles/user_id:team/42/events": true,
		"/v1/profiles/user_id:u1/other":       true,
		"/v1/profiles/":                       false,
		"/v1/profiles/u1/events/x":            false,
	} {
		st, body := get(t, srv, path, adminKey)
		if msg, _ := body["message"].(string); st != 404 || strings.HasSuffix(msg, "sent escaped, as %2F") != hint {
			t.Errorf("%s: %d %v; want 404 with the %%2F hint %v", path, st, body, hint)
		}
	}
}

// The 404 of a look-up by a junk value says it is junk: no profile can
// hold it, whatever was sent.
func TestLookupOfJunkSaysSo(t *testing.T) {
	store, err := speed.NewStore(speed.DefaultStoreConfig())
	if err != nil {
		t.Fatal(err)
	}
	api, err := New(Config{Keys: newKeys(), Profiles: store, Blocklist: identity.Junk([]string{"email:noreply@shop.example"}, []string{"user_id:1"})})
	if err != nil {
		t.Fatal(err)
	}
	for ref, junk := range map[string]bool{
		"email:Test@Test.com": true, "user_id:undefined": true, "anonymous_id:00000000-0000-0000-0000-000000000000": true,
		"email:noreply@shop.example": true, "user_id:1": false, "anonymous_id:1": true, "user_id:u2": false, "email:ann@example.com": false,
	} {
		body, status := api.Lookup(nil, ref, "Bearer "+adminKey, false, false)
		if status != http.StatusNotFound || strings.Contains(string(body), "is junk") != junk {
			t.Errorf("%s: %d %s; want a 404 that says it is junk: %v", ref, status, body, junk)
		}
	}
}

func TestLookupContract(t *testing.T) {
	for _, tr := range transports {
		t.Run(tr.name, func(t *testing.T) { testLookupContract(t, tr.serve(t)) })
	}
}

func testLookupContract(t *testing.T, srv string) {
	st, p := get(t, srv, "/v1/profiles/email:ann@example.com", adminKey)
	if st != 200 {
		t.Fatal(st, p)
	}
	for _, k := range []string{"cdp_id", "workspace", "identifiers", "traits", "computed", "segments", "updated_at"} {
		if _, ok := p[k]; !ok {
			t.Errorf("response lacks %q", k)
		}
	}
	if _, ok := p["events"]; ok {
		t.Error("events without include=events")
	}
	if !strings.HasPrefix(p["cdp_id"].(string), "cdp_") || p["workspace"] != "default" {
		t.Errorf("cdp_id %v workspace %v", p["cdp_id"], p["workspace"])
	}
	if segs, ok := p["segments"].([]any); !ok || len(segs) != 0 {
		t.Errorf("segments %v, want []", p["segments"])
	}
	ids := p["identifiers"].([]any)
	if len(ids) != 3 || ids[1].(map[string]any)["value"] != "ann@example.com" {
		t.Errorf("identifiers %v", ids)
	}
	if tr := p["traits"].(map[string]any); tr["name"] != `Ann "A"` {
		t.Errorf("traits %v", tr)
	}
	c := p["computed"].(map[string]any)
	want := map[string]any{"events_total": 4.0, "page_views": 1.0, "revenue_total": 19.5, "orders_total": 1.0,
		"first_seen": "2026-11-01T10:00:00Z", "last_seen": "2026-11-01T10:03:00Z"}
	for k, v := range want {
		if c[k] != v {
			t.Errorf("computed.%s = %v, want %v", k, c[k], v)
		}
	}
	if ec := c["event_counts"].(map[string]any); ec["Order Completed"] != 1.0 || ec["Product Viewed"] != 1.0 {
		t.Errorf("event_counts %v", ec)
	}
	if _, err := time.Parse(time.RFC3339Nano, p["updated_at"].(string)); err != nil {
		t.Errorf("updated_at: %v", err)
	}

	// A part the look-up does not know is refused, naming it, not ignored.
	for _, q := range []string{"include=event", "include=events,traits", "include=", "include=events&include=x"} {
		status, m := get(t, srv, "/v1/profiles/user_id:u1?"+q, adminKey)
		if msg, _ := m["message"].(string); status != 400 || m["code"] != "invalid_parameter" || !strings.HasPrefix(msg, "include: must be events") {
			t.Errorf("?%s: %d %v; want 400 invalid_parameter naming include", q, status, m)
		}
	}
	if status, m := get(t, srv, "/v1/profiles/user_id:u1?include=events,events&utm=x", adminKey); status != 200 || m["events"] == nil {
		t.Errorf("?include=events,events: %d %v", status, m)
	}

	_, withEvents := get(t, srv, "/v1/profiles/user_id:u1?include=events", adminKey)
	evs, ok := withEvents["events"].([]any)
	if !ok || len(evs) != 4 {
		t.Fatalf("events %v", withEvents["events"])
	}
	first := evs[0].(map[string]any) // newest first
	if first["type"] != "page" || first["name"] != "Home" {
		t.Errorf("newest event %v", first)
	}
	if last := evs[3].(map[string]any); last["event"] != "Product Viewed" || last["properties"].(map[string]any)["sku"] != "a<b" {
		t.Errorf("oldest event %v", last)
	}
	if st, byID := get(t, srv, "/v1/profiles/cdp_id:"+p["cdp_id"].(string), activationKey); st != 200 || byID["cdp_id"] != p["cdp_id"] {
		t.Errorf("look-up by cdp_id: %d %v", st, byID)
	}
	// Trimmed like the values of other types.
	if st, byID := get(t, srv, "/v1/profiles/cdp_id:%20"+p["cdp_id"].(string)+"%09", activationKey); st != 200 || byID["cdp_id"] != p["cdp_id"] {
		t.Errorf("look-up by cdp_id in spaces: %d %v", st, byID)
	}
	if st, _ := get(t, srv, "/v1/profiles/cdp_id:"+p["cdp_id"].(string), otherKey); st != 404 {
		t.Errorf("another workspace's key reads a profile by cdp_id: %d", st)
	}
	_, only := get(t, srv, "/v1/profiles/anonymous_id:anon-1/events", adminKey)
	if len(only["events"].([]any)) != 4 || only["cdp_id"] != p["cdp_id"] {
		t.Errorf("events endpoint %v", only)
	}
}

// Two shops in one deployment, a US one (the default region) and a UK
// one: each workspace's phone numbers without a country code are read in
// its region, as its events are applied and as its keys look them up. The
// same text is two numbers: "(415) 555-2671" is +1 415 in the US shop and
// +44 4155 in the UK one, and "020 7946 0018" is London only in the UK.
func TestPhoneRegionPerWorkspace(t *testing.T) {
	cfg := speed.DefaultStoreConfig()
	cfg.PhoneRegions = identity.Regions{Default: "US", Workspaces: map[string]string{"other": "GB"}}
	store, err := speed.NewStore(cfg)
	if err != nil {
		t.Fatal(err)
	}
	prep := speed.NewPreparer(cfg)
	for i, e := range []cdp.Event{
		{Workspace: "default", UserID: "us-1", Traits: json.RawMessage(`{"phone":"(415) 555-2671"}`)},
		{Workspace: "default", UserID: "us-2", Traits: json.RawMessage(`{"phone":"020 7946 0018"}`)},
		{Workspace: "other", UserID: "uk-1", Traits: json.RawMessage(`{"phone":"(415) 555-2671"}`)},
		{Workspace: "other", UserID: "uk-2", Traits: json.RawMessage(`{"phone":"020 7946 0018"}`)},
	} {
		e.Type, e.MessageID, e.Timestamp = cdp.Identify, fmt.Sprint("m", i), time.Date(2026, 11, 1, 10, i, 0, 0, time.UTC)
		b, _ := json.Marshal(e)
		store.Apply(prep.Prepare(0, int64(i), b))
	}
	api, err := New(Config{Keys: newKeys(), Profiles: store, PhoneRegions: cfg.PhoneRegions})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		key, ref string
		status   int
		user     string // whose profile the look-up finds
		phone    string // the phone identifier of that profile
	}{
		{adminKey, "phone:(415) 555-2671", 200, "us-1", "+14155552671"},
		{adminKey, "phone:+14155552671", 200, "us-1", "+14155552671"},
		{adminKey, "phone:020 7946 0018", 400, "", ""}, // no US number: us-2 kept no phone
		{adminKey, "user_id:us-2", 200, "us-2", ""},
		{otherKey, "phone:(415) 555-2671", 200, "uk-1", "+444155552671"},
		{otherKey, "phone:020 7946 0018", 200, "uk-2", "+442079460018"},
		{otherKey, "phone:+44 20 7946 0018", 200, "uk-2", "+442079460018"},
		{otherKey, "phone:+14155552671", 404, "", ""},
	} {
		space := map[string]string{adminKey: "default", otherKey: "other"}[c.key]
		ref := url.PathEscape(c.ref)
		// The look-up and the Segment-compatible route, each in the key's workspace.
		for _, path := range []string{"/v1/profiles/" + ref, "/v1/spaces/" + space + "/collections/users/profiles/" + ref + "/external_ids"} {
			body, st := api.Serve(nil, "GET", path, "", "Bearer "+c.key)
			if st != c.status {
				t.Errorf("%s in %s: %d %s, want %d", path, space, st, body, c.status)
				continue
			}
			if st != 200 {
				continue
			}
			for _, want := range []string{c.user, c.phone} {
				if want != "" && !strings.Contains(string(body), `"`+want+`"`) {
					t.Errorf("%s in %s: %s lacks %q", path, space, body, want)
				}
			}
			if c.phone == "" && strings.Contains(string(body), `"+`) {
				t.Errorf("%s in %s: %s has a phone number; the US shop has no 020 number", path, space, body)
			}
		}
	}
}

func TestAppendStringMatchesEncodingJSON(t *testing.T) {
	for _, s := range []string{"", "plain", `q"uote\`, "<a&b>", "tab\tnl\n\x01", "é ü 日本", "bad\xffutf8", "line\u2028sep"} {
		want, _ := json.Marshal(s)
		if got := string(appendString(nil, s)); got != string(want) {
			t.Errorf("%q: got %s want %s", s, got, want)
		}
	}
}

// TestEventsShowIDsTraitsAndTruncation: the events of group, alias and
// identify calls show their group id, previous id and traits, and
// properties or traits left out for their size say so, on the look-up
// API and on the Profile API, through every transport.
func TestEventsShowIDsTraitsAndTruncation(t *testing.T) {
	cfg := speed.DefaultStoreConfig()
	store, err := speed.NewStore(cfg)
	if err != nil {
		t.Fatal(err)
	}
	prep := speed.NewPreparer(cfg)
	big := json.RawMessage(`{"a":"` + strings.Repeat("x", 1024) + `"}`)
	ts := time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC)
	for i, e := range []cdp.Event{
		{Type: cdp.Identify, Traits: json.RawMessage(`{"plan":"pro"}`)},
		{Type: cdp.Group, GroupID: "acme", Traits: json.RawMessage(`{"name":"Acme"}`)},
		{Type: cdp.Alias, PreviousID: "anon-9"},
		{Type: cdp.Track, Event: "Big", Properties: big},
		{Type: cdp.Group, GroupID: "big", Traits: big},
		{Type: cdp.Track, Event: "None"},
	} {
		e.Workspace, e.UserID, e.MessageID = "default", "u9", "m"+string(rune('a'+i))
		e.Timestamp, e.ReceivedAt = ts.Add(time.Duration(i)*time.Minute), ts
		b, _ := json.Marshal(e)
		store.Apply(prep.Prepare(0, int64(i), b))
	}
	api, err := New(Config{Keys: newKeys(), Profiles: store})
	if err != nil {
		t.Fatal(err)
	}
	at := func(min int) string { return `"timestamp":"2026-11-01T10:0` + string(rune('0'+min)) + `:00Z"` }
	lookup := `[{"type":"track","event":"None","messageId":"mf",` + at(5) + `},` +
		`{"type":"group","groupId":"big","messageId":"me",` + at(4) + `,"traitsTruncated":true},` +
		`{"type":"track","event":"Big","messageId":"md",` + at(3) + `,"propertiesTruncated":true},` +
		`{"type":"alias","previousId":"anon-9","messageId":"mc",` + at(2) + `},` +
		`{"type":"group","groupId":"acme","messageId":"mb",` + at(1) + `,"traits":{"name":"Acme"}},` +
		`{"type":"identify","messageId":"ma",` + at(0) + `}]`
	profile := []string{
		`{"type":"track","message_id":"mf","source_id":null,` + at(5) + `,"event":"None"`,
		`{"type":"group","message_id":"me","source_id":null,` + at(4) + `,"traits_truncated":true,"group_id":"big"`,
		`{"type":"track","message_id":"md","source_id":null,` + at(3) + `,"properties_truncated":true,"event":"Big"`,
		`{"type":"alias","message_id":"mc","source_id":null,` + at(2) + `,"previous_id":"anon-9"`,
		`{"type":"group","message_id":"mb","source_id":null,` + at(1) + `,"traits":{"name":"Acme"},"group_id":"acme"`,
		`{"type":"identify","message_id":"ma","source_id":null,` + at(0),
	}
	for i, srv := range serveAll(t, api) {
		a := fetch(t, "GET", srv+"/v1/profiles/user_id:u9/events", activationKey)
		var doc struct {
			CDPID  string          `json:"cdp_id"`
			Events json.RawMessage `json:"events"`
		}
		if err := json.Unmarshal([]byte(a.body), &doc); err != nil || string(doc.Events) != lookup {
			t.Errorf("transport %d: events %s (%v)\nwant %s", i, doc.Events, err, lookup)
		}
		related := `,"related":{"users":"` + doc.CDPID + `"}}`
		want := `{"data":[` + strings.Join(profile, related+",") + related + `]`
		a = fetch(t, "GET", srv+"/v1/spaces/default/collections/users/profiles/user_id:u9/events", activationKey)
		if !strings.HasPrefix(a.body, want) {
			t.Errorf("transport %d: Profile API events %s\nwant %s…", i, a.body, want)
		}
	}
}
