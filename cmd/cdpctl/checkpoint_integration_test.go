package main_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/tributary-cdp/tributary/internal/testenv"
)

// TestCheckpointCommand: after serve stops, `cdpctl checkpoint` describes
// the checkpoint it left, and after a second run the delta checkpoint
// beside it. A delta with a byte changed: the command exits non-zero,
// naming the checksum, and serve starts from the full checkpoint and
// replays, every count exact. A full checkpoint with a byte changed: both
// exit non-zero, naming the checksum.
func TestCheckpointCommand(t *testing.T) {
	t.Setenv("TZ", "Asia/Kolkata") // times are printed in UTC all the same
	in := testenv.Init(t)
	p := in.Serve(t)
	sendOrders(t, in, 4)
	for u := range 4 { // partitions are applied independently: wait for every user
		awaitEvents(t, in, fmt.Sprintf("u%d", u), 1)
	}
	p.Stop(t)
	if !regexp.MustCompile(`msg="speed checkpoint written at stop" delta=false size="[0-9.]+ (B|KiB|MiB)" offsets=`).MatchString(p.Log.String()) {
		t.Errorf("serve did not log its checkpoint at the stop:\n%s", p.Log.String())
	}

	dd := []string{"--data-dir", in.DataDir}
	var info struct {
		Version       int           `json:"version"`
		Profiles      int64         `json:"profiles"`
		Identifiers   int64         `json:"identifiers"`
		DedupeEntries int64         `json:"dedupe_entries"`
		Offsets       map[int]int64 `json:"offsets"`
		Written       time.Time     `json:"written"`
		Deltas        int           `json:"deltas"`
		Orders        int64         `json:"orders"`
		PoisonCopies  map[int]struct {
			Partition int   `json:"partition"`
			Offset    int64 `json:"offset"`
		} `json:"poison_copies"`
	}
	inspect := func(n, deltas int, sent int64) { // sent: messages, the duplicates may not all be applied yet
		t.Helper()
		if err := json.Unmarshal([]byte(cdpctl(t, in, "", append([]string{"checkpoint", "--json"}, dd...)...)), &info); err != nil {
			t.Fatal(err)
		}
		var next int64
		for p, o := range info.Offsets {
			next += o
			// No poison message was sent: every partition's copies would
			// go past where cdp.events.rejected ended at the start.
			if m, ok := info.PoisonCopies[p]; !ok || m.Offset != 0 {
				t.Errorf("partition %d: poison copies at %+v (%v), want offset 0 of an empty cdp.events.rejected", p, m, ok)
			}
		}
		if info.Version != 7 || info.Profiles != int64(n) || info.Identifiers != int64(n) || info.DedupeEntries != int64(n) || next < int64(n) || next > sent ||
			info.Deltas != deltas || info.Orders != int64(n) || time.Since(info.Written) > time.Minute {
			t.Errorf("checkpoint after %d orders of %d users: %+v, want %d deltas", n, n, info, deltas)
		}
	}
	inspect(4, 0, 4)
	text := cdpctl(t, in, "", append([]string{"checkpoint"}, dd...)...)
	// Sizes as the rest of the CLI writes them, the time in UTC as the
	// logs; a line per partition, with its offset and poison copies.
	textRe := regexp.MustCompile(`^\S+checkpoint\.gob: version 7, [0-9.]+ (B|KiB|MiB), and 0 delta checkpoints after it \(0 B\), ` +
		`the last written \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ \(\d+s ago\); loads in \S+, checksums OK\n` +
		`4 profiles, 4 identifiers, 4 orders remembered, 4 message ids for deduplication\n` +
		`(partition \d+ of cdp\.events: resumes at offset \d+; the copies of its poison messages from there lie at or past offset 0 of partition \d+ of cdp\.events\.rejected\n)+$`)
	if !textRe.MatchString(text) {
		t.Errorf("checkpoint output:\n%s\nwant it to match %s", text, textRe)
	}
	// The same 4 orders again (duplicates) and 2 more: the stop writes a
	// delta, and the chain holds 6.
	p = in.Serve(t)
	sendOrders(t, in, 6)
	for u := range 6 {
		awaitEvents(t, in, fmt.Sprintf("u%d", u), 1)
	}
	p.Stop(t)
	inspect(6, 1, 10)

	// A corrupt delta: the command refuses it; serve sets it aside, starts
	// from the full checkpoint and replays from Kafka, exactly.
	corrupt := func(name string) {
		t.Helper()
		file := filepath.Join(in.DataDir, "speed", name)
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		i := bytes.Index(b, []byte("Order Completed"))
		if i < 0 {
			t.Fatalf("no event name in %s", name)
		}
		b[i] = 'o' // order Completed: a record that still decodes
		if err := os.WriteFile(file, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	corrupt("checkpoint.gob.delta-000001")
	out, err := exec.Command(in.Bin, append([]string{"checkpoint"}, dd...)...).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "checksum") || !strings.Contains(string(out), "delta-000001") {
		t.Errorf("corrupt delta checkpoint: %v\n%s", err, out)
	}
	p = in.Serve(t)
	for u := range 6 {
		awaitEvents(t, in, fmt.Sprintf("u%d", u), 1)
	}
	if !strings.Contains(p.Log.String(), "delta checkpoint does not load") {
		t.Errorf("serve did not say it set the delta aside:\n%s", p.Log.String())
	}
	p.Stop(t)
	inspect(6, 0, 10) // the stop's checkpoint is full

	corrupt("checkpoint.gob")
	out, err = exec.Command(in.Bin, append([]string{"checkpoint"}, dd...)...).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "checksum") {
		t.Errorf("corrupt checkpoint: %v\n%s", err, out)
	}
	out, err = exec.Command(in.Bin, "serve", "--data-dir", in.DataDir, "--http", in.HTTPAddr, "--embedded-broker-addr", in.Broker).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "checksum") {
		t.Errorf("serve over a corrupt checkpoint: %v\n%s", err, out)
	}

	if err := os.Remove(filepath.Join(in.DataDir, "speed", "checkpoint.gob")); err != nil {
		t.Fatal(err)
	}
	out, err = exec.Command(in.Bin, append([]string{"checkpoint"}, dd...)...).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "no speed checkpoint") {
		t.Errorf("no checkpoint: %v\n%s", err, out)
	}
}

// awaitEvents waits until user's profile counts want events, failing past
// it or after 20 s.
func awaitEvents(t *testing.T, in *testenv.Instance, user string, want int64) {
	t.Helper()
	var got int64
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		p, ok := profileOf(t, in, user)
		if got = p.Computed.EventsTotal; ok && got > want {
			t.Fatalf("%s counts %d events, want %d: counted twice", user, got, want)
		}
		if ok && got == want {
			return
		}
	}
	t.Fatalf("%s counts %d events after 20 s, want %d", user, got, want)
}
