package main_test

import (
	"io"
	"net/http"
	"testing"

	"github.com/tributary-cdp/tributary/internal/testenv"
)

// The main port answers a look-up path with // or a dot segment as the
// activation listener does, not with net/http's redirect to the cleaned
// path; the collector's paths keep the redirect.
func TestUncleanLookupPathsAnswerAsTheActivationListener(t *testing.T) {
	in := testenv.Init(t)
	proc := in.Serve(t, "--activation-addr", "127.0.0.1:0")
	activation := proc.ActivationURL(t)
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	get := func(base, path string) (int, string, string) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, base+path, nil)
		req.Header.Set("Authorization", "Bearer "+in.APIKey)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Header.Get("Content-Type"), string(b)
	}
	for _, p := range []string{
		"/v1/profiles/user_id:a/../user_id:b",
		"/v1//profiles/user_id:a",
		"/v1/profiles/./user_id:a/events",
		"/v1/spaces/default/collections/users/profiles//user_id:a/traits",
	} {
		ms, mct, mb := get(in.URL(), p)
		as, act, ab := get(activation, p)
		if ms != as || mct != act || mb != ab || mct != "application/json" {
			t.Errorf("%s: main port %d %s %q, activation listener %d %s %q", p, ms, mct, mb, as, act, ab)
		}
	}
	if st, _, _ := get(in.URL(), "/v1//track"); st != http.StatusTemporaryRedirect {
		t.Errorf("/v1//track: %d, want net/http's redirect to /v1/track", st)
	}
}
