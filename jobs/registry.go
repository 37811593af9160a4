package jobs

import (
	"context"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"
)

// Params are what a caller may pass to any job. Jobs ignore what does not
// apply to them, or refuse it with an error that says so.
type Params struct {
	// Workspace limits the run to one workspace ("" = all).
	Workspace string `json:"workspace,omitempty"`
	// From and To limit the run to days From..To inclusive (zero = open).
	From time.Time `json:"from,omitzero"`
	To   time.Time `json:"to,omitzero"`
	// DryRun reports what the run would do without writing.
	DryRun bool `json:"dry_run,omitempty"`
	// RunID identifies the run (set by the Runner).
	RunID string `json:"-"`
	// Progress receives progress reports; the Runner sets a no-op one
	// when the caller gave none, so jobs never check for nil.
	Progress Progress `json:"-"`
}

// InRange reports whether the day of t lies within From..To.
func (p Params) InRange(t time.Time) bool {
	d := t.UTC().Truncate(24 * time.Hour)
	if !p.From.IsZero() && d.Before(p.From.UTC().Truncate(24*time.Hour)) {
		return false
	}
	if !p.To.IsZero() && d.After(p.To.UTC().Truncate(24*time.Hour)) {
		return false
	}
	return true
}

// Result is what a run produced: named counts ("events", "files",
// "rows_quarantined", …) and a one-line human summary.
type Result struct {
	Counts  map[string]int64 `json:"counts,omitempty"`
	Summary string           `json:"summary,omitempty"`
}

// Func runs a job once.
type Func func(ctx context.Context, p Params) (Result, error)

// Job is a named job.
type Job struct {
	Name        string
	Description string
	Run         Func
	// Stages marks a job that runs other jobs (all): each logs its own
	// start and end with its summary, so the runner does not log the
	// job's summary, theirs a line each, again.
	Stages bool
}

var nameRe = regexp.MustCompile(`^[a-z][a-z0-9_-]{0,39}$`)

// Registry holds the jobs a process can run. It is safe for concurrent use.
type Registry struct {
	mu   sync.RWMutex
	jobs map[string]Job
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry { return &Registry{jobs: map[string]Job{}} }

// Register adds a job; names are unique.
func (r *Registry) Register(j Job) error {
	if !nameRe.MatchString(j.Name) {
		return fmt.Errorf("register job %q: name must match %s", j.Name, nameRe)
	}
	if j.Run == nil {
		return fmt.Errorf("register job %s: Run is nil", j.Name)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, dup := r.jobs[j.Name]; dup {
		return fmt.Errorf("register job %s: already registered", j.Name)
	}
	r.jobs[j.Name] = j
	return nil
}

// MustRegister is Register for wiring code: it panics on a programming error.
func (r *Registry) MustRegister(jobs ...Job) {
	for _, j := range jobs {
		if err := r.Register(j); err != nil {
			panic(err)
		}
	}
}

// Get returns the job named name.
func (r *Registry) Get(name string) (Job, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	j, ok := r.jobs[name]
	return j, ok
}

// List returns every job, sorted by name.
func (r *Registry) List() []Job {
	r.mu.RLock()
	defer r.mu.RUnlock()
	out := make([]Job, 0, len(r.jobs))
	for _, j := range r.jobs {
		out = append(out, j)
	}
	sort.Slice(out, func(i, k int) bool { return out[i].Name < out[k].Name })
	return out
}

// Names returns the registered job names, sorted.
func (r *Registry) Names() []string {
	var out []string
	for _, j := range r.List() {
		out = append(out, j.Name)
	}
	return out
}

// UnknownJobError is returned for a job name nobody registered.
type UnknownJobError struct {
	Name  string
	Known []string
}

func (e *UnknownJobError) Error() string {
	return fmt.Sprintf("unknown job %q: want one of %s", e.Name, strings.Join(e.Known, ", "))
}
