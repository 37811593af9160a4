package jobs_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tributary-cdp/tributary/jobs"
	"github.com/tributary-cdp/tributary/lake"
	"github.com/tributary-cdp/tributary/lake/local"
)

func newRunner(t *testing.T, st lake.Storage, reg *jobs.Registry, wait bool) *jobs.Runner {
	t.Helper()
	cfg := jobs.DefaultRunnerConfig()
	cfg.Storage, cfg.Registry, cfg.Wait, cfg.WaitPoll = st, reg, wait, 10*time.Millisecond
	r, err := jobs.NewRunner(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestRegistry(t *testing.T) {
	reg := jobs.NewRegistry()
	ok := func(context.Context, jobs.Params) (jobs.Result, error) { return jobs.Result{}, nil }
	if err := reg.Register(jobs.Job{Name: "land", Run: ok}); err != nil {
		t.Fatal(err)
	}
	for _, j := range []jobs.Job{{Name: "land", Run: ok}, {Name: "Bad Name", Run: ok}, {Name: "x"}} {
		if err := reg.Register(j); err == nil {
			t.Errorf("Register(%q) succeeded", j.Name)
		}
	}
	if got := reg.Names(); len(got) != 1 || got[0] != "land" {
		t.Fatalf("Names = %v", got)
	}
}

func TestRunHistoryAndFailure(t *testing.T) {
	st, _ := local.New(t.TempDir())
	reg := jobs.NewRegistry()
	reg.MustRegister(
		jobs.Job{Name: "ok", Run: func(_ context.Context, p jobs.Params) (jobs.Result, error) {
			p.Progress.Add(1, 1)
			return jobs.Result{Counts: map[string]int64{"rows": 7}, Summary: "7 rows"}, nil
		}},
		jobs.Job{Name: "bad", Run: func(context.Context, jobs.Params) (jobs.Result, error) {
			return jobs.Result{}, errors.New("broker unreachable")
		}},
		jobs.Job{Name: "panics", Run: func(context.Context, jobs.Params) (jobs.Result, error) { panic("boom") }},
	)
	r := newRunner(t, st, reg, false)
	ctx := context.Background()
	rec, err := r.Run(ctx, "ok", jobs.Params{Workspace: "w"})
	if err != nil || rec.Status != jobs.StatusSucceeded || rec.Counts["rows"] != 7 {
		t.Fatalf("ok: %+v %v", rec, err)
	}
	if _, err := r.Run(ctx, "bad", jobs.Params{}); err == nil || !strings.Contains(err.Error(), "job bad: broker unreachable") {
		t.Fatalf("bad: err = %v", err)
	}
	if _, err := r.Run(ctx, "panics", jobs.Params{}); err == nil || !strings.Contains(err.Error(), "panic: boom") {
		t.Fatalf("panics: err = %v", err)
	}
	var unknown *jobs.UnknownJobError
	if _, err := r.Run(ctx, "nope", jobs.Params{}); !errors.As(err, &unknown) {
		t.Fatalf("unknown: err = %v", err)
	}
	hist, err := jobs.History(ctx, st, "", 0)
	if err != nil || len(hist) != 3 {
		t.Fatalf("history = %d records, %v", len(hist), err)
	}
	bad, _ := jobs.History(ctx, st, "bad", 0)
	if len(bad) != 1 || bad[0].Status != jobs.StatusFailed || bad[0].Error != "broker unreachable" || bad[0].End.IsZero() {
		t.Fatalf("bad history = %+v", bad)
	}
	okh, _ := jobs.LastRun(ctx, st, "ok")
	if okh == nil || okh.Params.Workspace != "w" {
		t.Fatalf("ok last run = %+v", okh)
	}
	// Locks are released.
	if l, _ := jobs.Running(ctx, st, "ok"); l != nil {
		t.Fatalf("lease left behind: %+v", l)
	}
}

func TestOneRunAtATime(t *testing.T) {
	st, _ := local.New(t.TempDir())
	reg := jobs.NewRegistry()
	release := make(chan struct{})
	started := make(chan struct{}, 2)
	var concurrent, maxConcurrent atomic.Int32
	reg.MustRegister(jobs.Job{Name: "slow", Run: func(ctx context.Context, _ jobs.Params) (jobs.Result, error) {
		n := concurrent.Add(1)
		defer concurrent.Add(-1)
		if n > maxConcurrent.Load() {
			maxConcurrent.Store(n)
		}
		started <- struct{}{}
		select {
		case <-release:
		case <-ctx.Done():
			return jobs.Result{}, ctx.Err()
		}
		return jobs.Result{}, nil
	}})
	// Two runners stand for two processes sharing the lake.
	a := newRunner(t, st, reg, false)
	b := newRunner(t, st, reg, false)
	waiter := newRunner(t, st, reg, true)
	ctx := context.Background()
	errA := make(chan error, 1)
	go func() { _, err := a.Run(ctx, "slow", jobs.Params{}); errA <- err }()
	<-started
	_, err := b.Run(ctx, "slow", jobs.Params{})
	var busy *jobs.AlreadyRunningError
	if !errors.As(err, &busy) || !strings.Contains(err.Error(), "already running") {
		t.Fatalf("second run: err = %v, want already running", err)
	}
	errW := make(chan error, 1)
	go func() { _, err := waiter.Run(ctx, "slow", jobs.Params{}); errW <- err }()
	time.Sleep(50 * time.Millisecond) // the waiter polls meanwhile
	close(release)
	if err := <-errA; err != nil {
		t.Fatal(err)
	}
	<-started
	if err := <-errW; err != nil {
		t.Fatalf("waiting run: %v", err)
	}
	if maxConcurrent.Load() != 1 {
		t.Fatalf("%d runs at once", maxConcurrent.Load())
	}
}

func TestStaleLeaseOfDeadProcess(t *testing.T) {
	st, _ := local.New(t.TempDir())
	ctx := context.Background()
	// A lease left by a process that no longer exists on this host.
	dead := `{"job":"land","run_id":"old","host":"` + hostname() + `","pid":999999999,"acquired":"2026-01-01T00:00:00Z","expires":"2999-01-01T00:00:00Z"}`
	if err := st.Put(ctx, jobs.LockKey("land"), strings.NewReader(dead)); err != nil {
		t.Fatal(err)
	}
	reg := jobs.NewRegistry()
	reg.MustRegister(jobs.Job{Name: "land", Run: func(context.Context, jobs.Params) (jobs.Result, error) { return jobs.Result{}, nil }})
	if _, err := newRunner(t, st, reg, false).Run(ctx, "land", jobs.Params{}); err != nil {
		t.Fatalf("run after a dead holder: %v", err)
	}
}

func TestScheduler(t *testing.T) {
	st, _ := local.New(t.TempDir())
	reg := jobs.NewRegistry()
	var n atomic.Int32
	reg.MustRegister(jobs.Job{Name: "tick", Run: func(context.Context, jobs.Params) (jobs.Result, error) {
		n.Add(1)
		return jobs.Result{}, nil
	}})
	r := newRunner(t, st, reg, false)
	if _, err := jobs.NewScheduler(r, map[string]string{"nope": "@every 1s"}); err == nil {
		t.Fatal("schedule of an unknown job accepted")
	}
	if _, err := jobs.NewScheduler(r, map[string]string{"tick": "every minute"}); err == nil {
		t.Fatal("bad spec accepted")
	}
	s, err := jobs.NewScheduler(r, map[string]string{"tick": "* * * * * *"}) // every second
	if err != nil {
		t.Fatal(err)
	}
	if next := s.Next("tick"); next.IsZero() || time.Until(next) > 2*time.Second {
		t.Fatalf("Next = %v", next)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	deadline := time.Now().Add(10 * time.Second)
	for n.Load() < 2 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if n.Load() < 2 {
		t.Fatalf("ran %d times in 10s", n.Load())
	}
	hist, _ := jobs.History(context.Background(), st, "tick", 1)
	if len(hist) != 1 || hist[0].Trigger != "schedule" {
		t.Fatalf("history = %+v", hist)
	}
}

// A job of stages ends on a line without its summary: its stages logged
// theirs. Another job's end carries its summary.
func TestStagesJobLogsNoSummary(t *testing.T) {
	st, _ := local.New(t.TempDir())
	reg := jobs.NewRegistry()
	run := func(context.Context, jobs.Params) (jobs.Result, error) { return jobs.Result{Summary: "7 rows"}, nil }
	reg.MustRegister(jobs.Job{Name: "stage", Run: run}, jobs.Job{Name: "chain", Run: run, Stages: true})
	var log bytes.Buffer
	cfg := jobs.DefaultRunnerConfig()
	cfg.Storage, cfg.Registry, cfg.Logger = st, reg, slog.New(slog.NewTextHandler(&log, nil))
	r, err := jobs.NewRunner(cfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"stage", "chain"} {
		if _, err := r.Run(context.Background(), name, jobs.Params{}); err != nil {
			t.Fatal(err)
		}
	}
	ends := 0
	for line := range strings.Lines(log.String()) {
		if !strings.Contains(line, `msg="job finished"`) {
			continue
		}
		ends++
		if strings.Contains(line, "job=stage ") != strings.Contains(line, `summary="7 rows"`) {
			t.Errorf("job=stage ends with its summary, job=chain without: %s", line)
		}
	}
	if ends != 2 {
		t.Fatalf("%d end lines, want 2:\n%s", ends, log.String())
	}
}

// recorder is a Progress that writes its calls to log, where the runner
// writes its lines too.
type recorder struct{ log *bytes.Buffer }

func (r recorder) Start(stage string, total int64) { fmt.Fprintf(r.log, "start %s %d\n", stage, total) }
func (r recorder) Add(rows, bytes int64)           { fmt.Fprintf(r.log, "add %d %d\n", rows, bytes) }
func (r recorder) End()                            { fmt.Fprintln(r.log, "end") }

// The runner shows each job it runs, a job of stages and its stages
// too, and ends the display before the line that says how it ended. A
// cancel's cause (a signal) is named once in the error, not once a stage.
func TestRunnerShowsEachJob(t *testing.T) {
	st, _ := local.New(t.TempDir())
	reg := jobs.NewRegistry()
	var r *jobs.Runner
	stop := func(error) {} // what a signal does, mid-stage
	reg.MustRegister(
		jobs.Job{Name: "stage", Run: func(ctx context.Context, p jobs.Params) (jobs.Result, error) {
			p.Progress.Add(1, 2)
			stop(errors.New("interrupted"))
			return jobs.Result{}, ctx.Err()
		}},
		jobs.Job{Name: "chain", Stages: true, Run: func(ctx context.Context, p jobs.Params) (jobs.Result, error) {
			_, err := r.Run(ctx, "stage", p)
			return jobs.Result{}, err
		}},
	)
	var log bytes.Buffer
	cfg := jobs.DefaultRunnerConfig()
	cfg.Storage, cfg.Registry = st, reg
	cfg.Logger = slog.New(slog.NewTextHandler(&log, &slog.HandlerOptions{ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
		if a.Key != slog.MessageKey {
			return slog.Attr{}
		}
		return a
	}}))
	r, err := jobs.NewRunner(cfg)
	if err != nil {
		t.Fatal(err)
	}
	p := jobs.Params{Progress: recorder{&log}}
	if _, err := r.Run(context.Background(), "chain", p); err != nil {
		t.Fatal(err)
	}
	want := `msg="job started"
start chain 0
msg="job started"
start stage 0
add 1 2
end
msg="job finished"
end
msg="job finished"
`
	if log.String() != want {
		t.Errorf("runner and progress:\n%s\nwant\n%s", log.String(), want)
	}

	ctx, cancel := context.WithCancelCause(context.Background())
	stop = cancel
	_, err = r.Run(ctx, "chain", p)
	if err == nil || strings.Count(err.Error(), "(interrupted)") != 1 {
		t.Errorf("canceled chain: %v, want the cause named once", err)
	}
}
