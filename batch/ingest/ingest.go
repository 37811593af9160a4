// Package ingest is the ingest job: it picks up CRM exports dropped as
// files (local directory, S3 prefix or SFTP directory), maps them through
// a source definition given at runtime (see Source), and lands good rows
// in raw/<source> and bad rows, with their line and reason, in
// quarantine/<source>.
//
// Each input file is identified by the SHA-256 of its content: the same
// content dropped again, under any name, is not ingested twice. A file's
// rows go to raw/<source>/workspace=W/date=D/<checksum>.parquet (D is the
// ingest day for profiles, the event day for events); the manifest of the
// table records the checksum with the file. Rejected rows go to
// quarantine/<source>/… the same way, committed before the raw table, so
// a run that dies half-way is simply run again.
package ingest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"runtime"
	"sort"
	"strings"
	"time"

	"github.com/parquet-go/parquet-go"

	"github.com/tributary-cdp/tributary/internal/plural"
	"github.com/tributary-cdp/tributary/lake"
)

// Progress receives progress reports (jobs.Progress satisfies it).
type Progress interface {
	Start(stage string, totalRows int64)
	Add(rows, bytes int64)
}

// Config configures the ingest job.
type Config struct {
	Storage   lake.Storage
	SpoolDir  string
	Locations LocationConfig
	// MaxFileBytes refuses larger input files (they are read into memory).
	MaxFileBytes int64
	Logger       *slog.Logger
	// Now is the clock (ingest day of profiles, quarantine time).
	Now func() time.Time
}

// DefaultConfig refuses files over 2 GiB.
func DefaultConfig() Config {
	return Config{MaxFileBytes: 2 << 30, Now: time.Now}
}

// Validate checks the config.
func (c Config) Validate() error {
	if c.Storage == nil {
		return errors.New("ingest: lake storage is nil")
	}
	if c.MaxFileBytes <= 0 {
		return fmt.Errorf("ingest: MaxFileBytes %d must be positive", c.MaxFileBytes)
	}
	if c.Now == nil {
		return errors.New("ingest: Now is nil")
	}
	return nil
}

// Options of one run.
type Options struct {
	// Sources limits the run to these sources (empty = all).
	Sources []string
	// Workspace limits the run to sources of one workspace.
	Workspace string
	// DryRun parses and counts but writes nothing.
	DryRun   bool
	RunID    string
	Progress Progress
}

// FileResult is what happened to one input file.
type FileResult struct {
	Source      string
	Name        string
	Checksum    string
	Rows        int64 // rows landed in raw/<source>
	Quarantined int64 // rows sent to quarantine/<source>
	// Skipped says why the file was not ingested ("duplicate of x.csv").
	Skipped string
	Err     error
}

// Result sums up a run.
type Result struct {
	DryRun                              bool // the counts are of what a run would do
	Sources                             int  // sources looked at
	Files                               []FileResult
	Ingested, Duplicates, Failed        int
	Rows, Quarantined, Bytes, Unchanged int64
}

// Counts is the result as job counts.
func (r Result) Counts() map[string]int64 {
	return map[string]int64{"files": int64(r.Ingested), "files_duplicate": int64(r.Duplicates), "files_failed": int64(r.Failed),
		"rows": r.Rows, "rows_quarantined": r.Quarantined, "bytes": r.Bytes}
}

// String is the run summary: totals, then one line per file.
func (r Result) String() string {
	if r.Sources == 0 {
		return "no sources to ingest from (cdpctl source add defines one)"
	}
	var b strings.Builder
	ingested, landed, quarantined := "ingested", "landed", "quarantined"
	if r.DryRun {
		ingested, landed, quarantined = "to ingest", "to land", "to quarantine"
	}
	fmt.Fprintf(&b, "%s %s, %s %s, %s %s", plural.Count(r.Ingested, "file"), ingested, plural.Count(r.Rows, "row"), landed,
		plural.Count(r.Quarantined, "row"), quarantined)
	if r.Unchanged > 0 {
		fmt.Fprintf(&b, ", %s ingested before", plural.Count(r.Unchanged, "file"))
	}
	if r.Duplicates > 0 {
		fmt.Fprintf(&b, ", %s skipped", plural.Count(r.Duplicates, "duplicate file"))
	}
	if r.Failed > 0 {
		fmt.Fprintf(&b, ", %s failed", plural.Count(r.Failed, "file"))
	}
	for _, f := range r.Files {
		switch {
		case f.Err != nil:
			fmt.Fprintf(&b, "\n  %s/%s: failed: %v", f.Source, f.Name, f.Err)
		case f.Skipped != "":
			fmt.Fprintf(&b, "\n  %s/%s: skipped, %s", f.Source, f.Name, f.Skipped)
		default:
			fmt.Fprintf(&b, "\n  %s/%s: %s %s, %d %s", f.Source, f.Name, plural.Count(f.Rows, "row"), landed, f.Quarantined, quarantined)
		}
	}
	return b.String()
}

// Run ingests the new files of every selected source.
func Run(ctx context.Context, cfg Config, opts Options) (Result, error) {
	res := Result{DryRun: opts.DryRun}
	if err := cfg.Validate(); err != nil {
		return res, err
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if opts.Progress == nil {
		opts.Progress = nopProgress{}
	}
	sources, err := NewStore(cfg.Storage).List(ctx)
	if err != nil {
		return res, err
	}
	want := map[string]bool{}
	for _, n := range opts.Sources {
		want[n] = true
	}
	// A source that fails (its location unreachable) does not keep the
	// others from their drops: each is tried, and the run fails after.
	var srcErrs []error
	for _, src := range sources {
		if len(want) > 0 && !want[src.Name] || opts.Workspace != "" && src.Workspace != opts.Workspace {
			continue
		}
		res.Sources++
		if err := ingestSource(ctx, cfg, opts, src, &res); err != nil {
			if ctx.Err() != nil {
				return res, err
			}
			cfg.Logger.Error("ingest: source failed; the other sources go on", "source", src.Name, "err", err)
			srcErrs = append(srcErrs, err)
		}
	}
	if len(want) > res.Sources {
		return res, fmt.Errorf("ingest: source %v: %w", opts.Sources, errNoSource)
	}
	if res.Failed > 0 {
		// The reasons go in the error: a failed run's summary is not
		// shown, and job history keeps the error alone.
		var failed []string
		for _, f := range res.Files {
			if f.Err != nil {
				failed = append(failed, fmt.Sprintf("%s/%s: %v", f.Source, f.Name, f.Err))
			}
		}
		srcErrs = append(srcErrs, fmt.Errorf("%s could not be ingested (%s); fix the files or the source definition and run again", plural.Count(res.Failed, "file"), strings.Join(failed, "; ")))
	}
	return res, errors.Join(srcErrs...)
}

func ingestSource(ctx context.Context, cfg Config, opts Options, src *Source, res *Result) error {
	loc, err := OpenLocation(ctx, src.Location, cfg.Locations)
	if err != nil {
		return fmt.Errorf("source %s: %w", src.Name, err)
	}
	defer loc.Close()
	files, err := loc.List(ctx)
	if err != nil {
		return fmt.Errorf("source %s: %w", src.Name, err)
	}
	m, err := lake.LatestManifest(ctx, cfg.Storage, src.Table())
	if err != nil {
		return err
	}
	if !opts.DryRun {
		// Files of runs that died before their commit.
		for _, t := range []string{src.Table(), src.QuarantineTable()} {
			if _, err := lake.RemoveUncommitted(ctx, cfg.Storage, t, 0); err != nil {
				return fmt.Errorf("source %s: %w", src.Name, err)
			}
		}
	}
	seen := map[string]bool{}
	for _, in := range m.Inputs {
		seen[seenKey(in.Name, in.Size, in.ModTime)] = true
	}
	opts.Progress.Start("ingest "+src.Name, 0)
	p, err := newMapper(src)
	if err != nil {
		return err
	}
	for _, f := range files {
		fr := FileResult{Source: src.Name, Name: f.Name}
		if f.Size > cfg.MaxFileBytes {
			fr.Err = fmt.Errorf("%d bytes is over the limit of %d", f.Size, cfg.MaxFileBytes)
			res.add(fr)
			continue
		}
		if seen[seenKey(f.Name, f.Size, f.ModTime)] {
			res.Unchanged++ // ingested before: same name, size and time
			continue
		}
		data, sum, err := fetch(ctx, loc, f, cfg.MaxFileBytes)
		if err != nil {
			fr.Err = err
			res.add(fr)
			continue
		}
		fr.Checksum = sum
		if in, dup := m.Inputs[sum]; dup {
			if in.Name != f.Name {
				fr.Skipped = "duplicate of " + in.Name
				res.add(fr)
			} else {
				res.Unchanged++
			}
			continue
		}
		res.Bytes += int64(len(data))
		fr, err = ingestFile(ctx, cfg, opts, src, p, f, data, sum)
		if err != nil {
			return err // the lake failed: stop the run
		}
		res.add(fr)
		if fr.Err == nil && !opts.DryRun {
			if m, err = lake.LatestManifest(ctx, cfg.Storage, src.Table()); err != nil {
				return err
			}
		} else if fr.Err == nil {
			if m.Inputs == nil {
				m.Inputs = map[string]lake.Input{}
			}
			m.Inputs[sum] = lake.Input{Checksum: sum, Name: f.Name}
		}
	}
	return nil
}

func seenKey(name string, size int64, mod time.Time) string {
	return fmt.Sprintf("%s|%d|%d", name, size, mod.UnixNano())
}

func (r *Result) add(f FileResult) {
	r.Files = append(r.Files, f)
	switch {
	case f.Err != nil:
		r.Failed++
	case f.Skipped != "":
		r.Duplicates++
	default:
		r.Ingested++
		r.Rows += f.Rows
		r.Quarantined += f.Quarantined
	}
}

func fetch(ctx context.Context, loc Location, f RemoteFile, limit int64) ([]byte, string, error) {
	rc, err := loc.Open(ctx, f.Name)
	if err != nil {
		return nil, "", fmt.Errorf("open: %w", err)
	}
	defer rc.Close()
	h := sha256.New()
	var buf bytes.Buffer
	buf.Grow(int(min(f.Size, limit)) + bytes.MinRead) // one allocation, not a doubling series
	n, err := io.Copy(io.MultiWriter(&buf, h), io.LimitReader(rc, limit+1))
	if err != nil {
		return nil, "", fmt.Errorf("read: %w", err)
	}
	if n > limit {
		return nil, "", fmt.Errorf("over the limit of %d bytes", limit)
	}
	return buf.Bytes(), hex.EncodeToString(h.Sum(nil)), nil
}

// ingestFile parses one file and commits its rows. A problem with the
// file itself (bad header, unreadable) is returned in FileResult.Err; an
// error returned means the lake failed.
func ingestFile(ctx context.Context, cfg Config, opts Options, src *Source, mp *mapper, f RemoteFile, data []byte, sum string) (FileResult, error) {
	fr := FileResult{Source: src.Name, Name: f.Name, Checksum: sum}
	text, err := decode(data, src.Format.Encoding)
	if err != nil {
		fr.Err = err
		return fr, nil
	}
	rr, err := newRecordReader(text, src.Format, mp.columns)
	if err != nil {
		fr.Err = err
		return fr, nil
	}
	now := cfg.Now().UTC()
	today := now.Format(time.DateOnly)
	out := &fileOutput{cfg: cfg, src: src, mp: mp, file: f.Name, sum: sum, now: now, dryRun: opts.DryRun, writers: map[string]*dayWriter{}}
	defer out.abort()
	var pending int64
	// Parsing is sequential; mapping (transforms) runs on every core, in
	// batches that are written back in input order.
	batches, readErr := mapParallel(ctx, rr, mp, today, f.Name, now)
	for b := range batches {
		<-b.done
		for i, rec := range b.recs {
			if err := out.add(rec, b.rows[i], b.days[i], b.errs[i]); err != nil {
				drain(batches)
				return fr, err
			}
		}
		if pending += int64(len(b.recs)); pending >= 10000 {
			opts.Progress.Add(pending, 0)
			pending = 0
		}
	}
	if err := <-readErr; err != nil {
		fr.Err = err
		return fr, nil
	}
	opts.Progress.Add(pending, int64(len(data)))
	fr.Rows, fr.Quarantined = out.rows, out.rejected
	if opts.DryRun {
		return fr, nil
	}
	in := lake.Input{Checksum: sum, Name: f.Name, Size: f.Size, ModTime: f.ModTime, Rows: out.rows, Quarantined: out.rejected, IngestedAt: now}
	if err := out.commit(ctx, opts.RunID, in); err != nil {
		return fr, fmt.Errorf("source %s file %s: %w", src.Name, f.Name, err)
	}
	cfg.Logger.Info("ingested", "source", src.Name, "file", f.Name, "rows", out.rows, "quarantined", out.rejected)
	return fr, nil
}

// fileOutput collects one file's good rows (per day) and rejected rows.
type fileOutput struct {
	cfg      Config
	src      *Source
	mp       *mapper
	file     string
	sum      string
	now      time.Time
	dryRun   bool
	writers  map[string]*dayWriter
	rejects  *lake.Writer[lake.RejectRow]
	rows     int64
	rejected int64
}

type dayWriter struct {
	w   *lake.Writer[any]
	buf []parquet.Row
}

func (o *fileOutput) add(rec *record, row parquet.Row, day string, mapErr error) error {
	reason := ""
	if rec.err != nil {
		reason = rec.err.Error()
	} else if mapErr != nil {
		reason = mapErr.Error()
	}
	if reason != "" {
		o.rejected++
		if o.dryRun {
			return nil
		}
		if err := o.openRejects(); err != nil {
			return err
		}
		return o.rejects.Write(lake.RejectRow{Source: o.src.Name, File: o.file, Line: int64(rec.line), Raw: rec.raw(), Reason: reason,
			QuarantinedAt: o.now, KafkaPartition: -1, KafkaOffset: -1})
	}
	o.rows++
	if o.dryRun {
		return nil
	}
	dw, err := o.dayWriter(day)
	if err != nil {
		return err
	}
	dw.buf = append(dw.buf, row)
	if len(dw.buf) == 4096 {
		if err := dw.w.WriteRows(dw.buf); err != nil {
			return err
		}
		dw.buf = dw.buf[:0]
	}
	return nil
}

// openRejects starts the file of the rejected rows.
func (o *fileOutput) openRejects() error {
	if o.rejects != nil {
		return nil
	}
	w, err := lake.NewWriter[lake.RejectRow](o.cfg.SpoolDir, nil)
	if err != nil {
		return err
	}
	o.rejects = w
	return nil
}

// dayWriter is the writer of the good rows of day, started on first use.
func (o *fileOutput) dayWriter(day string) (*dayWriter, error) {
	if dw := o.writers[day]; dw != nil {
		return dw, nil
	}
	w, err := lake.NewWriter[any](o.cfg.SpoolDir, o.mp.schema)
	if err != nil {
		return nil, err
	}
	dw := &dayWriter{w: w}
	o.writers[day] = dw
	return dw, nil
}

// commit uploads the files and commits quarantine first, then raw.
func (o *fileOutput) commit(ctx context.Context, runID string, in lake.Input) error {
	st := o.cfg.Storage
	who := lake.CommitInfo{Job: "ingest", RunID: runID}
	if o.rejects != nil {
		qm, err := lake.LatestManifest(ctx, st, o.src.QuarantineTable())
		if err != nil {
			return err
		}
		if _, done := qm.Inputs[o.sum]; !done {
			day := o.now.Format(time.DateOnly)
			key := fmt.Sprintf("%s/%s.parquet", lake.PartitionDir(o.src.QuarantineTable(), o.src.Workspace, day), o.sum)
			f, err := o.rejects.Commit(ctx, st, key)
			if err != nil {
				return err
			}
			f.Workspace, f.Date, f.Checksum = o.src.Workspace, day, o.sum
			if _, err := lake.Commit(ctx, st, o.src.QuarantineTable(), who, func(m *lake.Manifest) error {
				m.Files = append(m.Files, f)
				if m.Inputs == nil {
					m.Inputs = map[string]lake.Input{}
				}
				m.Inputs[o.sum] = in
				return nil
			}); err != nil {
				return err
			}
		}
		o.rejects.Abort() // its spool file, when a run before committed the quarantine
		o.rejects = nil
	}
	days := make([]string, 0, len(o.writers))
	for d := range o.writers {
		days = append(days, d)
	}
	sort.Strings(days)
	var files []lake.File
	for _, d := range days {
		dw := o.writers[d]
		if err := dw.w.WriteRows(dw.buf); err != nil {
			return err
		}
		key := fmt.Sprintf("%s/%s.parquet", lake.PartitionDir(o.src.Table(), o.src.Workspace, d), o.sum)
		f, err := dw.w.Commit(ctx, st, key)
		delete(o.writers, d)
		if err != nil {
			return err
		}
		f.Workspace, f.Date, f.Checksum = o.src.Workspace, d, o.sum
		files = append(files, f)
	}
	_, err := lake.Commit(ctx, st, o.src.Table(), who, func(m *lake.Manifest) error {
		m.Files = append(m.Files, files...)
		if m.Inputs == nil {
			m.Inputs = map[string]lake.Input{}
		}
		m.Inputs[o.sum] = in
		return nil
	})
	return err
}

// WriteEmpty commits to cfg.Storage the files of raw/<source> and
// quarantine/<source> that a drop of src would make, with no rows: the same
// writers, schema and partition as a run's, so that DuckDB types their
// columns (partition columns too) as it will the real files'. (A scratch
// lake of them gives a source's views before its first drop.)
func WriteEmpty(ctx context.Context, cfg Config, src *Source) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	mp, err := newMapper(src)
	if err != nil {
		return err
	}
	now := cfg.Now().UTC()
	const sum = "empty"
	out := &fileOutput{cfg: cfg, src: src, mp: mp, sum: sum, now: now, writers: map[string]*dayWriter{}}
	defer out.abort()
	if err := out.openRejects(); err != nil {
		return err
	}
	if _, err := out.dayWriter(now.Format(time.DateOnly)); err != nil {
		return err
	}
	return out.commit(ctx, "", lake.Input{Checksum: sum, IngestedAt: now})
}

func (o *fileOutput) abort() {
	for _, dw := range o.writers {
		dw.w.Abort()
	}
	if o.rejects != nil {
		o.rejects.Abort()
	}
}

// mapBatch is a run of records mapped by one worker.
type mapBatch struct {
	recs []*record
	rows []parquet.Row
	days []string
	errs []error
	done chan struct{}
}

const mapBatchSize = 1024

// mapParallel reads rr on one goroutine and maps batches of records on
// GOMAXPROCS workers. Batches come out of the returned channel in input
// order (wait on done before reading one); the reader's error, if any,
// arrives on the second channel after the last batch.
func mapParallel(ctx context.Context, rr recordReader, mp *mapper, today, file string, now time.Time) (<-chan *mapBatch, <-chan error) {
	ordered := make(chan *mapBatch, 2*runtime.GOMAXPROCS(0))
	work := make(chan *mapBatch, 2*runtime.GOMAXPROCS(0))
	readErr := make(chan error, 1)
	for range runtime.GOMAXPROCS(0) {
		go func() {
			for b := range work {
				b.rows = make([]parquet.Row, len(b.recs))
				b.days = make([]string, len(b.recs))
				b.errs = make([]error, len(b.recs))
				for i, rec := range b.recs {
					if rec.err == nil {
						b.rows[i], b.days[i], b.errs[i] = mp.row(rec, today, file, now)
					}
				}
				close(b.done)
			}
		}()
	}
	go func() {
		defer close(ordered)
		defer close(work)
		var err error
		b := &mapBatch{done: make(chan struct{})}
		for {
			if err = ctx.Err(); err != nil {
				break
			}
			var rec *record
			rec, err = rr.next()
			if err == io.EOF {
				err = nil
				break
			}
			if err != nil {
				break
			}
			b.recs = append(b.recs, rec)
			if len(b.recs) == mapBatchSize {
				work <- b
				ordered <- b
				b = &mapBatch{done: make(chan struct{})}
			}
		}
		if len(b.recs) > 0 {
			work <- b
			ordered <- b
		}
		readErr <- err
	}()
	return ordered, readErr
}

// drain lets the reader and workers finish after the consumer gave up.
func drain(batches <-chan *mapBatch) {
	go func() {
		for b := range batches {
			<-b.done
		}
	}()
}

type nopProgress struct{}

func (nopProgress) Start(string, int64) {}
func (nopProgress) Add(int64, int64)    {}
