package command

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/tributary-cdp/tributary/batch/reconcile"
	"github.com/tributary-cdp/tributary/internal/plural"
	"github.com/tributary-cdp/tributary/jobs"
)

// reconcileWait is how long the reconcile job waits for a running server
// to swap the build in (a million profiles take minutes on 2 cores). A
// server that is not running loads the build when it starts.
const reconcileWait = 15 * time.Minute

func (e *jobEnv) reconcileJob() jobs.Job {
	return jobs.Job{
		Name:        "reconcile",
		Description: "hand the latest curated build to the speed layer (base at watermark W, deltas replayed from W)",
		Run: func(ctx context.Context, p jobs.Params) (jobs.Result, error) {
			if err := takesAll(p, "reconcile publishes the latest curated build, of every workspace"); err != nil {
				return jobs.Result{}, err
			}
			if p.DryRun {
				return jobs.Result{Summary: "dry run: reconcile would publish the latest curated build"}, nil
			}
			start := time.Now()
			req, err := reconcile.Publish(ctx, e.lake, p.RunID, start)
			if err != nil {
				return jobs.Result{}, err
			}
			live, err := reconcile.LiveServers(ctx, e.lake, time.Now(), 15*time.Second)
			if err != nil {
				return jobs.Result{}, err
			}
			counts := map[string]int64{"version": req.Version, "servers": int64(live)}
			if live == 0 {
				return jobs.Result{Counts: counts, Summary: fmt.Sprintf(
					"published build v%d; no server is running (the next one to start loads it)", req.Version)}, nil
			}
			acks, err := reconcile.Wait(ctx, e.lake, req.Version, start, reconcileWait)
			if err != nil {
				return jobs.Result{}, err
			}
			if len(acks) == 0 {
				return jobs.Result{Counts: counts}, fmt.Errorf("reconcile: published build v%d but no server applied it within %s (%s running)", req.Version, reconcileWait, plural.Count(live, "server"))
			}
			var parts []string
			for _, a := range acks {
				if a.Error != "" {
					return jobs.Result{Counts: counts}, fmt.Errorf("reconcile: server %s failed to apply build v%d: %s", a.Instance, a.Version, a.Error)
				}
				counts["profiles"] += a.Profiles
				counts["replayed_events"] += a.ReplayedEvents
				parts = append(parts, fmt.Sprintf("%s swapped in %s (load %s, %s replayed in %s, %s)", a.Instance, seconds(a.SwapSeconds, time.Microsecond),
					seconds(a.LoadSeconds, time.Millisecond), plural.Count(a.ReplayedEvents, "event"), seconds(a.ReplaySeconds, time.Millisecond), plural.Count(a.Profiles, "profile")))
			}
			return jobs.Result{Counts: counts, Summary: fmt.Sprintf("build v%d: %s", req.Version, strings.Join(parts, "; "))}, nil
		},
	}
}

// seconds is s, from a server's report, as a duration rounded to unit:
// written like the job's own duration (4µs, 31ms), not "0.0 ms".
func seconds(s float64, unit time.Duration) time.Duration {
	return time.Duration(s * float64(time.Second)).Round(unit)
}
