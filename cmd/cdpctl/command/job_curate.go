package command

import (
	"context"
	"fmt"
	"path/filepath"

	"github.com/tributary-cdp/tributary/batch/curate"
	"github.com/tributary-cdp/tributary/batch/ingest"
	"github.com/tributary-cdp/tributary/jobs"
)

func (e *jobEnv) curateJob() jobs.Job {
	return jobs.Job{
		Name:        "curate",
		Description: "build golden profiles and segment membership (curated/profiles, curated/segment_membership)",
		Run: func(ctx context.Context, p jobs.Params) (jobs.Result, error) {
			const what = "curate rebuilds curated/profiles from the latest identity map"
			if err := takesAll(p, what); err != nil {
				return jobs.Result{}, err
			}
			if p.DryRun {
				return jobs.Result{Summary: "dry run: " + what}, nil
			}
			cfg := curate.DefaultConfig()
			cfg.Storage, cfg.SpoolDir, cfg.SQL = e.lake, e.cfg.Jobs.SpoolDir, e.identitySQL()
			cfg.CacheDir = filepath.Join(e.cfg.DataDir, "cache", "lake")
			cfg.DefaultRule, cfg.IdentifierTraits = e.cfg.Curate.DefaultRule, e.cfg.Speed.IdentifierTraits
			for _, r := range e.cfg.Curate.Survivorship {
				cfg.Rules = append(cfg.Rules, curate.Rule{Attribute: r.Attribute, Rule: r.Rule, Priority: r.Priority})
			}
			srcs, err := ingest.NewStore(e.lake).List(ctx)
			if err != nil {
				return jobs.Result{}, fmt.Errorf("curate: list sources: %w", err)
			}
			cfg.Sources = srcs
			if cfg.Segments, err = loadSegments(e.cfg); err != nil {
				return jobs.Result{}, err
			}
			res, err := curate.Run(ctx, cfg, p.RunID)
			if err != nil {
				return jobs.Result{}, err
			}
			return jobs.Result{Counts: res.Counts(), Summary: res.String()}, nil
		},
	}
}
