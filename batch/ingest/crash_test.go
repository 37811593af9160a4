package ingest_test

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tributary-cdp/tributary/batch/ingest"
	"github.com/tributary-cdp/tributary/lake"
)

// failingLake fails every write whose key starts with prefix, like a run
// that dies at that point.
type failingLake struct {
	lake.Storage
	prefix string
}

var errDied = errors.New("process died")

func (f failingLake) Put(ctx context.Context, key string, r io.Reader) error {
	if strings.HasPrefix(key, f.prefix) {
		return errDied
	}
	return f.Storage.Put(ctx, key, r)
}

func (f failingLake) PutIfAbsent(ctx context.Context, key string, r io.Reader) error {
	if strings.HasPrefix(key, f.prefix) {
		return errDied
	}
	return f.Storage.PutIfAbsent(ctx, key, r)
}

// TestIngestRunDiesAndIsRunAgain stops a run at each step of a file's
// commit (quarantine file, quarantine manifest, raw file, raw manifest);
// the next run must leave exactly what one clean run leaves.
func TestIngestRunDiesAndIsRunAgain(t *testing.T) {
	for _, at := range []string{
		"quarantine/crm_customers/",
		"_meta/manifests/quarantine/crm_customers/",
		"raw/crm_customers/",
		"_meta/manifests/raw/crm_customers/",
	} {
		t.Run(at, func(t *testing.T) {
			ctx := context.Background()
			st := newLake(t)
			drop := t.TempDir()
			if err := ingest.NewStore(st).Add(ctx, exampleSource(t, "file://"+drop), false); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(drop, "export.csv"), fixture(t, "crm_customers.csv"), 0o644); err != nil {
				t.Fatal(err)
			}
			cfg := ingest.DefaultConfig()
			cfg.SpoolDir = t.TempDir()
			cfg.Storage = failingLake{st, at}
			if _, err := ingest.Run(ctx, cfg, ingest.Options{}); !errors.Is(err, errDied) {
				t.Fatalf("run dying at %s: err = %v", at, err)
			}
			if files, _ := lake.CommittedFiles(ctx, st, "raw/crm_customers"); len(files) != 0 {
				t.Fatalf("a dead run made files visible: %v", files)
			}
			cfg.Storage = st
			res := run(t, cfg, ingest.Options{})
			if res.Rows != 5 {
				t.Fatalf("re-run: %s", res)
			}
			checkCRM(t, st, "export.csv")
			for _, table := range []string{"raw/crm_customers/", "quarantine/crm_customers/"} {
				objs, _ := st.List(ctx, table)
				if len(objs) != 1 {
					t.Errorf("%d objects under %s after the re-run, want 1: %v", len(objs), table, objs)
				}
			}
			// Both runs ended in the process: neither leaves a spool file.
			if left, _ := os.ReadDir(cfg.SpoolDir); len(left) != 0 {
				t.Errorf("%d spool files left, the first %s", len(left), left[0].Name())
			}
		})
	}
}
