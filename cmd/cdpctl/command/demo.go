package command

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/spf13/cobra"

	cdp "github.com/tributary-cdp/tributary"
	"github.com/tributary-cdp/tributary/internal/config"
)

type demoOptions struct {
	keep bool
	dir  string
}

func newDemoCmd() *cobra.Command {
	o := &demoOptions{}
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Run Tributary end to end on the embedded default in a temporary data dir",
		Args:  cobra.NoArgs,
		RunE:  func(cmd *cobra.Command, _ []string) error { return o.run(cmd) },
	}
	cmd.Flags().BoolVar(&o.keep, "keep", false, "keep serving after the demo (Ctrl-C to stop)")
	cmd.Flags().StringVar(&o.dir, "dir", "", "data dir to use (default: a new temporary dir)")
	return cmd
}

// demoEnv is a running server the demo talks to over HTTP, like a user would.
type demoEnv struct {
	out      io.Writer
	base     string
	brokers  []string
	writeKey string
	apiKey   string
	dataDir  string
}

func (d *demoEnv) send(ctx context.Context, path string, body any) error {
	b, _ := json.Marshal(body)
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, d.base+path, bytes.NewReader(b))
	req.SetBasicAuth(d.writeKey, "")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(resp.Body)
		return fmt.Errorf("POST %s: %s %s", path, resp.Status, msg)
	}
	return nil
}

func (o *demoOptions) run(cmd *cobra.Command) error {
	ctx := cmd.Context()
	out := cmd.OutOrStdout()
	dir := o.dir
	if dir == "" {
		var err error
		if dir, err = os.MkdirTemp("", "tributary-demo-"); err != nil {
			return err
		}
		if !o.keep {
			defer os.RemoveAll(dir)
		}
	}
	writeKey, _ := config.NewKey("wk_")
	apiKey, _ := config.NewKey("ak_")
	cfg := config.Default()
	cfg.DataDir = dir
	cfg.HTTP.Addr = "127.0.0.1:0"
	cfg.Kafka.EmbeddedAddr = freeAddr()
	cfg.Workspaces = []cdp.Workspace{{ID: "default", Name: "Demo shop", WriteKeys: []string{writeKey},
		APIKeys: []cdp.APIKey{{Name: "admin", Role: cdp.RoleAdmin, Hash: config.HashKey(apiKey)}}}}
	if b, err := cfg.Marshal(); err == nil {
		_ = os.WriteFile(filepath.Join(dir, "tributary.yaml"), b, 0o600)
	}

	start := time.Now()
	s := &server{cfg: cfg}
	defer s.Close()
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	addrCh, errCh := make(chan string, 1), make(chan error, 1)
	go func() { errCh <- s.Run(sctx, func(a string) { addrCh <- a }) }()
	var base string
	select {
	case a := <-addrCh:
		base = "http://" + a
	case err := <-errCh:
		return err
	}
	d := &demoEnv{out: out, base: base, brokers: []string{cfg.Kafka.EmbeddedAddr}, writeKey: writeKey, apiKey: apiKey, dataDir: dir}
	fmt.Fprintf(out, "Tributary demo — data dir %s\n  server %s, embedded Kafka %s\n  write key %s\n  api key   %s\n\n",
		dir, base, cfg.Kafka.EmbeddedAddr, writeKey, apiKey)

	if err := demoCollect(ctx, d); err != nil {
		return err
	}
	fmt.Fprintf(out, "\ndemo finished in %s\n", time.Since(start).Round(time.Millisecond))
	if o.keep {
		fmt.Fprintf(out, "still serving on %s (Ctrl-C to stop); config in %s\n", base, filepath.Join(dir, "tributary.yaml"))
		<-ctx.Done()
	}
	cancel()
	return <-errCh
}

// demoCollect sends a short browsing session through the collector and
// reads it back from Kafka.
func demoCollect(ctx context.Context, d *demoEnv) error {
	fmt.Fprintln(d.out, "1. Sending a visitor's session through the Segment-compatible collector")
	now := time.Now().UTC()
	ts := func(m int) string { return now.Add(time.Duration(m) * time.Minute).Format(time.RFC3339) }
	batch := map[string]any{"batch": []map[string]any{
		{"type": "page", "anonymousId": "anon-7f3a", "name": "Home", "timestamp": ts(-30)},
		{"type": "track", "anonymousId": "anon-7f3a", "event": "Product Viewed", "properties": map[string]any{"sku": "tent-2p", "price": 189}, "timestamp": ts(-25)},
		{"type": "identify", "anonymousId": "anon-7f3a", "userId": "cust-1042", "traits": map[string]any{"email": "Ada.Lovelace@Example.com", "first_name": "Ada"}, "timestamp": ts(-20)},
		{"type": "track", "userId": "cust-1042", "event": "Order Completed", "properties": map[string]any{"order_id": "o-981", "revenue": 189, "currency": "EUR"}, "timestamp": ts(-15)},
	}}
	if err := d.send(ctx, "/v1/batch", batch); err != nil {
		return err
	}
	if err := d.send(ctx, "/v1/alias", map[string]any{"userId": "cust-1042", "previousId": "anon-7f3a"}); err != nil {
		return err
	}
	fmt.Fprintln(d.out, "   5 events acknowledged by the broker (acks=all)")
	fmt.Fprintf(d.out, "2. Reading them back from Kafka topic %s\n", cdp.TopicEvents)
	r := kafka.NewReader(kafka.ReaderConfig{Brokers: d.brokers, Topic: cdp.TopicEvents, GroupID: "demo-reader", StartOffset: kafka.FirstOffset, MaxWait: 50 * time.Millisecond})
	defer r.Close()
	rctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	for range 5 {
		m, err := r.FetchMessage(rctx)
		if err != nil {
			return fmt.Errorf("read back events: %w", err)
		}
		e, err := cdp.DecodeEvent(m.Value)
		if err != nil {
			return err
		}
		what := e.Event
		if what == "" {
			what = e.Name
		}
		fmt.Fprintf(d.out, "   partition %d offset %-3d key %-22s %-8s %-16s at %s\n", m.Partition, m.Offset, m.Key, e.Type, what, e.Timestamp.Format(time.RFC3339))
	}
	return nil
}
