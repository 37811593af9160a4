package command

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	cdp "github.com/tributary-cdp/tributary"
	"github.com/tributary-cdp/tributary/batch/compact"
	"github.com/tributary-cdp/tributary/internal/config"
	"github.com/tributary-cdp/tributary/lake"
	"github.com/tributary-cdp/tributary/lake/laketest"
	"github.com/tributary-cdp/tributary/lake/local"
)

// `cdpctl job run compact` (with --dry-run first) rewrites a past day's
// small files of raw/events and quarantine/events into one each and leaves
// today's.
func TestJobRunCompact(t *testing.T) {
	dir := t.TempDir()
	st, err := local.New(filepath.Join(dir, "lake"))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	for i, day := range []time.Time{now.AddDate(0, 0, -1), now} {
		for f := range int64(10) {
			first := int64(i)*100 + f*10
			var rows []lake.EventRow
			for o := first; o < first+10; o++ {
				e := cdp.Event{Workspace: "acme", MessageID: fmt.Sprint("m", o), Type: cdp.Track, Event: "Signed Up", UserID: "u1", Timestamp: day, ReceivedAt: day}
				rows = append(rows, lake.NewEventRow(&e, 0, o))
			}
			laketest.CommitEventsOn(t, st, "acme", day.Format(time.DateOnly), rows...)
			// The land job's run rejected a message of partition 1.
			laketest.CommitRowsOn(t, st, lake.TableRejected, "_unknown", day.Format(time.DateOnly), lake.RejectRow{
				Source: "kafka:cdp.events", Line: -1, Raw: "{", Reason: "invalid JSON", QuarantinedAt: day, KafkaPartition: 1, KafkaOffset: first})
		}
	}
	run := func(args ...string) string {
		root := NewRoot()
		var out bytes.Buffer
		root.SetOut(&out)
		root.SetErr(&out)
		root.SetArgs(append([]string{"--data-dir", dir, "--log-level", "warn", "job", "run", "compact", "--progress", "none"}, args...))
		if err := root.Execute(); err != nil {
			t.Fatalf("job run compact %v: %v\n%s", args, err, out.String())
		}
		return out.String()
	}
	if out := run("--dry-run"); !strings.Contains(out, "dry run: 10 raw/events files (100 rows") || !strings.Contains(out, ", 10 quarantine/events files (10 rows") {
		t.Fatalf("dry run: %s", out)
	}
	// jobs.compact in the config: runs of 10 files are not more than 10.
	cfgPath := filepath.Join(t.TempDir(), "tributary.yaml") // not the data dir's, which the other runs would read
	if err := os.WriteFile(cfgPath, []byte("jobs: {compact: {min_files: 10}}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if out := run("--dry-run", "--config", cfgPath); !strings.Contains(out, "dry run: 0 raw/events files") {
		t.Fatalf("dry run with min_files 10: %s", out)
	}
	if out := run(); !strings.Contains(out, "rewrote 10 raw/events files (100 rows") || !strings.Contains(out, ", 10 quarantine/events files (10 rows") {
		t.Fatalf("run: %s", out)
	}
	for table, rows := range map[string]int64{lake.TableEvents: 200, lake.TableRejected: 20} {
		m, err := lake.LatestManifest(context.Background(), st, table)
		if err != nil || len(m.Files) != 11 || m.Rows() != rows {
			t.Fatalf("%s after compaction: %d files, %d rows, %v", table, len(m.Files), m.Rows(), err)
		}
	}
	// `cdpctl sql` reads the merged quarantine file: every reject once.
	root := NewRoot()
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetArgs([]string{"--data-dir", dir, "--log-level", "warn", "sql", "--format", "csv",
		"SELECT count(*), count(DISTINCT kafka_offset), min(kafka_offset), max(kafka_offset) FROM quarantine_events"})
	if err := root.Execute(); err != nil || !strings.Contains(out.String(), "20,20,0,190") {
		t.Fatalf("cdpctl sql over quarantine_events: %v\n%s", err, out.String())
	}
}

// The config file's defaults are the job's.
func TestCompactConfigDefaults(t *testing.T) {
	cc, d := config.DefaultJobs().Compact, compact.DefaultConfig()
	if cc.MinFiles != d.MinFiles || int64(cc.TargetMiB)<<20 != d.TargetBytes || cc.Grace != d.Grace {
		t.Errorf("config %+v, job %+v", cc, d)
	}
}
