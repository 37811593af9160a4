package speed

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"

	cdp "github.com/tributary-cdp/tributary"
)

// TestPoisonCopiesCheckpointed: where the copies of poison messages lie
// loads from a full checkpoint and, whole, from each delta after it.
func TestPoisonCopiesCheckpointed(t *testing.T) {
	dir := t.TempDir()
	s, prep := newTestStore(t)
	rng := rand.New(rand.NewPCG(3, 4))
	applyMix(s, prep, rng, 0, 200, 50)
	for i, copies := range []map[int]copyMark{
		{0: {Partition: 0, Offset: 7}, 3: {Partition: 1, Offset: 0}},
		{0: {Partition: 0, Offset: 9}, 3: {Partition: 1, Offset: 0}, 5: {Partition: 2, Offset: 41}},
		{0: {Partition: 0, Offset: 9}},
	} {
		applyMix(s, prep, rng, 200+10*i, 10, 50)
		s.copies = copies
		sn, _, _ := checkpointTo(t, dir, s, nil)
		if sn.Delta() != (i > 0) {
			t.Fatalf("checkpoint %d: delta %v", i, sn.Delta())
		}
		_, loaded := loadChainDump(t, dir, s.cfg)
		if !maps.Equal(loaded.copies, copies) {
			t.Errorf("checkpoint %d loads copies %v, want %v", i, loaded.copies, copies)
		}
	}
}

// poisonOf is a poison message keyed like user's events: the users spread
// them over the partitions.
func poisonOf(user string) []byte {
	return []byte(`{"workspace":"default","userId":"` + user + `","type":"teleport"}`)
}

// rejectedCopy is a message of cdp.events.rejected.
type rejectedCopy struct {
	topic, partition, offset string // its source headers
	at                       string // where it is: "<partition>@<offset>"
	rej                      cdp.Rejection
}

// readAllRejected reads cdp.events.rejected (4 partitions) to its end.
func readAllRejected(t *testing.T, addr string) []rejectedCopy {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	client := &kafka.Client{Addr: kafka.TCP(addr)}
	var out []rejectedCopy
	for p := range 4 {
		resp, err := client.ListOffsets(ctx, &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{
			cdp.TopicRejected: {kafka.LastOffsetOf(p)}}})
		if err != nil {
			t.Fatal(err)
		}
		end := resp.Topics[cdp.TopicRejected][0].LastOffset
		if end == 0 {
			continue
		}
		r := kafka.NewReader(kafka.ReaderConfig{Brokers: []string{addr}, Topic: cdp.TopicRejected, Partition: p, MaxWait: 50 * time.Millisecond})
		for {
			m, err := r.FetchMessage(ctx)
			if err != nil {
				r.Close()
				t.Fatalf("read %s partition %d: %v", cdp.TopicRejected, p, err)
			}
			c := rejectedCopy{at: fmt.Sprintf("%d@%d", p, m.Offset)}
			for _, h := range m.Headers {
				switch h.Key {
				case headerSourceTopic:
					c.topic = string(h.Value)
				case headerSourcePartition:
					c.partition = string(h.Value)
				case headerSourceOffset:
					c.offset = string(h.Value)
				}
			}
			if err := json.Unmarshal(m.Value, &c.rej); err != nil {
				t.Fatal(err)
			}
			out = append(out, c)
			if m.Offset+1 >= end {
				break
			}
		}
		r.Close()
	}
	return out
}

// checkCopiedOnce checks that each of the users' poison messages is in
// cdp.events.rejected once, its headers saying where it came from.
func checkCopiedOnce(t *testing.T, addr string, users []string) {
	t.Helper()
	copies := readAllRejected(t, addr)
	seen := map[string][]string{} // source → where its copies are
	for _, c := range copies {
		if c.rej.Source != "speed" || c.rej.Partition == nil || c.rej.Offset == nil {
			t.Errorf("copy at %s: %+v", c.at, c.rej)
			continue
		}
		if c.topic != cdp.TopicEvents || c.partition != strconv.Itoa(*c.rej.Partition) || c.offset != strconv.FormatInt(*c.rej.Offset, 10) {
			t.Errorf("copy at %s of %d@%d has headers topic %q partition %q offset %q", c.at, *c.rej.Partition, *c.rej.Offset, c.topic, c.partition, c.offset)
		}
		src := fmt.Sprintf("%d@%d %s", *c.rej.Partition, *c.rej.Offset, c.rej.Payload)
		seen[src] = append(seen[src], c.at)
	}
	for src, at := range seen {
		if len(at) > 1 {
			t.Errorf("poison message %s copied %d times, at %v", src, len(at), at)
		}
	}
	for _, u := range users {
		n := 0
		for src := range seen {
			if strings.HasSuffix(src, string(poisonOf(u))) {
				n++
			}
		}
		if n != 1 {
			t.Errorf("poison message of %s: %d sources in %s, want 1", u, n, cdp.TopicRejected)
		}
	}
	if len(seen) != len(users) {
		t.Errorf("%d poison messages in %s, want %d", len(seen), cdp.TopicRejected, len(users))
	}
}

// copyDir copies the checkpoint dir src to a new dir, to be put back as a
// kill -9 would have left it.
func copyDir(t *testing.T, src string) string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), "speed")
	if err := os.CopyFS(dst, os.DirFS(src)); err != nil {
		t.Fatal(err)
	}
	return dst
}

// TestPoisonCopiedOnceAcrossCrash: poison messages among good ones are
// copied, the consumer dies before a checkpoint records them (the
// checkpoint dir is put back as it was), and the restart replays them
// without copying them again; nor does a restart with no checkpoint at
// all, which reads the whole rejected topic.
func TestPoisonCopiedOnceAcrossCrash(t *testing.T) {
	b := startBroker(t)
	dir := filepath.Join(t.TempDir(), "speed")
	var users []string
	batch := func(round string) [][]byte {
		var vs [][]byte
		for i := range 8 {
			u := fmt.Sprintf("%s-p%d", round, i)
			users = append(users, u)
			vs = append(vs, tracks(len(users)*10, len(users)*10+5, 3)...)
			vs = append(vs, poisonOf(u))
		}
		return vs
	}
	applied := func(c *Consumer, poison int64) func() bool {
		return func() bool { return c.Lag() == 0 && c.Store().Stats().Poison == poison }
	}
	produce(t, b.Addr(), batch("a")...)
	c, stop := runConsumer(t, b.Addr(), dir)
	waitFor(t, "round a applied", 20*time.Second, applied(c, 8))
	stop()
	before := copyDir(t, dir)

	// Copied, then a crash: the checkpoint on disk is the one before.
	c, stop = runConsumer(t, b.Addr(), dir)
	produce(t, b.Addr(), batch("b")...)
	waitFor(t, "round b applied", 20*time.Second, applied(c, 8))
	stop()
	checkCopiedOnce(t, b.Addr(), users)
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(before, dir); err != nil {
		t.Fatal(err)
	}

	reg := prometheus.NewRegistry()
	c, stop = runConsumer(t, b.Addr(), dir, func(cfg *Config) { cfg.Registerer = reg })
	produce(t, b.Addr(), batch("c")...)
	waitFor(t, "rounds b (again) and c applied", 20*time.Second, applied(c, 16))
	stop()
	checkCopiedOnce(t, b.Addr(), users)
	if got := value(t, reg, "tributary_speed_poison_messages_total", "reason="+cdp.CodeInvalidType); got != 8 {
		t.Errorf("poison_messages_total after the restart = %v, want the 8 it copied", got)
	}

	// No checkpoint at all: everything is replayed, nothing copied again.
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	produce(t, b.Addr(), batch("d")...)
	c, stop = runConsumer(t, b.Addr(), dir)
	waitFor(t, "all rounds applied", 20*time.Second, applied(c, 32))
	stop()
	checkCopiedOnce(t, b.Addr(), users)
}

// TestCopyMarks: a checkpoint records the newest mark valid at its
// offset and forgets those before it.
func TestCopyMarks(t *testing.T) {
	c := &Consumer{parts: map[int]*partState{}}
	a, b, d := copyMark{0, 3}, copyMark{0, 8}, copyMark{0, 12}
	for _, m := range []markFrom{{0, a}, {5, b}, {9, d}} {
		c.part(0).addMark(m)
	}
	c.part(1).addMark(markFrom{4, copyMark{1, 1}})
	for _, tc := range []struct {
		offset int64
		want   map[int]copyMark
		left   int
	}{
		{0, map[int]copyMark{0: a}, 3},
		{5, map[int]copyMark{0: b}, 2},
		{7, map[int]copyMark{0: b}, 2}, // not past the next one's from
		{20, map[int]copyMark{0: d}, 1},
	} {
		got := c.copyMarks(map[int]int64{0: tc.offset, 1: 3})
		if !maps.Equal(got, tc.want) || len(c.part(0).marks) != tc.left {
			t.Errorf("at %d: %v, %d marks left; want %v, %d", tc.offset, got, len(c.part(0).marks), tc.want, tc.left)
		}
	}
}

// produceTo appends records to a partition of a topic and returns the
// first one's offset.
func produceTo(t *testing.T, addr, topic string, p int, recs ...kafka.Record) int64 {
	t.Helper()
	client := &kafka.Client{Addr: kafka.TCP(addr), Timeout: 10 * time.Second}
	resp, err := client.Produce(context.Background(), &kafka.ProduceRequest{Topic: topic, Partition: p, RequiredAcks: kafka.RequireAll,
		Records: kafka.NewRecordReader(recs...)})
	if err == nil {
		err = resp.Error
	}
	if err != nil {
		t.Fatal(err)
	}
	return resp.BaseOffset
}

func endOf(t *testing.T, addr, topic string, p int) int64 {
	t.Helper()
	client := &kafka.Client{Addr: kafka.TCP(addr), Timeout: 10 * time.Second}
	resp, err := client.ListOffsets(context.Background(), &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{topic: {kafka.LastOffsetOf(p)}}})
	if err != nil {
		t.Fatal(err)
	}
	return resp.Topics[topic][0].LastOffset
}

// TestPoisonMarksFollowTheTopic: the checkpoint's marks move past the
// rejections of others (the collector's, no headers) written after a
// copy, so that a start does not read them back to it.
func TestPoisonMarksFollowTheTopic(t *testing.T) {
	b := startBroker(t)
	dir := filepath.Join(t.TempDir(), "speed")
	c, stop := runConsumer(t, b.Addr(), dir, func(cfg *Config) { cfg.CheckpointInterval = 20 * time.Millisecond })
	produce(t, b.Addr(), poisonOf("x"))
	waitFor(t, "the poison message copied", 10*time.Second, func() bool { return c.Store().Stats().Poison == 1 })
	for p := range 4 {
		for range 5 {
			produceTo(t, b.Addr(), cdp.TopicRejected, p, kafka.Record{Value: kafka.NewBytes([]byte(`{"source":"collector"}`))})
		}
	}
	ends := map[int]int64{}
	for p := range 4 {
		ends[p] = endOf(t, b.Addr(), cdp.TopicRejected, p)
	}
	// A checkpoint lists the ends; the next fetch of each partition moves its mark.
	waitFor(t, "a checkpoint to list the ends", 10*time.Second, func() bool {
		for p := range 4 {
			if c.rejEnds[p].Load() != ends[p] {
				return false
			}
		}
		return true
	})
	produce(t, b.Addr(), tracks(0, 40, 20)...)
	waitFor(t, "the marks at the ends", 10*time.Second, func() bool {
		var at map[int]copyMark
		_ = c.Do(context.Background(), func(s *Store) { at = c.copyMarks(s.offsets) })
		for p := range 4 {
			if at[p] != (copyMark{p, ends[p]}) {
				return false
			}
		}
		return true
	})
	stop()
	s, _, err := LoadCheckpoint(dir, DefaultStoreConfig())
	if err != nil {
		t.Fatal(err)
	}
	for p := range 4 {
		if s.copies[p] != (copyMark{p, ends[p]}) {
			t.Errorf("partition %d: checkpoint says copies lie past %v, want %d@%d", p, s.copies[p], p, ends[p])
		}
	}
}

// TestPoisonCopiedBeforeHeaders: a copy written before copies had headers
// is known by its value at a start without marks (the first after an
// upgrade), and not made again.
func TestPoisonCopiedBeforeHeaders(t *testing.T) {
	b := startBroker(t)
	off := produceTo(t, b.Addr(), cdp.TopicEvents, 2, kafka.Record{Value: kafka.NewBytes(poisonOf("old"))})
	p := 2
	old, _ := json.Marshal(cdp.Rejection{Source: "speed", Code: cdp.CodeInvalidType, Partition: &p, Offset: &off}.WithPayload(poisonOf("old")))
	produceTo(t, b.Addr(), cdp.TopicRejected, 0, kafka.Record{Value: kafka.NewBytes(old)})
	produceTo(t, b.Addr(), cdp.TopicEvents, 2, kafka.Record{Value: kafka.NewBytes(poisonOf("new"))})
	c, stop := runConsumer(t, b.Addr(), t.TempDir())
	waitFor(t, "both applied", 10*time.Second, func() bool { return c.Store().Stats().Poison == 2 })
	stop()
	copies := readAllRejected(t, b.Addr())
	if len(copies) != 2 || copies[0].rej.Payload != string(poisonOf("old")) || copies[1].rej.Payload != string(poisonOf("new")) {
		t.Errorf("%s holds %+v, want the old copy and one of the new message", cdp.TopicRejected, copies)
	}
}

// TestPoisonCopyFoundAfterALostAnswer: a copier whose write failed looks
// for the copy past its mark before writing again.
func TestPoisonCopyFoundAfterALostAnswer(t *testing.T) {
	b := startBroker(t)
	c, _ := runConsumer(t, b.Addr(), t.TempDir())
	mine := func(topic string, off int64) kafka.Record {
		return kafka.Record{Value: kafka.NewBytes([]byte(`{}`)), Headers: []kafka.Header{
			{Key: headerSourceTopic, Value: []byte(topic)},
			{Key: headerSourcePartition, Value: []byte("3")},
			{Key: headerSourceOffset, Value: []byte(strconv.FormatInt(off, 10))},
		}}
	}
	produceTo(t, b.Addr(), cdp.TopicRejected, 1, mine(cdp.TopicEvents, 7)) // before the mark
	mark := endOf(t, b.Addr(), cdp.TopicRejected, 1)
	produceTo(t, b.Addr(), cdp.TopicRejected, 1, mine("other.events", 9))
	at := produceTo(t, b.Addr(), cdp.TopicRejected, 1, mine(cdp.TopicEvents, 9))
	cp := &copier{c: c, p: 3, to: 1, mark: copyMark{1, mark}}
	ctx := context.Background()
	for _, tc := range []struct {
		off  int64
		ok   bool
		want int64
	}{{9, true, at}, {7, false, 0}, {8, false, 0}} {
		got, ok, err := cp.find(ctx, tc.off)
		if err != nil || ok != tc.ok || got != tc.want {
			t.Errorf("find %d: %d %v %v, want %d %v", tc.off, got, ok, err, tc.want, tc.ok)
		}
	}
}
