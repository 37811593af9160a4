// Package compact is the compact job: it rewrites the small files the
// land job leaves in raw/events and quarantine/events (one per Kafka
// partition, workspace and day at every run) into few large ones, as
// Iceberg's rewrite_data_files or Delta's OPTIMIZE do, so that manifests
// stay small and scans open few files. The ingest job's tables need not
// be: it writes a file per input file, not per run, and names it by the
// input's checksum.
//
// Files are grouped by workspace, day and Kafka partition. Within a
// group, sorted by offset, a run of files between those already large is
// rewritten when it has more than MinFiles files: into one file per
// TargetBytes of input, rows in offset order, named by the merged range
// like a landed file. A file's range bounds its offsets, it does not list
// them: land writes one file per workspace and day at every run, so the
// ranges of a group have gaps where other workspaces and days of the
// partition are, and a merged range has them too. A group whose ranges
// overlap would repeat rows and is left alone. Only days before today
// (UTC) are compacted: today's partition is still being landed.
//
// A rewrite is safe against the table's other writers and its readers:
//
//   - It first commits holds on the files it is about to write
//     (Manifest.Holds), so the land job's clean-up of uncommitted files
//     leaves them alone, and commits them within half the hold.
//   - One lake.Commit swaps the inputs for the outputs. Inside it, a
//     rewrite whose inputs are no longer all committed (a concurrent
//     commit removed or replaced one) is dropped: its inputs stay, its
//     output is deleted. A kill before that commit leaves the table as
//     it was; after it, every row is in exactly one committed file.
//   - The replaced files are held for Grace, so that readers of an older
//     manifest version can finish; RemoveUncommitted deletes them after.
//   - A merged file must not straddle a watermark a curated build may cut
//     raw/events at (curate takes the files whose last offset is below
//     its watermark), so only files below the lowest watermark stated by
//     raw/events and the tables built from it are compacted. Nothing cuts
//     quarantine/events at a watermark (it is read whole, and the land
//     job reads only its Offsets), so its files are compacted up to the
//     last. The manifests' Offsets are never changed.
package compact

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/dustin/go-humanize"

	"github.com/tributary-cdp/tributary/internal/plural"
	"github.com/tributary-cdp/tributary/lake"
)

// Tables whose manifests state the raw/events watermark they were built
// from: a later curated build cuts raw/events at one of them or above.
const (
	tableCleanEvents = "clean/events"
	tableIdentityMap = "curated/identity_map"
)

// batchBytes is how much input one commit rewrites at most: it bounds the
// time between the holds on the outputs and their commit.
const batchBytes = 1 << 30

// table is one the land job writes files to named by offset range.
type table struct {
	name string
	// bounded: builds cut the table at a watermark, so merged files stay
	// below the lowest one.
	bounded bool
	// write writes a rewrite's output: writeRows of the table's rows.
	write func(ctx context.Context, cfg Config, rw *rewrite) error
}

// tables are compacted in this order.
var tables = []table{
	{lake.TableEvents, true, writeRows[lake.EventRow]},
	{lake.TableRejected, false, writeRows[lake.RejectRow]},
}

// Progress receives progress reports (jobs.Progress satisfies it).
type Progress interface {
	Start(stage string, totalRows int64)
	Add(rows, bytes int64)
}

// Config configures the compact job.
type Config struct {
	Storage lake.Storage
	// SpoolDir holds Parquet files while they are written ("" = OS temp dir).
	SpoolDir string
	// MinFiles: a run of small files of one group (workspace, day, Kafka
	// partition) is rewritten when it has more.
	MinFiles int
	// TargetBytes is the input size per output file; files of at least
	// half of it are left as they are.
	TargetBytes int64
	// Grace is how long replaced files stay on storage for readers of
	// older manifest versions, and how long the outputs of a batch are
	// held while it is written.
	Grace  time.Duration
	Logger *slog.Logger
	// BeforeCommit, when set, is called between writing a batch's files
	// and committing them (tests use it to commit concurrently or to
	// fail at that point).
	BeforeCommit func(ctx context.Context) error
}

// DefaultConfig rewrites runs of more than 8 files into files of about
// 128 MB of input, and keeps replaced files for an hour.
func DefaultConfig() Config {
	return Config{MinFiles: 8, TargetBytes: 128 << 20, Grace: time.Hour}
}

// Validate checks the config.
func (c Config) Validate() error {
	switch {
	case c.Storage == nil:
		return errors.New("compact: lake storage is nil")
	case c.MinFiles < 1:
		return fmt.Errorf("compact: MinFiles %d must be at least 1", c.MinFiles)
	case c.TargetBytes < 1:
		return fmt.Errorf("compact: TargetBytes %d must be positive", c.TargetBytes)
	case c.Grace < time.Second:
		return fmt.Errorf("compact: Grace %s must be at least 1s", c.Grace)
	}
	return nil
}

// Options of one run.
type Options struct {
	DryRun bool
	RunID  string
	// Workspace limits the run to one workspace ("" = all).
	Workspace string
	// From and To limit the run to days From..To (zero = open). Today is
	// compacted only when To is today or later.
	From, To time.Time
	Progress Progress // nil: no reports
}

// Sums counts the work of a run on one table or all.
type Sums struct {
	Rewrites int   // output files written and committed (on a dry run: to write)
	FilesIn  int64 // files they replaced
	Rows     int64
	BytesIn  int64
	BytesOut int64
	// Skipped counts groups left alone because their ranges overlap and
	// rewrites dropped because a concurrent commit changed their inputs.
	Skipped int
}

func (s *Sums) add(o Sums) {
	s.Rewrites += o.Rewrites
	s.FilesIn += o.FilesIn
	s.Rows += o.Rows
	s.BytesIn += o.BytesIn
	s.BytesOut += o.BytesOut
	s.Skipped += o.Skipped
}

// Result sums up a run: over all tables, and per table.
type Result struct {
	Sums
	Tables map[string]Sums
}

// Counts is the result as job counts (over all tables).
func (r Result) Counts() map[string]int64 {
	return map[string]int64{"rewrites": int64(r.Rewrites), "files_in": r.FilesIn, "rows": r.Rows,
		"bytes_in": r.BytesIn, "bytes_out": r.BytesOut, "skipped": int64(r.Skipped)}
}

func (r Result) String() string {
	return "rewrote " + r.PerTable(func(s Sums) string {
		return fmt.Sprintf("(%s, %s) into %s (%s)", plural.Count(s.Rows, "row"), humanize.IBytes(uint64(s.BytesIn)),
			plural.Count(s.Rewrites, "file"), humanize.IBytes(uint64(s.BytesOut)))
	}) + ", " + r.SkippedString()
}

// SkippedString is "<n> groups skipped".
func (r Result) SkippedString() string { return plural.Count(r.Skipped, "group") + " skipped" }

// PerTable lists "<files in> <table> files <what(sums)>" for every table,
// comma-separated.
func (r Result) PerTable(what func(Sums) string) string {
	parts := make([]string, len(tables))
	for i, t := range tables {
		s := r.Tables[t.name]
		parts[i] = plural.Count(s.FilesIn, t.name+" file") + " " + what(s)
	}
	return strings.Join(parts, ", ")
}

// rewrite is one output file and the files it replaces, in offset order.
type rewrite struct {
	in  []lake.File
	out lake.File // Path and Kafka set when planned; Rows and Bytes once written
}

func (rw *rewrite) inBytes() int64 {
	var n int64
	for _, f := range rw.in {
		n += f.Bytes
	}
	return n
}

// Run compacts every table once.
func Run(ctx context.Context, cfg Config, opts Options) (Result, error) {
	res := Result{Tables: make(map[string]Sums, len(tables))}
	if err := cfg.Validate(); err != nil {
		return res, err
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	for _, t := range tables {
		s, err := runTable(ctx, cfg, opts, t, log)
		res.Tables[t.name] = s
		res.add(s)
		if err != nil {
			return res, err
		}
	}
	return res, nil
}

// runTable compacts one table.
func runTable(ctx context.Context, cfg Config, opts Options, t table, log *slog.Logger) (Sums, error) {
	var res Sums
	st := cfg.Storage
	m, err := lake.LatestManifest(ctx, st, t.name)
	if err != nil {
		return res, err
	}
	var bound map[int32]int64 // nil: no bound
	if t.bounded {
		if bound, err = watermarkBound(ctx, st, m); err != nil {
			return res, err
		}
	}
	rws, skipped := plan(cfg, opts, t.name, m.Files, bound, log)
	res.Skipped = skipped
	var rows int64
	for _, rw := range rws {
		for _, f := range rw.in {
			rows += f.Rows
		}
	}
	if opts.DryRun {
		for _, rw := range rws {
			res.Rewrites++
			res.FilesIn += int64(len(rw.in))
			res.BytesIn += rw.inBytes()
		}
		res.Rows = rows
		return res, nil
	}
	if opts.Progress != nil {
		opts.Progress.Start("compact "+t.name, rows)
	}
	for len(rws) > 0 {
		n, size := 0, int64(0)
		for n < len(rws) && (n == 0 || size < batchBytes) {
			size += rws[n].inBytes()
			n++
		}
		if err := runBatch(ctx, cfg, opts, t, rws[:n], &res, log); err != nil {
			return res, err
		}
		rws = rws[n:]
	}
	return res, nil
}

// watermarkBound returns, per partition, an offset at or below every
// watermark a later build may cut raw/events at: the lowest of the landed
// offsets and of the watermarks of the tables built from them (each only
// moves forward).
func watermarkBound(ctx context.Context, st lake.Storage, events *lake.Manifest) (map[int32]int64, error) {
	bound := make(map[int32]int64, len(events.Offsets))
	for p, o := range events.Offsets {
		bound[p] = o
	}
	for _, t := range []string{tableCleanEvents, tableIdentityMap} {
		m, err := lake.LatestManifest(ctx, st, t)
		if err != nil {
			return nil, fmt.Errorf("compact: read the watermark of %s: %w", t, err)
		}
		if m.Offsets == nil {
			continue
		}
		for p := range bound {
			bound[p] = min(bound[p], m.Offsets[p])
		}
	}
	return bound, nil
}

type groupKey struct {
	workspace, date string
	partition       int32
}

// plan picks the rewrites of a run on table, in path order, and counts
// the groups it skips. Only files below bound are taken, unless it is nil.
func plan(cfg Config, opts Options, table string, files []lake.File, bound map[int32]int64, log *slog.Logger) ([]*rewrite, int) {
	today := time.Now().UTC().Format(time.DateOnly)
	from, to := day(opts.From), day(opts.To)
	groups := map[groupKey][]lake.File{}
	for _, f := range files {
		switch {
		case f.Kafka == nil || f.Date == "" || bound != nil && f.Kafka.Last >= bound[f.Kafka.Partition]:
			continue
		case opts.Workspace != "" && f.Workspace != opts.Workspace:
			continue
		case f.Date < from || to == "" && f.Date >= today || to != "" && f.Date > to:
			continue
		}
		k := groupKey{f.Workspace, f.Date, f.Kafka.Partition}
		groups[k] = append(groups[k], f)
	}
	var out []*rewrite
	skipped := 0
	for k, g := range groups {
		sort.Slice(g, func(i, j int) bool { return g[i].Kafka.First < g[j].Kafka.First })
		if i := overlap(g); i > 0 {
			log.Warn("compact: skipped a group whose offset ranges overlap", "table", table, "workspace", k.workspace, "date", k.date,
				"partition", k.partition, "file", g[i].Path, "overlaps", g[i-1].Path)
			skipped++
			continue
		}
		for _, run := range runs(g, cfg.TargetBytes/2) {
			if len(run) > cfg.MinFiles {
				out = append(out, bins(table, k, run, cfg.TargetBytes)...)
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].out.Path < out[j].out.Path })
	return out, skipped
}

// day formats t as YYYY-MM-DD ("" for the zero time).
func day(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.DateOnly)
}

// overlap returns the index of the first file (sorted by first offset)
// whose range overlaps the one before, or 0.
func overlap(g []lake.File) int {
	for i := 1; i < len(g); i++ {
		if g[i].Kafka.First <= g[i-1].Kafka.Last {
			return i
		}
	}
	return 0
}

// runs splits a sorted group at the files of at least large bytes, which
// it leaves out: a merged range around one would overlap it.
func runs(g []lake.File, large int64) [][]lake.File {
	var out [][]lake.File
	var cur []lake.File
	for _, f := range g {
		if len(cur) > 0 && f.Bytes >= large {
			out = append(out, cur)
			cur = nil
		}
		if f.Bytes < large {
			cur = append(cur, f)
		}
	}
	if len(cur) > 0 {
		out = append(out, cur)
	}
	return out
}

// bins cuts a run into rewrites of about target input bytes each; a
// last piece of one file is left as it is.
func bins(table string, k groupKey, run []lake.File, target int64) []*rewrite {
	var out []*rewrite
	for len(run) > 0 {
		n, size := 0, int64(0)
		for n < len(run) && size < target {
			size += run[n].Bytes
			n++
		}
		if n > 1 {
			r := lake.OffsetRange{Partition: k.partition, First: run[0].Kafka.First, Last: run[n-1].Kafka.Last}
			out = append(out, &rewrite{in: run[:n:n], out: lake.File{
				Path: lake.PartKey(table, k.workspace, k.date, r), Workspace: k.workspace, Date: k.date, Kafka: &r,
			}})
		}
		run = run[n:]
	}
	return out
}

// runBatch holds the outputs of rws, writes them and commits them in
// place of their inputs.
func runBatch(ctx context.Context, cfg Config, opts Options, t table, rws []*rewrite, res *Sums, log *slog.Logger) error {
	st := cfg.Storage
	who := lake.CommitInfo{Job: "compact", RunID: opts.RunID}
	held := time.Now()
	if _, err := lake.Commit(ctx, st, t.name, who, func(m *lake.Manifest) error {
		for _, rw := range rws {
			m.Holds = append(m.Holds, lake.Hold{Path: rw.out.Path, Until: held.Add(cfg.Grace)})
		}
		return nil
	}); err != nil {
		return fmt.Errorf("compact %s: hold the files to write: %w", t.name, err)
	}
	for _, rw := range rws {
		if err := t.write(ctx, cfg, rw); err != nil {
			return err
		}
		if opts.Progress != nil {
			opts.Progress.Add(rw.out.Rows, rw.out.Bytes)
		}
	}
	// Past half the hold, the land job's clean-up could be about to
	// delete the outputs: leave them to it and commit nothing.
	if d := time.Now().Sub(held); d > cfg.Grace/2 {
		return fmt.Errorf("compact %s: writing %s took %s, more than half the grace period %s; nothing committed (raise the grace period)", t.name, plural.Count(len(rws), "file"), d.Round(time.Second), cfg.Grace)
	}
	if cfg.BeforeCommit != nil {
		if err := cfg.BeforeCommit(ctx); err != nil {
			return err
		}
	}
	outputs := make(map[string]bool, len(rws))
	for _, rw := range rws {
		outputs[rw.out.Path] = true
	}
	var dropped []*rewrite
	_, err := lake.Commit(ctx, st, t.name, who, func(m *lake.Manifest) error {
		dropped = dropped[:0]
		now := time.Now()
		committed := make(map[string]lake.File, len(m.Files))
		for _, f := range m.Files {
			committed[f.Path] = f
		}
		remove := map[string]bool{}
		var add []lake.File
		var holds []lake.Hold
		for _, rw := range rws {
			if !unchanged(committed, rw.in) {
				dropped = append(dropped, rw)
				continue
			}
			for _, f := range rw.in {
				remove[f.Path] = true
				holds = append(holds, lake.Hold{Path: f.Path, Until: now.Add(cfg.Grace)})
			}
			add = append(add, rw.out)
		}
		m.Files = slices.DeleteFunc(m.Files, func(f lake.File) bool { return remove[f.Path] })
		m.Files = append(m.Files, add...)
		// The outputs' holds end here: committed, or deleted below.
		m.Holds = slices.DeleteFunc(m.Holds, func(h lake.Hold) bool { return outputs[h.Path] })
		m.Holds = append(m.Holds, holds...)
		return nil
	})
	if err != nil {
		return fmt.Errorf("compact %s: commit %s: %w", t.name, plural.Count(len(rws), "rewritten file"), err)
	}
	for _, rw := range rws {
		if slices.Contains(dropped, rw) {
			continue
		}
		res.Rewrites++
		res.FilesIn += int64(len(rw.in))
		res.Rows += rw.out.Rows
		res.BytesIn += rw.inBytes()
		res.BytesOut += rw.out.Bytes
	}
	for _, rw := range dropped {
		log.Info("compact: a concurrent commit changed the files of a rewrite; left them as they are", "file", rw.out.Path)
		res.Skipped++
		if err := st.Delete(ctx, rw.out.Path); err != nil {
			return fmt.Errorf("compact: remove dropped file %s: %w", rw.out.Path, err)
		}
	}
	return nil
}

// unchanged reports whether every file of in is committed as it was.
func unchanged(committed map[string]lake.File, in []lake.File) bool {
	for _, f := range in {
		c, ok := committed[f.Path]
		if !ok || c.Rows != f.Rows || c.Bytes != f.Bytes || c.Kafka == nil || *c.Kafka != *f.Kafka {
			return false
		}
	}
	return true
}

// writeRows copies the rows of rw's inputs, in offset order, into its
// output and stores it. It checks that every input holds the rows its
// manifest entry says, within its offset range.
func writeRows[T lake.KafkaRow](ctx context.Context, cfg Config, rw *rewrite) error {
	w, err := lake.NewWriter[T](cfg.SpoolDir, nil)
	if err != nil {
		return fmt.Errorf("compact %s: %w", rw.out.Path, err)
	}
	defer w.Abort()
	next := rw.out.Kafka.First
	for _, f := range rw.in {
		rows, err := lake.ReadAll[T](ctx, cfg.Storage, f.Path)
		if err != nil {
			return fmt.Errorf("compact %s: %w", rw.out.Path, err)
		}
		if int64(len(rows)) != f.Rows {
			return fmt.Errorf("compact %s: %s has %d rows, its manifest entry %d", rw.out.Path, f.Path, len(rows), f.Rows)
		}
		// Land writes rows in offset order; sorting makes sure of it.
		slices.SortStableFunc(rows, func(a, b T) int {
			_, oa := a.KafkaPosition()
			_, ob := b.KafkaPosition()
			return cmp.Compare(oa, ob)
		})
		for _, r := range rows {
			p, o := r.KafkaPosition()
			if p != f.Kafka.Partition || o < max(next, f.Kafka.First) || o > f.Kafka.Last {
				return fmt.Errorf("compact %s: %s holds partition %d offset %d, outside its range %d:%d-%d or repeated",
					rw.out.Path, f.Path, p, o, f.Kafka.Partition, f.Kafka.First, f.Kafka.Last)
			}
			next = o + 1
		}
		if err := w.Write(rows...); err != nil {
			return fmt.Errorf("compact %s: %w", rw.out.Path, err)
		}
	}
	f, err := w.Commit(ctx, cfg.Storage, rw.out.Path)
	if err != nil {
		return fmt.Errorf("compact %s: %w", rw.out.Path, err)
	}
	rw.out.Rows, rw.out.Bytes = f.Rows, f.Bytes
	return nil
}
