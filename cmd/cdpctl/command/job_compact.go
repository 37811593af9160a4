package command

import (
	"context"
	"fmt"

	"github.com/dustin/go-humanize"

	"github.com/tributary-cdp/tributary/batch/compact"
	"github.com/tributary-cdp/tributary/internal/plural"
	"github.com/tributary-cdp/tributary/jobs"
)

func (e *jobEnv) compactJob() jobs.Job {
	return jobs.Job{
		Name:        "compact",
		Description: "rewrite the small raw/events and quarantine/events files of past days into few large ones (today's only with --to today)",
		Run: func(ctx context.Context, p jobs.Params) (jobs.Result, error) {
			cfg := compact.DefaultConfig()
			cfg.Storage, cfg.SpoolDir = e.lake, e.cfg.Jobs.SpoolDir
			cc := e.cfg.Jobs.Compact
			cfg.MinFiles, cfg.TargetBytes, cfg.Grace = cc.MinFiles, int64(cc.TargetMiB)<<20, cc.Grace
			res, err := compact.Run(ctx, cfg, compact.Options{DryRun: p.DryRun, RunID: p.RunID, Workspace: p.Workspace,
				From: p.From, To: p.To, Progress: p.Progress})
			summary := res.String()
			if p.DryRun {
				summary = "dry run: " + res.PerTable(func(s compact.Sums) string {
					return fmt.Sprintf("(%s, %s) to rewrite into %s", plural.Count(s.Rows, "row"), humanize.IBytes(uint64(s.BytesIn)), plural.Count(s.Rewrites, "file"))
				}) + ", " + res.SkippedString()
			}
			return jobs.Result{Counts: res.Counts(), Summary: summary}, err
		},
	}
}
