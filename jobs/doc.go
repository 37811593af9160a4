// Package jobs runs Tributary's batch jobs: a registry of named jobs, a
// runner that holds a per-job lock in the lake (so one run per job at a
// time, across processes and machines) and records every run under
// _meta/jobs/, and a cron scheduler that `cdpctl serve` runs.
//
// A job is a Func of (ctx, Params). Jobs are registered by whoever wires
// the process (cmd/cdpctl), so batch packages do not depend on this one:
//
//	reg := jobs.NewRegistry()
//	reg.MustRegister(jobs.Job{Name: "land", Description: "…", Run: func(ctx context.Context, p jobs.Params) (jobs.Result, error) { … }})
//	runner, _ := jobs.NewRunner(jobs.RunnerConfig{Storage: st, Registry: reg})
//	rec, err := runner.Run(ctx, "land", jobs.Params{})
package jobs
