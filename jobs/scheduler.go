package jobs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"time"

	"github.com/robfig/cron/v3"
)

var cronParser = cron.NewParser(cron.SecondOptional | cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// ParseSchedule parses a cron spec: five fields ("*/5 * * * *"), six with
// seconds, or a descriptor ("@hourly", "@every 10m").
func ParseSchedule(spec string) (cron.Schedule, error) {
	s, err := cronParser.Parse(spec)
	if err != nil {
		return nil, fmt.Errorf("schedule %q: %w", spec, err)
	}
	return s, nil
}

// NextRun returns when spec fires next after t, or the zero time when
// spec does not parse. Specs are read in UTC, as the Scheduler runs them,
// whatever t's zone (time.Now's is the machine's).
func NextRun(spec string, t time.Time) time.Time {
	s, err := ParseSchedule(spec)
	if err != nil {
		return time.Time{}
	}
	return s.Next(t.UTC())
}

// Scheduler runs jobs on cron schedules. A tick that finds the job still
// running (here or in another process) is skipped and logged.
type Scheduler struct {
	runner    *Runner
	schedules map[string]string
	log       *slog.Logger

	mu      sync.Mutex
	cron    *cron.Cron
	running sync.WaitGroup
}

// NewScheduler checks that every scheduled job exists and every spec
// parses. schedules maps job name → cron spec.
func NewScheduler(r *Runner, schedules map[string]string) (*Scheduler, error) {
	names := make([]string, 0, len(schedules))
	for n := range schedules {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if _, ok := r.Registry().Get(n); !ok {
			return nil, fmt.Errorf("schedule of job %s: %w", n, &UnknownJobError{Name: n, Known: r.Registry().Names()})
		}
		if _, err := ParseSchedule(schedules[n]); err != nil {
			return nil, fmt.Errorf("schedule of job %s: %w", n, err)
		}
	}
	return &Scheduler{runner: r, schedules: schedules, log: r.log}, nil
}

// Run fires the schedules until ctx ends, then waits for the runs in
// flight (their context is cancelled) and returns nil.
// A nil Scheduler (nothing scheduled) just waits for ctx.
func (s *Scheduler) Run(ctx context.Context) error {
	if s == nil {
		<-ctx.Done()
		return nil
	}
	c := cron.New(cron.WithParser(cronParser), cron.WithLocation(time.UTC))
	for name, spec := range s.schedules {
		if _, err := c.AddFunc(spec, func() { s.fire(ctx, name) }); err != nil {
			return fmt.Errorf("schedule job %s: %w", name, err)
		}
		s.log.Info("job scheduled", "job", name, "schedule", spec)
	}
	s.mu.Lock()
	s.cron = c
	s.mu.Unlock()
	c.Start()
	<-ctx.Done()
	<-c.Stop().Done()
	s.running.Wait()
	return nil
}

func (s *Scheduler) fire(ctx context.Context, name string) {
	if ctx.Err() != nil {
		return
	}
	s.running.Add(1)
	defer s.running.Done()
	_, err := s.runner.run(ctx, name, Params{}, "schedule")
	var busy *AlreadyRunningError
	switch {
	case errors.As(err, &busy):
		s.log.Info("scheduled job skipped: still running", "job", name, "run", busy.Lease.RunID)
	case err != nil:
		// Run already logged the failure and recorded it in the history.
	}
}

// Next returns when job fires next (zero when it is not scheduled).
func (s *Scheduler) Next(job string) time.Time {
	if s == nil {
		return time.Time{}
	}
	spec, ok := s.schedules[job]
	if !ok {
		return time.Time{}
	}
	return NextRun(spec, time.Now())
}
