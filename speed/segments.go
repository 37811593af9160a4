package speed

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/segmentio/kafka-go"

	cdp "github.com/tributary-cdp/tributary"
)

// SegmentsConfig configures real-time segments.
type SegmentsConfig struct {
	// Segments are evaluated on every profile change; none disables the feature.
	Segments []*cdp.Segment
	// Topic receives every membership change (cdp.segment-changes).
	Topic string
	// CheckInterval is how often the clock is compared with the next time
	// a time-window segment may change (the next UTC midnight).
	CheckInterval time.Duration
	// Now is the clock segments are evaluated at.
	Now func() time.Time
	// Reloadable keeps the evaluator even when there are no segments yet,
	// so SetSegments can add some while the consumer runs (serve sets it).
	Reloadable bool
}

// DefaultSegmentsConfig publishes to cdp.segment-changes and checks the clock every second.
func DefaultSegmentsConfig() SegmentsConfig {
	return SegmentsConfig{Topic: cdp.TopicSegmentChanges, CheckInterval: time.Second, Now: time.Now}
}

// segments evaluates segments in the apply goroutine: on every profile
// change (Store hook), in sweeps over the whole store when time moves past
// a window edge, at start and after a reconcile. Membership as published
// lives in the store (storeExt.members) and is checkpointed with it;
// changes are published to Kafka before a checkpoint records them, so a
// crash republishes (same idempotency keys) rather than loses.
type segments struct {
	c      *Consumer
	cfg    SegmentsConfig // cfg.Segments: the run goroutine's
	byWS   map[string][]*cdp.Segment
	timeWS map[string]bool // workspaces with time-sensitive segments
	pub    *publisher
	reload chan []*cdp.Segment // SetSegments → run
}

func newSegments(c *Consumer, cfg SegmentsConfig) *segments {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.CheckInterval <= 0 {
		cfg.CheckInterval = time.Second
	}
	if cfg.Topic == "" {
		cfg.Topic = cdp.TopicSegmentChanges
	}
	e := &segments{c: c, cfg: cfg, reload: make(chan []*cdp.Segment)}
	e.byWS, e.timeWS = groupSegments(cfg.Segments)
	e.pub = &publisher{
		w: &kafka.Writer{
			Addr: kafka.TCP(c.cfg.Brokers...), Topic: cfg.Topic, Balancer: &kafka.Murmur2Balancer{},
			RequiredAcks: kafka.RequireAll, BatchTimeout: 2 * time.Millisecond, BatchSize: 1000, MaxAttempts: 3,
		},
		wake: make(chan struct{}, 1),
	}
	return e
}

// groupSegments indexes segments by workspace, and the workspaces whose
// segments depend on the clock.
func groupSegments(segs []*cdp.Segment) (byWS map[string][]*cdp.Segment, timeWS map[string]bool) {
	byWS, timeWS = map[string][]*cdp.Segment{}, map[string]bool{}
	for _, s := range segs {
		byWS[s.Workspace] = append(byWS[s.Workspace], s)
		if s.TimeSensitive() {
			timeWS[s.Workspace] = true
		}
	}
	return byWS, timeWS
}

// SetSegments replaces the segments in force while the consumer runs (a
// segment added or removed with `cdpctl segment add|remove`). The run
// goroutine takes them over between two batches of the apply loop and
// re-evaluates every profile: entries into new segments and exits from
// removed ones are published like any change, their version "d" and a
// hash of the definitions, so a repeated reload publishes the same keys.
// It returns once the run goroutine has the new definitions; look-ups show
// them after the sweep. The consumer must have been built with segments,
// memberships or SegmentsConfig.Reloadable.
func (c *Consumer) SetSegments(ctx context.Context, segs []*cdp.Segment) error {
	if c.segs == nil {
		return errors.New("speed: segments cannot change: the consumer was built without segments (set SegmentsConfig.Reloadable)")
	}
	select {
	case c.segs.reload <- segs:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// definitionsVersion names a set of segment definitions in change versions.
func definitionsVersion(segs []*cdp.Segment) string {
	h := fnv.New64a()
	for _, s := range segs {
		b, _ := json.Marshal(s)
		h.Write(b)
		h.Write([]byte{0})
	}
	return "d" + strconv.FormatUint(h.Sum64(), 36)
}

// hook is the store's OnChange: it evaluates the changed profile. The
// version (a string made per call) and the clock are read only when
// segments concern the change: serve installs the hook before any
// segment is defined (Reloadable), and every event paid for both.
func (e *segments) hook(s *Store) func(p *Profile, absorbed []string) {
	return func(p *Profile, absorbed []string) {
		if len(absorbed) == 0 && !e.concerns(s, p) {
			return
		}
		version := "apply"
		if o := e.c.applying; o.ok {
			version = "p" + strconv.Itoa(o.partition) + "@" + strconv.FormatInt(o.offset, 10)
		}
		now := e.cfg.Now()
		for _, id := range absorbed {
			e.set(s, p.Workspace, id, nil, version, now)
		}
		e.evaluate(s, p, version, now)
	}
}

// evaluate re-evaluates p and publishes what changed. Apply goroutine only.
func (e *segments) evaluate(s *Store, p *Profile, version string, now time.Time) {
	if !e.concerns(s, p) {
		return
	}
	e.set(s, p.Workspace, p.CDPID, cdp.MemberOf(e.byWS[p.Workspace], p.Workspace, p, now), version, now)
}

// concerns reports whether p's workspace has segments or p is in one as
// published: else evaluating p changes nothing.
func (e *segments) concerns(s *Store, p *Profile) bool {
	if len(e.byWS[p.Workspace]) > 0 {
		return true
	}
	m := s.ext.members.Load()
	return m != nil && m.get(p.Workspace, p.CDPID) != nil
}

// set makes after the membership of (workspace, cdpID), publishing the difference.
func (e *segments) set(s *Store, workspace, cdpID string, after []string, version string, now time.Time) {
	m := s.members()
	if msgs, changed := changeMessages(workspace, cdpID, m.get(workspace, cdpID), after, version, now); changed {
		e.pub.enqueue(msgs)
		m.set(workspace, cdpID, after)
	}
}

// changeMessages are the messages that publish a change of membership
// from before to after; changed is false when they are the same. Any goroutine.
func changeMessages(workspace, cdpID string, before, after []string, version string, now time.Time) (msgs []kafka.Message, changed bool) {
	if slices.Equal(before, after) {
		return nil, false
	}
	changes := cdp.DiffMembership(workspace, cdpID, before, after, version, now.UTC())
	msgs = make([]kafka.Message, len(changes))
	for i := range changes {
		v, _ := json.Marshal(&changes[i])
		msgs[i] = kafka.Message{Key: []byte(changes[i].MessageKey()), Value: v}
	}
	return msgs, true
}

// sweep re-evaluates every profile (only those of workspaces with
// time-sensitive segments when timeOnly), one stripe per turn of the apply
// loop, then drops the membership of cdp ids that no longer name a profile
// (merged away by a reconcile) with exits. In each turn the evaluations
// run on every core while the apply goroutine waits, so the store holds
// still; then the apply goroutine publishes and records the changes in
// handle order, as evaluating one profile after the other would.
func (e *segments) sweep(ctx context.Context, version string, timeOnly bool) error {
	var ps []*Profile
	var out []sweepResult
	for i := range stripes {
		err := e.c.Do(ctx, func(s *Store) {
			now := e.cfg.Now()
			ps = ps[:0]
			s.table.each(i, func(p *Profile) bool {
				if !timeOnly || e.timeWS[p.Workspace] {
					ps = append(ps, p)
				}
				return true
			})
			out = slices.Grow(out[:0], len(ps))[:len(ps)]
			m := s.ext.members.Load()
			onCores(len(ps), func(j int) { out[j] = e.sweepOne(m, ps[j], version, now) })
			// The results hold for membership as it was before the turn: a
			// cdp id twice in the stripe (not expected) is evaluated again
			// after its first change is recorded.
			var recorded map[[2]string]bool
			for j, r := range out {
				k := [2]string{ps[j].Workspace, ps[j].CDPID}
				if recorded[k] {
					e.evaluate(s, ps[j], version, now)
					continue
				}
				if !r.evaluated {
					continue
				}
				m := s.members() // created on first use, as set does
				if !r.changed {
					continue
				}
				e.pub.enqueue(r.msgs)
				m.set(k[0], k[1], r.after)
				if recorded == nil {
					recorded = map[[2]string]bool{}
				}
				recorded[k] = true
			}
			clear(out)
		})
		if err != nil {
			return err
		}
	}
	if timeOnly {
		return nil
	}
	return e.c.Do(ctx, func(s *Store) {
		m := s.ext.members.Load()
		if m == nil {
			return
		}
		type stale struct {
			ws, id string
			msgs   []kafka.Message
		}
		now := e.cfg.Now()
		var gone [len(m.stripes)][]stale
		onCores(len(m.stripes), func(i int) {
			m.each(i, func(ws, id string, before []string) {
				if p := s.profileByCDPID(ws, id); p == nil || p.CDPID != id {
					msgs, _ := changeMessages(ws, id, before, nil, version, now)
					gone[i] = append(gone[i], stale{ws, id, msgs})
				}
			})
		})
		for _, g := range gone {
			for _, x := range g {
				e.pub.enqueue(x.msgs)
				m.set(x.ws, x.id, nil)
			}
		}
	})
}

// sweepResult is what evaluate would do to a profile: nothing unless
// evaluated; publish msgs and record after when changed.
type sweepResult struct {
	evaluated, changed bool
	after              []string
	msgs               []kafka.Message
}

// sweepOne evaluates p as evaluate does, against m (nil: no membership
// yet), but changes nothing. Any goroutine, while the apply goroutine waits.
func (e *segments) sweepOne(m *membership, p *Profile, version string, now time.Time) sweepResult {
	segs := e.byWS[p.Workspace]
	var before []string
	if m != nil {
		before = m.get(p.Workspace, p.CDPID)
	}
	if len(segs) == 0 && before == nil {
		return sweepResult{}
	}
	r := sweepResult{evaluated: true, after: cdp.MemberOf(segs, p.Workspace, p, now)}
	r.msgs, r.changed = changeMessages(p.Workspace, p.CDPID, before, r.after, version, now)
	return r
}

// onCores calls fn for 0..n-1 on GOMAXPROCS goroutines, the caller's
// among them, a block of indexes at a time, and returns when all have.
func onCores(n int, fn func(i int)) {
	const block = 16
	var next atomic.Int64
	work := func() {
		for {
			lo := int(next.Add(block)) - block
			if lo >= n {
				return
			}
			for i := lo; i < min(lo+block, n); i++ {
				fn(i)
			}
		}
	}
	var wg sync.WaitGroup
	for range min(runtime.GOMAXPROCS(0), (n+block-1)/block) - 1 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			work()
		}()
	}
	work()
	wg.Wait()
}

// nextChange is the earliest time a time-sensitive segment may change after now.
func (e *segments) nextChange(now time.Time) time.Time {
	var next time.Time
	for _, s := range e.cfg.Segments {
		if t, ok := s.NextChange(now); ok && (next.IsZero() || t.Before(next)) {
			next = t
		}
	}
	return next
}

// run publishes changes, sweeps once at start (segments may have changed,
// time may have passed) and again whenever the clock passes a window edge.
func (e *segments) run(ctx context.Context) error {
	go e.pub.run(ctx) // the writer stays open for the final checkpoint's flush; Consumer.Close closes it
	now := e.cfg.Now()
	if err := e.sweep(ctx, "t"+now.UTC().Format(time.DateOnly), false); err != nil {
		return nil // ctx ended
	}
	next := e.nextChange(now)
	t := time.NewTicker(e.cfg.CheckInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case segs := <-e.reload:
			byWS, timeWS := groupSegments(segs)
			if err := e.c.Do(ctx, func(*Store) { e.byWS, e.timeWS = byWS, timeWS }); err != nil {
				return nil // ctx ended
			}
			e.cfg.Segments = segs
			slog.Info("segments reloaded", "segments", len(segs))
			if err := e.sweep(ctx, definitionsVersion(segs), false); err != nil {
				return nil
			}
			next = e.nextChange(e.cfg.Now())
			continue
		case <-t.C:
		}
		if now := e.cfg.Now(); !next.IsZero() && !now.Before(next) {
			slog.Info("time-window segments re-checked", "at", next)
			if err := e.sweep(ctx, "t"+now.UTC().Format(time.DateOnly), true); err != nil {
				return nil
			}
			next = e.nextChange(now)
		}
	}
}

// publisher writes segment changes to Kafka in order, in the background;
// flush writes whatever is queued and returns once Kafka acknowledged it.
type publisher struct {
	w       *kafka.Writer
	mu      sync.Mutex
	q       []kafka.Message
	sending sync.Mutex
	wake    chan struct{}
	sent    int64
}

func (p *publisher) enqueue(msgs []kafka.Message) {
	p.mu.Lock()
	p.q = append(p.q, msgs...)
	p.mu.Unlock()
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

func (p *publisher) run(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-p.wake:
			if err := p.flush(ctx); err != nil && ctx.Err() == nil {
				slog.Warn("publish segment changes", "err", err)
			}
		}
	}
}

// flush writes the queue until it is empty, retrying until ctx ends; what
// is not acknowledged goes back to the head of the queue.
func (p *publisher) flush(ctx context.Context) error {
	p.sending.Lock()
	defer p.sending.Unlock()
	for {
		p.mu.Lock()
		batch := p.q
		p.q = nil
		p.mu.Unlock()
		if len(batch) == 0 {
			return nil
		}
		for {
			err := p.w.WriteMessages(ctx, batch...)
			if err == nil {
				p.sent += int64(len(batch))
				break
			}
			if ctx.Err() != nil {
				p.mu.Lock()
				p.q = append(batch, p.q...)
				p.mu.Unlock()
				return fmt.Errorf("write %d segment changes to %s: %w", len(batch), p.w.Topic, err)
			}
			slog.Warn("write segment changes; retrying", "topic", p.w.Topic, "err", err)
			select {
			case <-ctx.Done():
			case <-time.After(200 * time.Millisecond):
			}
		}
	}
}

// flushSegments is called before a checkpoint records membership: every
// change it records must be in Kafka first.
func (c *Consumer) flushSegments() error {
	if c.segs == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return c.segs.pub.flush(ctx)
}

// Do runs fn in the apply goroutine, between two events, and waits for it:
// the way to read or change the store consistently while Run is running.
func (c *Consumer) Do(ctx context.Context, fn func(s *Store)) error {
	done := make(chan struct{})
	select {
	case c.control <- func(s *Store) { fn(s); close(done) }:
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// SegmentsOf returns the ids of the segments p is in; safe from any goroutine.
func (c *Consumer) SegmentsOf(p *Profile) []string {
	ids := c.store.Load().SegmentsOf(p)
	if ids == nil {
		return []string{}
	}
	return ids
}

// installHooks makes s evaluate segments on every change, after the
// configured OnChange hook if any.
func (c *Consumer) installHooks(s *Store) {
	if c.segs == nil {
		return
	}
	seg := c.segs.hook(s)
	if user := c.cfg.Store.OnChange; user != nil {
		s.cfg.OnChange = func(p *Profile, absorbed []string) {
			user(p, absorbed)
			seg(p, absorbed)
		}
		return
	}
	s.cfg.OnChange = seg
}
