package command

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/tributary-cdp/tributary/batch/land"
	"github.com/tributary-cdp/tributary/internal/config"
	"github.com/tributary-cdp/tributary/internal/plural"
	"github.com/tributary-cdp/tributary/jobs"
	"github.com/tributary-cdp/tributary/lake"
	"github.com/tributary-cdp/tributary/lake/lakeurl"
	"github.com/tributary-cdp/tributary/lake/s3"
)

// jobEnv is what batch jobs are built from: the config, the Kafka brokers
// to read and the opened lake. `cdpctl job …` and `cdpctl serve` build one.
type jobEnv struct {
	cfg     config.Config
	brokers []string
	lake    lake.Storage
	s3      s3.Config // endpoint and credentials for s3:// lakes and sources
	// sqlTrace, when set, sees every DuckDB statement of the jobs and its
	// time (bench pipeline --trace-sql).
	sqlTrace func(stmt string, d time.Duration)
}

// s3Config turns the config's S3 section (and AWS_* variables for empty
// credentials) into an s3.Config without bucket.
func s3Config(c config.S3) s3.Config {
	sc := s3.DefaultConfig()
	if c.Endpoint != "" {
		sc.Endpoint = c.Endpoint
	}
	sc.AccessKey, sc.SecretKey, sc.Region, sc.Secure = c.AccessKey, c.SecretKey, c.Region, !c.Insecure
	if sc.AccessKey == "" {
		sc.AccessKey = os.Getenv("AWS_ACCESS_KEY_ID")
	}
	if sc.SecretKey == "" {
		sc.SecretKey = os.Getenv("AWS_SECRET_ACCESS_KEY")
	}
	if sc.Region == "" {
		sc.Region = os.Getenv("AWS_REGION")
	}
	if c.MaxRetries > 0 {
		sc.MaxRetries = c.MaxRetries
	}
	return sc
}

// openJobEnv opens the lake of cfg; brokers are the Kafka bootstrap
// addresses the jobs read.
func openJobEnv(ctx context.Context, cfg config.Config, brokers []string) (*jobEnv, error) {
	sc := s3Config(cfg.Lake.S3)
	st, err := lakeurl.Open(ctx, cfg.LakeURL(), sc)
	if err != nil {
		return nil, fmt.Errorf("open lake: %w", err)
	}
	e := &jobEnv{cfg: cfg, brokers: brokers, lake: st, s3: sc}
	if n := sweepSpool(cfg.Jobs.SpoolDir, staleSpool); n > 0 {
		slog.Info("removed the spool files of killed job runs", "entries", n, "older_than", staleSpool)
	}
	// TRIBUTARY_TRACE_SQL=2s prints every DuckDB statement of the jobs that
	// takes at least that long to stderr (what `bench pipeline --trace-sql`
	// does), so one stage can be studied with `cdpctl job run <stage>`.
	if v := os.Getenv("TRIBUTARY_TRACE_SQL"); v != "" {
		min, err := time.ParseDuration(v)
		if err != nil {
			return nil, fmt.Errorf("TRIBUTARY_TRACE_SQL %q: want a duration such as 2s: %w", v, err)
		}
		e.sqlTrace = func(stmt string, d time.Duration) {
			if d >= min {
				fmt.Fprintf(os.Stderr, "  sql %8s  %s\n", d.Round(time.Millisecond), oneLine(stmt, 200))
			}
		}
	}
	return e, nil
}

// registry registers every job this binary knows. To add a job, append
// it here (one entry per job, built from e).
func (e *jobEnv) registry() *jobs.Registry {
	reg := jobs.NewRegistry()
	reg.MustRegister(
		e.landJob(),
		e.ingestJob(),
		e.cleanseJob(),
		e.resolveJob(),
		e.curateJob(),
		e.reconcileJob(),
		e.compactJob(),
	)
	reg.MustRegister(e.allJob(reg))
	return reg
}

// takesAll refuses --workspace, --from and --to to a job that works on
// every workspace and day, saying so (what): silently doing it all would
// read as if the flags had limited it.
func takesAll(p jobs.Params, what string) error {
	if p.Workspace != "" || !p.From.IsZero() || !p.To.IsZero() {
		return fmt.Errorf("%s; --workspace, --from and --to do not apply to it", what)
	}
	return nil
}

// runner builds a job runner over e's lake.
func (e *jobEnv) runner(wait bool, trigger string) (*jobs.Runner, error) {
	rc := jobs.DefaultRunnerConfig()
	rc.Storage, rc.Registry, rc.LockTTL, rc.Wait, rc.Trigger = e.lake, e.registry(), e.cfg.Jobs.LockTTL, wait, trigger
	return jobs.NewRunner(rc)
}

func (e *jobEnv) landJob() jobs.Job {
	return jobs.Job{
		Name:        "land",
		Description: "copy cdp.events from Kafka into raw/events (Parquet), exactly once",
		Run: func(ctx context.Context, p jobs.Params) (jobs.Result, error) {
			if err := takesAll(p, "land reads Kafka in offset order for every workspace and day"); err != nil {
				return jobs.Result{}, err
			}
			cfg := land.DefaultConfig()
			cfg.Brokers, cfg.Storage, cfg.SpoolDir, cfg.ChunkEvents = e.brokers, e.lake, e.cfg.Jobs.SpoolDir, e.cfg.Jobs.LandChunkEvents
			res, err := land.Run(ctx, cfg, land.Options{DryRun: p.DryRun, RunID: p.RunID, Progress: p.Progress})
			summary := res.String()
			if p.DryRun {
				summary = fmt.Sprintf("dry run: %s in %s to land", plural.Count(res.Events, "event"), plural.Count(res.Partitions, "partition"))
			}
			return jobs.Result{Counts: res.Counts(), Summary: summary}, err
		},
	}
}
