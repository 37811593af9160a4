package land_test

import (
	"context"
	"errors"
	"io"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/tributary-cdp/tributary/batch/land"
	"github.com/tributary-cdp/tributary/lake"
	"github.com/tributary-cdp/tributary/lake/local"
)

// failingPuts is a lake whose Parquet uploads fail from the n-th on.
type failingPuts struct {
	lake.Storage
	n, puts atomic.Int64
}

var errPutFailed = errors.New("injected put failure")

func (s *failingPuts) Put(ctx context.Context, key string, r io.Reader) error {
	if strings.HasSuffix(key, ".parquet") && s.puts.Add(1) >= s.n.Load() {
		return errPutFailed
	}
	return s.Storage.Put(ctx, key, r)
}

// TestLandCommitFailsInTheBackground: chunks are committed while the next
// is read; when a commit fails (two workers, several chunks each), the
// run fails with that error, commits nothing after it, and the next run
// lands every event exactly once.
func TestLandCommitFailsInTheBackground(t *testing.T) {
	addr := startBroker(t)
	produce(t, addr, 0, 8000)
	base, err := local.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []int64{1, 5, 17, 40} {
		st := &failingPuts{Storage: base}
		st.n.Store(n)
		cfg := landConfig(addr, st)
		cfg.ChunkEvents = 600
		_, err := land.Run(context.Background(), cfg, land.Options{})
		if !errors.Is(err, errPutFailed) || !strings.Contains(err.Error(), "land partition") {
			t.Fatalf("failing put %d: run error %v", n, err)
		}
		checkCommittedPrefix(t, base)
	}
	if _, err := land.Run(context.Background(), landConfig(addr, base), land.Options{}); err != nil {
		t.Fatal(err)
	}
	bad := garbage(0, 8000)
	checkExactlyOnce(t, base, addr, 8000-bad, bad)
}

// TestLandWriterFails: when the writer fails (here: no spool directory),
// the reader is stopped, nothing is committed, and the error says where.
func TestLandWriterFails(t *testing.T) {
	addr := startBroker(t)
	produce(t, addr, 0, 3000)
	st, err := local.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	cfg := landConfig(addr, st)
	cfg.SpoolDir = filepath.Join(t.TempDir(), "missing")
	_, err = land.Run(context.Background(), cfg, land.Options{})
	if err == nil || !strings.Contains(err.Error(), "land partition") || !strings.Contains(err.Error(), "spool") {
		t.Fatalf("run error %v", err)
	}
	if m, err := lake.LatestManifest(context.Background(), st, lake.TableEvents); err != nil || len(m.Files) != 0 {
		t.Fatalf("committed %d files (%v)", len(m.Files), err)
	}
	if _, err := land.Run(context.Background(), landConfig(addr, st), land.Options{}); err != nil {
		t.Fatal(err)
	}
	bad := garbage(0, 3000)
	checkExactlyOnce(t, st, addr, 3000-bad, bad)
}
