package command

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	cdp "github.com/tributary-cdp/tributary"
	"github.com/tributary-cdp/tributary/internal/config"
	"github.com/tributary-cdp/tributary/jobs"
	"github.com/tributary-cdp/tributary/lake"
	"github.com/tributary-cdp/tributary/lake/local"
)

// TestServeRunsScheduledJobs starts `cdpctl serve` with land and ingest on
// a one-second cron schedule and waits for both to have done their work.
func TestServeRunsScheduledJobs(t *testing.T) {
	dir := t.TempDir()
	drop := filepath.Join(dir, "drops")
	if err := os.MkdirAll(drop, 0o755); err != nil {
		t.Fatal(err)
	}
	csv, err := os.ReadFile("../../../testdata/ingest/crm_customers.csv")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(drop, "crm.csv"), csv, 0o644); err != nil {
		t.Fatal(err)
	}
	def, err := os.ReadFile("../../../testdata/ingest/crm_customers.yaml")
	if err != nil {
		t.Fatal(err)
	}
	defPath := filepath.Join(dir, "src.yaml")
	os.WriteFile(defPath, bytes.Replace(def, []byte("file:///drops/crm"), []byte("file://"+drop), 1), 0o644)

	cfg := config.Default()
	cfg.DataDir = dir
	cfg.HTTP.Addr = "127.0.0.1:0"
	cfg.Kafka.EmbeddedAddr = "127.0.0.1:0"
	cfg.Kafka.Partitions = 2
	cfg.Jobs.Schedules = map[string]string{"land": "@every 1s", "ingest": "* * * * * *"}
	// The source is added through the CLI, at runtime.
	root := NewRoot()
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetArgs([]string{"--data-dir", dir, "--log-level", "warn", "source", "add", defPath})
	if err := root.Execute(); err != nil {
		t.Fatalf("source add: %v\n%s", err, out.String())
	}

	ctx, cancel := context.WithCancel(context.Background())
	s := &server{cfg: cfg}
	ready := make(chan struct{})
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx, func(string) { close(ready) }) }()
	t.Cleanup(func() {
		cancel()
		<-done
		s.Close()
	})
	select {
	case <-ready:
	case err := <-done:
		t.Fatal(err)
	case <-time.After(30 * time.Second):
		t.Fatal("serve not ready")
	}
	w := &kafka.Writer{Addr: kafka.TCP(s.broker.Addr()), Topic: cdp.TopicEvents, Balancer: &kafka.Hash{}, RequiredAcks: kafka.RequireAll, BatchTimeout: 5 * time.Millisecond}
	defer w.Close()
	var msgs []kafka.Message
	for i := range 100 {
		e := cdp.Event{Workspace: "default", MessageID: fmt.Sprint("m", i), Type: cdp.Track, Event: "Clicked", UserID: fmt.Sprint("u", i),
			Timestamp: time.Now().UTC(), ReceivedAt: time.Now().UTC()}
		b, _ := json.Marshal(e)
		msgs = append(msgs, kafka.Message{Key: []byte(e.Key()), Value: b})
	}
	if err := w.WriteMessages(ctx, msgs...); err != nil {
		t.Fatal(err)
	}

	st, err := local.New(filepath.Join(dir, "lake"))
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		m, _ := lake.LatestManifest(ctx, st, lake.TableEvents)
		c, _ := lake.LatestManifest(ctx, st, "raw/crm_customers")
		if m != nil && m.Rows() == 100 && c != nil && c.Rows() == 5 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("scheduled jobs did not land the data in 60s: events %v, crm %v", m, c)
		}
		time.Sleep(200 * time.Millisecond)
	}
	for _, job := range []string{"land", "ingest"} {
		rec, err := jobs.LastRun(ctx, st, job)
		if err != nil || rec == nil || rec.Trigger != "schedule" {
			t.Fatalf("%s history: %+v, %v", job, rec, err)
		}
	}

	// The CLI sees the schedule and the history. The jobs run every
	// second: a listing may catch both in a run, so it is read again
	// until it shows a finished one.
	cfgPath := filepath.Join(dir, "tributary.yaml")
	os.WriteFile(cfgPath, []byte("jobs:\n  schedules:\n    land: \"@every 1s\"\n"), 0o644)
	for try := 0; ; try++ {
		root = NewRoot()
		out.Reset()
		root.SetOut(&out)
		root.SetArgs([]string{"--config", cfgPath, "--data-dir", dir, "job", "list"})
		if err := root.Execute(); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(out.String(), "land") || !strings.Contains(out.String(), "@every 1s") {
			t.Fatalf("job list:\n%s", out.String())
		}
		if strings.Contains(out.String(), "succeeded") {
			break
		}
		if try == 50 {
			t.Fatalf("job list shows no finished run in 50 tries:\n%s", out.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// job run's help names every job there is, `all` included.
func TestJobRunHelpNamesEveryJob(t *testing.T) {
	long := newJobRunCmd(&globalOptions{}).Long
	for _, name := range (&jobEnv{}).registry().Names() {
		if !strings.Contains(long, name) {
			t.Errorf("job run --help does not name job %s:\n%s", name, long)
		}
	}
}
