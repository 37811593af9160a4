package activate_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tributary-cdp/tributary/internal/testenv"
)

// These tests drive the real binary: `cdpctl init` and `cdpctl serve` on
// free loopback ports ($TRIBUTARY_BIN, or built once by testenv).

var client = &http.Client{Timeout: 10 * time.Second}

func post(in *testenv.Instance, path string, body any) error {
	return postAs(in, in.WriteKey, path, body)
}

// postAs posts with writeKey, into the workspace of that key.
func postAs(in *testenv.Instance, writeKey, path string, body any) error {
	b, _ := json.Marshal(body)
	req, _ := http.NewRequest("POST", in.URL()+path, bytes.NewReader(b))
	req.SetBasicAuth(writeKey, "")
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	rb, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		return fmt.Errorf("POST %s: %d %s", path, resp.StatusCode, rb)
	}
	return nil
}

type profile struct {
	CDPID       string `json:"cdp_id"`
	Identifiers []struct {
		Type, Value string
	} `json:"identifiers"`
	Traits   map[string]any `json:"traits"`
	Computed struct {
		EventsTotal int64 `json:"events_total"`
	} `json:"computed"`
}

// lookup returns the profile, or ok=false on 404.
func lookup(t *testing.T, in *testenv.Instance, ref string) (profile, bool) {
	t.Helper()
	req, _ := http.NewRequest("GET", in.URL()+"/v1/profiles/"+url.PathEscape(ref), nil)
	req.Header.Set("Authorization", "Bearer "+in.APIKey)
	resp, err := client.Do(req)
	if err != nil {
		return profile{}, false
	}
	defer resp.Body.Close()
	var p profile
	switch resp.StatusCode {
	case 200:
		if err := json.NewDecoder(resp.Body).Decode(&p); err != nil {
			t.Fatal(err)
		}
		return p, true
	case 404:
		return p, false
	default:
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("GET %s: %d %s", ref, resp.StatusCode, b)
	}
	return p, false
}

// await polls the look-up until cond holds; it returns how long it took.
func await(t *testing.T, in *testenv.Instance, ref string, d time.Duration, cond func(profile) bool) (profile, time.Duration) {
	t.Helper()
	start := time.Now()
	for {
		p, ok := lookup(t, in, ref)
		if ok && cond(p) {
			return p, time.Since(start)
		}
		if time.Since(start) > d {
			t.Fatalf("%s: condition not met within %s (last %+v, found %v)", ref, d, p, ok)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestStitchingInRealTime(t *testing.T) {
	in := testenv.Init(t)
	in.Serve(t)

	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(post(in, "/v1/track", map[string]any{"anonymousId": "anon-42", "event": "Product Viewed"}))
	p1, d1 := await(t, in, "anonymous_id:anon-42", 5*time.Second, func(p profile) bool { return p.Computed.EventsTotal == 1 })

	must(post(in, "/v1/identify", map[string]any{"anonymousId": "anon-42", "userId": "user-42", "traits": map[string]any{"plan": "free"}}))
	p2, d2 := await(t, in, "user_id:user-42", 5*time.Second, func(p profile) bool { return p.Computed.EventsTotal == 2 })
	if p2.CDPID != p1.CDPID {
		t.Errorf("identify made a new profile %s, want %s", p2.CDPID, p1.CDPID)
	}

	// The email arrives on another call, keyed by the user id only.
	must(post(in, "/v1/identify", map[string]any{"userId": "user-42", "traits": map[string]any{"email": "Ann.Lee@Example.com", "plan": "pro"}}))
	p3, d3 := await(t, in, "email: ann.lee@EXAMPLE.com ", 5*time.Second, func(p profile) bool { return p.Computed.EventsTotal == 3 })
	if p3.CDPID != p1.CDPID || p3.Traits["plan"] != "pro" || len(p3.Identifiers) != 3 {
		t.Errorf("email look-up: %+v", p3)
	}
	// A second anonymous device of the same person merges in through alias.
	must(post(in, "/v1/track", map[string]any{"anonymousId": "anon-77", "event": "App Opened"}))
	await(t, in, "anonymous_id:anon-77", 5*time.Second, func(p profile) bool { return p.Computed.EventsTotal == 1 })
	must(post(in, "/v1/alias", map[string]any{"previousId": "anon-77", "userId": "user-42"}))
	p4, _ := await(t, in, "anonymous_id:anon-77", 5*time.Second, func(p profile) bool { return p.Computed.EventsTotal == 5 })
	if p4.CDPID != p1.CDPID {
		t.Errorf("after alias: %s, want the older id %s", p4.CDPID, p1.CDPID)
	}
	t.Logf("visible after ack: %s, %s, %s", d1, d2, d3)
}

// TestKill9IsExact kills `serve` with SIGKILL several times under load.
// Clients retry every unacknowledged batch with the same messageIds; at
// the end every profile's events_total equals what was sent, exactly.
func TestKill9IsExact(t *testing.T) {
	if testing.Short() {
		t.Skip("kill -9 test under load")
	}
	in := testenv.Init(t)
	setCheckpointInterval(t, in, "1s")
	proc := in.Serve(t)

	const (
		clients = 4
		users   = 40
		batch   = 25
	)
	var (
		mu       sync.Mutex
		sent     = map[string]int64{} // acknowledged events per user
		batches  atomic.Int64
		retries  atomic.Int64
		stopLoad atomic.Bool
		wg       sync.WaitGroup
	)
	for c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(c), 7))
			for n := 0; !stopLoad.Load(); n++ {
				var evs []map[string]any
				per := map[string]int64{}
				for i := range batch {
					u := fmt.Sprintf("user-%d", rng.IntN(users))
					per[u]++
					evs = append(evs, map[string]any{"type": "track", "userId": u, "event": "Tick",
						"messageId": fmt.Sprintf("c%d-b%d-e%d", c, n, i)})
				}
				body := map[string]any{"batch": evs}
				// Retry the same batch, same messageIds, until acknowledged.
				for {
					if err := post(in, "/v1/batch", body); err == nil {
						break
					}
					retries.Add(1)
					time.Sleep(20 * time.Millisecond)
				}
				mu.Lock()
				for u, k := range per {
					sent[u] += k
				}
				mu.Unlock()
				batches.Add(1)
			}
		}()
	}

	rng := rand.New(rand.NewPCG(42, 42))
	var logs strings.Builder // of the killed processes
	for k := range 4 {
		time.Sleep(time.Duration(300+rng.IntN(1500)) * time.Millisecond)
		proc.Kill()
		logs.WriteString(proc.Log.String())
		t.Logf("kill -9 #%d after %d batches", k+1, batches.Load())
		proc = in.Serve(t)
	}
	time.Sleep(500 * time.Millisecond)
	stopLoad.Store(true)
	wg.Wait()
	t.Logf("%d batches acknowledged, %d retries", batches.Load(), retries.Load())
	if retries.Load() == 0 {
		t.Log("no client had to retry: the kills hit no request in flight")
	}

	check := func(stage string) {
		mu.Lock()
		defer mu.Unlock()
		deadline := time.Now().Add(60 * time.Second)
		for u, want := range sent {
			for {
				p, ok := lookup(t, in, "user_id:"+u)
				if ok && p.Computed.EventsTotal == want {
					break
				}
				if ok && p.Computed.EventsTotal > want {
					t.Fatalf("%s: %s counts %d events, %d were sent: counted twice", stage, u, p.Computed.EventsTotal, want)
				}
				if time.Now().After(deadline) {
					t.Fatalf("%s: %s counts %d events, want %d\n%s", stage, u, p.Computed.EventsTotal, want, lastLines(proc.Log.String(), 20))
				}
				time.Sleep(10 * time.Millisecond)
			}
		}
	}
	check("after the kills")
	// Once more from the checkpoint alone: a clean stop and a restart.
	proc.Stop(t)
	proc = in.Serve(t)
	check("after a clean restart")
	if !strings.Contains(proc.Log.String(), "speed checkpoint loaded") {
		t.Error("the restart did not load a checkpoint")
	}
	// Restarts loaded chains of delta checkpoints, not full ones alone.
	logs.WriteString(proc.Log.String())
	if loads := regexp.MustCompile(`speed checkpoint loaded.*deltas=[1-9]`).FindAllString(logs.String(), -1); len(loads) == 0 {
		t.Errorf("no restart loaded a delta checkpoint: the test did not cover them\n%s", logs.String())
	} else {
		t.Logf("%d of 5 restarts loaded delta checkpoints", len(loads))
	}
}

// setCheckpointInterval sets speed.checkpoint_interval in the instance's
// config (init writes 30s).
func setCheckpointInterval(t *testing.T, in *testenv.Instance, d string) {
	t.Helper()
	cfgPath := filepath.Join(in.DataDir, "tributary.yaml")
	b, err := os.ReadFile(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(b, []byte("checkpoint_interval: 30s")) {
		t.Fatalf("config has no speed.checkpoint_interval: %s", b)
	}
	b = bytes.Replace(b, []byte("checkpoint_interval: 30s"), []byte("checkpoint_interval: "+d), 1)
	if err := os.WriteFile(cfgPath, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
