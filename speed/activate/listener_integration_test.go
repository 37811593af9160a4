package activate_test

import (
	"io"
	"net/http"
	"regexp"
	"testing"
	"time"

	"github.com/tributary-cdp/tributary/internal/testenv"
)

var activationLine = regexp.MustCompile(`(?m)^activation look-ups on http://(\S+)$`)

// TestActivationListener drives `cdpctl serve --activation-addr
// 127.0.0.1:0`: the fasthttp listener answers look-ups as the main port
// does (status, body, headers), and SIGTERM stops both gracefully.
func TestActivationListener(t *testing.T) {
	in := testenv.Init(t)
	proc := in.Serve(t, "--activation-addr", "127.0.0.1:0")
	var addr string
	for deadline := time.Now().Add(10 * time.Second); addr == ""; {
		if m := activationLine.FindStringSubmatch(proc.Log.String()); m != nil {
			addr = m[1]
		} else if time.Now().After(deadline) {
			t.Fatalf("serve printed no activation address:\n%s", proc.Log.String())
		} else {
			time.Sleep(10 * time.Millisecond)
		}
	}
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
	get := func(method, base, path, key string) answer {
		t.Helper()
		req, _ := http.NewRequest(method, base+path, nil)
		if key != "" {
			req.Header.Set("Authorization", "Bearer "+key)
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
	for _, c := range []struct {
		path, key string
		status    int
	}{
		{"/v1/profiles/email:%20fast@EXAMPLE.com", in.APIKey, 200},
		{"/v1/profiles/user_id:u-fast?include=events", in.APIKey, 200},
		{"/v1/profiles/user_id:u-fast/events", in.APIKey, 200},
		{"/v1/profiles/user_id:nobody", in.APIKey, 404},
		{"/v1/profiles/user_id:u-fast", "", 401},
		{"/v1/profiles/user_id:u-fast", in.WriteKey, 401},
		{"/v1/profiles/nope", in.APIKey, 400},
	} {
		main, fast := get("GET", in.URL(), c.path, c.key), get("GET", "http://"+addr, c.path, c.key)
		if fast != main || fast.status != c.status || fast.ctype != "application/json" || fast.clen == "" {
			t.Errorf("%s:\nmain       %+v\nactivation %+v\nwant %d", c.path, main, fast, c.status)
		}
	}
	// Only look-ups there: the collector and operations stay on the main port.
	if a := get("GET", "http://"+addr, "/healthz", ""); a.status != 404 {
		t.Errorf("/healthz on the activation listener: %+v", a)
	}
	if a := get("POST", "http://"+addr, "/v1/profiles/user_id:u-fast", in.APIKey); a.status != 405 || a.allow != "GET, HEAD" {
		t.Errorf("POST on the activation listener: %+v", a)
	}
	proc.Stop(t)
	if _, err := client.Get("http://" + addr + "/v1/profiles/user_id:u-fast"); err == nil {
		t.Error("the activation listener still answers after serve stopped")
	}
}
