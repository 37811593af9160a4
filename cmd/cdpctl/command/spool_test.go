package command

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// A killed run's spool entries (a day old) go; a running job's (fresh)
// and anything else stay.
func TestSweepSpool(t *testing.T) {
	dir := t.TempDir()
	old := time.Now().Add(-25 * time.Hour)
	mk := func(name string, isDir bool, at time.Time) {
		p := filepath.Join(dir, name)
		var err error
		if isDir {
			err = os.MkdirAll(filepath.Join(p, "duckdb.tmp"), 0o755)
		} else {
			err = os.WriteFile(p, []byte("x"), 0o644)
		}
		if err == nil {
			err = os.Chtimes(p, at, at)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	mk("tributary-123.parquet", false, old)
	mk("tributary-resolve-456", true, old)
	mk("tributary-demo-1", true, old)
	mk("resolve-1", true, old)
	mk("tributary-curate-789", true, time.Now())
	mk("tributary-1.parquet", false, time.Now())
	mk("notes.txt", false, old)
	if n := sweepSpool(dir, staleSpool); n != 2 {
		t.Errorf("removed %d entries, want 2", n)
	}
	var left []string
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		left = append(left, e.Name())
	}
	if want := []string{"notes.txt", "resolve-1", "tributary-1.parquet", "tributary-curate-789", "tributary-demo-1"}; !slices.Equal(left, want) {
		t.Errorf("left %v, want %v", left, want)
	}
}
