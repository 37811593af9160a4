package command

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
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
	customers         int
	eventsPerCustomer float64
	dir               string
	memoryLimit       string
	traceSQL          time.Duration
	cpuProfile        string
	waitSpeed         bool
	brokers           []string
}

func newBenchPipelineCmd() *cobra.Command {
	o := &benchPipelineOptions{}
	cmd := &cobra.Command{
		Use:   "pipeline",
		Short: "The whole batch chain (land → ingest → cleanse → resolve → curate → reconcile) on a generated shop",
		Long: "Generates a shop (the demo's generator at scale, topped up to --events-per-customer, and a CRM export\n" +
			"with faults), produces the events straight to the embedded broker with kafka-go, drops the\n" +
			"CRM file, starts a server (so reconcile has a speed layer to swap into) and runs `all`,\n" +
			"printing each stage's time and the total.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return o.run(cmd) },
	}
	f := cmd.Flags()
	f.IntVar(&o.customers, "customers", 100_000, "customers")
	f.Float64Var(&o.eventsPerCustomer, "events-per-customer", 10,
		"events per customer: extra anonymous product views top up the shop's ~8.6 (0 = the shop as is); 1,000,000 customers × 10 = 10M events")
	f.StringVar(&o.dir, "dir", "", "data dir (default: a temporary dir, removed after)")
	f.StringVar(&o.memoryLimit, "duckdb-memory", "35%", "DuckDB memory_limit of the jobs (the broker and the speed layer share the process)")
	f.DurationVar(&o.traceSQL, "trace-sql", 0, "print every DuckDB statement of the jobs that takes at least this long (0 = none)")
	f.StringSliceVar(&o.brokers, "brokers", nil,
		"Kafka brokers to use instead of an in-process embedded one (e.g. a cdpctl broker of its own, so memory figures say which process held the messages)")
	f.BoolVar(&o.waitSpeed, "wait-speed", true, "let the speed layer apply every event before the chain starts (else it competes with the jobs)")
	f.StringVar(&o.cpuProfile, "cpuprofile", "", "write a CPU profile of the batch chain (not the setup) to this file")
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
	cfg.Kafka.Brokers = o.brokers
	cfg.Workspaces = []cdp.Workspace{{ID: "default", WriteKeys: []string{"wk_benchbenchbenchbench"}}}
	// One process holds the embedded broker (every message in memory), the
	// speed layer and the jobs: DuckDB gets a share, not its default 80 %.
	cfg.Identity.MemoryLimit = o.memoryLimit
	for _, y := range demoSegments {
		seg, err := cdp.ParseSegment([]byte(y))
		if err != nil {
			return err
		}
		cfg.Segments = append(cfg.Segments, *seg)
	}
	if err := cfg.Validate(); err != nil {
		return err
	}
	// The data dir carries its config, so a kept --dir can be studied one
	// stage at a time: `cdpctl job run cleanse --data-dir DIR`.
	if b, err := cfg.Marshal(); err == nil {
		_ = os.WriteFile(filepath.Join(dir, "tributary.yaml"), b, 0o600)
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
	w := &kafka.Writer{Addr: kafka.TCP(cfg.Brokers()...), Topic: cdp.TopicEvents, Balancer: &kafka.Murmur2Balancer{},
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
	biz := demo.Stream(demo.Config{Customers: o.customers, Seed: 42, Now: now, EventsPerCustomer: o.eventsPerCustomer}, func(m map[string]any) {
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

	// The speed layer applies the same events meanwhile. Until it has
	// caught up it competes with the jobs for the two cores (and the chain
	// would be timed against its backlog); the figures say how long that
	// took and what the speed layer holds before the chain.
	if o.waitSpeed {
		catchStart := time.Now()
		if err := waitApplied(ctx, srv.URL, biz.Events); err != nil {
			return err
		}
		fmt.Fprintf(out, "speed layer caught up with the %d events %s after the last was produced; store %s\n",
			biz.Events, time.Since(catchStart).Round(time.Millisecond), speedStoreMiB(ctx, srv.URL))
	}

	env, err := openJobEnv(ctx, cfg, cfg.Brokers())
	if err != nil {
		return err
	}
	if o.traceSQL > 0 {
		errOut := cmd.ErrOrStderr()
		env.sqlTrace = func(stmt string, d time.Duration) {
			if d >= o.traceSQL {
				fmt.Fprintf(errOut, "  sql %8s  %s\n", d.Round(time.Millisecond), oneLine(stmt, 200))
			}
		}
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
	stopProfile, err := cpuProfile(o.cpuProfile)
	if err != nil {
		return err
	}
	defer stopProfile()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	heapBefore := ms.HeapAlloc
	mem := sampleMemory(200 * time.Millisecond)
	start := time.Now()
	rec, err := runner.Run(ctx, "all", jobs.Params{})
	total := time.Since(start)
	peakHeap, peakRSS := mem.stop()
	if rec != nil {
		for _, l := range strings.Split(strings.TrimSpace(rec.Summary), "\n") {
			fmt.Fprintf(out, "  %s\n", l)
		}
	}
	if err != nil {
		return err
	}
	runtime.ReadMemStats(&ms)
	fmt.Fprintf(out, "total batch chain: %s for %d events and %d CRM rows (%.0f events/s)\n",
		total.Round(time.Millisecond), biz.Events, biz.CRMRows, float64(biz.Events)/total.Seconds())
	fmt.Fprintf(out, "speed layer store after the chain: %s\n", speedStoreMiB(ctx, srv.URL))
	held := "Go, DuckDB and the embedded broker"
	if !cfg.Embedded() {
		held = "Go and DuckDB; the broker runs elsewhere"
	}
	fmt.Fprintf(out, "memory: Go heap %d MiB before, peak %d MiB, %d MiB after; process RSS peak %d MiB (%s)\n",
		heapBefore>>20, peakHeap>>20, ms.HeapAlloc>>20, peakRSS>>20, held)
	return nil
}

// speedMetric sums the samples of one metric of the server's /metrics.
func speedMetric(ctx context.Context, url, name string) (float64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url+"/metrics", nil)
	if err != nil {
		return 0, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, fmt.Errorf("read %s/metrics: %w", url, err)
	}
	defer resp.Body.Close()
	sum := 0.0
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, name+"{") && !strings.HasPrefix(line, name+" ") {
			continue
		}
		f := strings.Fields(line)
		v, err := strconv.ParseFloat(f[len(f)-1], 64)
		if err != nil {
			return 0, fmt.Errorf("metric %s: %w", line, err)
		}
		sum += v
	}
	return sum, sc.Err()
}

// waitApplied waits until the speed layer has applied n events.
func waitApplied(ctx context.Context, url string, n int) error {
	t := time.NewTicker(250 * time.Millisecond)
	defer t.Stop()
	for {
		v, err := speedMetric(ctx, url, "tributary_speed_events_applied_total")
		if err != nil {
			return err
		}
		if v >= float64(n) {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}

// speedStoreMiB is the speed layer's own estimate of its store's memory
// (as of its last checkpoint).
func speedStoreMiB(ctx context.Context, url string) string {
	v, err := speedMetric(ctx, url, "tributary_speed_store_memory_bytes")
	if err != nil {
		return "unknown (" + err.Error() + ")"
	}
	return fmt.Sprintf("%.0f MiB", v/(1<<20))
}

// oneLine collapses a statement's whitespace and cuts it to n bytes.
func oneLine(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > n {
		s = s[:n] + "…"
	}
	return s
}

// memorySampler records the peak Go heap and the process's resident set
// (which includes DuckDB's C++ allocations) while the chain runs.
type memorySampler struct {
	done             chan struct{}
	finished         chan struct{}
	peakHeap, peakRS uint64
}

func sampleMemory(every time.Duration) *memorySampler {
	m := &memorySampler{done: make(chan struct{}), finished: make(chan struct{})}
	go func() {
		defer close(m.finished)
		t := time.NewTicker(every)
		defer t.Stop()
		var ms runtime.MemStats
		for {
			runtime.ReadMemStats(&ms)
			m.peakHeap = max(m.peakHeap, ms.HeapAlloc)
			m.peakRS = max(m.peakRS, residentBytes())
			select {
			case <-m.done:
				return
			case <-t.C:
			}
		}
	}()
	return m
}

func (m *memorySampler) stop() (heap, rss uint64) {
	close(m.done)
	<-m.finished
	return m.peakHeap, max(m.peakRS, residentBytes())
}

// residentBytes is the process's resident set size from /proc (0 where
// there is none).
func residentBytes() uint64 {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) < 2 {
		return 0
	}
	var pages uint64
	fmt.Sscan(f[1], &pages)
	return pages * uint64(os.Getpagesize())
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
