package activate_test

import (
	"encoding/base64"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tributary-cdp/tributary/internal/testenv"
)

// TestActivationListener drives `cdpctl serve --activation-addr
// 127.0.0.1:0`: the fasthttp listener answers look-ups as the main port
// does (status, body, headers), and SIGTERM stops both gracefully.
func TestActivationListener(t *testing.T) {
	in := testenv.Init(t)
	proc := in.Serve(t, "--activation-addr", "127.0.0.1:0")
	addr := strings.TrimPrefix(proc.ActivationURL(t), "http://")
	if addr == in.HTTPAddr {
		t.Fatalf("activation listener on the main address %s", addr)
	}
	if err := post(in, "/v1/identify", map[string]any{"userId": "u-fast", "traits": map[string]any{"email": "Fast@Example.com"}}); err != nil {
		t.Fatal(err)
	}
	await(t, in, "user_id:u-fast", 5*time.Second, func(p profile) bool { return p.Computed.EventsTotal == 1 })

	type answer struct {
		status                                 int
		body, ctype, clen, cacheControl, allow string
	}
	get := func(method, base, path, authorization string) answer {
		t.Helper()
		req, _ := http.NewRequest(method, base+path, nil)
		if authorization != "" {
			req.Header.Set("Authorization", authorization)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return answer{resp.StatusCode, string(b), resp.Header.Get("Content-Type"), resp.Header.Get("Content-Length"),
			resp.Header.Get("Cache-Control"), resp.Header.Get("Allow")}
	}
	bearer := "Bearer " + in.APIKey
	basicAuth := "Basic " + base64.StdEncoding.EncodeToString([]byte(in.APIKey+":"))
	const segment = "/v1/spaces/default/collections/users/profiles/"
	for _, c := range []struct {
		method, path, authorization string
		status                      int
	}{
		{"GET", "/v1/profiles/email:%20fast@EXAMPLE.com", bearer, 200},
		{"GET", "/v1/profiles/user_id:u-fast?include=events", bearer, 200},
		{"GET", "/v1/profiles/user_id:u-fast/events", bearer, 200},
		{"GET", "/v1/profiles/user_id:u-fast", "bearer " + in.APIKey, 200}, // the scheme is case-insensitive
		{"GET", "/v1/profiles/user_id:nobody", bearer, 404},
		{"GET", "/v1/profiles/user_id:u-fast", "", 401},
		{"GET", "/v1/profiles/user_id:u-fast", "Bearer " + in.WriteKey, 401},
		{"GET", "/v1/profiles/nope", bearer, 400},
		// The rest of /v1/profiles/ answers in JSON on both ports.
		{"GET", "/v1/profiles", bearer, 404},
		{"GET", "/v1/profiles/", bearer, 404},
		{"GET", "/v1/profiles/user_id:u-fast/other", bearer, 404},
		{"POST", "/v1/profiles/user_id:u-fast", bearer, 405},
		{"DELETE", "/v1/profiles/user_id:u-fast/events", bearer, 405},
		// Segment's Profile API, the access token as a Basic user name as
		// curl -u $TOKEN: sends it; the space id is the workspace's.
		{"GET", segment + "user_id:u-fast/traits", basicAuth, 200},
		{"GET", segment + "email:fast@example.com/traits?include=email&verbose=true", bearer, 200},
		{"GET", segment + "user_id:u-fast/external_ids?limit=1", basicAuth, 200},
		{"GET", segment + "user_id:u-fast/events?sort=asc", basicAuth, 200},
		{"GET", segment + "user_id:u-fast/metadata", basicAuth, 200},
		{"GET", segment + "user_id:u-fast/links", basicAuth, 200},
		{"GET", segment + "user_id:nobody/traits", basicAuth, 404},
		{"GET", segment + "user_id:u-fast/traits?limit=0", basicAuth, 400},
		{"GET", segment + "user_id:u-fast/traits", "", 401},
		{"GET", "/v1/spaces/elsewhere/collections/users/profiles/user_id:u-fast/traits", basicAuth, 403},
		{"POST", segment + "user_id:u-fast/traits", basicAuth, 405},
	} {
		main, fast := get(c.method, in.URL(), c.path, c.authorization), get(c.method, "http://"+addr, c.path, c.authorization)
		if fast != main || fast.status != c.status || fast.ctype != "application/json" || fast.clen == "" {
			t.Errorf("%s %s:\nmain       %+v\nactivation %+v\nwant %d", c.method, c.path, main, fast, c.status)
		}
		if strings.HasPrefix(c.path, segment) && c.status == 200 && !strings.Contains(main.body, `"cursor":{`) && !strings.Contains(main.body, `"metadata":{`) {
			t.Errorf("%s: not a Segment answer: %s", c.path, main.body)
		}
	}
	// Only look-ups there: the collector and operations stay on the main port.
	if a := get("GET", "http://"+addr, "/healthz", ""); a.status != 404 {
		t.Errorf("/healthz on the activation listener: %+v", a)
	}
	if a := get("POST", "http://"+addr, "/v1/profiles/user_id:u-fast", bearer); a.status != 405 || a.allow != "GET, HEAD" {
		t.Errorf("POST on the activation listener: %+v", a)
	}
	proc.Stop(t)
	if _, err := client.Get("http://" + addr + "/v1/profiles/user_id:u-fast"); err == nil {
		t.Error("the activation listener still answers after serve stopped")
	}
}
