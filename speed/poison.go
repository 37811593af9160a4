package speed

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/segmentio/kafka-go"

	cdp "github.com/tributary-cdp/tributary"
)

// Poison messages are copied to cdp.events.rejected exactly once, across
// crashes too. A start replays cdp.events from its checkpoint's offsets,
// and a poison message replayed was copied already: its copy is
// acknowledged before it is applied, and a checkpoint records applied
// messages only. So
//   - a copy says where it came from (headers: source topic, partition,
//     offset), and the copies of a partition's messages go, in offset
//     order, to one partition of cdp.events.rejected (its number modulo
//     theirs);
//   - a checkpoint records, per partition, a position of
//     cdp.events.rejected at or past which lie the copies of all its
//     messages from the checkpoint's offset on (Store.copies);
//   - a start reads cdp.events.rejected from those positions to its end,
//     and does not copy again a partition's poison messages up to the last
//     one it finds copied: copies are made in offset order, so each poison
//     message before that one was copied too.
// A write that failed may have been appended all the same (an answer
// lost): before writing again, the copier reads its partition likewise.
// (A copy that cdp.events.rejected's retention deleted while cdp.events
// still holds its message is not found, and made again.)

// The headers of a copy.
const (
	headerSourceTopic     = "cdp-source-topic"
	headerSourcePartition = "cdp-source-partition"
	headerSourceOffset    = "cdp-source-offset"
)

// copyMark is a position in cdp.events.rejected.
type copyMark struct {
	Partition int
	Offset    int64
}

// markFrom says that the copies of a partition's messages at offsets From
// and past lie at or past Mark.
type markFrom struct {
	From int64
	Mark copyMark
}

// addMark records a mark, newer than those before it.
func (ps *partState) addMark(m markFrom) {
	ps.markMu.Lock()
	ps.marks = append(ps.marks, m)
	ps.markMu.Unlock()
}

// copyMarks returns, per partition, where the copies of messages from
// offsets on lie, and forgets the marks that a newer one replaces for
// them. Apply goroutine only (offsets do not go back).
func (c *Consumer) copyMarks(offsets map[int]int64) map[int]copyMark {
	c.partsMu.Lock()
	defer c.partsMu.Unlock()
	out := make(map[int]copyMark, len(c.parts))
	for p, ps := range c.parts {
		ps.markMu.Lock()
		n := 0
		for n < len(ps.marks) && ps.marks[n].From <= offsets[p] {
			n++
		}
		if n > 0 {
			ps.marks = slices.Delete(ps.marks, 0, n-1)
			out[p] = ps.marks[0].Mark
		}
		ps.markMu.Unlock()
	}
	return out
}

// copier copies the poison messages of one partition of cdp.events; its
// fetch goroutine's.
type copier struct {
	c      *Consumer
	p      int
	ps     *partState
	to     int      // the partition of cdp.events.rejected its copies go to
	copied int64    // the last offset found copied at start (-1: none)
	mark   copyMark // its copies from now on lie at or past it
}

// findCopies reads cdp.events.rejected where copies of the messages the
// store replays can lie, and returns a copier for each partition of parts.
// Without a checkpoint recording where (a new store, or a checkpoint
// written before copies had headers) it reads the whole topic.
func (c *Consumer) findCopies(ctx context.Context, parts []int) (map[int]*copier, error) {
	for {
		cps, err := c.tryFindCopies(ctx, parts)
		if err == nil || ctx.Err() != nil {
			return cps, err
		}
		slog.Warn("speed layer reads "+c.cfg.Rejected+" for the copies a restart must not make again", "err", err)
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
}

func (c *Consumer) tryFindCopies(ctx context.Context, parts []int) (map[int]*copier, error) {
	rparts, err := c.partitionsOf(ctx, c.cfg.Rejected)
	if err != nil {
		return nil, err
	}
	first, last, err := c.offsetBounds(ctx, c.cfg.Rejected, rparts)
	if err != nil {
		return nil, err
	}
	marks := c.store.Load().copies
	from := map[int]int64{}
	for _, p := range parts {
		m, ok := marks[p]
		if !ok || !slices.Contains(rparts, m.Partition) {
			clear(from)
			for _, rp := range rparts {
				from[rp] = first[rp]
			}
			break
		}
		if f, ok := from[m.Partition]; !ok || m.Offset < f {
			from[m.Partition] = m.Offset
		}
	}
	copied := map[int]int64{}
	for rp, f := range from {
		err := c.readCopies(ctx, rp, max(f, first[rp]), last[rp], func(topic string, p int, off, _ int64) {
			if topic == c.cfg.Topic {
				if prev, ok := copied[p]; !ok || off > prev {
					copied[p] = off
				}
			}
		})
		if err != nil {
			return nil, err
		}
	}
	c.rejEnds = make([]atomic.Int64, slices.Max(rparts)+1)
	cps := make(map[int]*copier, len(parts))
	for _, p := range parts {
		to := rparts[p%len(rparts)]
		cp := &copier{c: c, p: p, ps: c.part(p), to: to, copied: -1, mark: copyMark{to, last[to]}}
		if off, ok := copied[p]; ok {
			cp.copied = off
		}
		// Messages past the last copied get their copies from now on.
		cp.ps.addMark(markFrom{cp.copied + 1, cp.mark})
		cps[p] = cp
	}
	return cps, nil
}

// readCopies calls fn with the source and the offset of each copy in
// [from, to) of partition rp of cdp.events.rejected.
func (c *Consumer) readCopies(ctx context.Context, rp int, from, to int64, fn func(topic string, p int, off, at int64)) error {
	for from < to {
		resp, err := c.client.Fetch(ctx, &kafka.FetchRequest{
			Topic: c.cfg.Rejected, Partition: rp, Offset: from, MinBytes: 1, MaxBytes: 1 << 20, MaxWait: c.cfg.MaxWait,
		})
		if err == nil {
			err = resp.Error
		}
		if err != nil {
			return fmt.Errorf("read %s partition %d at offset %d: %w", c.cfg.Rejected, rp, from, err)
		}
		n := 0
		for {
			rec, err := resp.Records.ReadRecord()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				return fmt.Errorf("read %s partition %d at offset %d: %w", c.cfg.Rejected, rp, from, err)
			}
			if rec.Offset >= from && rec.Offset < to {
				if topic, p, off, ok := c.copyOf(rec); ok {
					fn(topic, p, off, rec.Offset)
				}
				from = rec.Offset + 1
				n++
			}
			closeBytes(rec.Key, rec.Value)
		}
		if n == 0 {
			break // nothing more to read below to (records gone, or not data)
		}
	}
	return nil
}

func closeBytes(bs ...kafka.Bytes) {
	for _, b := range bs {
		if b != nil {
			b.Close()
		}
	}
}

// copyOf returns the source of a copy, ok=false for a rejection that is
// not one (the collector's). Copies made before they had headers are
// known by their value.
func (c *Consumer) copyOf(rec *kafka.Record) (topic string, p int, off int64, ok bool) {
	var pok, ook bool
	for _, h := range rec.Headers {
		switch h.Key {
		case headerSourceTopic:
			topic = string(h.Value)
		case headerSourcePartition:
			v, err := strconv.Atoi(string(h.Value))
			p, pok = v, err == nil
		case headerSourceOffset:
			v, err := strconv.ParseInt(string(h.Value), 10, 64)
			off, ook = v, err == nil
		}
	}
	if topic != "" || rec.Value == nil {
		return topic, p, off, pok && ook
	}
	b, err := io.ReadAll(rec.Value)
	var r cdp.Rejection
	if err != nil || json.Unmarshal(b, &r) != nil || r.Source != "speed" || r.Partition == nil || r.Offset == nil {
		return "", 0, 0, false
	}
	return c.cfg.Topic, *r.Partition, *r.Offset, true
}

// advance moves the mark up to the end of cdp.events.rejected last
// listed (listRejectedEnds), valid for messages from off on: copies made
// from now on lie past it. Without, a start would read back to the last
// copy or start.
func (cp *copier) advance(off int64) {
	if e := cp.c.rejEnds[cp.to].Load(); e > cp.mark.Offset {
		cp.mark = copyMark{cp.to, e}
		cp.ps.addMark(markFrom{max(off, cp.copied+1), cp.mark})
	}
}

// listRejectedEnds lists the ends of cdp.events.rejected for copiers to
// advance to; after each checkpoint.
func (c *Consumer) listRejectedEnds(ctx context.Context) {
	parts := make([]int, len(c.rejEnds))
	for i := range parts {
		parts[i] = i
	}
	if len(parts) == 0 {
		return
	}
	last, err := c.listOffsets(ctx, c.cfg.Rejected, parts, kafka.LastOffsetOf)
	if err != nil {
		slog.Debug("speed layer lists the ends of "+c.cfg.Rejected, "err", err)
		return
	}
	for rp, off := range last {
		c.rejEnds[rp].Store(off)
	}
}

// codeUndecodable is the poison reason of a message that is not an event
// (no ValidationError says why).
const codeUndecodable = "undecodable"

// reject copies a poison message to cdp.events.rejected, retrying until
// acknowledged, unless it was copied before the start; false when ctx
// ended first.
func (cp *copier) reject(ctx context.Context, m kafka.Message, cause error) bool {
	c := cp.c
	if m.Offset <= cp.copied {
		slog.Info("speed layer skips a poison message copied before the start", "partition", cp.p, "offset", m.Offset, "err", cause)
		return true
	}
	code := codeUndecodable
	var ve *cdp.ValidationError
	if errors.As(cause, &ve) {
		code = ve.Code
	}
	var ws string
	var peek struct {
		Workspace string `json:"workspace"`
	}
	if json.Unmarshal(m.Value, &peek) == nil {
		ws = peek.Workspace
	}
	off := m.Offset
	val, _ := json.Marshal(cdp.Rejection{
		Workspace: ws, Source: "speed", Code: code, Message: cause.Error(), ReceivedAt: time.Now().UTC(),
		Partition: &cp.p, Offset: &off,
	}.WithPayload(m.Value))
	slog.Warn("speed layer skips a poison message", "partition", cp.p, "offset", off, "err", cause)
	for {
		at, err := cp.write(ctx, []byte(ws+"/rejected"), val, off)
		if err == nil {
			cp.copiedAt(off, at, code)
			return true
		}
		slog.Warn("copy poison message to "+c.cfg.Rejected, "partition", cp.p, "offset", off, "err", err)
		select {
		case <-ctx.Done():
			return false
		case <-time.After(500 * time.Millisecond):
		}
		if at, ok, err := cp.find(ctx, off); err != nil {
			slog.Warn("look for the copy of a poison message in "+c.cfg.Rejected, "partition", cp.p, "offset", off, "err", err)
		} else if ok {
			cp.copiedAt(off, at, code)
			return true
		}
	}
}

// copiedAt records that the message at off was copied to offset at.
func (cp *copier) copiedAt(off, at int64, code string) {
	cp.mark = copyMark{cp.to, at + 1}
	cp.ps.addMark(markFrom{off + 1, cp.mark})
	cp.c.m.poison.WithLabelValues(code).Inc()
}

// write appends a copy of the message at off and returns its offset.
func (cp *copier) write(ctx context.Context, key, val []byte, off int64) (int64, error) {
	c := cp.c
	resp, err := c.client.Produce(ctx, &kafka.ProduceRequest{
		Topic: c.cfg.Rejected, Partition: cp.to, RequiredAcks: kafka.RequireAll,
		Records: kafka.NewRecordReader(kafka.Record{
			Time: time.Now(), Key: kafka.NewBytes(key), Value: kafka.NewBytes(val),
			Headers: []kafka.Header{
				{Key: headerSourceTopic, Value: []byte(c.cfg.Topic)},
				{Key: headerSourcePartition, Value: strconv.AppendInt(nil, int64(cp.p), 10)},
				{Key: headerSourceOffset, Value: strconv.AppendInt(nil, off, 10)},
			},
		}),
	})
	if err == nil {
		err = resp.Error
	}
	if err != nil {
		return 0, err
	}
	return resp.BaseOffset, nil
}

// find looks for a copy of the message at off past the copier's mark.
func (cp *copier) find(ctx context.Context, off int64) (at int64, ok bool, err error) {
	c := cp.c
	last, err := c.listOffsets(ctx, c.cfg.Rejected, []int{cp.to}, kafka.LastOffsetOf)
	if err != nil {
		return 0, false, err
	}
	err = c.readCopies(ctx, cp.to, cp.mark.Offset, last[cp.to], func(topic string, p int, o, a int64) {
		if topic == c.cfg.Topic && p == cp.p && o == off {
			at, ok = a, true
		}
	})
	return at, ok, err
}
