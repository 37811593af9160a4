package compact_test

import (
	"context"
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

// TestCompactKill kills `cdpctl job run compact` with SIGKILL at
// different points: after each kill, and after the land job's clean-up,
// the table holds every row exactly once; a last run finishes the work.
func TestCompactKill(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and kills cdpctl")
	}
	bin := testenv.Cdpctl(t)
	ctx := context.Background()
	stages := map[string]int{}
	for i, delay := range []time.Duration{20, 40, 60, 80, 100, 150} {
		dir := t.TempDir()
		st, err := local.New(filepath.Join(dir, "lake"))
		if err != nil {
			t.Fatal(err)
		}
		for p := range int32(8) {
			landRun(t, st, "acme", yesterday, p, 0, 12)
		}
		before, v0 := rows(t, st), manifest(t, st).Version

		cmd := exec.Command(bin, "--data-dir", dir, "--log-level", "error", "job", "run", "compact", "--progress", "none")
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(delay * time.Millisecond) // the kill point, not a wait for a condition
		_ = cmd.Process.Signal(syscall.SIGKILL)
		_ = cmd.Wait()

		m := manifest(t, st)
		stages[map[bool]string{true: "before the swap", false: "after the swap"}[len(m.Files) == 96]]++
		if !reflect.DeepEqual(rows(t, st), before) {
			t.Fatalf("kill %d (after %d ms, manifest v%d, was v%d): the committed rows changed", i, delay, m.Version, v0)
		}
		if _, err := lake.RemoveUncommitted(ctx, st, lake.TableEvents, 0); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(rows(t, st), before) {
			t.Fatalf("kill %d: the rows changed after the land job's clean-up", i)
		}
		if _, err := compact.Run(ctx, testConfig(st), compact.Options{}); err != nil {
			t.Fatalf("run after kill %d: %v", i, err)
		}
		if m := manifest(t, st); len(m.Files) != 8 || !reflect.DeepEqual(rows(t, st), before) {
			t.Fatalf("after kill %d and a full run: %d files", i, len(m.Files))
		}
	}
	t.Logf("kills: %v", stages)
}
