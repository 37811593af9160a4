package command

import (
	"context"
	"encoding/json"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"

	cdp "github.com/tributary-cdp/tributary"
	"github.com/tributary-cdp/tributary/internal/broker"
	"github.com/tributary-cdp/tributary/internal/config"
	"github.com/tributary-cdp/tributary/speed"
	"github.com/tributary-cdp/tributary/speed/speedtest"
)

// TestReadyzWaitsForTheSpeedLayer: /readyz answers 503 speed_catching_up
// while the speed layer has not applied what was in cdp.events at start,
// and 200 once it has.
func TestReadyzWaitsForTheSpeedLayer(t *testing.T) {
	dir := t.TempDir()
	b, err := broker.Start(broker.Config{Addr: "127.0.0.1:0", DataDir: filepath.Join(dir, "kafka"), Partitions: 4})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	w := &kafka.Writer{Addr: kafka.TCP(b.Addr()), Topic: cdp.TopicEvents, Balancer: &kafka.Murmur2Balancer{},
		RequiredAcks: kafka.RequireAll, BatchTimeout: time.Millisecond}
	rng := rand.New(rand.NewPCG(1, 1))
	var msgs []kafka.Message
	for i := range 500 {
		e := speedtest.Event(rng, i, 50, time.Now().UTC())
		msgs = append(msgs, kafka.Message{Key: []byte(e.Key()), Value: e.AppendJSON(nil)})
	}
	if err := w.WriteMessages(ctx, msgs...); err != nil {
		t.Fatal(err)
	}
	w.Close()

	cfg := config.Default()
	cfg.DataDir, cfg.HTTP.Addr = dir, "127.0.0.1:0"
	sp, err := speed.New(speedConfig(cfg, []string{b.Addr()}, nil))
	if err != nil {
		t.Fatal(err)
	}
	defer sp.Close()
	s := &server{cfg: cfg, speed: sp, ready: speed.NewReadiness(sp)}
	mux := http.NewServeMux()
	ln, err := s.listen(mux, mux, prometheus.NewRegistry(), []string{b.Addr()})
	if err != nil {
		t.Fatal(err)
	}
	ln.Close()
	readyz := func() (int, string) {
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, httptest.NewRequest("GET", "/readyz", nil))
		var body struct{ Code, Message string }
		_ = json.Unmarshal(rec.Body.Bytes(), &body)
		return rec.Code, body.Code + ": " + body.Message
	}
	if code, body := readyz(); code != 503 {
		t.Errorf("before the end offsets are read: %d %s, want 503", code, body)
	}
	if err := s.ready.Run(ctx); err != nil {
		t.Fatal(err)
	}
	if code, body := readyz(); code != 503 || body != "speed_catching_up: the speed layer is catching up: 500 of the messages in cdp.events at start are still to apply" {
		t.Errorf("before the speed layer runs: %d %q", code, body)
	}
	rctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- sp.Run(rctx) }()
	defer func() { stop(); <-done }()
	for code, body := readyz(); code != 200; code, body = readyz() {
		if ctx.Err() != nil {
			t.Fatalf("not ready after the speed layer ran: %d %s", code, body)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if st := sp.Store().Stats(); st.Applied+st.Duplicates+st.Unattributed+st.Poison < 500 {
		t.Errorf("ready with %+v", st)
	}
}
