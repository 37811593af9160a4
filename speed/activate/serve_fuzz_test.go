package activate

import (
	"bufio"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// FuzzServeAsMux: for any request line net/http accepts, Serve (what the
// fasthttp adapter calls with the request-target as sent) answers as the
// main port's handler (Handler) does whenever it routes to the API: same
// status, same body. Where the mux answers on its own (404, 405, a
// redirect to a clean path outside the API), Serve answers a JSON 404 or
// 405.
func FuzzServeAsMux(f *testing.F) {
	for _, s := range []string{
		"/v1/profiles/user_id:u1", "/v1/profiles/user_id:u1?include=events", "/v1/profiles/user_id:u1/events",
		"/v1/profiles/user_id:team%2F42%20%C3%BC", "/v1/profiles/email:Ann@Example.com%20", "/v1/profiles/u1",
		"/v1/profiles/", "/v1/profiles/a/../b", "/v1/profiles/x?include=events&include=no", "/v1/profiles/%zz",
		"/v1/profiles/cdp_id:%00", "/v1/profiles/user_id:u1/events/", "/v1/profiles//events", "/v1/profiles/user_id:team/42",
		"/v1/spaces/default/collections/users/profiles/user_id:u1/traits?limit=1&verbose=true",
		"/v1/spaces/default/collections/users/profiles/user_id:u1/events?sort=asc&start=2026-11-01&next=1.2",
		"/v1/spaces/default/collections/users/profiles/user_id:u1/external_ids?include=email",
		"/v1/spaces/default/collections/users/profiles/segment_id:x/metadata", "/v1/spaces/default/collections/users/profiles/u1/links",
		"/v1/spaces/other/collections/accounts/profiles/group_id:g/traits", "/v1/spaces/default/collections/users/profiles/./traits",
		"/v1/spaces//collections/users/profiles/user_id:u1/traits", "/v1/spaces/default/collections/users/profiles/%2e%2E/traits",
		"/v1//profiles/user_id:u1", "/v1/x/../profiles/user_id:u1", "/v1/profiles/..", "/v1//track",
	} {
		f.Add("GET", s, activationKey)
	}
	f.Add("POST", "/v1/profiles/user_id:u1", adminKey)
	f.Add("GET", "/v1/profiles/user_id:u1", "")
	api := newAPI(f)
	mux := http.NewServeMux()
	api.Register(mux)
	h := api.Handler(mux)
	f.Fuzz(func(t *testing.T, method, target, key string) {
		raw := method + " " + target + " HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + key + "\r\n\r\n"
		req, err := http.ReadRequest(bufio.NewReader(strings.NewReader(raw)))
		if err != nil || req.Method != method || req.RequestURI != target {
			return // not a request net/http would serve as such
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		path, query, _ := strings.Cut(target, "?")
		body, status := api.Serve(nil, method, path, query, req.Header.Get("Authorization"))
		if rec.Header().Get("Content-Type") == ContentType {
			if status != rec.Code || string(body) != rec.Body.String() {
				t.Fatalf("%s %q: mux %d %s, Serve %d %s", method, target, rec.Code, rec.Body, status, body)
			}
			return
		}
		if loc := rec.Header().Get("Location"); loc != "" && apiPath(strings.Split(loc, "?")[0]) {
			t.Fatalf("%s %q: redirected to %s, in the API", method, target, loc)
		}
		if status != http.StatusNotFound && status != http.StatusMethodNotAllowed && status != http.StatusBadRequest {
			t.Fatalf("%s %q: mux answered %d on its own, Serve %d %s", method, target, rec.Code, status, body)
		}
	})
}
