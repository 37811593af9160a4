package command

import (
	"log/slog"
	"os"
	"path/filepath"
	"time"
)

// spoolPatterns are what the batch jobs write in jobs.spool_dir: the
// Parquet files of lake.NewWriter and the DuckDB work dirs of cleanse,
// resolve and curate. Each run removes its own; a run killed leaves them.
// Names of their own, since the default spool is the shared OS temp dir
// (and not tributary-*: a kept demo's data dir is tributary-demo-*).
var spoolPatterns = []string{"tributary-*.parquet", "tributary-cleanse-*", "tributary-resolve-*", "tributary-curate-*"}

// staleSpool is how old a spool entry must be to be a killed run's: no
// run goes a day without writing to its files.
const staleSpool = 24 * time.Hour

// sweepSpool removes the spool entries of killed runs from dir (the OS
// temp dir when empty): those of the batch jobs' patterns last changed
// more than age ago. It returns how many it removed.
func sweepSpool(dir string, age time.Duration) int {
	if dir == "" {
		dir = os.TempDir()
	}
	cutoff, n := time.Now().Add(-age), 0
	for _, pat := range spoolPatterns {
		paths, _ := filepath.Glob(filepath.Join(dir, pat))
		for _, p := range paths {
			fi, err := os.Lstat(p)
			if err != nil || fi.ModTime().After(cutoff) {
				continue
			}
			if err := os.RemoveAll(p); err != nil {
				slog.Warn("remove a killed job's spool", "path", p, "err", err)
				continue
			}
			n++
		}
	}
	return n
}
