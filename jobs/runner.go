package jobs

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/tributary-cdp/tributary/lake"
)

// Run statuses.
const (
	StatusRunning   = "running"
	StatusSucceeded = "succeeded"
	StatusFailed    = "failed"
)

// RunRecord is one run of a job, stored at
// _meta/jobs/<job>/<start, UTC, sortable>-<run id>.json: written when the
// run starts (status running) and rewritten when it ends.
type RunRecord struct {
	ID      string           `json:"id"`
	Job     string           `json:"job"`
	Params  Params           `json:"params"`
	Trigger string           `json:"trigger,omitempty"` // "cli", "schedule", …
	Host    string           `json:"host"`
	PID     int              `json:"pid"`
	Start   time.Time        `json:"start"`
	End     time.Time        `json:"end,omitzero"`
	Status  string           `json:"status"`
	Counts  map[string]int64 `json:"counts,omitempty"`
	Summary string           `json:"summary,omitempty"`
	Error   string           `json:"error,omitempty"`
}

// Duration is End-Start (zero while running).
func (r RunRecord) Duration() time.Duration {
	if r.End.IsZero() {
		return 0
	}
	return r.End.Sub(r.Start)
}

// Key is where the record is stored.
func (r RunRecord) Key() string {
	return HistoryDir(r.Job) + r.Start.UTC().Format("20060102T150405.000000000Z") + "-" + r.ID + ".json"
}

// HistoryDir is the prefix of job's run records.
func HistoryDir(job string) string { return lake.MetaPrefix + "jobs/" + job + "/" }

// RunnerConfig configures a Runner.
type RunnerConfig struct {
	Storage  lake.Storage
	Registry *Registry
	// LockTTL is how long a lease lasts without renewal; a run that dies
	// on another host blocks the job for at most this long.
	LockTTL time.Duration
	// Wait makes Run queue behind a running run instead of failing.
	Wait bool
	// WaitPoll is how often a waiting Run retries the lock.
	WaitPoll time.Duration
	// Trigger is recorded with each run ("cli", "schedule").
	Trigger string
	Logger  *slog.Logger
}

// DefaultRunnerConfig returns the defaults: a 1-minute lease, no waiting.
func DefaultRunnerConfig() RunnerConfig {
	return RunnerConfig{LockTTL: time.Minute, WaitPoll: time.Second, Trigger: "cli"}
}

// Validate checks the config.
func (c RunnerConfig) Validate() error {
	if c.Storage == nil {
		return errors.New("job runner: Storage is nil")
	}
	if c.Registry == nil {
		return errors.New("job runner: Registry is nil")
	}
	if c.LockTTL < 3*time.Millisecond {
		return fmt.Errorf("job runner: LockTTL %s is too short", c.LockTTL)
	}
	if c.WaitPoll <= 0 {
		return fmt.Errorf("job runner: WaitPoll %s must be positive", c.WaitPoll)
	}
	return nil
}

// Runner runs registered jobs under their lock and records their history.
type Runner struct {
	cfg  RunnerConfig
	host string
	log  *slog.Logger
}

// NewRunner checks cfg and builds a runner.
func NewRunner(cfg RunnerConfig) (*Runner, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	host, _ := os.Hostname()
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	return &Runner{cfg: cfg, host: host, log: log}, nil
}

// Registry is the runner's job registry.
func (r *Runner) Registry() *Registry { return r.cfg.Registry }

// Storage is the lake the runner records into.
func (r *Runner) Storage() lake.Storage { return r.cfg.Storage }

// NewRunID returns a fresh sortable run id.
func NewRunID() string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return time.Now().UTC().Format("20060102T150405Z") + "-" + hex.EncodeToString(b[:])
}

// Run runs job name once in this process: it takes the job's lock (or
// fails with *AlreadyRunningError, or waits when configured), records the
// run, calls the job, and records the outcome. The returned record is
// final; the error is the job's, wrapped with the job name.
func (r *Runner) Run(ctx context.Context, name string, p Params) (*RunRecord, error) {
	return r.run(ctx, name, p, r.cfg.Trigger)
}

func (r *Runner) run(ctx context.Context, name string, p Params, trigger string) (*RunRecord, error) {
	job, ok := r.cfg.Registry.Get(name)
	if !ok {
		return nil, &UnknownJobError{Name: name, Known: r.cfg.Registry.Names()}
	}
	if p.Progress == nil {
		p.Progress = NopProgress{}
	}
	p.RunID = NewRunID()
	rec := &RunRecord{ID: p.RunID, Job: name, Params: p, Trigger: trigger, Host: r.host, PID: os.Getpid(), Status: StatusRunning}

	lk, err := acquire(ctx, r.cfg.Storage, Lease{Job: name, RunID: rec.ID, Host: r.host, PID: rec.PID}, r.cfg.LockTTL, r.cfg.Wait, r.cfg.WaitPoll)
	if err != nil {
		return nil, err
	}
	rec.Start = time.Now().UTC()
	if err := r.save(ctx, rec); err != nil {
		lk.release(context.WithoutCancel(ctx))
		return nil, err
	}

	runCtx, cancel := context.WithCancelCause(ctx)
	go func() {
		select {
		case <-lk.lost:
			cancel(fmt.Errorf("job %s lost its lock (another process took it over)", name))
		case <-runCtx.Done():
		}
	}()
	r.log.Info("job started", "job", name, "run", rec.ID)
	p.Progress.Start(name, 0)
	res, runErr := safeRun(runCtx, job.Run, p)
	p.Progress.End() // before the line that says how it ended
	// Why the run was canceled, once: a stage's error carries it already
	// when the cause is its job of stages' too (a signal).
	if cause := context.Cause(runCtx); runErr != nil && cause != nil && !errors.Is(cause, context.Canceled) && !errors.Is(runErr, cause) {
		runErr = fmt.Errorf("%w (%w)", runErr, cause)
	}
	cancel(nil)

	rec.End = time.Now().UTC()
	rec.Counts, rec.Summary = res.Counts, res.Summary
	if runErr != nil {
		rec.Status, rec.Error = StatusFailed, runErr.Error()
	} else {
		rec.Status = StatusSucceeded
	}
	saveCtx, done := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer done()
	if err := r.save(saveCtx, rec); err != nil && runErr == nil {
		runErr = err
	}
	lk.release(saveCtx)
	if runErr != nil {
		r.log.Error("job failed", "job", name, "run", rec.ID, "duration", rec.Duration().Round(time.Millisecond), "err", runErr)
		return rec, fmt.Errorf("job %s: %w", name, runErr)
	}
	args := []any{"job", name, "run", rec.ID, "duration", rec.Duration().Round(time.Millisecond)}
	if !job.Stages {
		args = append(args, "summary", rec.Summary) // a job of stages has theirs, each logged
	}
	r.log.Info("job finished", args...)
	return rec, nil
}

func safeRun(ctx context.Context, f Func, p Params) (res Result, err error) {
	defer func() {
		if v := recover(); v != nil {
			err = fmt.Errorf("panic: %v", v)
		}
	}()
	return f(ctx, p)
}

func (r *Runner) save(ctx context.Context, rec *RunRecord) error {
	b, err := json.MarshalIndent(rec, "", " ")
	if err != nil {
		return fmt.Errorf("encode run %s: %w", rec.ID, err)
	}
	if err := r.cfg.Storage.Put(ctx, rec.Key(), bytes.NewReader(b)); err != nil {
		return fmt.Errorf("record run %s of job %s: %w", rec.ID, rec.Job, err)
	}
	return nil
}

// History returns the newest runs of job (all jobs when job is ""),
// newest first, at most limit (0 = all).
func History(ctx context.Context, st lake.Storage, job string, limit int) ([]RunRecord, error) {
	prefix := lake.MetaPrefix + "jobs/"
	if job != "" {
		prefix = HistoryDir(job)
	}
	objs, err := st.List(ctx, prefix)
	if err != nil {
		return nil, fmt.Errorf("list job history: %w", err)
	}
	// Sort by the start time in the file name, newest first.
	sort.Slice(objs, func(i, j int) bool { return base(objs[i].Key) > base(objs[j].Key) })
	var out []RunRecord
	for _, o := range objs {
		if !strings.HasSuffix(o.Key, ".json") {
			continue
		}
		if limit > 0 && len(out) >= limit {
			break
		}
		b, err := lake.ReadObject(ctx, st, o.Key)
		if err != nil {
			if lake.IsNotExist(err) {
				continue
			}
			return nil, fmt.Errorf("read run %s: %w", o.Key, err)
		}
		var rec RunRecord
		if err := json.Unmarshal(b, &rec); err != nil {
			return nil, fmt.Errorf("decode run %s: %w", o.Key, err)
		}
		out = append(out, rec)
	}
	return out, nil
}

// LastRun returns the newest run of job, or nil.
func LastRun(ctx context.Context, st lake.Storage, job string) (*RunRecord, error) {
	recs, err := History(ctx, st, job, 1)
	if err != nil || len(recs) == 0 {
		return nil, err
	}
	return &recs[0], nil
}

// Running reports the lease of job's current run, or nil when none holds it
// (a stale lease of a dead run counts as none).
func Running(ctx context.Context, st lake.Storage, job string) (*Lease, error) {
	l, err := readLease(ctx, st, LockKey(job))
	if lake.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	host, _ := os.Hostname()
	if l.stale(time.Now(), host) {
		return nil, nil
	}
	return &l, nil
}

func base(key string) string {
	if i := strings.LastIndexByte(key, '/'); i >= 0 {
		return key[i+1:]
	}
	return key
}
