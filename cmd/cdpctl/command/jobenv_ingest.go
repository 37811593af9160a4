package command

import (
	"context"
	"fmt"

	"github.com/tributary-cdp/tributary/batch/ingest"
	"github.com/tributary-cdp/tributary/jobs"
)

func (e *jobEnv) locations() ingest.LocationConfig {
	return ingest.LocationConfig{S3: e.s3, SFTPKeyFile: e.cfg.Sources.SFTPKeyFile, SFTPKnownHosts: e.cfg.Sources.SFTPKnownHosts}
}

// probe lists a source's location and checks the head of its newest file
// (ingest.CheckHead): n files are there, the newest is named newest, rows of
// its head were judged; bad is why a run would refuse that file; err is
// that the location could not be listed.
func (e *jobEnv) probe(ctx context.Context, src *ingest.Source) (n int, newest string, rows int, bad, err error) {
	loc, err := ingest.OpenLocation(ctx, src.Location, e.locations())
	if err != nil {
		return 0, "", 0, nil, err
	}
	defer loc.Close()
	files, err := loc.List(ctx)
	if err != nil || len(files) == 0 {
		return 0, "", 0, nil, err
	}
	last := files[0]
	for _, f := range files[1:] {
		if f.ModTime.After(last.ModTime) {
			last = f
		}
	}
	rows, bad = ingest.CheckHead(ctx, loc, src, last)
	return len(files), last.Name, rows, bad, nil
}

func (e *jobEnv) ingestJob() jobs.Job {
	return jobs.Job{
		Name:        "ingest",
		Description: "land new CRM files of every source (cdpctl source add) into raw/<source>, bad rows into quarantine/<source>",
		Run: func(ctx context.Context, p jobs.Params) (jobs.Result, error) {
			if !p.From.IsZero() || !p.To.IsZero() {
				return jobs.Result{}, fmt.Errorf("ingest takes the files that are new at each source's location; --from and --to do not apply to it")
			}
			cfg := ingest.DefaultConfig()
			cfg.Storage, cfg.SpoolDir, cfg.Locations = e.lake, e.cfg.Jobs.SpoolDir, e.locations()
			res, err := ingest.Run(ctx, cfg, ingest.Options{Workspace: p.Workspace, DryRun: p.DryRun, RunID: p.RunID, Progress: p.Progress})
			summary := res.String()
			if p.DryRun {
				summary = "dry run: " + summary
			}
			return jobs.Result{Counts: res.Counts(), Summary: summary}, err
		},
	}
}
