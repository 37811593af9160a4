package activate_test

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tributary-cdp/tributary/internal/testenv"
)

// crmSource is a CRM export dropped in a folder: two records per customer
// id, one with the email of user u2k and one with that of u2k+1. Only the
// batch layer sees customer ids, so u2k and u2k+1 become one person (one
// cdp id) when resolve runs, and for the speed layer only after reconcile.
const crmSource = `name: crm
workspace: default
location: file://%s
format: {type: csv, header: true}
kind: profiles
fields:
  customer_id: {column: id, identifier: customer_id, required: true}
  email: {column: email, transforms: [trim, lower], identifier: email}
`

// TestReconcileUnderLiveTrafficIsExact drives the real binary: events stream
// in over HTTP (clients resend batches with the same messageIds) while
// `cdpctl job run all` (land → ingest → cleanse → resolve → curate →
// reconcile) runs three times; at the end every cluster holds exactly the
// events sent by its users, and look-ups by any of its identifiers (user
// ids, emails, the CRM customer id) return its cdp id.
func TestReconcileUnderLiveTrafficIsExact(t *testing.T) {
	if testing.Short() {
		t.Skip("drives the real binary through the batch chain")
	}
	in := testenv.Init(t).WithoutSchedules(t)
	proc := in.Serve(t)

	const users = 40
	var mu sync.Mutex
	sent := map[string]int64{}
	var seq atomic.Int64
	send := func(rng *rand.Rand, evs []map[string]any) {
		body := map[string]any{"batch": evs}
		for {
			if err := post(in, "/v1/batch", body); err == nil {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		if rng.IntN(8) == 0 { // the ack got lost: the client sends the batch again
			for post(in, "/v1/batch", body) != nil {
				time.Sleep(20 * time.Millisecond)
			}
		}
		mu.Lock()
		for _, e := range evs {
			sent[e["userId"].(string)]++
		}
		mu.Unlock()
	}
	event := func(rng *rand.Rand, u int) map[string]any {
		i := seq.Add(1)
		e := map[string]any{"messageId": fmt.Sprintf("m-%d", i), "userId": fmt.Sprintf("u%d", u), "timestamp": time.Now().UTC().Format(time.RFC3339Nano)}
		switch rng.IntN(6) {
		case 0:
			e["type"], e["traits"] = "identify", map[string]any{"email": fmt.Sprintf("User%d@Example.com", u), "plan": fmt.Sprintf("p%d", i)}
		case 1:
			e["type"], e["event"], e["properties"] = "track", "Order Completed", map[string]any{"revenue": float64(i%90) + 0.5}
		case 2:
			e["type"], e["name"] = "page", "Home"
		default:
			e["type"], e["event"] = "track", "Product Viewed"
		}
		return e
	}
	// Everyone exists before the first build, with an email.
	rng0 := rand.New(rand.NewPCG(1, 1))
	var first []map[string]any
	for u := range users {
		e := event(rng0, u)
		e["type"], e["traits"] = "identify", map[string]any{"email": fmt.Sprintf("User%d@Example.com", u)}
		delete(e, "event")
		delete(e, "properties")
		delete(e, "name")
		first = append(first, e)
	}
	send(rng0, first)

	var stop atomic.Bool
	var wg sync.WaitGroup
	for g := range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(g)+10, 3))
			for !stop.Load() {
				evs := make([]map[string]any, 1+rng.IntN(15))
				for i := range evs {
					evs[i] = event(rng, rng.IntN(users))
				}
				send(rng, evs)
				time.Sleep(time.Duration(rng.IntN(10)) * time.Millisecond)
			}
		}()
	}
	// Look-ups go on through the reconciles: every user is always found
	// and its count never goes down (a swap only adds the batch merges).
	for u := range users {
		await(t, in, fmt.Sprintf("user_id:u%d", u), 10*time.Second, func(profile) bool { return true })
	}
	lookupErr := make(chan error, 1)
	wg.Add(1)
	go func() {
		defer wg.Done()
		last := map[int]int64{}
		for k := 0; !stop.Load(); k++ {
			u := k % users
			req, _ := http.NewRequest("GET", fmt.Sprintf("%s/v1/profiles/user_id:u%d", in.URL(), u), nil)
			req.Header.Set("Authorization", "Bearer "+in.APIKey)
			resp, err := client.Do(req)
			if err != nil {
				continue
			}
			var p profile
			err = json.NewDecoder(resp.Body).Decode(&p)
			resp.Body.Close()
			switch {
			case resp.StatusCode != 200 || err != nil:
				lookupErr <- fmt.Errorf("look-up of u%d during the reconciles: HTTP %d %v", u, resp.StatusCode, err)
				return
			case p.Computed.EventsTotal < last[u]:
				lookupErr <- fmt.Errorf("u%d: events_total went from %d to %d", u, last[u], p.Computed.EventsTotal)
				return
			}
			last[u] = p.Computed.EventsTotal
		}
	}()

	job := func(args ...string) string {
		t.Helper()
		return runCdpctl(t, in, proc, args...)
	}
	drop := t.TempDir()
	var crm strings.Builder
	crm.WriteString("id,email\n")
	for k := range users / 2 {
		fmt.Fprintf(&crm, "C%d,user%d@example.com\nC%d, User%d@Example.com \n", k, 2*k, k, 2*k+1)
	}
	if err := os.WriteFile(filepath.Join(drop, "customers.csv"), []byte(crm.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	srcFile := filepath.Join(t.TempDir(), "crm.yaml")
	if err := os.WriteFile(srcFile, []byte(fmt.Sprintf(crmSource, drop)), 0o644); err != nil {
		t.Fatal(err)
	}
	job("source", "add", srcFile)
	for round := 1; round <= 3; round++ {
		time.Sleep(300 * time.Millisecond) // traffic between the rounds
		out := job("job", "run", "all")
		t.Logf("round %d: %s", round, strings.TrimSpace(lastLines(out, 1)))
	}
	time.Sleep(300 * time.Millisecond)
	stop.Store(true)
	wg.Wait()
	select {
	case err := <-lookupErr:
		t.Fatal(err)
	default:
	}

	// Every cluster: its users' events, exactly, under one cdp id whichever
	// identifier looks it up.
	deadline := time.Now().Add(30 * time.Second)
	for k := 0; k < users/2; k++ {
		a, b := fmt.Sprintf("u%d", 2*k), fmt.Sprintf("u%d", 2*k+1)
		want := sent[a] + sent[b]
		var cdpID string
		for {
			p, ok := lookup(t, in, "user_id:"+a)
			if ok && p.Computed.EventsTotal == want {
				cdpID = p.CDPID
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s+%s: %d events in %s (found %v), want %d", a, b, p.Computed.EventsTotal, p.CDPID, ok, want)
			}
			time.Sleep(10 * time.Millisecond)
		}
		for _, ref := range []string{"user_id:" + b, fmt.Sprintf("email:user%d@example.com", 2*k), fmt.Sprintf("email:USER%d@example.com", 2*k+1),
			fmt.Sprintf("customer_id:C%d", k), "cdp_id:" + cdpID} {
			if p, ok := lookup(t, in, ref); !ok || p.CDPID != cdpID || p.Computed.EventsTotal != want {
				t.Errorf("%s: %s with %d events (found %v), want %s with %d", ref, p.CDPID, p.Computed.EventsTotal, ok, cdpID, want)
			}
		}
	}
	var total int64
	for _, n := range sent {
		total += n
	}
	t.Logf("%d events from %d users, 3 reconciles under traffic: exact", total, users)
}

// runCdpctl runs a cdpctl command (a job, a source) against the instance
// served by proc (nil before it serves) and returns its output; a failure
// ends the test with the events the lake holds and the server's log.
func runCdpctl(t *testing.T, in *testenv.Instance, proc *testenv.Process, args ...string) string {
	t.Helper()
	full := append(append([]string{}, args...), "--data-dir", in.DataDir, "--kafka-brokers", in.Broker)
	if args[0] == "job" {
		full = append(full, "--progress", "none")
	}
	out, err := exec.Command(in.Bin, full...).CombinedOutput()
	if err != nil {
		diag, _ := exec.Command(in.Bin, "sql", "--data-dir", in.DataDir, "SELECT type, traits IS NULL, length(traits), properties IS NULL, length(properties), count(*) FROM events GROUP BY ALL ORDER BY ALL").CombinedOutput()
		var log string
		if proc != nil {
			log = tail(proc.Log.String(), 2000)
		}
		t.Fatalf("cdpctl %s: %v\n%s\nevents:\n%s\nserver log:\n%s", strings.Join(args, " "), err, out, diag, log)
	}
	return string(out)
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}
