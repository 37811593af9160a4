package compact_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"syscall"
	"testing"
	"time"

	"github.com/tributary-cdp/tributary/batch/compact"
	"github.com/tributary-cdp/tributary/internal/testenv"
	"github.com/tributary-cdp/tributary/lake"
	"github.com/tributary-cdp/tributary/lake/local"
)

// TestCompactKill kills `cdpctl job run compact` with SIGKILL at points
// in the last third of the time a whole run takes here (before, between
// and after the swaps of raw/events and quarantine/events): after each
// kill, and after the land job's clean-up, both tables hold every row
// exactly once; a last run finishes the work.
func TestCompactKill(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and kills cdpctl")
	}
	bin := testenv.Cdpctl(t)
	ctx := context.Background()
	setup := func() (string, lake.Storage, *exec.Cmd) {
		dir := t.TempDir()
		st, err := local.New(filepath.Join(dir, "lake"))
		if err != nil {
			t.Fatal(err)
		}
		for p := range int32(8) {
			landRun(t, st, "acme", yesterday, p, 0, 12)
			rejectRun(t, st, yesterday, p, 200, 12)
		}
		cmd := exec.Command(bin, "--data-dir", dir, "--log-level", "error", "job", "run", "compact", "--progress", "none")
		// A killed run leaves its spool files behind: in the test's own dir.
		cmd.Env = append(os.Environ(), "TMPDIR="+t.TempDir())
		return dir, st, cmd
	}
	_, _, cmd := setup()
	start := time.Now()
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("a whole run: %v\n%s", err, out)
	}
	whole := time.Since(start)
	stages := map[string]int{}
	for i := range 6 {
		delay := whole * time.Duration(12+i) / 18 // the first two thirds are mostly cdpctl starting
		_, st, cmd := setup()
		before, v0, rejBefore := rows(t, st), manifest(t, st).Version, rejects(t, st)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(delay) // the kill point, not a wait for a condition
		_ = cmd.Process.Signal(syscall.SIGKILL)
		_ = cmd.Wait()

		m, q := manifest(t, st), manifestOf(t, st, lake.TableRejected)
		stages[fmt.Sprintf("raw/events swapped %t, quarantine/events swapped %t", len(m.Files) < 96, len(q.Files) < 96)]++
		if !reflect.DeepEqual(rows(t, st), before) || !reflect.DeepEqual(rejects(t, st), rejBefore) {
			t.Fatalf("kill %d (after %s, manifest v%d, was v%d): the committed rows changed", i, delay, m.Version, v0)
		}
		for _, table := range []string{lake.TableEvents, lake.TableRejected} {
			if _, err := lake.RemoveUncommitted(ctx, st, table, 0); err != nil {
				t.Fatal(err)
			}
		}
		if !reflect.DeepEqual(rows(t, st), before) || !reflect.DeepEqual(rejects(t, st), rejBefore) {
			t.Fatalf("kill %d: the rows changed after the land job's clean-up", i)
		}
		if _, err := compact.Run(ctx, testConfig(st), compact.Options{}); err != nil {
			t.Fatalf("run after kill %d: %v", i, err)
		}
		m, q = manifest(t, st), manifestOf(t, st, lake.TableRejected)
		if len(m.Files) != 8 || len(q.Files) != 8 || !reflect.DeepEqual(rows(t, st), before) || !reflect.DeepEqual(rejects(t, st), rejBefore) {
			t.Fatalf("after kill %d and a full run: %d files, %d quarantine files", i, len(m.Files), len(q.Files))
		}
	}
	t.Logf("a whole run %s; kills: %v", whole.Round(time.Millisecond), stages)
}
