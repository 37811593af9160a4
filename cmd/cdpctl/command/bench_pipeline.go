package command

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/spf13/cobra"

	cdp "github.com/tributary-cdp/tributary"
	"github.com/tributary-cdp/tributary/batch/ingest"
	"github.com/tributary-cdp/tributary/internal/config"
	"github.com/tributary-cdp/tributary/internal/demo"
	"github.com/tributary-cdp/tributary/jobs"
)

type benchPipelineOptions struct {
	customers int
	dir       string
}

func newBenchPipelineCmd() *cobra.Command {
	o := &benchPipelineOptions{}
	cmd := &cobra.Command{
		Use:   "pipeline",
		Short: "The whole batch chain (land → ingest → cleanse → resolve → curate → reconcile) on a generated shop",
		Long: "Generates a shop (the demo's generator at scale: ~8.6 events per customer and a CRM export\n" +
			"with faults), produces the events straight to the embedded broker with kafka-go, drops the\n" +
			"CRM file, starts a server (so reconcile has a speed layer to swap into) and runs `all`,\n" +
			"printing each stage's time and the total.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return o.run(cmd) },
	}
	cmd.Flags().IntVar(&o.customers, "customers", 100_000, "customers (1,000,000 gives ~10M events)")
	cmd.Flags().StringVar(&o.dir, "dir", "", "data dir (default: a temporary dir, removed after)")
	return cmd
}

func (o *benchPipelineOptions) run(cmd *cobra.Command) error {
	ctx := cmd.Context()
	out := cmd.OutOrStdout()
	dir := o.dir
	if dir == "" {
		var err error
		if dir, err = os.MkdirTemp("", "tributary-bench-pipeline-"); err != nil {
			return err
		}
		defer os.RemoveAll(dir)
	}
	cfg := config.Default()
	cfg.DataDir = dir
	cfg.HTTP.Addr = "127.0.0.1:0"
	cfg.Kafka.EmbeddedAddr = freeAddr()
	cfg.Workspaces = []cdp.Workspace{{ID: "default", WriteKeys: []string{"wk_benchbenchbenchbench"}}}
	// One process holds the embedded broker (every message in memory), the
	// speed layer and the jobs: DuckDB gets a share, not its default 80 %.
	cfg.Identity.MemoryLimit = "35%"
	for _, y := range demoSegments {
		seg, err := cdp.ParseSegment([]byte(y))
		if err != nil {
			return err
		}
		cfg.Segments = append(cfg.Segments, *seg)
	}
	srv, err := startInProcess(ctx, cfg)
	if err != nil {
		return err
	}
	defer srv.Stop()

	// Generate and produce.
	genStart := time.Now()
	drop := filepath.Join(dir, "drops", "crm")
	if err := os.MkdirAll(drop, 0o755); err != nil {
		return err
	}
	crmFile, err := os.Create(filepath.Join(drop, "customers.csv"))
	if err != nil {
		return err
	}
	crm := bufio.NewWriterSize(crmFile, 1<<20)
	w := &kafka.Writer{Addr: kafka.TCP(cfg.Kafka.EmbeddedAddr), Topic: cdp.TopicEvents, Balancer: &kafka.Murmur2Balancer{},
		RequiredAcks: kafka.RequireAll, BatchSize: 5000, BatchBytes: 8 << 20, BatchTimeout: 5 * time.Millisecond, Async: false}
	defer w.Close()
	var msgs []kafka.Message
	var perr error
	n := 0
	flush := func() {
		if len(msgs) > 0 && perr == nil {
			perr = w.WriteMessages(ctx, msgs...)
		}
		msgs = msgs[:0]
	}
	now := time.Now().UTC()
	biz := demo.Stream(demo.Config{Customers: o.customers, Seed: 42, Now: now}, func(m map[string]any) {
		e := eventFromMap(m, now, n)
		n++
		msgs = append(msgs, kafka.Message{Key: []byte(e.Key()), Value: e.AppendJSON(nil)})
		if len(msgs) == 20000 {
			flush()
		}
	}, crm)
	flush()
	if perr != nil {
		return fmt.Errorf("produce: %w", perr)
	}
	if err := crm.Flush(); err != nil {
		return err
	}
	crmFile.Close()
	fmt.Fprintf(out, "bench pipeline: %d customers, %d events produced, CRM export of %d rows (setup %s, not measured)\n",
		o.customers, biz.Events, biz.CRMRows, time.Since(genStart).Round(time.Millisecond))

	env, err := openJobEnv(ctx, cfg, cfg.Brokers())
	if err != nil {
		return err
	}
	src, err := ingest.ParseSource([]byte(demo.SourceDefinition(drop)))
	if err != nil {
		return err
	}
	if err := ingest.NewStore(env.lake).Add(ctx, src, true); err != nil {
		return err
	}
	runner, err := env.runner(true, "bench")
	if err != nil {
		return err
	}
	var ms runtime.MemStats
	start := time.Now()
	rec, err := runner.Run(ctx, "all", jobs.Params{})
	total := time.Since(start)
	if rec != nil {
		for _, l := range strings.Split(strings.TrimSpace(rec.Summary), "\n") {
			fmt.Fprintf(out, "  %s\n", l)
		}
	}
	if err != nil {
		return err
	}
	runtime.ReadMemStats(&ms)
	fmt.Fprintf(out, "total batch chain: %s for %d events and %d CRM rows (%.0f events/s); Go heap after: %d MiB\n",
		total.Round(time.Millisecond), biz.Events, biz.CRMRows, float64(biz.Events)/total.Seconds(), ms.HeapAlloc>>20)
	return nil
}

// eventFromMap turns a generated Segment call into a canonical event.
func eventFromMap(m map[string]any, now time.Time, n int) *cdp.Event {
	str := func(k string) string { s, _ := m[k].(string); return s }
	raw := func(k string) json.RawMessage {
		if v, ok := m[k]; ok {
			b, _ := json.Marshal(v)
			return b
		}
		return nil
	}
	ts, err := time.Parse(time.RFC3339, str("timestamp"))
	if err != nil {
		ts = now
	}
	return &cdp.Event{Workspace: "default", MessageID: fmt.Sprintf("bench-%d", n), Type: cdp.EventType(str("type")),
		Event: str("event"), Name: str("name"), UserID: str("userId"), AnonymousID: str("anonymousId"),
		Timestamp: ts.UTC(), ReceivedAt: now, Properties: raw("properties"), Traits: raw("traits")}
}
