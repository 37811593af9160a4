package land_test

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/tributary-cdp/tributary/lake"
	"github.com/tributary-cdp/tributary/lake/local"
)

// cdpctl returns the cdpctl binary: $TRIBUTARY_BIN (set by `make test`)
// or one built for this test.
func cdpctl(t *testing.T) string {
	t.Helper()
	if bin := os.Getenv("TRIBUTARY_BIN"); bin != "" {
		return bin
	}
	_, file, _, _ := runtime.Caller(0)
	root := filepath.Join(filepath.Dir(file), "..", "..")
	bin := filepath.Join(t.TempDir(), "cdpctl")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/cdpctl")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build cdpctl: %v\n%s", err, out)
	}
	return bin
}

// checkCommittedPrefix checks the committed state between kills: for each
// partition, the committed rows are exactly offsets [0, manifest offset).
func checkCommittedPrefix(t *testing.T, st lake.Storage) int64 {
	t.Helper()
	ctx := context.Background()
	m, err := lake.LatestManifest(ctx, st, lake.TableEvents)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[[2]int64]int{}
	for _, f := range m.Files {
		rows, err := lake.ReadAll[lake.EventRow](ctx, st, f.Path)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range rows {
			seen[[2]int64{int64(r.KafkaPartition), r.KafkaOffset}]++
		}
	}
	rej, err := lake.ReadTable[lake.RejectRow](ctx, st, lake.TableRejected)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rej {
		if r.KafkaOffset < m.Offsets[r.KafkaPartition] {
			seen[[2]int64{int64(r.KafkaPartition), r.KafkaOffset}]++
		}
	}
	var total int64
	for p, next := range m.Offsets {
		for o := int64(0); o < next; o++ {
			if c := seen[[2]int64{int64(p), o}]; c != 1 {
				t.Fatalf("after a kill: partition %d offset %d committed %d times (manifest v%d says next is %d)", p, o, c, m.Version, next)
			}
		}
		total += next
	}
	if len(seen) != int(total) {
		t.Fatalf("after a kill: %d offsets committed beyond the manifest offsets", len(seen)-int(total))
	}
	return total
}

// TestLandKill9 kills `cdpctl job run land` with SIGKILL at random moments,
// then re-runs it: every event must land exactly once.
func TestLandKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("builds cdpctl")
	}
	bin := cdpctl(t)
	addr := startBroker(t)
	const n = 60000
	produce(t, addr, 0, n)
	dir := t.TempDir()
	lakeDir := filepath.Join(dir, "lake")
	st, err := local.New(lakeDir)
	if err != nil {
		t.Fatal(err)
	}
	cfgPath := filepath.Join(dir, "tributary.yaml")
	// Small chunks: many commits for the kills to land between, and a run
	// long enough to be killed (with 1,500 a quiet VM landed all 60,000
	// events before the fourth kill).
	// A killed run leaves its spool files behind (the next run's sweep
	// removes them a day later): the test's own spool, not the OS temp dir.
	cfg := fmt.Sprintf("jobs:\n  land_chunk_events: 500\n  spool_dir: %s\n", t.TempDir())
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	run := func() *exec.Cmd {
		cmd := exec.Command(bin, "job", "run", "land", "--config", cfgPath, "--data-dir", dir,
			"--kafka-brokers", addr, "--lake", "file://"+lakeDir, "--progress", "none")
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		return cmd
	}
	// A second run while one is going exits non-zero and says why.
	first := run()
	deadline := time.Now().Add(20 * time.Second)
	for {
		if objs, _ := st.List(context.Background(), "_meta/locks/land"); len(objs) > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("first run never took the lock")
		}
		time.Sleep(5 * time.Millisecond)
	}
	second := exec.Command(bin, "job", "run", "land", "--config", cfgPath, "--data-dir", dir,
		"--kafka-brokers", addr, "--lake", "file://"+lakeDir, "--progress", "none")
	out, err := second.CombinedOutput()
	if err == nil || !bytes.Contains(out, []byte("job land is already running")) {
		t.Fatalf("second concurrent run: %v\n%s", err, out)
	}
	_ = first.Process.Signal(syscall.SIGKILL)
	_ = first.Wait()

	rng := rand.New(rand.NewPCG(1, 2))
	kills := 0
	var before int64
	for i := range 8 {
		cmd := run()
		// Kill at a random moment: right away, mid-upload or mid-commit.
		time.Sleep(time.Duration(rng.IntN(400)+i*40) * time.Millisecond)
		err := cmd.Process.Signal(syscall.SIGKILL)
		_ = cmd.Wait()
		if err == nil && cmd.ProcessState.Sys().(syscall.WaitStatus).Signaled() {
			kills++
		}
		got := checkCommittedPrefix(t, st)
		if got < before {
			t.Fatalf("committed offsets went back from %d to %d", before, got)
		}
		before = got
		t.Logf("kill %d: %d offsets committed", i, got)
	}
	if kills < 4 {
		t.Fatalf("only %d of 8 runs were killed before finishing; the test did not test anything", kills)
	}
	cmd := exec.Command(bin, "job", "run", "land", "--config", cfgPath, "--data-dir", dir,
		"--kafka-brokers", addr, "--lake", "file://"+lakeDir, "--progress", "none")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("final run: %v\n%s", err, out)
	}
	bad := garbage(0, n)
	checkExactlyOnce(t, st, addr, n-bad, bad)

	// The history shows the killed runs as started and never finished.
	hist := exec.Command(bin, "job", "history", "land", "--data-dir", dir, "--lake", "file://"+lakeDir, "-n", "0")
	out, err = hist.CombinedOutput()
	if err != nil || !bytes.Contains(out, []byte("abandoned")) || !bytes.Contains(out, []byte("succeeded")) {
		t.Fatalf("history: %v\n%s", err, out)
	}
	fmt.Fprintf(os.Stderr, "%s", out)
}
