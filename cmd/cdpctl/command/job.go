package command

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/tributary-cdp/tributary/jobs"
)

func newJobCmd(g *globalOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "job",
		Short: "Run batch jobs and look at their schedule and history",
	}
	cmd.AddCommand(newJobRunCmd(g), newJobListCmd(g), newJobHistoryCmd(g))
	return cmd
}

type jobRunOptions struct {
	workspace string
	from, to  string
	dryRun    bool
	wait      bool
	progress  string
}

func newJobRunCmd(g *globalOptions) *cobra.Command {
	o := &jobRunOptions{}
	cmd := &cobra.Command{
		Use:   "run <job>",
		Short: "Run a job now, in this process (backfills); exits non-zero with the reason on failure",
		Long: "Run a job now, in this process: land, ingest, cleanse, resolve, curate, reconcile,\n" +
			"compact, or all (land → ingest → cleanse → resolve → curate → reconcile). `cdpctl job list`\n" +
			"says what each does. Exits non-zero with the reason on failure.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if !slices.Contains(progressModes, o.progress) {
				return fmt.Errorf("--progress %q: want auto, bar, log or none", o.progress)
			}
			cfg, err := g.load(cmd)
			if err != nil {
				return err
			}
			if o.workspace != "" {
				if err := checkWorkspace(cfg, o.workspace); err != nil {
					return fmt.Errorf("--workspace: %w", err)
				}
			}
			p := jobs.Params{Workspace: o.workspace, DryRun: o.dryRun}
			if p.From, err = parseDay("--from", o.from); err != nil {
				return err
			}
			if p.To, err = parseDay("--to", o.to); err != nil {
				return err
			}
			if !p.From.IsZero() && !p.To.IsZero() && p.To.Before(p.From) {
				return fmt.Errorf("--to %s is before --from %s", o.to, o.from)
			}
			ctx, stop := signalContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			env, err := openJobEnv(ctx, cfg, cfg.Brokers())
			if err != nil {
				return err
			}
			prog, log := newProgress(cmd.ErrOrStderr(), o.progress, g.level)
			// The runners (all's, of each stage, too) and the stages log
			// to the default logger.
			prev := slog.Default()
			defer slog.SetDefault(prev)
			slog.SetDefault(log)
			r, err := env.runner(o.wait, "cli")
			if err != nil {
				return err
			}
			p.Progress = prog
			rec, err := r.Run(ctx, args[0], p)
			prog.End()
			if err != nil {
				if se := (*SignalError)(nil); errors.As(context.Cause(ctx), &se) {
					// The log and the history have the error it made
					// ("context canceled"); the operator knows why.
					return fmt.Errorf("job %s: %w", args[0], se)
				}
				if cfg.Embedded() && strings.Contains(err.Error(), "connection refused") {
					hint := "start `cdpctl serve` or `cdpctl broker`, or pass --kafka-brokers"
					if pid := lockHolder(filepath.Join(cfg.DataDir, "kafka")); pid > 0 {
						hint = fmt.Sprintf("process %d runs this data dir's embedded broker on another address (its --embedded-broker-addr): pass that as --kafka-brokers, or set kafka.embedded_addr in the config", pid)
					}
					err = fmt.Errorf("%w (no Kafka at %s: %s)", err, strings.Join(cfg.Brokers(), ","), hint)
				}
				return err
			}
			sep := " " // all's summary is a line per stage, starting with a newline
			if strings.HasPrefix(rec.Summary, "\n") {
				sep = ""
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s %s in %s:%s%s\n", rec.Job, rec.Status, rec.Duration().Round(time.Millisecond), sep, rec.Summary)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.workspace, "workspace", "", "only this workspace (jobs that support it)")
	f.StringVar(&o.from, "from", "", "first day, YYYY-MM-DD or today, UTC (jobs that support it)")
	f.StringVar(&o.to, "to", "", "last day, YYYY-MM-DD or today, UTC, inclusive")
	f.BoolVar(&o.dryRun, "dry-run", false, "report what would be done, write nothing")
	f.BoolVar(&o.wait, "wait", false, "when the job is already running, wait for it instead of failing")
	f.StringVar(&o.progress, "progress", "auto", "progress display: auto (bar on a terminal, log lines otherwise), bar, log, none")
	return cmd
}

// parseDay reads a day flag: YYYY-MM-DD, or today (UTC, as the lake's
// days are), which compact's description suggests.
func parseDay(flag, v string) (time.Time, error) {
	switch v {
	case "":
		return time.Time{}, nil
	case "today":
		return time.Now().UTC().Truncate(24 * time.Hour), nil
	}
	t, err := time.Parse(time.DateOnly, v)
	if err != nil {
		return time.Time{}, fmt.Errorf("%s %q: want a day as YYYY-MM-DD, or today", flag, v)
	}
	return t, nil
}

func newJobListCmd(g *globalOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List jobs with their schedule, last run and next run",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := g.load(cmd)
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			env, err := openJobEnv(ctx, cfg, cfg.Brokers())
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "JOB\tSCHEDULE\tLAST RUN\tSTATUS\tNEXT RUN\tDESCRIPTION")
			for _, j := range env.registry().List() {
				spec := cfg.Jobs.Schedules[j.Name]
				last, status, next := "-", "-", "-"
				rec, err := jobs.LastRun(ctx, env.lake, j.Name)
				if err != nil {
					return err
				}
				if rec != nil {
					last, status = clock(rec.Start), displayStatus(ctx, env, *rec)
				}
				if spec == "" {
					spec = "-"
				} else if t := jobs.NextRun(spec, time.Now()); !t.IsZero() {
					next = clock(t)
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", j.Name, spec, last, status, next, j.Description)
			}
			return tw.Flush()
		},
	}
}

// displayStatus marks a "running" record whose run no longer holds the
// lock (it was killed) as abandoned.
func displayStatus(ctx context.Context, env *jobEnv, rec jobs.RunRecord) string {
	if rec.Status != jobs.StatusRunning {
		return rec.Status
	}
	l, err := jobs.Running(ctx, env.lake, rec.Job)
	if err == nil && (l == nil || l.RunID != rec.ID) {
		return "abandoned"
	}
	return rec.Status
}

type jobHistoryOptions struct {
	limit int
}

func newJobHistoryCmd(g *globalOptions) *cobra.Command {
	o := &jobHistoryOptions{}
	cmd := &cobra.Command{
		Use:   "history [job]",
		Short: "Show recent runs (start, duration, status, counts, error), newest first",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if o.limit < 0 {
				return fmt.Errorf("--limit %d: want 0 (all runs) or more", o.limit)
			}
			cfg, err := g.load(cmd)
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			env, err := openJobEnv(ctx, cfg, cfg.Brokers())
			if err != nil {
				return err
			}
			name := ""
			if len(args) == 1 {
				name = args[0]
				if _, ok := env.registry().Get(name); !ok {
					return &jobs.UnknownJobError{Name: name, Known: env.registry().Names()}
				}
			}
			recs, err := jobs.History(ctx, env.lake, name, o.limit)
			if err != nil {
				return err
			}
			if len(recs) == 0 {
				fmt.Fprintln(cmd.OutOrStdout(), "no runs yet")
				return nil
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "START\tJOB\tRUN\tTRIGGER\tDURATION\tSTATUS\tRESULT")
			for _, r := range recs {
				result := r.Summary
				if r.Error != "" {
					result = "error: " + r.Error
				}
				dur := "-"
				if d := r.Duration(); d > 0 {
					dur = d.Round(time.Millisecond).String()
				}
				// A summary of several lines (all's stages, ingest's files)
				// goes on rows of its own, under RESULT, keeping the columns.
				first, rest, _ := strings.Cut(result, "\n")
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", clock(r.Start), r.Job, r.ID, r.Trigger, dur,
					displayStatus(ctx, env, r), first)
				for line := range strings.Lines(rest) {
					fmt.Fprintf(tw, "\t\t\t\t\t\t%s\n", strings.TrimSuffix(line, "\n"))
				}
			}
			return tw.Flush()
		},
	}
	cmd.Flags().IntVarP(&o.limit, "limit", "n", 20, "how many runs to show (0 = all)")
	return cmd
}
