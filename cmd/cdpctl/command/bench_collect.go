package command

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/spf13/cobra"

	cdp "github.com/tributary-cdp/tributary"
	"github.com/tributary-cdp/tributary/internal/config"
	"github.com/tributary-cdp/tributary/internal/topics"
)

type benchCollectOptions struct {
	url       string
	writeKey  string
	clients   int
	batch     int
	events    int
	rounds    int
	cpuProf   string
	withSpeed bool
}

func newBenchCollectCmd(g *globalOptions) *cobra.Command {
	o := &benchCollectOptions{}
	cmd := &cobra.Command{
		Use:   "collect",
		Short: "Collector throughput over loopback HTTP vs raw kafka-go produce to the same broker",
		Long: "Sends /v1/batch requests from N concurrent clients and reports events/s acknowledged and\n" +
			"request p50/p99; then, in the same run, produces the same events straight to Kafka with\n" +
			"kafka-go (same concurrency, batch size and acks=all) and prints the collector/raw ratio.\n" +
			"Without --url it starts a server with the embedded broker in a temporary data dir.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return o.run(cmd, g) },
	}
	f := cmd.Flags()
	f.StringVar(&o.url, "url", "", "base URL of a running server (default: start one)")
	f.StringVar(&o.writeKey, "write-key", "", "write key for --url")
	f.IntVar(&o.clients, "clients", 16, "concurrent HTTP clients")
	f.IntVar(&o.batch, "batch", 100, "events per request")
	f.IntVar(&o.events, "events", 100_000, "events per phase per round")
	f.IntVar(&o.rounds, "rounds", 3, "rounds of collector-then-raw phases")
	f.StringVar(&o.cpuProf, "cpuprofile", "", "write a CPU profile of the collector phases to this file")
	f.BoolVar(&o.withSpeed, "with-speed", false, "run the self-started server with its speed layer consuming the events too")
	return cmd
}

func (o *benchCollectOptions) run(cmd *cobra.Command, g *globalOptions) error {
	ctx := cmd.Context()
	out := cmd.OutOrStdout()
	brokers, base, key := []string(nil), o.url, o.writeKey
	if base == "" {
		dir, err := os.MkdirTemp("", "tributary-bench-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		cfg := config.Default()
		cfg.DataDir = dir
		cfg.HTTP.Addr = "127.0.0.1:0"
		cfg.Kafka.EmbeddedAddr = freeAddr()
		key = "wk_benchbenchbenchbench"
		cfg.Workspaces = []cdp.Workspace{{ID: "default", WriteKeys: []string{key}}}
		// The collector alone, as an ingestion tier runs: the speed layer
		// would consume the same events on the same 2 cores (--with-speed).
		srv, err := startServer(ctx, &server{cfg: cfg, collectorOnly: !o.withSpeed})
		if err != nil {
			return err
		}
		defer srv.Stop()
		base = srv.URL
		brokers = []string{cfg.Kafka.EmbeddedAddr}
	} else {
		cfg, err := g.load(cmd)
		if err != nil {
			return err
		}
		brokers = cfg.Brokers()
	}
	if err := topics.WaitReady(ctx, brokers); err != nil {
		return err
	}

	nreq := max(1, o.events/o.batch)
	bodies, raw := benchBodies(nreq, o.batch)
	fmt.Fprintf(out, "bench collect: %d rounds × %d events in requests of %d, %d clients, server %s\n", o.rounds, nreq*o.batch, o.batch, o.clients, base)
	tr := &http.Transport{MaxIdleConnsPerHost: o.clients, MaxConnsPerHost: o.clients}
	client := &http.Client{Transport: tr, Timeout: 30 * time.Second}
	w := &kafka.Writer{Addr: kafka.TCP(brokers...), Topic: cdp.TopicEvents, Balancer: &kafka.Murmur2Balancer{},
		RequiredAcks: kafka.RequireAll, BatchSize: 1000, BatchBytes: 4 << 20, BatchTimeout: 2 * time.Millisecond}
	defer w.Close()

	// Rounds alternate collector and raw produce so that drifting load on a
	// shared machine hits both alike; the ratio is of the medians.
	var httpRates, rawRates []float64
	var lat []time.Duration
	for round := range o.rounds {
		stopProfile, err := cpuProfile(o.cpuProf)
		if err != nil {
			return err
		}
		r, l, err := o.httpPhase(ctx, client, base, key, bodies, round)
		stopProfile()
		if err != nil {
			return err
		}
		httpRates, lat = append(httpRates, r), append(lat, l...)
		rr, err := o.rawPhase(ctx, w, raw)
		if err != nil {
			return err
		}
		rawRates = append(rawRates, rr)
		fmt.Fprintf(out, "  round %d: collector %.0f events/s, raw %.0f events/s\n", round+1, r, rr)
	}
	slices.Sort(lat)
	httpRate, rawRate := median(httpRates), median(rawRates)
	fmt.Fprintf(out, "collector: %.0f events/s acknowledged (median), request p50 %s p99 %s\n", httpRate,
		lat[len(lat)/2].Round(10*time.Microsecond), lat[len(lat)*99/100].Round(10*time.Microsecond))
	fmt.Fprintf(out, "raw kafka-go produce: %.0f events/s (median)\n", rawRate)
	fmt.Fprintf(out, "ratio collector/raw: %.2f\n", httpRate/rawRate)
	return nil
}

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[len(s)/2]
}

// httpPhase sends every body once over HTTP; messageIds get a round suffix
// so each round's events are new.
func (o *benchCollectOptions) httpPhase(ctx context.Context, client *http.Client, base, key string, bodies [][]byte, round int) (float64, []time.Duration, error) {
	nreq := len(bodies)
	lat := make([]time.Duration, nreq)
	var next, failed atomic.Int64
	suffix := []byte(fmt.Sprintf("-r%d\"", round))
	start := time.Now()
	var wg sync.WaitGroup
	for range o.clients {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= nreq {
					return
				}
				body := bytes.ReplaceAll(bodies[i], []byte(`-mid"`), suffix)
				t0 := time.Now()
				req, _ := http.NewRequestWithContext(ctx, http.MethodPost, base+"/v1/batch", bytes.NewReader(body))
				req.SetBasicAuth(key, "")
				req.Header.Set("Content-Type", "application/json")
				resp, err := client.Do(req)
				if err != nil {
					failed.Add(1)
					continue
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					failed.Add(1)
				}
				lat[i] = time.Since(t0)
			}
		})
	}
	wg.Wait()
	if f := failed.Load(); f > 0 {
		return 0, nil, fmt.Errorf("bench collect: %d of %d requests failed", f, nreq)
	}
	return float64(nreq*o.batch) / time.Since(start).Seconds(), lat, nil
}

// rawPhase produces the canonical messages straight to Kafka with kafka-go.
func (o *benchCollectOptions) rawPhase(ctx context.Context, w *kafka.Writer, raw [][]kafka.Message) (float64, error) {
	var next atomic.Int64
	var perr atomic.Value
	var wg sync.WaitGroup
	start := time.Now()
	for range o.clients {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= len(raw) {
					return
				}
				if err := w.WriteMessages(ctx, raw[i]...); err != nil {
					perr.Store(err)
					return
				}
			}
		})
	}
	wg.Wait()
	if err, _ := perr.Load().(error); err != nil {
		return 0, fmt.Errorf("raw produce: %w", err)
	}
	n := 0
	for _, r := range raw {
		n += len(r)
	}
	return float64(n) / time.Since(start).Seconds(), nil
}

// benchBodies builds n /v1/batch bodies and the equivalent canonical messages.
func benchBodies(n, per int) ([][]byte, [][]kafka.Message) {
	bodies := make([][]byte, n)
	raw := make([][]kafka.Message, n)
	now := time.Now().UTC()
	for i := range n {
		evs := make([]map[string]any, per)
		msgs := make([]kafka.Message, per)
		for j := range per {
			k := i*per + j
			uid := fmt.Sprintf("user-%d", k%100_000)
			ev := map[string]any{
				"type": "track", "event": "Product Viewed", "userId": uid,
				"messageId": fmt.Sprintf("bench-%d-%d-mid", now.UnixNano(), k), "timestamp": now.Format(time.RFC3339Nano),
				"properties": map[string]any{"product_id": fmt.Sprintf("sku-%d", k%5000), "price": 19.99, "currency": "USD", "category": "shoes"},
				"context":    map[string]any{"ip": "203.0.113.7", "userAgent": "Mozilla/5.0 (X11; Linux x86_64)", "library": map[string]any{"name": "bench", "version": "1"}},
			}
			evs[j] = ev
			e := cdp.Event{Workspace: "default", MessageID: ev["messageId"].(string), Type: cdp.Track, Event: "Product Viewed",
				UserID: uid, Timestamp: now, ReceivedAt: now}
			e.Properties, _ = json.Marshal(ev["properties"])
			e.Context, _ = json.Marshal(ev["context"])
			v, _ := json.Marshal(e)
			msgs[j] = kafka.Message{Key: []byte(e.Key()), Value: v}
		}
		bodies[i], _ = json.Marshal(map[string]any{"batch": evs, "sentAt": now.Format(time.RFC3339Nano)})
		raw[i] = msgs
	}
	return bodies, raw
}

// freeAddr returns a free 127.0.0.1 port as host:port.
func freeAddr() string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "127.0.0.1:0"
	}
	defer l.Close()
	return l.Addr().String()
}
