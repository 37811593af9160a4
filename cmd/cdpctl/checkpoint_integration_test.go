package main_test

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tributary-cdp/tributary/internal/testenv"
)

// TestCheckpointCommand: after serve stops, `cdpctl checkpoint` describes
// the checkpoint it left, and after a second run the delta checkpoint
// beside it; one with a byte changed exits non-zero, and so does serve,
// both naming the checksum.
func TestCheckpointCommand(t *testing.T) {
	in := testenv.Init(t)
	p := in.Serve(t)
	sendOrders(t, in, 4)
	segmentAwaiter(t, in, "u3")("u3's profile visible", func([]string) bool { return true })
	p.Stop(t)

	dd := []string{"--data-dir", in.DataDir}
	var info struct {
		Version       int           `json:"version"`
		Profiles      int64         `json:"profiles"`
		Identifiers   int64         `json:"identifiers"`
		DedupeEntries int64         `json:"dedupe_entries"`
		Offsets       map[int]int64 `json:"offsets"`
		Written       time.Time     `json:"written"`
		Deltas        int           `json:"deltas"`
	}
	inspect := func(n, deltas int, sent int64) { // sent: messages, the duplicates may not all be applied yet
		t.Helper()
		if err := json.Unmarshal([]byte(cdpctl(t, in, "", append([]string{"checkpoint", "--json"}, dd...)...)), &info); err != nil {
			t.Fatal(err)
		}
		var next int64
		for _, o := range info.Offsets {
			next += o
		}
		if info.Version != 5 || info.Profiles != int64(n) || info.Identifiers != int64(n) || info.DedupeEntries != int64(n) || next < int64(n) || next > sent ||
			info.Deltas != deltas || time.Since(info.Written) > time.Minute {
			t.Errorf("checkpoint after %d orders of %d users: %+v, want %d deltas", n, n, info, deltas)
		}
	}
	inspect(4, 0, 4)
	text := cdpctl(t, in, "", append([]string{"checkpoint"}, dd...)...)
	if !strings.Contains(text, "checksums OK") || !strings.Contains(text, "4 profiles, 4 identifiers, 4 message ids") {
		t.Errorf("checkpoint output:\n%s", text)
	}
	// The same 4 orders again (duplicates) and 2 more: the stop writes a
	// delta, and the chain holds 6.
	p = in.Serve(t)
	sendOrders(t, in, 6)
	segmentAwaiter(t, in, "u5")("u5's profile visible", func([]string) bool { return true })
	p.Stop(t)
	inspect(6, 1, 10)

	file := filepath.Join(in.DataDir, "speed", "checkpoint.gob")
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	i := bytes.Index(b, []byte("Order Completed"))
	if i < 0 {
		t.Fatal("no event name in the checkpoint")
	}
	b[i] = 'o' // order Completed: a record that still decodes
	if err := os.WriteFile(file, b, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(in.Bin, append([]string{"checkpoint"}, dd...)...).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "checksum") {
		t.Errorf("corrupt checkpoint: %v\n%s", err, out)
	}
	out, err = exec.Command(in.Bin, "serve", "--data-dir", in.DataDir, "--http", in.HTTPAddr, "--embedded-broker-addr", in.Broker).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "checksum") {
		t.Errorf("serve over a corrupt checkpoint: %v\n%s", err, out)
	}

	if err := os.Remove(file); err != nil {
		t.Fatal(err)
	}
	out, err = exec.Command(in.Bin, append([]string{"checkpoint"}, dd...)...).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "no speed checkpoint") {
		t.Errorf("no checkpoint: %v\n%s", err, out)
	}
}
