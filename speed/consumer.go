package speed

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dustin/go-humanize"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"
	"golang.org/x/sync/errgroup"
	"golang.org/x/sys/cpu"

	cdp "github.com/tributary-cdp/tributary"
)

// Config of the speed layer's consumer.
type Config struct {
	Brokers []string
	// Topic is the event topic (cdp.events); Rejected receives poison messages.
	Topic    string
	Rejected string
	// Group is the consumer group offsets are committed to, for lag monitoring.
	Group string
	// Dir holds the checkpoint (<data-dir>/speed).
	Dir string
	// CheckpointInterval is how often the store is checkpointed.
	CheckpointInterval time.Duration
	// MaxWait is how long a fetch waits for data at the broker; the broker
	// answers as soon as a message arrives, so it does not add latency.
	MaxWait time.Duration
	Store   StoreConfig
	// Segments are evaluated on every profile change (segments.go).
	Segments SegmentsConfig
	// Registerer receives the speed layer's metrics; nil disables them.
	Registerer prometheus.Registerer

	// beforeWrite, when set, runs before a checkpoint's background write
	// (tests hold the write with it, as a slow disk would).
	beforeWrite func()
}

// DefaultConfig returns a consumer of cdp.events in group cdp-speed,
// checkpointing every 30 s.
func DefaultConfig() Config {
	return Config{
		Topic:              cdp.TopicEvents,
		Rejected:           cdp.TopicRejected,
		Group:              "cdp-speed",
		CheckpointInterval: 30 * time.Second,
		MaxWait:            500 * time.Millisecond,
		Store:              DefaultStoreConfig(),
		Segments:           DefaultSegmentsConfig(),
	}
}

// Validate checks the config.
func (c Config) Validate() error {
	switch {
	case len(c.Brokers) == 0:
		return errors.New("speed consumer: no Kafka brokers")
	case c.Topic == "" || c.Rejected == "" || c.Group == "":
		return errors.New("speed consumer: topic, rejected topic and group are required")
	case c.Dir == "":
		return errors.New("speed consumer: checkpoint dir is required")
	case c.CheckpointInterval <= 0:
		return fmt.Errorf("speed consumer: checkpoint interval %s must be positive", c.CheckpointInterval)
	case c.MaxWait <= 0:
		return fmt.Errorf("speed consumer: max wait %s must be positive", c.MaxWait)
	}
	return c.Store.Validate()
}

// Consumer feeds cdp.events into the profile store. Every partition is
// read from the checkpoint's offset by its own kafka-go Reader
// (FetchMessage, never ReadMessage); messages are decoded in those
// goroutines and applied in partition order by one apply goroutine. The
// checkpoint holds the store and the offsets it reflects; the group
// cdp-speed gets those offsets committed after each checkpoint, so
// monitoring sees the lag, but a restart starts from the checkpoint, never
// from the group: no event is skipped or counted twice.
type Consumer struct {
	cfg   Config
	store atomic.Pointer[Store]
	prep  *Preparer

	client    *kafka.Client
	transport *kafka.Transport
	m         *metrics

	partsMu sync.Mutex
	parts   map[int]*partState
	// rejEnds are the ends of cdp.events.rejected's partitions as listed
	// after the last checkpoint (poison.go), by partition.
	rejEnds []atomic.Int64

	lastCheckpoint atomic.Int64   // Unix ns, of the last published checkpoint
	published      sync.WaitGroup // the background half of a checkpoint
	writing        atomic.Bool    // a background half is under way
	due            bool           // a checkpointNow waits for the write under way; apply goroutine only
	closeOnce      sync.Once

	// control runs functions in the apply goroutine (Do); the fields below
	// belong to that goroutine.
	control  chan func(*Store)
	applying opPos // the op being applied (or last applied), for segment change versions
	tee      []*Op // ops applied while a reconcile replays (reconcile.go)
	teeing   bool
	segs     *segments // nil without segments

	// reconciling: a reconcile is building the store that replaces this
	// one; periodic checkpoints wait for it (reconcile.go).
	reconciling atomic.Bool
}

type partState struct {
	highWater atomic.Int64 // next offset the broker will assign
	// Apart: the partition's goroutine writes highWater, the apply
	// goroutine applied; sharing a cache line, each write took the line
	// from the other core.
	_       cpu.CacheLinePad
	applied atomic.Int64 // next offset to apply
	_       cpu.CacheLinePad
	// marks say where the copies of the partition's poison messages lie
	// (poison.go), oldest first: added by its fetch goroutine, taken and
	// pruned by checkpoints.
	markMu sync.Mutex
	marks  []markFrom
}

// New loads the checkpoint (if any) and returns a consumer ready to Run.
// Look-ups answer from the loaded state at once.
func New(cfg Config) (*Consumer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if n, err := RemoveTempCheckpoints(cfg.Dir); err != nil {
		return nil, err
	} else if n > 0 {
		slog.Info("speed checkpoint: removed the temp files of writes a stop interrupted", "files", n)
	}
	start := time.Now()
	s, ok, err := LoadCheckpoint(cfg.Dir, cfg.Store)
	if err != nil {
		return nil, err
	}
	if ok {
		slog.Info("speed checkpoint loaded", "profiles", s.Stats().Profiles, "deltas", s.chain.seq, "offsets", s.Offsets(), "took", time.Since(start).Round(time.Millisecond))
	}
	if n, err := RemoveDeltas(cfg.Dir, s.chain.seq); err != nil {
		return nil, err
	} else if n > 0 {
		slog.Info("speed checkpoint: removed delta checkpoints of a chain a full one replaced", "files", n)
	}
	// An own transport, so Close leaves no idle connection goroutines behind.
	tr := &kafka.Transport{}
	c := &Consumer{
		cfg:       cfg,
		prep:      NewPreparer(cfg.Store),
		client:    &kafka.Client{Addr: kafka.TCP(cfg.Brokers...), Timeout: 10 * time.Second, Transport: tr},
		transport: tr,
		parts:     map[int]*partState{},
		control:   make(chan func(*Store)),
	}
	// Members without segments: removed ones exit.
	if len(cfg.Segments.Segments) > 0 || s.ext.members.Load() != nil || cfg.Segments.Reloadable {
		c.segs = newSegments(c, cfg.Segments)
	}
	c.installHooks(s)
	c.store.Store(s)
	c.lastCheckpoint.Store(time.Now().UnixNano())
	if fi, err := statCheckpoint(cfg.Dir, s.chain.seq); err == nil {
		c.lastCheckpoint.Store(fi.ModTime().UnixNano())
	}
	for p, off := range s.Offsets() {
		ps := c.part(p)
		ps.applied.Store(off)
		ps.highWater.Store(off)
	}
	for p, m := range s.copies {
		c.part(p).addMark(markFrom{0, m}) // valid from the store's offset on
	}
	c.m = newMetrics(cfg.Registerer, c)
	return c, nil
}

// Store returns the current store. Reconcile will build a new one in the
// background and swap it in; callers must not cache the pointer.
func (c *Consumer) Store() *Store { return c.store.Load() }

// View looks a profile up in the current store (see Store.View).
func (c *Consumer) View(workspace string, id cdp.Identifier, fn func(p *Profile)) error {
	return c.store.Load().View(workspace, id, fn)
}

// Lag is the number of messages in cdp.events not applied yet, over all
// partitions, as of the last fetch.
func (c *Consumer) Lag() int64 {
	c.partsMu.Lock()
	defer c.partsMu.Unlock()
	var n int64
	for _, ps := range c.parts {
		n += max(0, ps.highWater.Load()-ps.applied.Load())
	}
	return n
}

func (c *Consumer) part(p int) *partState {
	c.partsMu.Lock()
	defer c.partsMu.Unlock()
	ps := c.parts[p]
	if ps == nil {
		ps = &partState{}
		c.parts[p] = ps
	}
	return ps
}

// Close releases the connections; it is idempotent. Run writes the final
// checkpoint itself when its context ends.
func (c *Consumer) Close() error {
	var err error
	c.closeOnce.Do(func() {
		c.published.Wait()
		defer c.transport.CloseIdleConnections()
		if c.segs != nil {
			err = c.segs.pub.w.Close()
		}
	})
	return err
}

// ReaderConfig is how the consumer reads partition p: one kafka-go Reader
// per partition, no group (offsets come from the checkpoint). `cdpctl
// bench speed` reads with the same settings for its raw FetchMessage
// baseline, so the ratio it prints compares like with like.
func (c Config) ReaderConfig(p int) kafka.ReaderConfig {
	// MaxBytes is kafka-go's default. 16 MB fetches outlived their
	// deadline while the apply loop lagged (the reader waits on its
	// queue), and the broker built them again: 0.9 KB more garbage per event.
	return kafka.ReaderConfig{
		Brokers:         c.Brokers,
		Topic:           c.Topic,
		Partition:       p,
		MinBytes:        1,
		MaxBytes:        1 << 20,
		MaxWait:         c.MaxWait,
		QueueCapacity:   1000,
		ReadLagInterval: -1,
		MaxAttempts:     1 << 30,
	}
}

// Run consumes until ctx ends, then writes a last checkpoint.
func (c *Consumer) Run(ctx context.Context) error {
	parts, err := c.partitions(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	// Before any fetch: what a replay must not copy again.
	copiers, err := c.findCopies(ctx, parts)
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	store := c.store.Load()
	offsets := store.Offsets()
	// A hint: without it the dedupe set only grows step by step.
	if n, err := c.backlog(ctx, parts, offsets); err == nil {
		store.Reserve(n)
	}
	ops := newOpQueue(opQueueLen)
	g, gctx := errgroup.WithContext(ctx)
	var readers []*kafka.Reader
	defer func() {
		for _, r := range readers {
			r.Close()
		}
	}()
	for _, p := range parts {
		r := kafka.NewReader(c.cfg.ReaderConfig(p))
		readers = append(readers, r)
		off, ok := offsets[p]
		if !ok {
			off = kafka.FirstOffset
		}
		if err := r.SetOffset(off); err != nil {
			return fmt.Errorf("start partition %d at offset %d: %w", p, off, err)
		}
		ps, cp := c.part(p), copiers[p]
		g.Go(func() error { return c.fetch(gctx, r, p, ps, cp, ops) })
	}
	slog.Info("speed layer consuming", "topic", c.cfg.Topic, "partitions", len(parts), "from", offsets)
	g.Go(func() error { return c.apply(gctx, ops) })
	if c.segs != nil {
		g.Go(func() error { return c.segs.run(gctx) })
	}
	err = g.Wait()
	c.published.Wait()
	return err
}

// backlog is how many messages parts hold from the offsets the store
// resumes them at (their first offsets when it has none) to their ends.
func (c *Consumer) backlog(ctx context.Context, parts []int, from map[int]int64) (int, error) {
	first, last, err := c.offsetBounds(ctx, c.cfg.Topic, parts)
	if err != nil {
		return 0, err
	}
	var n int64
	for _, p := range parts {
		start := first[p]
		if off, ok := from[p]; ok {
			start = max(start, off)
		}
		n += max(0, last[p]-start)
	}
	return int(n), nil
}

func (c *Consumer) partitions(ctx context.Context) ([]int, error) {
	ps, err := c.partitionsOf(ctx, c.cfg.Topic)
	if err != nil {
		return nil, err
	}
	if last := ps[len(ps)-1]; last >= maxPartitions {
		return nil, fmt.Errorf("topic %s: partition %d: the speed layer reads partitions 0 to %d", c.cfg.Topic, last, maxPartitions-1)
	}
	return ps, nil
}

// partitionsOf returns the topic's partitions, sorted, waiting for them.
func (c *Consumer) partitionsOf(ctx context.Context, topic string) ([]int, error) {
	for {
		md, err := c.client.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{topic}})
		if err == nil {
			for _, t := range md.Topics {
				if t.Name == topic && t.Error == nil && len(t.Partitions) > 0 {
					ps := make([]int, 0, len(t.Partitions))
					for _, p := range t.Partitions {
						ps = append(ps, p.ID)
					}
					sort.Ints(ps)
					return ps, nil
				}
			}
			err = fmt.Errorf("topic %s has no partitions", topic)
		}
		slog.Warn("speed layer waits for Kafka", "topic", topic, "err", err)
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("read partitions of %s: %w", topic, ctx.Err())
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// opQueueLen is how many prepared ops may wait for the apply goroutine.
// Ops are reused once applied (Preparer.Release), so it also sets how much
// memory they cycle through: at 8192 (~8 MB of ops) the fetch goroutines
// wrote, and the apply goroutine read, ops long gone from the cores'
// caches (BenchmarkPrepareHandoff: 1.5 → 1.2 µs of CPU per event to
// prepare, 4.1 → 3.4 µs in all). Batches of 256 still spare the apply
// goroutine a wake-up per event.
const opQueueLen = 256

// opQueue hands prepared ops from the partition goroutines to the apply
// goroutine in batches: a partition goroutine appends under a mutex and
// signals only when the queue was empty; the apply goroutine takes
// everything queued at once. A channel of ops cost a channel operation,
// and when the apply goroutine was the bottleneck a goroutine wake-up,
// per event. Each partition's ops stay in their order.
type opQueue struct {
	mu      sync.Mutex
	ops     []*Op
	max     int           // a partition goroutine waits while this many are queued
	ready   chan struct{} // signalled when ops are queued to an empty queue
	space   chan struct{} // closed when the apply goroutine takes ops, if someone waits
	waiting bool          // a partition goroutine waits on space
}

func newOpQueue(max int) *opQueue {
	return &opQueue{ops: make([]*Op, 0, max), max: max, ready: make(chan struct{}, 1)}
}

// put queues op, waiting while the queue is full; false when ctx ended.
func (q *opQueue) put(ctx context.Context, op *Op) bool {
	q.mu.Lock()
	for len(q.ops) >= q.max {
		if q.space == nil {
			q.space = make(chan struct{})
		}
		space := q.space
		q.waiting = true
		q.mu.Unlock()
		select {
		case <-space:
		case <-ctx.Done():
			return false
		}
		q.mu.Lock()
	}
	q.ops = append(q.ops, op)
	first := len(q.ops) == 1
	q.mu.Unlock()
	if first {
		select {
		case q.ready <- struct{}{}:
		default: // signalled already
		}
	}
	return true
}

// take returns everything queued and gives the queue spare (emptied) to fill next.
func (q *opQueue) take(spare []*Op) []*Op {
	q.mu.Lock()
	ops := q.ops
	q.ops = spare[:0]
	if q.waiting {
		close(q.space)
		q.space, q.waiting = nil, false
	}
	q.mu.Unlock()
	return ops
}

// fetch reads one partition, decodes and hands ops to the apply goroutine in order.
func (c *Consumer) fetch(ctx context.Context, r *kafka.Reader, p int, ps *partState, cp *copier, ops *opQueue) error {
	highWater := int64(-1)
	for {
		m, err := r.FetchMessage(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			slog.Warn("speed layer fetch", "partition", p, "err", err)
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(200 * time.Millisecond):
			}
			continue
		}
		if m.HighWaterMark != highWater { // once a fetch, not once a message
			highWater = m.HighWaterMark
			ps.highWater.Store(highWater)
			cp.advance(m.Offset)
		}
		op := c.prep.Prepare(p, m.Offset, m.Value)
		if op.Err != nil {
			if !cp.reject(ctx, m, op.Err) {
				return nil // ctx ended before the copy was acknowledged: replayed on restart
			}
		}
		if !ops.put(ctx, op) {
			return nil
		}
	}
}

// apply is the only goroutine that changes the store.
func (c *Consumer) apply(ctx context.Context, ops *opQueue) error {
	t := time.NewTicker(c.cfg.CheckpointInterval)
	defer t.Stop()
	a := applier{c: c}
	var spare []*Op
	// The store a start loaded is sized here, as full checkpoints size it
	// (MemoryEstimate is for the apply goroutine): else the gauge read 0
	// until the next full one, up to speed.checkpoint_deltas intervals.
	c.m.storeBytes.Set(float64(c.store.Load().MemoryEstimate()))
	for {
		select {
		case <-ctx.Done():
			return c.checkpoint(checkpointFinal)
		case <-t.C:
			if c.reconciling.Load() {
				continue // the store is about to be replaced: the reconcile checkpoints the new one
			}
			if err := c.checkpoint(checkpointTick); err != nil {
				slog.Error("speed checkpoint", "err", err)
			}
		case fn := <-c.control:
			fn(c.store.Load())
		case <-ops.ready:
			batch := ops.take(spare)
			a.now = c.store.Load().clock()
			for i, op := range batch {
				if i%warmGroup == 0 && i+warmGroup < len(batch) {
					c.store.Load().Warm(batch[i+warmGroup:])
				}
				a.apply(op)
				// Control calls wait at most 256 ops, as they did
				// behind a channel of ops.
				if i&255 == 255 {
					select {
					case fn := <-c.control:
						fn(c.store.Load())
						a.now = c.store.Load().clock()
					default:
					}
				}
			}
			a.flush()
			clear(batch)
			spare = batch
			if c.due && !c.writing.Load() {
				if err := c.checkpoint(checkpointNow); err != nil {
					slog.Error("speed checkpoint", "err", err)
				}
			}
		}
	}
}

// applier applies ops in the apply goroutine and counts them per type
// for the metrics; counts and applied offsets are published once a batch.
type applier struct {
	c       *Consumer
	now     int64        // the wall clock the batch's changes are stamped with (Store.ApplyAt)
	parts   []*partState // by partition
	applied []int64      // by partition: next offset to apply, 0 when published
	counts  [16]int      // by index in cdp.EventTypes; the last one for any other type
	other   map[cdp.EventType]int
}

func (a *applier) apply(op *Op) {
	c := a.c
	s := c.store.Load()
	c.applying = opPos{true, op.Partition, op.Offset}
	s.ApplyAt(op, a.now)
	if op.Partition >= len(a.parts) {
		n := op.Partition + 1 - len(a.parts)
		a.parts = append(a.parts, make([]*partState, n)...)
		a.applied = append(a.applied, make([]int64, n)...)
	}
	a.applied[op.Partition] = op.Offset + 1
	if op.Event != nil {
		a.count(op.Event.Type)
	}
	if c.teeing {
		c.tee = append(c.tee, op) // replayed into the new store later
	} else {
		c.prep.Release(op)
	}
}

func (a *applier) count(t cdp.EventType) {
	for i, et := range cdp.EventTypes[:min(len(cdp.EventTypes), len(a.counts))] {
		if et == t {
			a.counts[i]++
			return
		}
	}
	if a.other == nil {
		a.other = map[cdp.EventType]int{}
	}
	a.other[t]++
}

// flush publishes the applied offsets (for the lag, readiness and the
// reconcile's catch-up) and adds the counts to the applied metric.
func (a *applier) flush() {
	for p, off := range a.applied {
		if off == 0 {
			continue
		}
		ps := a.parts[p]
		if ps == nil {
			ps = a.c.part(p)
			a.parts[p] = ps
		}
		ps.applied.Store(off)
		a.applied[p] = 0
	}
	for i, n := range a.counts {
		if n > 0 {
			a.c.m.appliedOf(cdp.EventTypes[i]).Add(float64(n))
			a.counts[i] = 0
		}
	}
	for t, n := range a.other {
		a.c.m.appliedOf(t).Add(float64(n))
		delete(a.other, t)
	}
}

// opPos is the position of an op.
type opPos struct {
	ok        bool
	partition int
	offset    int64
}

// checkpointMode says what a checkpoint does when the previous one is
// still being written. Only the final one waits for it: the apply loop
// never waits for the disk.
type checkpointMode int

const (
	// checkpointTick skips the checkpoint. A store whose write outlasts
	// the interval (a slow disk, or ~10M profiles at 30 s) is checkpointed
	// every other tick, with a warning, and its events stay fresh meanwhile.
	checkpointTick checkpointMode = iota
	// checkpointNow is taken as soon as the previous one is written: now,
	// or after the first batch of events applied once it is (after a
	// reconcile, so that a restart does not load the build again).
	checkpointNow
	// checkpointFinal waits for the previous one, then writes this one
	// before returning (shutdown).
	checkpointFinal
)

// checkpoint snapshots the store (Store.Snapshot: the apply loop waits
// microseconds), then writes it to a temp file, makes it durable and
// visible (fsync, rename) and commits its offsets to the group in the
// background while the loop applies on; the final one does it all before
// returning. A checkpoint starts only once the previous one is published,
// so renames never overlap.
func (c *Consumer) checkpoint(mode checkpointMode) error {
	switch {
	case mode == checkpointTick && c.writing.Load():
		c.m.checkpointSkipped.Inc()
		slog.Warn("speed checkpoint skipped: the previous one is still being written; a longer speed.checkpoint_interval would checkpoint every time",
			"interval", c.cfg.CheckpointInterval)
		return nil
	case mode == checkpointNow && c.writing.Load():
		c.due = true
		return nil
	}
	c.due = false
	c.published.Wait() // only the final one may find a write under way
	final := mode == checkpointFinal
	s := c.store.Load()
	start := time.Now()
	s.copies = c.copyMarks(s.offsets)
	sn, err := s.CheckpointSnapshot()
	if err != nil {
		return err
	}
	pause := time.Since(start)
	c.m.checkpointSeconds.Observe(pause.Seconds())
	offsets := s.Offsets()
	publish := func(commitTimeout time.Duration) error {
		defer sn.Drop() // written or failed: the store goes on without it
		if c.cfg.beforeWrite != nil {
			c.cfg.beforeWrite()
		}
		wstart := time.Now()
		// The membership the snapshot holds was queued for Kafka before
		// its moment: once the queue is flushed, the checkpoint may record
		// it. Flushed here, not before the snapshot, so that the apply
		// loop does not wait for Kafka either.
		if err := c.flushSegments(); err != nil {
			return fmt.Errorf("checkpoint skipped: %w", err)
		}
		tmp, n, err := WriteCheckpointTemp(c.cfg.Dir, sn)
		if err != nil {
			return err
		}
		c.m.checkpointBytes.Set(float64(n))
		if mem, ok := sn.MemoryEstimate(); ok {
			c.m.storeBytes.Set(float64(mem))
		}
		pstart := time.Now()
		if err := sn.Publish(c.cfg.Dir, tmp, n); err != nil {
			return err
		}
		c.lastCheckpoint.Store(time.Now().UnixNano())
		c.m.checkpointWrite.Observe(time.Since(wstart).Seconds())
		c.m.checkpoints.WithLabelValues(checkpointKind(sn)).Inc()
		slog.Debug("speed checkpoint written", "delta", sn.Delta(), "size", humanize.IBytes(uint64(n)), "pause", pause.Round(time.Microsecond),
			"write", pstart.Sub(wstart).Round(time.Millisecond), "sync", time.Since(pstart).Round(time.Millisecond), "final", final)
		if final {
			// What the next start resumes at, next to the "loaded" line it logs.
			slog.Info("speed checkpoint written at stop", "delta", sn.Delta(), "size", humanize.IBytes(uint64(n)), "offsets", offsets)
		}
		ctx, cancel := context.WithTimeout(context.Background(), commitTimeout)
		defer cancel()
		c.commit(ctx, offsets)
		c.listRejectedEnds(ctx)
		return nil
	}
	if final {
		return publish(3 * time.Second)
	}
	c.published.Add(1)
	c.writing.Store(true)
	go func() {
		defer c.published.Done()
		defer c.writing.Store(false)
		if err := publish(10 * time.Second); err != nil {
			slog.Error("speed checkpoint", "err", err)
		}
	}()
	return nil
}

// commit records checkpointed offsets in the group, for lag monitoring only.
func (c *Consumer) commit(ctx context.Context, offsets map[int]int64) {
	if len(offsets) == 0 {
		return
	}
	var oc []kafka.OffsetCommit
	for p, off := range offsets {
		oc = append(oc, kafka.OffsetCommit{Partition: p, Offset: off})
	}
	resp, err := c.client.OffsetCommit(ctx, &kafka.OffsetCommitRequest{
		GroupID: c.cfg.Group, GenerationID: -1, Topics: map[string][]kafka.OffsetCommit{c.cfg.Topic: oc},
	})
	if err == nil {
		for _, ps := range resp.Topics {
			for _, p := range ps {
				if p.Error != nil {
					err = fmt.Errorf("partition %d: %w", p.Partition, p.Error)
				}
			}
		}
	}
	if err != nil {
		slog.Warn("commit checkpointed offsets to group "+c.cfg.Group, "err", err)
	}
}
