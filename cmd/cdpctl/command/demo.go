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

	"github.com/spf13/cobra"

	cdp "github.com/tributary-cdp/tributary"
	"github.com/tributary-cdp/tributary/internal/config"
)

type demoOptions struct {
	keep      bool
	dir       string
	customers int
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
	cmd.Flags().IntVar(&o.customers, "customers", 5000, "customers of the generated shop")
	return cmd
}

// demoEnv is a running server the demo talks to over HTTP, like a user would.
type demoEnv struct {
	out       io.Writer
	base      string
	brokers   []string
	writeKey  string
	apiKey    string
	dataDir   string
	customers int
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
	if dir != "" {
		// The config is written before the server makes the data dir.
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return fmt.Errorf("--dir: %w", err)
		}
	} else {
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
	for _, y := range demoSegments {
		seg, err := cdp.ParseSegment([]byte(y))
		if err != nil {
			return fmt.Errorf("demo segment: %w", err)
		}
		cfg.Segments = append(cfg.Segments, *seg)
	}
	cfg.Curate.Survivorship = []config.SurvivorshipRule{
		{Attribute: "first_name", Rule: "source_priority", Priority: []string{"crm_customers", "events"}},
		{Attribute: "last_name", Rule: "source_priority", Priority: []string{"crm_customers", "events"}},
	}
	if err := cfg.Validate(); err != nil {
		return err
	}
	b, err := cfg.Marshal()
	if err != nil {
		return fmt.Errorf("encode the demo config: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "tributary.yaml"), b, 0o600); err != nil {
		return fmt.Errorf("write the demo config: %w", err)
	}

	start := time.Now()
	srv, err := startInProcess(ctx, cfg)
	if err != nil {
		return err
	}
	base := srv.URL
	d := &demoEnv{out: out, base: base, brokers: []string{cfg.Kafka.EmbeddedAddr}, writeKey: writeKey, apiKey: apiKey, dataDir: dir, customers: o.customers}
	fmt.Fprintf(out, "Tributary demo — data dir %s\n  server %s, embedded Kafka %s\n  write key %s\n  api key   %s\n\n",
		dir, base, cfg.Kafka.EmbeddedAddr, writeKey, apiKey)

	if err := demoStory(ctx, d, srv.server, cfg); err != nil {
		srv.Stop()
		return err
	}
	fmt.Fprintf(out, "\ndemo finished in %s\n", time.Since(start).Round(time.Millisecond))
	if o.keep {
		fmt.Fprintf(out, "still serving on %s (Ctrl-C to stop); config in %s\n", base, filepath.Join(dir, "tributary.yaml"))
		<-ctx.Done()
	}
	return srv.Stop()
}
