package main_test

import (
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/tributary-cdp/tributary/internal/testenv"
)

// Keys changed in the config file take effect in a running serve, on the
// collector, the main port's look-ups and the activation listener: a
// revoked (leaked) key stops working without a restart. A config that does
// not validate keeps the keys in force.
func TestKeysChangeWhileServing(t *testing.T) {
	in := testenv.Init(t)
	proc := in.Serve(t, "--activation-addr", "127.0.0.1:0")
	activation := proc.ActivationURL(t)
	track := func(key string) int {
		t.Helper()
		code, err := post(t, in.URL()+"/v1/track", key, []byte(`{"userId":"u-keys","event":"Tick"}`), false)
		if err != nil {
			t.Fatal(err)
		}
		return code
	}
	lookUp := func(base, key string) int {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, base+"/v1/profiles/user_id:u-keys", nil)
		req.Header.Set("Authorization", "Bearer "+key)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	// want waits until every key answers its status.
	want := func(what string, statuses map[string]int) {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for {
			got := map[string]int{}
			for k := range statuses {
				switch kind, key, _ := strings.Cut(k, " "); kind {
				case "write":
					got[k] = track(key)
				case "main":
					got[k] = lookUp(in.URL(), key)
				case "activation":
					got[k] = lookUp(activation, key)
				}
			}
			if maps.Equal(got, statuses) {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: statuses %v, want %v\n%s", what, got, statuses, proc.Log.String())
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	const newWrite, newAPI = "wk_rotated_0123456789", "ak_rotated_0123456789"
	want("before the change", map[string]int{"write " + in.WriteKey: 200, "main " + in.APIKey: 200, "activation " + in.APIKey: 200,
		"write " + newWrite: 401, "main " + newAPI: 401, "activation " + newAPI: 401})

	path := filepath.Join(in.DataDir, "tributary.yaml")
	orig, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	rotated := strings.Replace(string(orig), in.WriteKey, newWrite, 1)
	rotated = regexp.MustCompile(`hash: sha256:[0-9a-f]+`).ReplaceAllString(rotated, "key: "+newAPI)
	if rotated == string(orig) || strings.Contains(rotated, "sha256:") {
		t.Fatalf("init's config has no keys to rotate:\n%s", orig)
	}
	write := func(b string) {
		t.Helper()
		if err := os.WriteFile(path, []byte(b), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(rotated)
	want("after rotating the keys", map[string]int{"write " + in.WriteKey: 401, "main " + in.APIKey: 401, "activation " + in.APIKey: 401,
		"write " + newWrite: 200, "main " + newAPI: 200, "activation " + newAPI: 200})

	write(strings.Replace(string(orig), "role: admin", "role: root", 1)) // does not validate
	time.Sleep(3 * time.Second)
	want("after an invalid edit", map[string]int{"write " + in.WriteKey: 401, "main " + newAPI: 200, "activation " + newAPI: 200})
	if !strings.Contains(proc.Log.String(), `role: \"root\" must be`) {
		t.Errorf("serve did not warn of the invalid config:\n%s", proc.Log.String())
	}
}
