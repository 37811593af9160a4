package speed

import (
	"context"
	"path/filepath"
	"testing"
	"time"
)

func readiness(t *testing.T, c *Consumer) *Readiness {
	t.Helper()
	r := NewReadiness(c)
	if ok, behind := r.Ready(); ok || behind != -1 {
		t.Fatalf("ready %v (behind %d) before the end offsets are known", ok, behind)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := r.Run(ctx); err != nil || ctx.Err() != nil {
		t.Fatalf("readiness run: %v %v", err, ctx.Err())
	}
	return r
}

func TestReadyAfterCatchingUpToTheEndOffsetsAtStart(t *testing.T) {
	b := startBroker(t)
	dir := filepath.Join(t.TempDir(), "speed")

	// An empty topic: nothing to catch up to.
	cfg := DefaultConfig()
	cfg.Brokers, cfg.Dir, cfg.CheckpointInterval = []string{b.Addr()}, dir, time.Hour
	empty, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if ok, _ := readiness(t, empty).Ready(); !ok {
		t.Error("not ready on an empty topic")
	}
	empty.Close()

	produce(t, b.Addr(), tracks(0, 300, 10)...)
	idle, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if ok, behind := readiness(t, idle).Ready(); ok || behind != 300 {
		t.Errorf("a consumer that has not run: ready %v, behind %d, want 300", ok, behind)
	}
	idle.Close()

	c, stop := runConsumer(t, b.Addr(), dir)
	r := readiness(t, c)
	// What arrives after the start is not waited for.
	produce(t, b.Addr(), tracks(300, 400, 10)...)
	waitFor(t, "ready", 20*time.Second, func() bool { ok, _ := r.Ready(); return ok })
	if st := c.Store().Stats(); st.Applied < 300 {
		t.Errorf("ready with %d of the 300 events at start applied", st.Applied)
	}
	waitFor(t, "all 400 applied", 20*time.Second, func() bool { return c.Store().Stats().Applied == 400 })
	stop()

	// After a restart, the loaded checkpoint holds every offset: ready
	// before the consumer runs.
	restarted, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer restarted.Close()
	if ok, behind := readiness(t, restarted).Ready(); !ok {
		t.Errorf("not ready from a checkpoint at the end offsets: behind %d", behind)
	}
}
