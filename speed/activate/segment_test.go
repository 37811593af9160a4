package activate

import (
	"encoding/base64"
	"encoding/json"
	"regexp"
	"strings"
	"testing"
	"time"

	cdp "github.com/tributary-cdp/tributary"
	"github.com/tributary-cdp/tributary/speed"
)

// newSegmentAPI is newAPI with u1 in group acme and beta and in the
// segments vip and active.
func newSegmentAPI(t testing.TB) *API {
	t.Helper()
	api := newAPI(t)
	cfg := speed.DefaultStoreConfig()
	prep := speed.NewPreparer(cfg)
	ts := time.Date(2026, 11, 1, 10, 4, 0, 0, time.UTC)
	for i, g := range []string{"beta", "acme"} {
		e := cdp.Event{Type: cdp.Group, UserID: "u1", GroupID: g, Workspace: "default", MessageID: "g" + g, Timestamp: ts.Add(time.Duration(i) * time.Minute), ReceivedAt: ts}
		b, _ := json.Marshal(e)
		api.cfg.Profiles.(*speed.Store).Apply(prep.Prepare(0, int64(10+i), b))
	}
	api.cfg.Segments = func(*speed.Profile) []string { return []string{"vip", "active"} }
	return api
}

func basic(user, password string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+password))
}

// TestSegmentProfileAPI: every path, parameter and error of Segment's
// Profile API, answered alike by net/http, fasthttp and the loop.
func TestSegmentProfileAPI(t *testing.T) {
	api := newSegmentAPI(t)
	servers := serveAll(t, api)
	body, _ := api.Serve(nil, "GET", "/v1/profiles/user_id:u1", "", "Bearer "+adminKey)
	var p struct {
		CDPID string `json:"cdp_id"`
	}
	if err := json.Unmarshal(body, &p); err != nil {
		t.Fatal(err)
	}
	const base = "/v1/spaces/default/collections/users/profiles/"
	cursor := func(doc, next string, more bool, limit string) string {
		m := "false"
		if more {
			m = "true"
		}
		return `"cursor":{"url":"` + base + p.CDPID + "/" + doc + `","has_more":` + m + `,"next":"` + next + `","limit":` + limit + `}}`
	}
	extID := func(coll, typ, id string) string {
		return `{"id":"` + id + `","type":"` + typ + `","source_id":null,"collection":"` + coll + `","created_at":null,"encoding":"none"}`
	}
	related := `"related":{"users":"` + p.CDPID + `"}}`
	evG2 := `{"type":"group","message_id":"gacme","source_id":null,"timestamp":"2026-11-01T10:05:00Z","group_id":"acme",` + related
	evG1 := `{"type":"group","message_id":"gbeta","source_id":null,"timestamp":"2026-11-01T10:04:00Z","group_id":"beta",` + related
	evPage := `{"type":"page","message_id":"md","source_id":null,"timestamp":"2026-11-01T10:03:00Z","name":"Home",` + related
	evOrder := `{"type":"track","message_id":"mc","source_id":null,"timestamp":"2026-11-01T10:02:00Z","properties":{"revenue":19.5},"event":"Order Completed",` + related
	evIdentify := `{"type":"identify","message_id":"mb","source_id":null,"timestamp":"2026-11-01T10:01:00Z",` + related
	evView := `{"type":"track","message_id":"ma","source_id":null,"timestamp":"2026-11-01T10:00:00Z","properties":{"sku":"a\u003cb"},"event":"Product Viewed",` + related
	// The events cursor of the page whose first event is md: its time and Kafka position.
	mdCursor := "1793527380000000000.3072"
	bearer, basicAuth := "Bearer "+adminKey, basic(activationKey, "")
	notFound := `{"error":{"code":"not_found","message":"Profile was not found."}}`
	for _, c := range []struct {
		method, path, authorization string
		status                      int
		body                        string // the whole body, or with a leading "~" a part of it
	}{
		// /traits
		{"GET", base + "user_id:u1/traits", bearer, 200, `{"traits":{"email":"Ann@Example.com","name":"Ann \"A\""},` + cursor("traits", "", false, "10")},
		{"GET", base + "user_id:u1/traits", basicAuth, 200, `{"traits":{"email":"Ann@Example.com","name":"Ann \"A\""},` + cursor("traits", "", false, "10")},
		{"HEAD", base + "user_id:u1/traits", basicAuth, 200, ""},
		{"GET", base + "user_id:u1/traits?limit=1", bearer, 200, `{"traits":{"email":"Ann@Example.com"},` + cursor("traits", "name", true, "1")},
		{"GET", base + "user_id:u1/traits?limit=1&next=name", bearer, 200, `{"traits":{"name":"Ann \"A\""},` + cursor("traits", "", false, "1")},
		{"GET", base + "user_id:u1/traits?include=name,%20nope", bearer, 200, `{"traits":{"name":"Ann \"A\""},` + cursor("traits", "", false, "10")},
		{"GET", base + "user_id:u1/traits?verbose=true&include=email", bearer, 200, `{"traits":{"email":{"value":"Ann@Example.com","source_id":null,"updated_at":"2026-11-01T10:01:00Z"}},` + cursor("traits", "", false, "10")},
		{"GET", base + "user_id:u1/traits?verbose=false&limit=200", bearer, 200, `{"traits":{"email":"Ann@Example.com","name":"Ann \"A\""},` + cursor("traits", "", false, "200")},
		{"GET", base + "user_id:u1/traits?class=audience", bearer, 200, `{"traits":{"active":true,"vip":true},` + cursor("traits", "", false, "10")},
		{"GET", base + "user_id:u1/traits?class=audience&verbose=true&limit=1", bearer, 200, `{"traits":{"active":{"value":true,"source_id":null,"updated_at":null}},` + cursor("traits", "vip", true, "1")},
		// Segment's own cursor urls carry parameters of their own: ignored.
		{"GET", base + "user_id:u1/traits?%3Acollection=users&%3Aid=user_id%3Au1", bearer, 200, "~" + `{"traits":{"email"`},
		{"GET", base + "user_id:u1/traits?class=computed_trait", bearer, 400, `~{"error":{"code":"validation_error","message":"the parameter class \"computed_trait\" must be audience`},
		{"GET", base + "user_id:u1/traits?limit=0", bearer, 400, `{"error":{"code":"validation_error","message":"the parameter limit \"0\" must be an integer from 1 to 200"}}`},
		{"GET", base + "user_id:u1/traits?limit=201", bearer, 400, "~validation_error"},
		{"GET", base + "user_id:u1/traits?limit=x", bearer, 400, "~validation_error"},
		{"GET", base + "user_id:u1/traits?verbose=yes", bearer, 400, `{"error":{"code":"validation_error","message":"the parameter verbose \"yes\" must be true or false"}}`},
		{"GET", base + "user_id:u1/traits?a=%zz", bearer, 400, `{"error":{"code":"validation_error","message":"the query is not validly escaped"}}`},
		// /external_ids
		{"GET", base + "email:Ann@Example.com/external_ids", bearer, 200, `{"data":[` + extID("users", "anonymous_id", "anon-1") + "," + extID("users", "email", "ann@example.com") + "," + extID("users", "user_id", "u1") + "]," + cursor("external_ids", "", false, "10")},
		{"GET", base + "user_id:u1/external_ids?include=user_id,email&verbose=true", bearer, 200, `{"data":[` + extID("users", "email", "ann@example.com") + "," + extID("users", "user_id", "u1") + "]," + cursor("external_ids", "", false, "10")},
		{"GET", base + "user_id:u1/external_ids?limit=2", bearer, 200, `{"data":[` + extID("users", "anonymous_id", "anon-1") + "," + extID("users", "email", "ann@example.com") + "]," + cursor("external_ids", "user_id:u1", true, "2")},
		{"GET", base + "user_id:u1/external_ids?limit=2&next=user_id:u1", bearer, 200, `{"data":[` + extID("users", "user_id", "u1") + "]," + cursor("external_ids", "", false, "2")},
		{"GET", base + "user_id:u1/external_ids?limit=101", bearer, 400, "~validation_error"},
		// /events: newest first, 10 by default
		{"GET", base + "user_id:u1/events", bearer, 200, `{"data":[` + strings.Join([]string{evG2, evG1, evPage, evOrder, evIdentify, evView}, ",") + "]," + cursor("events", "", false, "10")},
		{"GET", base + "user_id:u1/events?limit=2", bearer, 200, `{"data":[` + evG2 + "," + evG1 + "]," + cursor("events", mdCursor, true, "2")},
		{"GET", base + "user_id:u1/events?limit=2&next=" + mdCursor, bearer, 200, `{"data":[` + evPage + "," + evOrder + "]," + cursor("events", "1793527260000000000.1024", true, "2")},
		{"GET", base + "user_id:u1/events?sort=asc&limit=2", bearer, 200, `{"data":[` + evView + "," + evIdentify + "]," + cursor("events", "1793527320000000000.2048", true, "2")},
		{"GET", base + "user_id:u1/events?sort=asc&limit=2&next=1793527320000000000.2048", bearer, 200, `{"data":[` + evOrder + "," + evPage + "]," + cursor("events", "1793527440000000000.10240", true, "2")},
		{"GET", base + "user_id:u1/events?include=Order%20Completed,Home", bearer, 200, `{"data":[` + evPage + "," + evOrder + "]," + cursor("events", "", false, "10")},
		{"GET", base + "user_id:u1/events?exclude=Order%20Completed,Home&start=2026-11-01T10:01:00Z&end=2026-11-01T10:05:00Z", bearer, 200, `{"data":[` + evG1 + "," + evIdentify + "]," + cursor("events", "", false, "10")},
		{"GET", base + "user_id:u1/events?start=2026-11-02", bearer, 200, `{"data":[],` + cursor("events", "", false, "10")},
		{"GET", base + "user_id:u1/events?end=2026-11-01", bearer, 200, `{"data":[],` + cursor("events", "", false, "10")},
		{"GET", base + "user_id:u1/events?sort=up", bearer, 400, `{"error":{"code":"validation_error","message":"the parameter sort \"up\" must be asc or desc"}}`},
		{"GET", base + "user_id:u1/events?start=yesterday", bearer, 400, "~the parameter start"},
		{"GET", base + "user_id:u1/events?end=2026-13-01", bearer, 400, "~the parameter end"},
		{"GET", base + "user_id:u1/events?next=abc", bearer, 400, `{"error":{"code":"validation_error","message":"the parameter next \"abc\" must be a cursor of a previous answer"}}`},
		{"GET", base + "user_id:u1/events?limit=100", bearer, 200, "~" + cursor("events", "", false, "100")},
		// /metadata (updated_at is the clock's: replaced by … below)
		{"GET", base + "user_id:u1/metadata?verbose=true", bearer, 200, `{"metadata":{"created_at":"2026-11-01T10:00:00Z","updated_at":"…","expires_at":null,"first_message_id":"ma","first_source_id":null,"last_message_id":"gacme","last_source_id":null}}`},
		{"GET", base + "user_id:u1/metadata?verbose=1", bearer, 200, `~"first_message_id":"ma"`},
		// /links: the accounts of the group calls
		{"GET", base + "user_id:u1/links", bearer, 200, `{"data":[{"to_collection":"accounts","external_ids":[` + extID("accounts", "group_id", "acme") + `]},{"to_collection":"accounts","external_ids":[` + extID("accounts", "group_id", "beta") + "]}]," + cursor("links", "", false, "20")},
		{"GET", base + "user_id:u1/links?limit=1", bearer, 200, `{"data":[{"to_collection":"accounts","external_ids":[` + extID("accounts", "group_id", "acme") + "]}]," + cursor("links", "beta", true, "1")},
		{"GET", base + "user_id:u1/links?limit=21", bearer, 400, `~"the parameter limit \"21\" must be an integer from 1 to 20"`},
		// References: ours, Segment's segment_id as our cdp_id, a bare cdp id as in cursor.url.
		{"GET", base + "segment_id:" + p.CDPID + "/traits?include=name", bearer, 200, `{"traits":{"name":"Ann \"A\""},` + cursor("traits", "", false, "10")},
		{"GET", base + p.CDPID + "/traits?include=name", bearer, 200, `{"traits":{"name":"Ann \"A\""},` + cursor("traits", "", false, "10")},
		{"GET", base + "cdp_id:" + p.CDPID + "/traits?include=name", bearer, 200, `{"traits":{"name":"Ann \"A\""},` + cursor("traits", "", false, "10")},
		{"GET", base + "user_id:team%2F42%20%C3%BC/external_ids?include=user_id", bearer, 200, `~{"data":[{"id":"team/42 ü","type":"user_id"`},
		{"GET", base + "user_id:u2/traits", bearer, 404, notFound},
		{"GET", base + "cdp_nope/traits", bearer, 404, notFound},
		{"GET", base + "u1/traits", bearer, 400, `~{"error":{"code":"validation_error","message":"identifier`},
		{"GET", base + "email:nope/traits", bearer, 400, "~validation_error"},
		// Keys and spaces
		{"GET", base + "user_id:u1/traits", "", 401, `{"error":{"code":"authentication_error","message":"no API key: send Authorization: Bearer \u003capi key\u003e, or Basic with the key as user name and no password"}}`},
		{"GET", base + "user_id:u1/traits", basic("ak_nope_0000000000000000", ""), 401, `{"error":{"code":"authentication_error","message":"unknown API key"}}`},
		{"GET", base + "user_id:u1/traits", basic(adminKey, "x"), 401, "~authentication_error"},
		{"GET", base + "user_id:u1/traits", basic(analystKey, ""), 403, `~{"error":{"code":"forbidden","message":"the key's role analyst may not read profiles`},
		{"GET", base + "user_id:u1/traits", "Bearer " + otherKey, 403, `{"error":{"code":"forbidden","message":"the API key is of workspace other, not of space default: the space id is the workspace id"}}`},
		{"GET", "/v1/spaces/other/collections/users/profiles/user_id:u1/traits", bearer, 403, "~forbidden"},
		// Routes
		{"GET", "/v1/spaces/default/collections/accounts/profiles/group_id:acme/traits", bearer, 404, `{"error":{"code":"not_found","message":"no collection accounts: Tributary keeps the users collection only, no account profiles"}}`},
		{"GET", base + "user_id:u1/other", bearer, 404, "~no such endpoint: /other"},
		{"GET", base + "user_id:u1", bearer, 404, "~no such endpoint: GET /v1/spaces/{space}"},
		{"GET", base + "user_id:u1/traits/", bearer, 404, "~no such endpoint"},
		{"GET", base + "%2E%2E/traits", bearer, 404, "~no such endpoint"},
		{"GET", "/v1/spaces/", bearer, 404, "~not_found"},
		{"GET", "/v1/spaces/default", bearer, 404, "~not_found"},
		{"GET", "/v1/spaces", bearer, 404, "~not_found"},
		{"POST", base + "user_id:u1/traits", bearer, 405, `{"error":{"code":"method_not_allowed","message":"use GET"}}`},
	} {
		var answers [3]answer
		for i, srv := range servers {
			answers[i] = fetchAuth(t, c.method, srv+c.path, c.authorization)
		}
		a := answers[0]
		if a != answers[1] || a != answers[2] {
			t.Errorf("%s %s:\nnet/http %+v\nfasthttp %+v\nloop     %+v", c.method, c.path, a, answers[1], answers[2])
		}
		got := a.body
		if strings.Contains(c.path, "/metadata") {
			got = updatedAt.ReplaceAllString(got, `"updated_at":"…"`)
		}
		if a.status != c.status || a.contentType != ContentType || (a.status == 200) != (a.cacheControl == "no-store") {
			t.Errorf("%s %s: %d %+v, want %d", c.method, c.path, a.status, a, c.status)
		} else if part, ok := strings.CutPrefix(c.body, "~"); ok && !strings.Contains(got, part) || !ok && got != c.body+map[bool]string{true: "\n"}[c.body != ""] {
			t.Errorf("%s %s:\n got %s\nwant %s", c.method, c.path, got, c.body)
		}
		if a.status == 200 && c.method == "GET" && !json.Valid([]byte(a.body)) {
			t.Errorf("%s: invalid JSON %s", c.path, a.body)
		}
	}
}

var updatedAt = regexp.MustCompile(`"updated_at":"[^"]+Z"`)

// TestSegmentBadEscape: a client's URL parser refuses the path; Serve
// (the activation listener) sees it as sent.
func TestSegmentBadEscape(t *testing.T) {
	body, st := newAPI(t).Serve(nil, "GET", "/v1/spaces/default/collections/users/profiles/user_id:%zz/traits", "", "Bearer "+adminKey)
	if want := `{"error":{"code":"validation_error","message":"the path is not validly escaped"}}` + "\n"; st != 400 || string(body) != want {
		t.Errorf("%d %s, want 400 %s", st, body, want)
	}
}
