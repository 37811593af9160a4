package speed

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/segmentio/kafka-go"
)

// Readiness tells whether the speed layer answers look-ups from
// up-to-date state: New has loaded the checkpoint, and the consumer has
// applied every message that was in the topic when Run asked the broker
// for its end offsets. Until then a look-up may miss what the collector
// acknowledged before the start, so /readyz says not ready. Once caught
// up it stays ready: lag under live traffic is a metric, not unreadiness.
type Readiness struct {
	c *Consumer

	mu     sync.Mutex
	target map[int]int64 // end offset per partition at start; nil until known
	ready  atomic.Bool
}

// NewReadiness watches c; it is not ready until Run has read the end offsets.
func NewReadiness(c *Consumer) *Readiness { return &Readiness{c: c} }

// Run asks the broker for the topic's end offsets, retrying until it
// answers or ctx ends, and returns once they are recorded.
func (r *Readiness) Run(ctx context.Context) error {
	for {
		target, err := r.c.endOffsets(ctx)
		if err == nil {
			r.mu.Lock()
			r.target = target
			r.mu.Unlock()
			slog.Info("speed layer catches up to", "end_offsets", target)
			return nil
		}
		if ctx.Err() != nil {
			return nil
		}
		slog.Warn("speed readiness: read end offsets", "topic", r.c.cfg.Topic, "err", err)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// Ready reports whether the consumer has caught up; when not, behind says
// how many of the messages at start are still to apply (-1 while the end
// offsets are not known).
func (r *Readiness) Ready() (ok bool, behind int64) {
	if r.ready.Load() {
		return true, 0
	}
	r.mu.Lock()
	target := r.target
	r.mu.Unlock()
	if target == nil {
		return false, -1
	}
	for p, end := range target {
		behind += max(0, end-r.c.part(p).applied.Load())
	}
	if behind > 0 {
		return false, behind
	}
	r.ready.Store(true)
	return true, 0
}

// endOffsets returns the next offset the broker will assign in each
// partition of the topic that holds messages. An empty partition (none
// written, or all past retention) has nothing to catch up to: the consumer
// would wait for an offset that never comes.
func (c *Consumer) endOffsets(ctx context.Context) (map[int]int64, error) {
	parts, err := c.partitions(ctx)
	if err != nil {
		return nil, err
	}
	first, last, err := c.offsetBounds(ctx, c.cfg.Topic, parts)
	if err != nil {
		return nil, err
	}
	ends := make(map[int]int64, len(parts))
	for _, p := range parts {
		if last[p] > first[p] {
			ends[p] = last[p]
		}
	}
	return ends, nil
}

// offsetBounds lists the first and the last (next) offsets of the topic's
// parts.
func (c *Consumer) offsetBounds(ctx context.Context, topic string, parts []int) (first, last map[int]int64, err error) {
	if first, err = c.listOffsets(ctx, topic, parts, kafka.FirstOffsetOf); err != nil {
		return nil, nil, err
	}
	last, err = c.listOffsets(ctx, topic, parts, kafka.LastOffsetOf)
	return first, last, err
}

func (c *Consumer) listOffsets(ctx context.Context, topic string, parts []int, of func(int) kafka.OffsetRequest) (map[int]int64, error) {
	reqs := make([]kafka.OffsetRequest, len(parts))
	for i, p := range parts {
		reqs[i] = of(p)
	}
	resp, err := c.client.ListOffsets(ctx, &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{topic: reqs}})
	if err != nil {
		return nil, fmt.Errorf("list offsets of %s: %w", topic, err)
	}
	offs := make(map[int]int64, len(parts))
	for _, po := range resp.Topics[topic] {
		if po.Error != nil {
			return nil, fmt.Errorf("list offsets of %s partition %d: %w", topic, po.Partition, po.Error)
		}
		offs[po.Partition] = max(po.FirstOffset, po.LastOffset) // the one asked for; the other is -1
	}
	if len(offs) != len(parts) {
		return nil, fmt.Errorf("list offsets of %s: %d of %d partitions answered", topic, len(offs), len(parts))
	}
	return offs, nil
}
