package main_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/tributary-cdp/tributary/internal/testenv"
)

// A segment added or removed with `cdpctl segment add|remove` takes effect
// in a running serve: look-ups show the profile enter and leave it.
func TestSegmentAddTakesEffectWhileServing(t *testing.T) {
	in := testenv.Init(t)
	in.Serve(t)
	body := []byte(`{"userId":"u-live","messageId":"m-live-1","traits":{"plan":"pro","email":"live@example.com"}}`)
	if code, err := post(t, in.URL()+"/v1/identify", in.WriteKey, body, false); err != nil || code != 200 {
		t.Fatalf("identify: %d %v", code, err)
	}
	await := segmentAwaiter(t, in, "u-live")
	await("before the segment exists", func(s []string) bool { return !slices.Contains(s, "live_pros") })

	file := filepath.Join(t.TempDir(), "live_pros.yaml")
	def := "id: live_pros\nworkspace: default\ncondition:\n  trait: {name: plan, op: eq, value: pro}\n"
	if err := os.WriteFile(file, []byte(def), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(in.Bin, "segment", "add", file, "--data-dir", in.DataDir).CombinedOutput(); err != nil {
		t.Fatalf("segment add: %v\n%s", err, out)
	}
	await("after segment add", func(s []string) bool { return slices.Contains(s, "live_pros") })

	if out, err := exec.Command(in.Bin, "segment", "remove", "live_pros", "--data-dir", in.DataDir).CombinedOutput(); err != nil {
		t.Fatalf("segment remove: %v\n%s", err, out)
	}
	await("after segment remove", func(s []string) bool { return !slices.Contains(s, "live_pros") })
}

// testProfile is what the integration tests read of a profile.
type testProfile struct {
	Segments []string `json:"segments"`
	Computed struct {
		EventsTotal int64 `json:"events_total"`
	} `json:"computed"`
}

// profileOf looks up user's profile through the activation API; found is
// false when it is not there (yet).
func profileOf(t *testing.T, in *testenv.Instance, user string) (p testProfile, found bool) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, in.URL()+"/v1/profiles/user_id:"+user, nil)
	req.Header.Set("Authorization", "Bearer "+in.APIKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		return p, false
	}
	if err := json.NewDecoder(resp.Body).Decode(&p); err != nil {
		t.Fatal(err)
	}
	return p, true
}

// segmentAwaiter returns a function that waits (20 s at most) until the
// segments of the profile of user look as ok says.
func segmentAwaiter(t *testing.T, in *testenv.Instance, user string) func(what string, ok func([]string) bool) {
	segmentsOf := func() ([]string, bool) {
		p, found := profileOf(t, in, user)
		return p.Segments, found
	}
	return func(what string, ok func([]string) bool) {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for {
			segs, found := segmentsOf()
			if found && ok(segs) {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: segments %v (profile found: %v)", what, segs, found)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
}

// A segment added to or removed from the config file's `segments:` takes
// effect in a running serve; a config whose segments do not validate
// changes nothing.
func TestConfigSegmentsTakeEffectWhileServing(t *testing.T) {
	in := testenv.Init(t)
	in.Serve(t)
	body := []byte(`{"userId":"u-cfg","messageId":"m-cfg-1","traits":{"plan":"pro"}}`)
	if code, err := post(t, in.URL()+"/v1/identify", in.WriteKey, body, false); err != nil || code != 200 {
		t.Fatalf("identify: %d %v", code, err)
	}
	await := segmentAwaiter(t, in, "u-cfg")
	await("before the segment exists", func(s []string) bool { return !slices.Contains(s, "cfg_pros") })

	path := filepath.Join(in.DataDir, "tributary.yaml")
	orig, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	write := func(b []byte) {
		t.Helper()
		if err := os.WriteFile(path, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	seg := func(ws string) []byte {
		return fmt.Appendf(slices.Clone(orig), "segments:\n  - id: cfg_pros\n    workspace: %s\n    condition:\n      trait: {name: plan, op: eq, value: pro}\n", ws)
	}
	write(seg("default"))
	await("after adding it to the config", func(s []string) bool { return slices.Contains(s, "cfg_pros") })

	write(seg("nowhere")) // an unknown workspace: refused, the segment stays
	time.Sleep(3 * time.Second)
	await("after an invalid edit", func(s []string) bool { return slices.Contains(s, "cfg_pros") })

	write(orig)
	await("after removing it from the config", func(s []string) bool { return !slices.Contains(s, "cfg_pros") })
}
