// Package land is the land job: it copies cdp.events from Kafka into the
// lake's raw/events table as Parquet, exactly once.
//
// The land manifest (the manifest of raw/events) holds, per partition, the
// next offset to land; Kafka consumer-group offsets are not used. A run
// reads every partition from that offset up to the high-water mark it saw
// at start, writes part files named by partition and offset range
// (raw/events/workspace=W/date=D/part-<p>-<first>-<last>.parquet), and
// commits a new manifest version that names the files and moves the
// offsets, in one atomic step. Events are committed in chunks, so a long
// run keeps its progress. A run that dies before a commit leaves files no
// manifest names; the next run deletes them and lands the same offsets
// again. Messages that are not a valid cdp.Event go to
// quarantine/events with the reason, under the same rules.
package land

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dustin/go-humanize"
	"github.com/segmentio/kafka-go"

	cdp "github.com/tributary-cdp/tributary"
	"github.com/tributary-cdp/tributary/internal/plural"
	"github.com/tributary-cdp/tributary/lake"
)

// Progress receives progress reports (jobs.Progress satisfies it).
type Progress interface {
	Start(stage string, totalRows int64)
	Add(rows, bytes int64)
}

// Config configures the land job.
type Config struct {
	Brokers []string
	Topic   string
	Storage lake.Storage
	// SpoolDir holds Parquet files while they are written ("" = OS temp dir).
	SpoolDir string
	// ChunkEvents is how many events of one partition are committed at
	// once; it bounds memory and how much a crash makes redo.
	ChunkEvents int
	// Workers is how many partitions are landed at once.
	Workers int
	// StallTimeout fails a partition that yields no message for this long
	// while below its high-water mark.
	StallTimeout time.Duration
	Logger       *slog.Logger
	// AfterCommit, when set, is called after every manifest commit
	// (tests use it to inject failures at a precise point).
	AfterCommit func(partition int32, next int64)
}

// DefaultConfig reads cdp.events two partitions at a time (four were no
// faster on 2 cores and took 60 % more memory), 500k events per commit.
func DefaultConfig() Config {
	return Config{Topic: cdp.TopicEvents, ChunkEvents: 500_000, Workers: 2, StallTimeout: 30 * time.Second}
}

// Validate checks the config.
func (c Config) Validate() error {
	switch {
	case len(c.Brokers) == 0:
		return errors.New("land: no Kafka brokers")
	case c.Topic == "":
		return errors.New("land: topic is empty")
	case c.Storage == nil:
		return errors.New("land: lake storage is nil")
	case c.ChunkEvents < 1:
		return fmt.Errorf("land: ChunkEvents %d must be at least 1", c.ChunkEvents)
	case c.Workers < 1:
		return fmt.Errorf("land: Workers %d must be at least 1", c.Workers)
	case c.StallTimeout <= 0:
		return fmt.Errorf("land: StallTimeout %s must be positive", c.StallTimeout)
	}
	return nil
}

// Options of one run.
type Options struct {
	DryRun   bool
	RunID    string
	Progress Progress
}

// Result sums up a run.
type Result struct {
	Partitions int   // partitions with something to land
	Events     int64 // events landed (or, on a dry run, to land)
	Rejected   int64 // messages sent to quarantine/events
	Files      int64
	Bytes      int64 // Parquet bytes written
	// Skipped counts offsets that Kafka's retention deleted before they
	// were landed (a gap the operator must know about).
	Skipped int64
	// Removed counts uncommitted files of dead runs that were deleted.
	Removed int
}

// Counts is the result as job counts.
func (r Result) Counts() map[string]int64 {
	return map[string]int64{"partitions": int64(r.Partitions), "events": r.Events, "rejected": r.Rejected,
		"files": r.Files, "bytes": r.Bytes, "skipped_by_retention": r.Skipped}
}

func (r Result) String() string {
	s := fmt.Sprintf("landed %s from %s into %s (%s), %d rejected", plural.Count(r.Events, "event"), plural.Count(r.Partitions, "partition"),
		plural.Count(r.Files, "file"), humanize.IBytes(uint64(r.Bytes)), r.Rejected)
	if r.Skipped > 0 {
		s += fmt.Sprintf("; %s deleted by Kafka retention before landing", plural.Count(r.Skipped, "offset"))
	}
	return s
}

// span is the work for one partition: offsets [from, to).
type span struct {
	partition int32
	from, to  int64
}

// Run lands everything below the high-water marks seen at start.
func Run(ctx context.Context, cfg Config, opts Options) (Result, error) {
	var res Result
	if err := cfg.Validate(); err != nil {
		return res, err
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	if opts.Progress == nil {
		opts.Progress = nopProgress{}
	}
	st := cfg.Storage
	m, err := lake.LatestManifest(ctx, st, lake.TableEvents)
	if err != nil {
		return res, err
	}
	spans, skipped, err := plan(ctx, cfg, m.Offsets)
	if err != nil {
		return res, err
	}
	res.Skipped = skipped
	var total int64
	for _, s := range spans {
		total += s.to - s.from
	}
	res.Partitions, res.Events = len(spans), total
	if opts.DryRun {
		return res, nil
	}
	res.Events = 0
	for _, table := range []string{lake.TableEvents, lake.TableRejected} {
		n, err := lake.RemoveUncommitted(ctx, st, table, 0)
		if err != nil {
			return res, fmt.Errorf("clean up after earlier runs: %w", err)
		}
		res.Removed += n
	}
	if res.Removed > 0 {
		log.Info("land: removed uncommitted files of earlier runs", "files", res.Removed)
	}
	qm, err := lake.LatestManifest(ctx, st, lake.TableRejected)
	if err != nil {
		return res, err
	}
	opts.Progress.Start("land "+cfg.Topic, total)

	l := &lander{cfg: cfg, opts: opts, log: log, rejectedFrom: qm.Offsets}
	work := make(chan span)
	workers := min(cfg.Workers, max(len(spans), 1))
	errs := make(chan error, len(spans)+workers)
	var wg sync.WaitGroup
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	for range workers {
		wg.Go(func() {
			// Commits run under ctx, not wctx: when another partition
			// fails, the chunk being committed still is (as it would have
			// been before this worker read on).
			cm := committer{ctx: ctx}
			for s := range work {
				if err := l.partition(wctx, s, &cm); err != nil {
					errs <- err
					cancel()
				}
			}
			// Run returns only once nothing is being committed.
			if err := cm.wait(); err != nil {
				errs <- err
				cancel()
			}
		})
	}
feed:
	for _, s := range spans {
		select {
		case work <- s:
		case <-wctx.Done():
			break feed
		}
	}
	close(work)
	wg.Wait()
	close(errs)
	res.Events, res.Rejected, res.Files, res.Bytes = l.events.Load(), l.rejected.Load(), l.files.Load(), l.bytes.Load()
	if err := <-errs; err != nil {
		return res, err
	}
	if err := ctx.Err(); err != nil {
		return res, err
	}
	return res, nil
}

// plan reads partitions and watermarks and returns what to land.
func plan(ctx context.Context, cfg Config, landed map[int32]int64) ([]span, int64, error) {
	client := &kafka.Client{Addr: kafka.TCP(cfg.Brokers...), Timeout: 10 * time.Second}
	md, err := client.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{cfg.Topic}})
	if err != nil {
		return nil, 0, fmt.Errorf("read metadata of %s from %v: %w", cfg.Topic, cfg.Brokers, err)
	}
	if len(md.Topics) != 1 || md.Topics[0].Error != nil {
		var terr error
		if len(md.Topics) == 1 {
			terr = md.Topics[0].Error
		}
		return nil, 0, fmt.Errorf("topic %s on %v: %v", cfg.Topic, cfg.Brokers, terr)
	}
	var reqs []kafka.OffsetRequest
	for _, p := range md.Topics[0].Partitions {
		reqs = append(reqs, kafka.FirstOffsetOf(p.ID), kafka.LastOffsetOf(p.ID))
	}
	resp, err := client.ListOffsets(ctx, &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{cfg.Topic: reqs}})
	if err != nil {
		return nil, 0, fmt.Errorf("list offsets of %s: %w", cfg.Topic, err)
	}
	var spans []span
	var skipped int64
	for _, po := range resp.Topics[cfg.Topic] {
		if po.Error != nil {
			return nil, 0, fmt.Errorf("offsets of %s partition %d: %w", cfg.Topic, po.Partition, po.Error)
		}
		p := int32(po.Partition)
		from := landed[p]
		if from > po.LastOffset {
			return nil, 0, fmt.Errorf("partition %d: the land manifest says offset %d was landed but Kafka's high-water mark is %d; was %s recreated? Move the lake's raw/events aside to start over",
				p, from-1, po.LastOffset, cfg.Topic)
		}
		if from < po.FirstOffset {
			skipped += po.FirstOffset - from
			from = po.FirstOffset
		}
		if from < po.LastOffset {
			spans = append(spans, span{partition: p, from: from, to: po.LastOffset})
		}
	}
	sort.Slice(spans, func(i, j int) bool { return spans[i].partition < spans[j].partition })
	return spans, skipped, nil
}

type lander struct {
	cfg          Config
	opts         Options
	log          *slog.Logger
	rejectedFrom map[int32]int64 // quarantine/events offsets: rejects below are already kept

	commitMu                       sync.Mutex
	events, rejected, files, bytes atomic.Int64
}

// group is the open file of one workspace and day within a chunk. Rows
// are handed to the Parquet writer in batches (far cheaper than one by one).
type group struct {
	w           *lake.Writer[lake.EventRow]
	buf         []lake.EventRow
	workspace   string
	day         int64  // unixDay
	date        string // the day as YYYY-MM-DD
	first, last int64
}

const writeBatch = 1024

// commitParallel is how many files of a chunk are finished and stored at
// once.
const commitParallel = 8

func (g *group) flush() error {
	if len(g.buf) == 0 {
		return nil
	}
	err := g.w.Write(g.buf...)
	clear(g.buf)
	g.buf = g.buf[:0]
	return err
}

// chunk accumulates up to ChunkEvents events of one partition.
type chunk struct {
	partition int32
	groups    map[groupKey]*group
	lastG     *group // the group of the last event (the next is often in it too)
	rejects   *lake.Writer[lake.RejectRow]
	rejFirst  int64
	rejLast   int64
	rejDate   string
	last      int64 // last offset read
	n         int
}

// groupKey is a workspace and a UTC day (days since 1970-01-01).
type groupKey struct {
	workspace string
	day       int64
}

// unixDay is the UTC day of t, in days since 1970-01-01.
func unixDay(t time.Time) int64 {
	u := t.Unix()
	d := u / 86400
	if u < 0 && u%86400 != 0 {
		d--
	}
	return d
}

func (c *chunk) abort() {
	for _, g := range c.groups {
		g.w.Abort()
	}
	if c.rejects != nil {
		c.rejects.Abort()
	}
}

// item is one message as the reader hands it to the writer: its row, or
// why it is not a valid event.
type item struct {
	row    lake.EventRow
	offset int64
	value  []byte // the message, for a reject
	err    error  // why it was refused
}

// readBatch is how many items the reader hands over at once.
const readBatch = 1024

// Fetches of 1 MiB (Kafka's default per partition), with room for 10,000
// messages between kafka-go's fetching goroutine and the reader: the
// next fetch is on its way while the reader works through the last one.
// With 16 MiB and kafka-go's default queue of 100 messages the broker
// took 35–120 ms to answer each fetch while the reader waited (on the
// 300k fixture land took 30–40 s instead of 20–23 s).
const (
	fetchBytes    = 1 << 20
	queueMessages = 10_000
)

// partition lands one span with two goroutines: the reader fetches and
// decodes messages, the writer (this one) encodes them into Parquet and
// hands each chunk to cm to commit. Chunks are cut exactly as by one
// loop: at ChunkEvents messages and at the span's end.
func (l *lander) partition(ctx context.Context, s span, cm *committer) error {
	r := kafka.NewReader(kafka.ReaderConfig{
		Brokers:       l.cfg.Brokers,
		Topic:         l.cfg.Topic,
		Partition:     int(s.partition),
		MinBytes:      1,
		MaxBytes:      fetchBytes,
		MaxWait:       250 * time.Millisecond,
		QueueCapacity: queueMessages,
	})
	defer r.Close()
	if err := r.SetOffset(s.from); err != nil {
		return fmt.Errorf("land partition %d: seek to %d: %w", s.partition, s.from, err)
	}
	// A watchdog turns a silent stall into an error: it looks once a
	// second whether the reader, while it waits on Kafka, has read
	// anything since. Time the reader spends handing messages over (the
	// writer busy, or waiting for a slow commit) is not a stall.
	var read atomic.Int64   // messages read (cheaper than a clock reading each)
	var inKafka atomic.Bool // the reader is in ReadMessage
	pctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	go func() {
		t := time.NewTicker(time.Second)
		defer t.Stop()
		last, lastChange := read.Load(), time.Now()
		for {
			select {
			case <-pctx.Done():
				return
			case now := <-t.C:
				if n := read.Load(); n != last || !inKafka.Load() {
					last, lastChange = n, now
				} else if now.Sub(lastChange) > l.cfg.StallTimeout {
					cancel(fmt.Errorf("no message for %s below the high-water mark %d", l.cfg.StallTimeout, s.to))
					return
				}
			}
		}
	}()

	batches := make(chan []item, 4)
	free := make(chan []item, 8)
	var readErr error
	readDone := make(chan struct{})
	go func() {
		defer close(readDone)
		defer close(batches) // after readErr is set: the writer reads it once batches is closed
		readErr = l.read(ctx, pctx, r, s, &read, &inKafka, batches, free)
	}()
	err := l.write(ctx, s, cm, batches, free, &readErr)
	if err != nil {
		cancel(err)
		for range batches { // let the reader stop
		}
	}
	<-readDone
	return err
}

// read reads the span's messages and hands them to the writer, decoded,
// in offset order. It returns nil once the span is read.
func (l *lander) read(ctx, pctx context.Context, r *kafka.Reader, s span, read *atomic.Int64, inKafka *atomic.Bool, batches chan<- []item, free chan []item) error {
	next := s.from
	var b []item
	send := func() bool {
		if len(b) == 0 {
			return true
		}
		select {
		case batches <- b:
			b = nil
			return true
		case <-pctx.Done():
			return false
		}
	}
	for next < s.to {
		inKafka.Store(true)
		msg, err := r.ReadMessage(pctx)
		inKafka.Store(false)
		if err != nil {
			if cause := context.Cause(pctx); cause != nil && ctx.Err() == nil {
				err = cause
			}
			return fmt.Errorf("land partition %d at offset %d: %w", s.partition, next, err)
		}
		read.Add(1)
		if msg.Offset >= s.to {
			break
		}
		if b == nil {
			select {
			case b = <-free:
			default:
				b = make([]item, 0, readBatch)
			}
		}
		b = append(b, item{offset: msg.Offset})
		it := &b[len(b)-1]
		if it.row, it.err = decode(msg.Value, int32(msg.Partition), msg.Offset); it.err != nil {
			it.value = msg.Value
		}
		next = msg.Offset + 1
		if len(b) == readBatch && !send() {
			return fmt.Errorf("land partition %d at offset %d: %w", s.partition, next, context.Cause(pctx))
		}
	}
	if !send() {
		return fmt.Errorf("land partition %d at offset %d: %w", s.partition, next, context.Cause(pctx))
	}
	return nil
}

// write encodes what the reader hands over and commits chunk by chunk.
// When the reader stops early, the chunk in progress is dropped and the
// reader's error returned.
func (l *lander) write(ctx context.Context, s span, cm *committer, batches <-chan []item, free chan<- []item, readErr *error) error {
	var c *chunk
	defer func() {
		if c != nil {
			c.abort()
		}
	}()
	next := s.from
	pending := int64(0)
	for b := range batches {
		for i := range b {
			it := &b[i]
			if c == nil {
				c = &chunk{partition: s.partition, groups: map[groupKey]*group{}, rejFirst: -1}
			}
			if err := l.add(c, it); err != nil {
				return fmt.Errorf("land partition %d offset %d: %w", s.partition, it.offset, err)
			}
			next = it.offset + 1
			if pending++; pending == 1000 {
				l.opts.Progress.Add(pending, 0)
				pending = 0
			}
			if c.n >= l.cfg.ChunkEvents || next >= s.to {
				if err := cm.start(l, c); err != nil {
					return err
				}
				c = nil
			}
		}
		clear(b)
		select {
		case free <- b[:0]:
		default:
		}
	}
	if *readErr != nil {
		return *readErr
	}
	l.opts.Progress.Add(pending, 0)
	if c != nil && c.n > 0 {
		if err := cm.start(l, c); err != nil {
			return err
		}
		c = nil
	}
	return nil
}

// committer commits a worker's chunks one at a time, in the background:
// the worker reads and encodes the next chunk (of the same partition or
// of its next one) while the last is stored, so a worker holds at most
// two chunks. A chunk is committed only after the one before it
// succeeded, so the manifest's offsets still only move forward over
// committed rows.
type committer struct {
	ctx  context.Context
	done chan error // of the commit in flight; nil when none
}

// start waits for the commit in flight and, when it succeeded, starts
// committing c. It takes c over: on failure c is aborted.
func (cm *committer) start(l *lander, c *chunk) error {
	if err := cm.wait(); err != nil {
		c.abort()
		return err
	}
	done := make(chan error, 1)
	cm.done = done
	go func() {
		err := l.commit(cm.ctx, c)
		if err != nil {
			c.abort()
		}
		done <- err
	}()
	return nil
}

// wait waits for the commit in flight, if any, and returns its error.
func (cm *committer) wait() error {
	if cm.done == nil {
		return nil
	}
	err := <-cm.done
	cm.done = nil
	return err
}

func (l *lander) add(c *chunk, it *item) error {
	c.last = it.offset
	c.n++
	if it.err != nil {
		return l.reject(c, it.value, it.offset, it.err)
	}
	ts := it.row.Timestamp
	if ts.IsZero() {
		ts = it.row.ReceivedAt
	}
	d := unixDay(ts)
	g := c.lastG
	if g == nil || g.day != d || g.workspace != it.row.Workspace {
		g = c.groups[groupKey{it.row.Workspace, d}]
		if g == nil {
			w, err := lake.NewWriter[lake.EventRow](l.cfg.SpoolDir, nil)
			if err != nil {
				return err
			}
			// A copy: the row's strings alias a message, and the group
			// outlives the batch.
			ws := strings.Clone(it.row.Workspace)
			g = &group{w: w, buf: make([]lake.EventRow, 0, writeBatch), workspace: ws, day: d,
				date: ts.UTC().Format(time.DateOnly), first: it.offset}
			c.groups[groupKey{ws, d}] = g
		}
		c.lastG = g
	}
	g.last = it.offset
	g.buf = append(g.buf, it.row)
	if len(g.buf) == writeBatch {
		return g.flush()
	}
	return nil
}

func (l *lander) reject(c *chunk, value []byte, offset int64, reason error) error {
	if from, ok := l.rejectedFrom[c.partition]; ok && offset < from {
		return nil // kept by a run that died after committing its rejects
	}
	if c.rejects == nil {
		w, err := lake.NewWriter[lake.RejectRow](l.cfg.SpoolDir, nil)
		if err != nil {
			return err
		}
		c.rejects, c.rejFirst = w, offset
		c.rejDate = time.Now().UTC().Format(time.DateOnly)
	}
	c.rejLast = offset
	return c.rejects.Write(lake.RejectRow{
		Source: "kafka:" + l.cfg.Topic, Line: -1, Raw: string(value), Reason: reason.Error(),
		QuarantinedAt: time.Now().UTC(), KafkaPartition: c.partition, KafkaOffset: offset,
	})
}

// commit uploads the chunk's files and commits them with the new offset:
// rejects first (quarantine/events), then raw/events.
func (l *lander) commit(ctx context.Context, c *chunk) error {
	p, next := c.partition, c.last+1
	who := lake.CommitInfo{Job: "land", RunID: l.opts.RunID}
	if c.rejects != nil {
		r := lake.OffsetRange{Partition: p, First: c.rejFirst, Last: c.rejLast}
		f, err := c.rejects.Commit(ctx, l.cfg.Storage, lake.PartKey(lake.TableRejected, "_unknown", c.rejDate, r))
		c.rejects = nil
		if err != nil {
			return fmt.Errorf("land partition %d: %w", p, err)
		}
		f.Workspace, f.Date, f.Kafka = "_unknown", c.rejDate, &r
		if err := l.commitManifest(ctx, lake.TableRejected, who, p, next, []lake.File{f}); err != nil {
			return err
		}
		l.rejected.Add(f.Rows)
	}
	groups := make([]*group, 0, len(c.groups))
	for _, g := range c.groups {
		groups = append(groups, g)
	}
	sort.Slice(groups, func(i, j int) bool { return groups[i].workspace+groups[i].date < groups[j].workspace+groups[j].date })
	// The files are finished and stored a few at a time: each waits on
	// its own fsyncs (or upload), and its last pages compress on a core
	// of their own.
	files := make([]lake.File, len(groups))
	errs := make([]error, len(groups))
	var wg sync.WaitGroup
	sem := make(chan struct{}, commitParallel)
	for i, g := range groups {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			if err := g.flush(); err != nil {
				errs[i] = err
				return
			}
			r := lake.OffsetRange{Partition: p, First: g.first, Last: g.last}
			f, err := g.w.Commit(ctx, l.cfg.Storage, lake.EventsKey(g.workspace, g.date, r))
			if err != nil {
				errs[i] = err
				return
			}
			f.Workspace, f.Date, f.Kafka = g.workspace, g.date, &r
			files[i] = f
		})
	}
	wg.Wait()
	for _, g := range groups {
		g.w.Abort() // the spool files of failed ones, if any
	}
	clear(c.groups)
	c.lastG = nil
	var events, bytes int64
	for i := range groups {
		if errs[i] != nil {
			return fmt.Errorf("land partition %d: %w", p, errs[i])
		}
		events += files[i].Rows
		bytes += files[i].Bytes
	}
	if err := l.commitManifest(ctx, lake.TableEvents, who, p, next, files); err != nil {
		return err
	}
	l.events.Add(events)
	l.files.Add(int64(len(files)))
	l.bytes.Add(bytes)
	l.opts.Progress.Add(0, bytes)
	l.log.Debug("land: committed", "partition", p, "next", next, "files", len(files), "events", events)
	if l.cfg.AfterCommit != nil {
		l.cfg.AfterCommit(p, next)
	}
	return nil
}

func (l *lander) commitManifest(ctx context.Context, table string, who lake.CommitInfo, p int32, next int64, files []lake.File) error {
	l.commitMu.Lock()
	defer l.commitMu.Unlock()
	_, err := lake.Commit(ctx, l.cfg.Storage, table, who, func(m *lake.Manifest) error {
		if cur := m.Offsets[p]; cur > next {
			return fmt.Errorf("partition %d: manifest already at offset %d, beyond %d (is another land running without the job lock?)", p, cur, next)
		}
		m.Files = append(m.Files, files...)
		if m.Offsets == nil {
			m.Offsets = map[int32]int64{}
		}
		m.Offsets[p] = next
		return nil
	})
	if err != nil {
		return fmt.Errorf("land partition %d: %w", p, err)
	}
	return nil
}

type nopProgress struct{}

func (nopProgress) Start(string, int64) {}
func (nopProgress) Add(int64, int64)    {}
