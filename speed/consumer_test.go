package speed

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"

	cdp "github.com/tributary-cdp/tributary"
	"github.com/tributary-cdp/tributary/internal/broker"
)

func startBroker(t *testing.T) *broker.Broker {
	t.Helper()
	b, err := broker.Start(broker.Config{Addr: "127.0.0.1:0", DataDir: t.TempDir(), Partitions: 4})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	return b
}

func produce(t *testing.T, addr string, values ...[]byte) {
	t.Helper()
	w := &kafka.Writer{Addr: kafka.TCP(addr), Topic: cdp.TopicEvents, Balancer: &kafka.Murmur2Balancer{},
		RequiredAcks: kafka.RequireAll, BatchTimeout: time.Millisecond}
	defer w.Close()
	msgs := make([]kafka.Message, len(values))
	for i, v := range values {
		var k struct {
			UserID string `json:"userId"`
		}
		_ = json.Unmarshal(v, &k)
		msgs[i] = kafka.Message{Key: []byte("default/" + k.UserID), Value: v}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := w.WriteMessages(ctx, msgs...); err != nil {
		t.Fatal(err)
	}
}

// runConsumer starts a consumer over dir; stop cancels it and waits for
// its final checkpoint.
func runConsumer(t *testing.T, addr, dir string, mod ...func(*Config)) (c *Consumer, stop func()) {
	t.Helper()
	cfg := DefaultConfig()
	cfg.Brokers = []string{addr}
	cfg.Dir = dir
	cfg.CheckpointInterval = time.Hour
	cfg.MaxWait = 50 * time.Millisecond
	for _, m := range mod {
		m(&cfg)
	}
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		if err := <-done; err != nil {
			t.Errorf("consumer run: %v", err)
		}
		c.Close()
	}
	t.Cleanup(stop)
	return c, stop
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", d, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func eventsTotal(c *Consumer, user string) int64 {
	var n int64 = -1
	_ = c.View("default", cdp.Identifier{Type: cdp.IDUserID, Value: user}, func(p *Profile) { n = p.EventsTotal })
	return n
}

func tracks(from, to int, users int) [][]byte {
	var out [][]byte
	for i := from; i < to; i++ {
		out = append(out, msg{typ: cdp.Track, user: fmt.Sprintf("u%d", i%users), event: "Tick", id: fmt.Sprintf("t%d", i), at: time.Duration(i) * time.Second}.value())
	}
	return out
}

func TestConsumerCheckpointRestartIsExact(t *testing.T) {
	b := startBroker(t)
	dir := filepath.Join(t.TempDir(), "speed")
	poison := []byte("{\"workspace\":\"default\",\"type\":\"track\xff\"") // not UTF-8 either
	produce(t, b.Addr(), append(tracks(0, 200, 10), poison)...)

	c, stop := runConsumer(t, b.Addr(), dir)
	waitFor(t, "200 events applied", 20*time.Second, func() bool {
		for u := range 10 {
			if eventsTotal(c, fmt.Sprintf("u%d", u)) != 20 {
				return false
			}
		}
		return c.Store().Stats().Poison == 1
	})
	stop()
	if _, err := os.Stat(filepath.Join(dir, CheckpointFile)); err != nil {
		t.Fatalf("no checkpoint after a clean stop: %v", err)
	}

	// The poison message was copied to cdp.events.rejected with its position,
	// byte for byte.
	rej := readRejected(t, b.Addr())
	exact, err := base64.StdEncoding.DecodeString(rej.PayloadBase64)
	if rej.Source != "speed" || rej.Partition == nil || rej.Offset == nil || err != nil || !bytes.Equal(exact, poison) ||
		rej.Payload != strings.ToValidUTF8(string(poison), "\uFFFD") {
		t.Errorf("rejection %+v", rej)
	}

	// The group has the checkpointed offsets, for lag monitoring.
	client := &kafka.Client{Addr: kafka.TCP(b.Addr())}
	of, err := client.OffsetFetch(context.Background(), &kafka.OffsetFetchRequest{GroupID: "cdp-speed", Topics: map[string][]int{cdp.TopicEvents: {0, 1, 2, 3}}})
	if err != nil {
		t.Fatal(err)
	}
	var committed int64
	for _, p := range of.Topics[cdp.TopicEvents] {
		if p.CommittedOffset > 0 {
			committed += p.CommittedOffset
		}
	}
	if committed != 201 {
		t.Errorf("group offsets sum to %d, want 201", committed)
	}

	// Retries of already applied messages and new ones: a restarted
	// consumer starts from the checkpoint and counts each message once.
	produce(t, b.Addr(), append(tracks(150, 300, 10), tracks(0, 50, 10)...)...)
	c2, stop2 := runConsumer(t, b.Addr(), dir)
	waitFor(t, "300 distinct events", 20*time.Second, func() bool {
		return c2.Lag() == 0 && c2.Store().Stats().Duplicates == 100 && eventsTotal(c2, "u0") == 30
	})
	for u := range 10 {
		if n := eventsTotal(c2, fmt.Sprintf("u%d", u)); n != 30 {
			t.Errorf("u%d: events_total %d, want 30", u, n)
		}
	}
	stop2()
}

func readRejected(t *testing.T, addr string) cdp.Rejection {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for {
		for p := range 4 {
			r := kafka.NewReader(kafka.ReaderConfig{Brokers: []string{addr}, Topic: cdp.TopicRejected, Partition: p, MaxWait: 50 * time.Millisecond})
			pctx, pcancel := context.WithTimeout(ctx, 300*time.Millisecond)
			m, err := r.FetchMessage(pctx)
			pcancel()
			r.Close()
			if err == nil {
				var rej cdp.Rejection
				if err := json.Unmarshal(m.Value, &rej); err != nil {
					t.Fatal(err)
				}
				return rej
			}
		}
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			t.Fatal("no rejection in cdp.events.rejected")
		}
	}
}

// TestCheckpointTickDoesNotWaitForTheDisk holds a checkpoint's background
// write, as a slow disk or a store too large for the interval would: the
// ticks meanwhile are skipped and counted, and events go on being applied.
// (The apply loop used to wait for the write in flight at every tick.)
func TestCheckpointTickDoesNotWaitForTheDisk(t *testing.T) {
	b := startBroker(t)
	reg := prometheus.NewRegistry()
	held, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	c, _ := runConsumer(t, b.Addr(), t.TempDir(), func(cfg *Config) {
		cfg.Registerer = reg
		cfg.CheckpointInterval = 20 * time.Millisecond
		cfg.beforeWrite = func() {
			once.Do(func() { // the first write only
				close(held)
				<-release
			})
		}
	})
	var released sync.Once
	free := func() { released.Do(func() { close(release) }) }
	t.Cleanup(free) // before the consumer stops: its final checkpoint waits for the write
	produce(t, b.Addr(), tracks(0, 10, 5)...)
	select {
	case <-held:
	case <-time.After(10 * time.Second):
		t.Fatal("no checkpoint started")
	}
	waitFor(t, "ticks skipped while the write is held", 10*time.Second, func() bool {
		return value(t, reg, "tributary_speed_checkpoints_skipped_total", "") >= 2
	})
	produce(t, b.Addr(), tracks(10, 110, 5)...)
	waitFor(t, "110 events applied while the write is held", 10*time.Second, func() bool {
		return c.Store().Stats().Applied == 110
	})
	if n := value(t, reg, "tributary_speed_checkpoint_write_seconds", ""); n != 0 {
		t.Fatalf("%v checkpoints written while the first was held", n)
	}
	free()
	waitFor(t, "checkpoints written again", 10*time.Second, func() bool {
		return value(t, reg, "tributary_speed_checkpoint_write_seconds", "") >= 2
	})
}

// TestCheckpointNowDoesNotWaitForTheDisk: a checkpoint asked for while one
// is being written (after a reconcile) returns at once, and is taken after
// the first batch of events applied once the write is done.
func TestCheckpointNowDoesNotWaitForTheDisk(t *testing.T) {
	b := startBroker(t)
	reg := prometheus.NewRegistry()
	held, release := make(chan struct{}), make(chan struct{})
	var once, released sync.Once
	c, _ := runConsumer(t, b.Addr(), t.TempDir(), func(cfg *Config) {
		cfg.Registerer = reg
		cfg.beforeWrite = func() { once.Do(func() { close(held); <-release }) }
	})
	free := func() { released.Do(func() { close(release) }) }
	t.Cleanup(free)
	now := func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := c.Do(ctx, func(*Store) {
			if err := c.checkpoint(checkpointNow); err != nil {
				t.Error(err)
			}
		}); err != nil {
			t.Fatalf("checkpoint now: %v", err)
		}
	}
	now() // held in the background
	<-held
	now() // returns: due once the first is written
	produce(t, b.Addr(), tracks(0, 100, 5)...)
	waitFor(t, "100 events applied while the write is held", 10*time.Second, func() bool {
		return c.Store().Stats().Applied == 100
	})
	free()
	waitFor(t, "the first checkpoint written", 10*time.Second, func() bool {
		return value(t, reg, "tributary_speed_checkpoint_write_seconds", "") == 1
	})
	produce(t, b.Addr(), tracks(100, 101, 5)...)
	waitFor(t, "the checkpoint asked for meanwhile written", 10*time.Second, func() bool {
		return value(t, reg, "tributary_speed_checkpoint_write_seconds", "") == 2
	})
}

// TestStartRemovesTempCheckpoints: a kill during a checkpoint's write
// leaves its temp file, as large as the store; the next start removes it
// and loads the checkpoint in place.
func TestStartRemovesTempCheckpoints(t *testing.T) {
	b := startBroker(t)
	dir := t.TempDir()
	c, stop := runConsumer(t, b.Addr(), dir)
	produce(t, b.Addr(), tracks(0, 10, 5)...)
	waitFor(t, "10 events applied", 10*time.Second, func() bool { return c.Store().Stats().Applied == 10 })
	stop()
	// What a kill in the middle of the next write would leave.
	s, err := NewStore(DefaultStoreConfig())
	if err != nil {
		t.Fatal(err)
	}
	tmp, _, err := WriteCheckpointTemp(dir, s)
	if err != nil {
		t.Fatal(err)
	}
	c, _ = runConsumer(t, b.Addr(), dir)
	if _, err := os.Stat(tmp); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("temp checkpoint %s still there after a start: %v", tmp, err)
	}
	if n := eventsTotal(c, "u1"); n != 2 {
		t.Errorf("u1 has %d events after the restart, want 2", n)
	}
}

// TestRefusesTooManyPartitions: a Kafka position packs the partition in
// partitionBits bits (Op.seq), so a topic with more partitions would tie
// two partitions' events; the consumer refuses it at start, naming it.
func TestRefusesTooManyPartitions(t *testing.T) {
	b := startBroker(t)
	client := &kafka.Client{Addr: kafka.TCP(b.Addr())}
	res, err := client.CreateTopics(context.Background(), &kafka.CreateTopicsRequest{Topics: []kafka.TopicConfig{
		{Topic: "cdp.events.wide", NumPartitions: maxPartitions + 1, ReplicationFactor: 1},
	}})
	if err != nil {
		t.Fatal(err)
	}
	for _, err := range res.Errors {
		if err != nil {
			t.Fatal(err)
		}
	}
	cfg := DefaultConfig()
	cfg.Brokers, cfg.Dir, cfg.Topic = []string{b.Addr()}, t.TempDir(), "cdp.events.wide"
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	err = c.Run(ctx)
	if err == nil || !strings.Contains(err.Error(), "partition 1024") || ctx.Err() != nil {
		t.Fatalf("run over %d partitions: %v", maxPartitions+1, err)
	}
}
