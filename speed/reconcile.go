package speed

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"runtime"
	rtmetrics "runtime/metrics"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dustin/go-humanize"
	"github.com/segmentio/kafka-go"

	"github.com/tributary-cdp/tributary/lake"
)

// BuildSource is where the reconciler learns of curated builds and reports
// back (package batch/reconcile's request and acknowledgment, adapted by
// the command that wires the server).
type BuildSource interface {
	// Latest returns the build the speed layer should serve; nil when none.
	Latest(ctx context.Context) (*Build, error)
	// Acknowledge records that the build was applied, or failed (r.Err).
	Acknowledge(ctx context.Context, r ReconcileReport) error
}

// ReconcileReport is what one reconcile did, and what it cost.
type ReconcileReport struct {
	Version   int64
	Watermark map[int32]int64
	AppliedAt time.Time
	// Load is reading the base; Replay re-reading cdp.events from the
	// watermark; Swap the pause of the apply loop at the swap (look-ups
	// never pause); Sweep re-evaluating the segments of every profile of
	// the new store after it.
	Load, Replay, Swap, Sweep time.Duration
	BaseProfiles              int64
	ReplayedEvents            int64 // deltas replayed from W, and applied during the replay
	Profiles                  int64 // after the swap
	// Heap in use (HeapAlloc, read through runtime/metrics) before, at the peak of, and
	// after the reconcile (before and after measured after a GC).
	MemBeforeBytes, MemPeakBytes, MemAfterBytes int64
	Err                                         error
}

// ReconcilerConfig configures a Reconciler.
type ReconcilerConfig struct {
	Lake   lake.Storage
	Source BuildSource
	// Interval is how often Source is polled.
	Interval time.Duration
	// CatchUpTimeout bounds the wait for the live store to reach a build's
	// watermark before the build is applied.
	CatchUpTimeout time.Duration
}

// DefaultReconcilerConfig polls every second.
func DefaultReconcilerConfig() ReconcilerConfig {
	return ReconcilerConfig{Interval: time.Second, CatchUpTimeout: 10 * time.Minute}
}

// Validate checks the config.
func (c ReconcilerConfig) Validate() error {
	switch {
	case c.Lake == nil || c.Source == nil:
		return errors.New("speed reconciler: lake and build source are required")
	case c.Interval <= 0 || c.CatchUpTimeout <= 0:
		return errors.New("speed reconciler: interval and catch-up timeout must be positive")
	}
	return nil
}

// Reconciler swaps curated builds into a running Consumer: the exact
// lambda merge base(W) ⊕ deltas(offset ≥ W).
//
// For a build with watermark W it waits until the live store applied W,
// loads the base into a new Store in the background, asks the apply
// goroutine for its offsets T and to keep ("tee") every op it applies
// from then on, replays cdp.events [W, T) into the new store, and hands it
// to the apply goroutine, which applies the tee'd ops, swaps the store
// pointer and stops teeing. Look-ups read the old store until the pointer
// moves and the new one after: never a half state.
//
// Exactness rests on duplicates: a message the live store rejected as a
// repeat of an earlier messageId is remembered by position (storeExt), and
// the replay skips exactly those positions, so the new store accepts what
// the live one accepted. The build itself counts each messageId once (the
// first landed copy), and every copy of a message is on one partition.
type Reconciler struct {
	c   *Consumer
	cfg ReconcilerConfig

	lastAck  time.Time // RequestedAt of the last request acknowledged
	lastFail time.Time // RequestedAt of the last request that failed: not retried
	running  atomic.Bool
}

// NewReconciler returns a reconciler of c's store.
func NewReconciler(c *Consumer, cfg ReconcilerConfig) (*Reconciler, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Reconciler{c: c, cfg: cfg}, nil
}

// Run polls for builds until ctx ends. A newer build than the store's
// (checkpointed) base is applied, including at start.
func (r *Reconciler) Run(ctx context.Context) error {
	t := time.NewTicker(r.cfg.Interval)
	defer t.Stop()
	for {
		if err := r.poll(ctx); err != nil && ctx.Err() == nil {
			slog.Warn("speed reconcile", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

func (r *Reconciler) poll(ctx context.Context) error {
	b, err := r.cfg.Source.Latest(ctx)
	if err != nil || b == nil {
		return err
	}
	var base, profiles int64
	if err := r.c.Do(ctx, func(s *Store) { base, profiles = s.ext.baseVersion, s.stats.profiles.Load() }); err != nil {
		return err
	}
	if b.RequestedAt.Equal(r.lastFail) {
		return nil // failed already; a new request (or a restart) tries again
	}
	if b.Version <= base {
		if b.RequestedAt.Equal(r.lastAck) {
			return nil
		}
		// Asked again for what the store serves: confirm without work.
		rep := ReconcileReport{Version: base, Watermark: b.Watermark, AppliedAt: time.Now().UTC(), Profiles: profiles}
		if err := r.cfg.Source.Acknowledge(ctx, rep); err != nil {
			return err
		}
		r.lastAck = b.RequestedAt
		return nil
	}
	slog.Info("speed reconcile starts", "version", b.Version, "watermark", b.Watermark)
	rep := r.Apply(ctx, b)
	if ctx.Err() != nil {
		return nil // not acknowledged: the next start applies it
	}
	if rep.Err != nil {
		slog.Error("speed reconcile failed", "version", b.Version, "err", rep.Err)
		r.lastFail = b.RequestedAt
	} else {
		slog.Info("speed reconcile done", "version", b.Version, "load", rep.Load.Round(time.Millisecond), "replay", rep.Replay.Round(time.Millisecond),
			"swap", rep.Swap.Round(time.Microsecond), "sweep", rep.Sweep.Round(time.Millisecond), "replayed", rep.ReplayedEvents, "profiles", rep.Profiles,
			"heap_before", humanize.IBytes(uint64(rep.MemBeforeBytes)), "heap_peak", humanize.IBytes(uint64(rep.MemPeakBytes)),
			"heap_after", humanize.IBytes(uint64(rep.MemAfterBytes)))
	}
	if err := r.cfg.Source.Acknowledge(ctx, rep); err != nil {
		return err
	}
	r.lastAck = b.RequestedAt
	if rep.Err == nil {
		// Checkpoint the new base now rather than at the next interval, so
		// a restart does not load the build again. After the
		// acknowledgment: the build is served already, and a restart
		// before this checkpoint applies it again (the checkpoint's own
		// fsync and rename have always come after the acknowledgment).
		return r.c.Do(ctx, func(*Store) {
			if err := r.c.checkpoint(checkpointNow); err != nil {
				slog.Error("speed checkpoint after reconcile", "err", err)
			}
		})
	}
	return nil
}

// Apply loads build b and swaps it in; the report carries any error. It
// does not checkpoint the new store (Run does, once it acknowledged).
func (r *Reconciler) Apply(ctx context.Context, b *Build) (rep ReconcileReport) {
	rep = ReconcileReport{Version: b.Version, Watermark: b.Watermark}
	if !r.running.CompareAndSwap(false, true) {
		rep.Err = errors.New("a reconcile is already running")
		return rep
	}
	defer r.running.Store(false)
	c := r.c
	// The live heap as the last collection found it: a collection of its
	// own would cost seconds of a multi-GB heap before anything starts.
	rep.MemBeforeBytes = heapLive()
	stopPeak := samplePeak(&rep.MemPeakBytes)
	var gcDone chan struct{} // the collection started at the swap
	defer func() {
		stopPeak()
		if gcDone != nil {
			<-gcDone
			rep.MemAfterBytes = heapInUse()
		} else {
			rep.MemAfterBytes = heapAfterGC()
		}
		rep.MemPeakBytes = max(rep.MemPeakBytes, rep.MemBeforeBytes, rep.MemAfterBytes)
		rep.AppliedAt = time.Now().UTC()
	}()
	fail := func(err error) ReconcileReport {
		rep.Err = fmt.Errorf("reconcile build v%d: %w", b.Version, err)
		return rep
	}

	// The live store must have applied everything the build includes.
	if err := r.awaitWatermark(ctx, b.Watermark); err != nil {
		return fail(err)
	}
	// From here a periodic checkpoint would write the store that is about
	// to be replaced, and hold the apply loop (seconds at a million
	// profiles): they wait, and Run checkpoints the new store.
	c.reconciling.Store(true)
	defer c.reconciling.Store(false)
	start := time.Now()
	ns, err := LoadBase(ctx, r.cfg.Lake, b, c.cfg.Store)
	if err != nil {
		return fail(err)
	}
	rep.Load = time.Since(start)
	rep.BaseProfiles = ns.stats.profiles.Load()

	// Snapshot T and start teeing.
	var T map[int]int64
	err = c.Do(ctx, func(live *Store) {
		T = live.Offsets()
		ns.shared = maps.Clone(live.shared)
		if ns.shared == nil {
			ns.shared = map[idKey]bool{}
		}
		ns.ext.rejected = maps.Clone(live.ext.rejected)
		c.tee, c.teeing = nil, true
	})
	if err != nil {
		return fail(err)
	}
	stopTee := func() {
		// On failure: stop teeing, drop what was kept (ctx may be over).
		done := make(chan struct{})
		go func() {
			_ = c.Do(context.Background(), func(*Store) { c.tee, c.teeing = nil, false })
			close(done)
		}()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
		}
	}
	start = time.Now()
	ns.ext.replaying = true
	n, err := r.replay(ctx, ns, b.Watermark, T)
	if err != nil {
		stopTee()
		return fail(err)
	}
	rep.ReplayedEvents = n
	r.carryRecent(c.store.Load(), ns, b.Watermark)
	// Catch up with the tee in the background, a few rounds, so the swap
	// itself only applies what arrived during the last one.
	for range 16 {
		var batch []*Op
		err := c.Do(ctx, func(live *Store) {
			batch, c.tee = c.tee, nil
			for _, op := range batch {
				if recv, dup := live.ext.rejected[op.seq()]; dup {
					ns.ext.addRejected(op.seq(), recv)
				}
			}
		})
		if err != nil {
			stopTee()
			return fail(err)
		}
		for _, op := range batch {
			ns.Apply(op)
		}
		rep.ReplayedEvents += int64(len(batch))
		if len(batch) < 256 {
			break
		}
	}
	rep.Replay = time.Since(start)

	// Hand over: the apply goroutine catches up with the tee and swaps.
	var swapErr error
	err = c.Do(ctx, func(live *Store) {
		t0 := time.Now()
		for _, op := range c.tee {
			if recv, dup := live.ext.rejected[op.seq()]; dup {
				ns.ext.addRejected(op.seq(), recv)
			}
		}
		for _, op := range c.tee {
			ns.Apply(op)
		}
		teeN := len(c.tee)
		rep.ReplayedEvents += int64(teeN)
		c.tee, c.teeing = nil, false
		for p, off := range live.offsets {
			if ns.offsets[p] != off {
				swapErr = fmt.Errorf("partition %d: the new store is at offset %d, the live one at %d", p, ns.offsets[p], off)
				return
			}
		}
		ns.ext.replaying = false
		ns.ext.rejected, ns.ext.newestRecv = live.ext.rejected, live.ext.newestRecv
		ns.dedupe = live.dedupe
		ns.stats.dedupeN.Store(int64(ns.dedupe.n))
		ns.stats.dedupeEvicted.Store(ns.dedupe.evicted)
		for k := range live.shared {
			ns.shared[k] = true
		}
		ns.stats.shared.Store(int64(len(ns.shared)))
		wm := map[int]int64{}
		for p, off := range b.Watermark {
			wm[int(p)] = off
		}
		ns.ext.pruneRejected(wm)
		if m := live.ext.members.Load(); m != nil {
			ns.ext.members.Store(m)
		}
		c.installHooks(ns)
		c.store.Store(ns)
		rep.Swap = time.Since(t0)
		slog.Debug("speed reconcile swapped", "tee_ops", teeN, "took", time.Since(t0))
		rep.Profiles = ns.stats.profiles.Load()
	})
	if err == nil {
		err = swapErr
	}
	if err != nil {
		stopTee()
		return fail(err)
	}
	// The old store is garbage now: collect it (for the report's heap
	// after) on the other core while the segments are swept.
	gcDone = make(chan struct{})
	go func() {
		runtime.GC()
		close(gcDone)
	}()
	// Membership as published moved with the store; publish what the new
	// base changes, and exits for cdp ids the build merged away.
	if c.segs != nil {
		t0 := time.Now()
		if err := c.segs.sweep(ctx, fmt.Sprintf("r%d", b.Version), false); err != nil {
			return fail(err)
		}
		rep.Sweep = time.Since(t0)
	}
	return rep
}

// awaitWatermark waits until the live store applied every partition up to w.
func (r *Reconciler) awaitWatermark(ctx context.Context, w map[int32]int64) error {
	deadline := time.Now().Add(r.cfg.CatchUpTimeout)
	for {
		behind := ""
		for p, off := range w {
			if got := r.c.part(int(p)).applied.Load(); got < off {
				behind = fmt.Sprintf("partition %d at %d, the build includes up to %d", p, got, off)
				break
			}
		}
		if behind == "" {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the speed layer is behind the build: %s", behind)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// replay applies cdp.events [w, t) of every partition to s.
func (r *Reconciler) replay(ctx context.Context, s *Store, w map[int32]int64, t map[int]int64) (int64, error) {
	parts := make([]int, 0, len(t))
	for p, end := range t {
		if end > w[int32(p)] {
			parts = append(parts, p)
		}
	}
	sort.Ints(parts)
	if len(parts) == 0 {
		return 0, nil
	}
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	ops := make(chan *Op, 4096)
	errc := make(chan error, len(parts))
	var wg sync.WaitGroup
	for _, p := range parts {
		from, to := w[int32(p)], t[p]
		wg.Add(1)
		go func() {
			defer wg.Done()
			errc <- r.readRange(rctx, p, from, to, ops)
		}()
	}
	go func() { wg.Wait(); close(ops) }()
	var n int64
	for op := range ops {
		s.Apply(op)
		n++
	}
	close(errc)
	for err := range errc {
		if err != nil {
			return n, err
		}
	}
	if ctx.Err() != nil {
		return n, ctx.Err()
	}
	return n, nil
}

// readRange reads offsets [from, to) of one partition into ops.
func (r *Reconciler) readRange(ctx context.Context, p int, from, to int64, ops chan<- *Op) error {
	// The consumer's settings (1 MB fetches), with a shorter wait (the
	// range is all there already) and kafka-go's few retries: a replay
	// fails, and the reconcile with it, rather than wait forever.
	rc := r.c.cfg.ReaderConfig(p)
	rc.MaxWait, rc.MaxAttempts = 100*time.Millisecond, 0
	rd := kafka.NewReader(rc)
	defer rd.Close()
	if err := rd.SetOffset(from); err != nil {
		return fmt.Errorf("replay partition %d from %d: %w", p, from, err)
	}
	next := from
	for next < to {
		m, err := rd.FetchMessage(ctx)
		if err != nil {
			return fmt.Errorf("replay partition %d at %d: %w", p, next, err)
		}
		if m.Offset >= to {
			break
		}
		if m.Offset != next {
			return fmt.Errorf("replay partition %d: offset %d, expected %d", p, m.Offset, next)
		}
		next = m.Offset + 1
		select {
		case ops <- r.c.prep.Prepare(p, m.Offset, m.Value):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// carryRecent copies into the new store's profiles what the build does not
// hold, from the live profiles of the same identifiers: the recent events
// from before the watermark (the replay re-added those after it), so
// ?include=events keeps them, and the last page and group ids (merges by
// time and set union: carrying them twice changes nothing). The new store
// is not visible yet, and nothing applies to it meanwhile: its profiles
// are carried on every core, a chunk of handles at a time.
func (r *Reconciler) carryRecent(live, ns *Store, w map[int32]int64) {
	d := ns.table.dir.Load()
	if d == nil {
		return
	}
	chunks := *d
	var wm [maxPartitions]int64 // by partition; a partition w lacks carries nothing
	for p, off := range w {
		if p >= 0 && p < maxPartitions {
			wm[p] = off
		}
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(max(1, runtime.GOMAXPROCS(0)), len(chunks)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := carrier{live: live, wm: &wm, max: ns.cfg.RecentEvents}
			for {
				i := int(next.Add(1) - 1)
				if i >= len(chunks) {
					return
				}
				for _, p := range chunks[i] {
					if p != nil {
						c.carry(p)
					}
				}
			}
		}()
	}
	wg.Wait()
}

// carrier carries live state into new profiles; one per goroutine.
type carrier struct {
	live   *Store
	wm     *[maxPartitions]int64
	max    int
	seen   []*Profile
	recent recentList // the live profiles' records from before the watermark
	groups []string
	pages  []LWWString
}

func (c *carrier) carry(p *Profile) {
	c.seen, c.recent, c.groups, c.pages = c.seen[:0], c.recent[:0], c.groups[:0], c.pages[:0]
	for _, id := range p.Identifiers {
		if id.Type == IDCDP {
			continue
		}
		_ = c.live.View(p.Workspace, id, func(lp *Profile) {
			if slices.Contains(c.seen, lp) {
				return
			}
			c.seen = append(c.seen, lp)
			for rec := range lp.recent.records() {
				if _, seq := recTime(rec); seq >= 0 {
					if p, off := splitSeq(seq); off < c.wm[p] {
						c.recent.add(rec, c.max)
					}
				}
			}
			if x := lp.Extra; x != nil {
				c.groups = append(c.groups, lp.Groups()...)
				if x.LastPage.Value != "" {
					c.pages = append(c.pages, x.LastPage)
				}
			}
		})
	}
	p.recent.merge(c.recent, c.max)
	for _, g := range c.groups {
		p.addGroup(g)
	}
	for _, lp := range c.pages {
		p.setLastPage(lp.Value, lp.TS, lp.Seq)
	}
}

// heapLive is the heap the last collection found live (0 before the first).
func heapLive() int64 {
	s := []rtmetrics.Sample{{Name: "/gc/heap/live:bytes"}}
	rtmetrics.Read(s)
	if s[0].Value.Kind() != rtmetrics.KindUint64 {
		return 0
	}
	return int64(s[0].Value.Uint64())
}

// heapAfterGC is the heap in use after a collection.
func heapAfterGC() int64 {
	runtime.GC()
	return heapInUse()
}

// heapInUse reads the bytes of live and not yet swept heap objects
// (HeapAlloc) through runtime/metrics, which does not stop the world as
// runtime.ReadMemStats does.
func heapInUse() int64 {
	s := []rtmetrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	rtmetrics.Read(s)
	if s[0].Value.Kind() != rtmetrics.KindUint64 {
		return 0
	}
	return int64(s[0].Value.Uint64())
}

// samplePeak records the largest heap seen every 20 ms until stopped.
func samplePeak(peak *int64) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(20 * time.Millisecond)
		defer t.Stop()
		for {
			if v := heapInUse(); v > *peak {
				*peak = v
			}
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	}()
	return func() { close(done); wg.Wait() }
}
