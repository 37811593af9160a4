package command

import (
	"context"
	"log/slog"

	"github.com/tributary-cdp/tributary/internal/config"
	"github.com/tributary-cdp/tributary/jobs"
)

// startScheduler builds the cron scheduler of `cdpctl serve` from
// jobs.schedules in the config; nil when nothing is scheduled.
func startScheduler(ctx context.Context, cfg config.Config, brokers []string) (*jobs.Scheduler, error) {
	if len(cfg.Jobs.Schedules) == 0 {
		return nil, nil
	}
	env, err := openJobEnv(ctx, cfg, brokers)
	if err != nil {
		return nil, err
	}
	r, err := env.runner(false, "schedule")
	if err != nil {
		return nil, err
	}
	sched, err := jobs.NewScheduler(r, cfg.Jobs.Schedules)
	if err != nil {
		return nil, err
	}
	slog.Info("job scheduler ready", "jobs", len(cfg.Jobs.Schedules), "lake", env.lake.String())
	return sched, nil
}
