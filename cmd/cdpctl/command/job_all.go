package command

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/tributary-cdp/tributary/jobs"
)

// pipeline is the batch chain `all` runs, in order.
var pipeline = []string{"land", "ingest", "cleanse", "resolve", "curate", "reconcile"}

func (e *jobEnv) allJob(reg *jobs.Registry) jobs.Job {
	return jobs.Job{
		Name:        "all",
		Description: "run land → ingest → cleanse → resolve → curate → reconcile, reporting each stage's time and counts",
		Stages:      true,
		Run: func(ctx context.Context, p jobs.Params) (jobs.Result, error) {
			if !p.From.IsZero() || !p.To.IsZero() {
				return jobs.Result{}, errors.New("all's stages work on every day; --from and --to do not apply to it (they limit compact)")
			}
			rc := jobs.DefaultRunnerConfig()
			rc.Storage, rc.Registry, rc.LockTTL, rc.Wait, rc.Trigger = e.lake, reg, e.cfg.Jobs.LockTTL, true, "all"
			runner, err := jobs.NewRunner(rc)
			if err != nil {
				return jobs.Result{}, err
			}
			counts := map[string]int64{}
			var lines []string
			var ingestErr error
			for _, stage := range pipeline {
				if _, ok := reg.Get(stage); !ok {
					lines = append(lines, fmt.Sprintf("%-9s not in this build", stage))
					continue
				}
				sp := p
				sp.RunID = "" // each stage gets its own run and history record
				if stage != "ingest" {
					sp.Workspace = "" // the others work on every workspace
				}
				rec, err := runner.Run(ctx, stage, sp)
				if rec != nil {
					for k, v := range rec.Counts {
						counts[stage+"."+k] = v
					}
					lines = append(lines, fmt.Sprintf("%-9s %8s  %s", stage, rec.Duration().Round(time.Millisecond), rec.Summary))
				}
				if err != nil && stage == "ingest" && ctx.Err() == nil {
					// A CRM drop that cannot be read does not hold the
					// events back: the stages after run on what is ingested,
					// and the run fails after them.
					ingestErr = err
					lines = append(lines, fmt.Sprintf("%-9s failed: %v", stage, err))
					continue
				}
				if err != nil {
					return jobs.Result{Counts: counts, Summary: strings.Join(lines, "\n")}, fmt.Errorf("stage %s: %w", stage, err)
				}
			}
			if ingestErr != nil {
				return jobs.Result{Counts: counts, Summary: strings.Join(lines, "\n")},
					fmt.Errorf("stage ingest: %w (the stages after it ran, on the CRM files ingested before)", ingestErr)
			}
			return jobs.Result{Counts: counts, Summary: "\n" + strings.Join(lines, "\n")}, nil
		},
	}
}
