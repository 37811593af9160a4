package command

import (
	"context"
	"fmt"
	"path/filepath"

	"github.com/tributary-cdp/tributary/batch/cleanse"
	"github.com/tributary-cdp/tributary/batch/ingest"
	"github.com/tributary-cdp/tributary/batch/resolve"
	"github.com/tributary-cdp/tributary/internal/config"
	"github.com/tributary-cdp/tributary/jobs"
	tsql "github.com/tributary-cdp/tributary/sql"
)

// identitySQL is the DuckDB session config of the identity jobs.
func (e *jobEnv) identitySQL() tsql.Config {
	c := tsql.DefaultConfig()
	c.MemoryLimit, c.Threads, c.TempDir = e.cfg.Identity.MemoryLimit, e.cfg.Identity.Threads, e.cfg.Identity.TempDir
	if c.TempDir == "" {
		c.TempDir = filepath.Join(e.cfg.DataDir, "tmp", "duckdb")
	}
	normalizeLike(&c, e.cfg)
	c.Trace = e.sqlTrace
	return c
}

// normalizeLike makes a DuckDB session's UDFs normalize and block
// identifiers as the speed layer does (speedConfig): the same phone regions,
// blocklist and allow entries, or reconcile is not exact.
func normalizeLike(c *tsql.Config, cfg config.Config) {
	c.PhoneRegions, c.Blocklist, c.Allow = cfg.PhoneRegions(), cfg.Speed.Blocklist, cfg.Speed.Allow
}

func (e *jobEnv) cleanseJob() jobs.Job {
	return jobs.Job{
		Name:        "cleanse",
		Description: "raw → clean: events once per (workspace, message_id), CRM rows without exact duplicates, identifiers and attributes normalized, invalid values to quarantine with reasons",
		Run: func(ctx context.Context, p jobs.Params) (jobs.Result, error) {
			const what = "cleanse rebuilds clean/events from every committed raw/events file"
			if err := takesAll(p, what); err != nil {
				return jobs.Result{}, err
			}
			if p.DryRun {
				return jobs.Result{Summary: "dry run: " + what}, nil
			}
			cfg := cleanse.DefaultConfig()
			cfg.Storage, cfg.SQL, cfg.SpoolDir = e.lake, e.identitySQL(), e.cfg.Jobs.SpoolDir
			cfg.CacheDir = filepath.Join(e.cfg.DataDir, "cache", "lake")
			cfg.IdentifierTraits = e.cfg.Speed.IdentifierTraits
			srcs, err := ingest.NewStore(e.lake).List(ctx)
			if err != nil {
				return jobs.Result{}, fmt.Errorf("cleanse: list sources: %w", err)
			}
			cfg.Sources = srcs
			rep, err := cleanse.Run(ctx, cfg, p.RunID)
			if err != nil {
				return jobs.Result{}, err
			}
			return jobs.Result{Counts: rep.Counts(), Summary: rep.String()}, nil
		},
	}
}

func (e *jobEnv) resolveJob() jobs.Job {
	return jobs.Job{
		Name:        "resolve",
		Description: "link identifiers (identify/alias events, CRM identifier fields) into curated/identity_edges and curated/identity_map",
		Run: func(ctx context.Context, p jobs.Params) (jobs.Result, error) {
			const what = "resolve rebuilds curated/identity_map from every committed record"
			if err := takesAll(p, what); err != nil {
				return jobs.Result{}, err
			}
			if p.DryRun {
				return jobs.Result{Summary: "dry run: " + what}, nil
			}
			cfg := resolve.DefaultConfig()
			cfg.Storage, cfg.SQL, cfg.SpoolDir = e.lake, e.identitySQL(), e.cfg.Jobs.SpoolDir
			cfg.CacheDir = filepath.Join(e.cfg.DataDir, "cache", "lake")
			cfg.Caps, cfg.IdentifierTraits, cfg.Alarm = e.cfg.Speed.Caps, e.cfg.Speed.IdentifierTraits, e.cfg.Identity.Alarm
			if m := e.cfg.Identity.Model; m != nil {
				cfg.Match = m.Config
			}
			srcs, err := ingest.NewStore(e.lake).List(ctx)
			if err != nil {
				return jobs.Result{}, fmt.Errorf("resolve: list sources: %w", err)
			}
			cfg.Sources = srcs
			rep, err := resolve.Run(ctx, cfg, p.RunID)
			if err != nil {
				return jobs.Result{}, err
			}
			return jobs.Result{Counts: rep.Counts(), Summary: rep.String()}, nil
		},
	}
}
