package command

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/spf13/cobra"

	cdp "github.com/tributary-cdp/tributary"
	"github.com/tributary-cdp/tributary/batch/ingest"
	"github.com/tributary-cdp/tributary/batch/land"
	"github.com/tributary-cdp/tributary/internal/testenv"
	"github.com/tributary-cdp/tributary/internal/topics"
	"github.com/tributary-cdp/tributary/lake"
	"github.com/tributary-cdp/tributary/lake/local"
	"github.com/tributary-cdp/tributary/lake/s3"
)

type benchLandOptions struct {
	events     int
	partitions int
	noS3       bool
	cpuProfile string
	workers    int
}

func newBenchLandCmd(_ *globalOptions) *cobra.Command {
	o := &benchLandOptions{}
	cmd := &cobra.Command{
		Use:   "land",
		Short: "Land job throughput, Kafka → Parquet, to a local lake and to MinIO, vs a plain Kafka read",
		Long: "Starts an embedded broker in a temporary directory and produces --events canonical events;\n" +
			"then, in the same run: reads them all with kafka-go and discards them (baseline), lands them\n" +
			"into a local lake, and lands them into a lake on a MinIO server started from $TRIBUTARY_MINIO\n" +
			"(or ~/.cache/tributary/bin/minio). Prints events/s, the ratio to the baseline, Parquet bytes\n" +
			"and the peak RSS of each phase.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return o.run(cmd) },
	}
	f := cmd.Flags()
	f.IntVar(&o.events, "events", 1_000_000, "events to produce and land")
	f.IntVar(&o.partitions, "partitions", 8, "partitions of cdp.events")
	f.BoolVar(&o.noS3, "no-s3", false, "skip the MinIO phase")
	f.StringVar(&o.cpuProfile, "cpuprofile", "", "write a CPU profile of the land phases to this file")
	f.IntVar(&o.workers, "workers", land.DefaultConfig().Workers, "partitions landed at once")
	return cmd
}

// resetPeakRSS resets the kernel's high-water mark of this process's RSS
// (Linux: "5" in /proc/self/clear_refs), so each phase reports its own peak.
func resetPeakRSS() { _ = os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) }

// peakRSS is VmHWM from /proc/self/status, in MiB (0 if unknown).
func peakRSS() float64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 64)
			return kb / 1024
		}
	}
	return 0
}

func benchLandEvent(rng *rand.Rand, i int, now time.Time) cdp.Event {
	ws := []string{"acme", "globex", "initech"}[i%3]
	e := cdp.Event{
		Workspace: ws, MessageID: fmt.Sprintf("bench-%d-%d", i, rng.Int64()), Type: cdp.Track,
		Event:  []string{"Product Viewed", "Order Completed", "Signed Up", "Page Viewed"}[rng.IntN(4)],
		UserID: fmt.Sprintf("user-%d", rng.IntN(200_000)), AnonymousID: fmt.Sprintf("anon-%016x", rng.Uint64()),
		Timestamp: now.Add(-time.Duration(rng.IntN(72)) * time.Hour), ReceivedAt: now,
		Properties: json.RawMessage(fmt.Sprintf(`{"product_id":"sku-%d","price":%d.99,"currency":"USD","quantity":%d}`, rng.IntN(5000), rng.IntN(300), 1+rng.IntN(4))),
		Context:    json.RawMessage(`{"ip":"203.0.113.7","library":{"name":"analytics-node","version":"2.1.0"},"userAgent":"Mozilla/5.0 (X11; Linux x86_64)"}`),
	}
	return e
}

func (o *benchLandOptions) run(cmd *cobra.Command) error {
	ctx := cmd.Context()
	out := cmd.OutOrStdout()
	dir, err := os.MkdirTemp("", "tributary-bench-land-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	// The broker runs in its own process (`cdpctl broker`), so the peak RSS
	// below is the land job's alone, as with `cdpctl job run land`.
	brokers, stopBroker, err := startBrokerProcess(ctx, dir, o.partitions)
	if err != nil {
		return err
	}
	defer stopBroker()

	fmt.Fprintf(out, "producing %d events to %d partitions…\n", o.events, o.partitions)
	w := &kafka.Writer{Addr: kafka.TCP(brokers...), Topic: cdp.TopicEvents, Balancer: &kafka.Hash{},
		BatchSize: 1000, BatchTimeout: 5 * time.Millisecond, RequiredAcks: kafka.RequireAll}
	rng := rand.New(rand.NewPCG(7, 11))
	now := time.Now().UTC()
	var valueBytes int64
	start := time.Now()
	for i := 0; i < o.events; {
		n := min(20_000, o.events-i)
		msgs := make([]kafka.Message, n)
		for k := range msgs {
			e := benchLandEvent(rng, i+k, now)
			v, _ := json.Marshal(e)
			valueBytes += int64(len(v))
			msgs[k] = kafka.Message{Key: []byte(e.Key()), Value: v}
		}
		if err := w.WriteMessages(ctx, msgs...); err != nil {
			w.Close()
			return fmt.Errorf("produce: %w", err)
		}
		i += n
	}
	w.Close()
	fmt.Fprintf(out, "produced in %s (%.0f events/s, %.0f bytes/event as JSON)\n\n", time.Since(start).Round(time.Millisecond),
		float64(o.events)/time.Since(start).Seconds(), float64(valueBytes)/float64(o.events))

	// Baseline: read every partition from 0 with kafka-go, decode nothing.
	resetPeakRSS()
	start = time.Now()
	read, err := benchReadAll(ctx, brokers, o.partitions)
	if err != nil {
		return err
	}
	base := time.Since(start)
	baseRate := float64(read) / base.Seconds()
	fmt.Fprintf(out, "%-28s %10s %12s %8s %12s %10s\n", "phase", "time", "events/s", "ratio", "parquet", "peak RSS")
	fmt.Fprintf(out, "%-28s %10s %12.0f %8s %12s %8.0f MiB\n", "kafka-go read (baseline)", base.Round(time.Millisecond), baseRate, "1.00", "-", peakRSS())

	stopProfile, err := cpuProfile(o.cpuProfile)
	if err != nil {
		return err
	}
	defer stopProfile()
	phase := func(name string, st lake.Storage) error {
		resetPeakRSS()
		cfg := land.DefaultConfig()
		cfg.Brokers, cfg.Storage, cfg.Workers = brokers, st, o.workers
		t0 := time.Now()
		res, err := land.Run(ctx, cfg, land.Options{RunID: "bench"})
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		d := time.Since(t0)
		rate := float64(res.Events+res.Rejected) / d.Seconds()
		fmt.Fprintf(out, "%-28s %10s %12.0f %8.2f %9.1f MiB %8.0f MiB   (%d files)\n", name, d.Round(time.Millisecond), rate, rate/baseRate,
			float64(res.Bytes)/(1<<20), peakRSS(), res.Files)
		if res.Events != int64(o.events) {
			return fmt.Errorf("%s landed %d events, want %d", name, res.Events, o.events)
		}
		return nil
	}
	lst, err := local.New(filepath.Join(dir, "lake"))
	if err != nil {
		return err
	}
	if err := phase("land → local lake", lst); err != nil {
		return err
	}
	if o.noS3 {
		return nil
	}
	m, err := testenv.RunMinIO(filepath.Join(dir, "minio"))
	if err != nil {
		return fmt.Errorf("start MinIO for the S3 phase (or pass --no-s3): %w", err)
	}
	defer m.Stop()
	sc := s3.DefaultConfig()
	sc.Endpoint, sc.AccessKey, sc.SecretKey, sc.Secure, sc.Bucket = m.Endpoint, m.AccessKey, m.SecretKey, false, "lake"
	sst, err := s3.New(ctx, sc)
	if err != nil {
		return err
	}
	return phase("land → MinIO (S3)", sst)
}

func startBrokerProcess(ctx context.Context, dir string, partitions int) ([]string, func(), error) {
	self, err := os.Executable()
	if err != nil {
		return nil, nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, nil, err
	}
	addr := ln.Addr().String()
	ln.Close()
	cfgPath := filepath.Join(dir, "broker.yaml")
	if err := os.WriteFile(cfgPath, fmt.Appendf(nil, "kafka:\n  partitions: %d\n", partitions), 0o644); err != nil {
		return nil, nil, err
	}
	cmd := exec.Command(self, "broker", "--config", cfgPath, "--data-dir", dir, "--embedded-broker-addr", addr, "--log-level", "warn")
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return nil, nil, fmt.Errorf("start broker process: %w", err)
	}
	stop := func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
	}
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := topics.WaitReady(wctx, []string{addr}); err != nil {
		stop()
		return nil, nil, err
	}
	return []string{addr}, stop, nil
}

func benchReadAll(ctx context.Context, brokers []string, partitions int) (int64, error) {
	client := &kafka.Client{Addr: kafka.TCP(brokers...)}
	var reqs []kafka.OffsetRequest
	for p := range partitions {
		reqs = append(reqs, kafka.LastOffsetOf(p))
	}
	resp, err := client.ListOffsets(ctx, &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{cdp.TopicEvents: reqs}})
	if err != nil {
		return 0, err
	}
	var total int64
	for _, po := range resp.Topics[cdp.TopicEvents] {
		if po.LastOffset == 0 {
			continue
		}
		r := kafka.NewReader(kafka.ReaderConfig{Brokers: brokers, Topic: cdp.TopicEvents, Partition: po.Partition, MinBytes: 1, MaxBytes: 16 << 20, MaxWait: 250 * time.Millisecond})
		for {
			m, err := r.ReadMessage(ctx)
			if err != nil {
				r.Close()
				return total, err
			}
			total++
			if m.Offset >= po.LastOffset-1 {
				break
			}
		}
		r.Close()
	}
	return total, nil
}

type benchIngestOptions struct {
	rows int
}

func newBenchIngestCmd(_ *globalOptions) *cobra.Command {
	o := &benchIngestOptions{}
	cmd := &cobra.Command{
		Use:   "ingest",
		Short: "Ingest throughput of a generated CSV export vs parsing the same file with encoding/csv",
		Long: "Writes a CSV of --rows customers (BOM, CRLF, quoted fields, 1% bad rows) in a temporary\n" +
			"directory, then in the same run parses it with encoding/csv alone (baseline) and ingests it\n" +
			"through the issue's example source (trim, lower, phone_e164:US, parse_date) into a local lake.\n" +
			"Prints rows/s, the ratio to the baseline and the peak RSS of each phase.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return o.run(cmd) },
	}
	cmd.Flags().IntVar(&o.rows, "rows", 1_000_000, "rows in the generated CSV")
	return cmd
}

const benchSourceYAML = `name: bench_customers
workspace: default
location: file://%s
format: {type: csv, header: true, delimiter: ",", encoding: utf-8}
kind: profiles
fields:
  customer_id: {column: "Customer ID", identifier: customer_id, required: true}
  email: {column: "E-mail", transforms: [trim, lower], identifier: email}
  phone: {column: "Phone", transforms: ["phone_e164:US"], identifier: phone}
  birth_date: {column: "DOB", transforms: ["parse_date:2006-01-02|01/02/2006"]}
  first_name: {column: "First Name", transforms: [trim]}
  last_name: {column: "Last Name", transforms: [trim]}
  city: {column: "City"}
`

func writeBenchCSV(path string, rows int) (int64, error) {
	f, err := os.Create(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	w := bufio.NewWriterSize(f, 1<<20)
	rng := rand.New(rand.NewPCG(3, 5))
	firsts := []string{"Ann", "Bob", "Carol", "José", "Zoë", "Mia", "Liam", "Noah", "Emma", "Olivia"}
	lasts := []string{"Smith", "Müller", "O'Brien", "García", "Nguyen", "Kowalski", "Rossi", "Dubois"}
	cities := []string{"Springfield", "Paris, TX", "New York", "São Paulo", "Zürich", `"Quoted" Town`}
	w.WriteString("\xef\xbb\xbf\"Customer ID\",\"E-mail\",\"Phone\",\"DOB\",\"First Name\",\"Last Name\",\"City\",\"Notes\"\r\n")
	for i := range rows {
		id := fmt.Sprintf("C%08d", i)
		if i%100 == 99 {
			id = "" // 1% bad rows: required field empty
		}
		first, last := firsts[rng.IntN(len(firsts))], lasts[rng.IntN(len(lasts))]
		email := fmt.Sprintf(" %s.%s%d@Example.com ", first, last, i)
		phone := fmt.Sprintf("(%03d) 555-%04d", 201+rng.IntN(700), rng.IntN(10000))
		dob := fmt.Sprintf("%04d-%02d-%02d", 1950+rng.IntN(55), 1+rng.IntN(12), 1+rng.IntN(28))
		if i%2 == 0 {
			dob = fmt.Sprintf("%02d/%02d/%04d", 1+rng.IntN(12), 1+rng.IntN(28), 1950+rng.IntN(55))
		}
		city := cities[rng.IntN(len(cities))]
		fmt.Fprintf(w, "%s,%s,%s,%s,%s,%s,%s,%s\r\n", id, csvQuote(email), phone, dob, first, csvQuote(last), csvQuote(city), `"note, with comma"`)
	}
	if err := w.Flush(); err != nil {
		return 0, err
	}
	fi, err := f.Stat()
	if err != nil {
		return 0, err
	}
	return fi.Size(), nil
}

func csvQuote(s string) string {
	if strings.ContainsAny(s, `",`+"\r\n") {
		return `"` + strings.ReplaceAll(s, `"`, `""`) + `"`
	}
	return s
}

func (o *benchIngestOptions) run(cmd *cobra.Command) error {
	ctx := cmd.Context()
	out := cmd.OutOrStdout()
	dir, err := os.MkdirTemp("", "tributary-bench-ingest-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	drop := filepath.Join(dir, "drop")
	if err := os.MkdirAll(drop, 0o755); err != nil {
		return err
	}
	size, err := writeBenchCSV(filepath.Join(drop, "customers.csv"), o.rows)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "generated %d rows, %.1f MiB of CSV\n\n", o.rows, float64(size)/(1<<20))

	resetPeakRSS()
	t0 := time.Now()
	n, err := benchParseCSV(filepath.Join(drop, "customers.csv"))
	if err != nil {
		return err
	}
	base := time.Since(t0)
	baseRate := float64(n) / base.Seconds()
	fmt.Fprintf(out, "%-30s %10s %12s %8s %10s\n", "phase", "time", "rows/s", "ratio", "peak RSS")
	fmt.Fprintf(out, "%-30s %10s %12.0f %8s %6.0f MiB\n", "encoding/csv parse (baseline)", base.Round(time.Millisecond), baseRate, "1.00", peakRSS())

	phase := func(name, def string) error {
		st, err := local.New(filepath.Join(dir, "lake-"+strconv.Itoa(len(name))))
		if err != nil {
			return err
		}
		src, err := ingest.ParseSource([]byte(def))
		if err != nil {
			return err
		}
		if err := ingest.NewStore(st).Add(ctx, src, false); err != nil {
			return err
		}
		resetPeakRSS()
		cfg := ingest.DefaultConfig()
		cfg.Storage = st
		t0 := time.Now()
		res, err := ingest.Run(ctx, cfg, ingest.Options{RunID: "bench"})
		if err != nil {
			return err
		}
		d := time.Since(t0)
		rate := float64(res.Rows+res.Quarantined) / d.Seconds()
		fmt.Fprintf(out, "%-30s %10s %12.0f %8.2f %6.0f MiB   (%d landed, %d quarantined)\n", name, d.Round(time.Millisecond), rate, rate/baseRate,
			peakRSS(), res.Rows, res.Quarantined)
		if res.Rows+res.Quarantined != int64(o.rows) {
			return fmt.Errorf("ingested %d+%d rows, want %d", res.Rows, res.Quarantined, o.rows)
		}
		return nil
	}
	def := fmt.Sprintf(benchSourceYAML, drop)
	if err := phase("ingest → local lake", def); err != nil {
		return err
	}
	// The same without phone_e164: libphonenumber parsing (identity.NormalizePhone)
	// is most of the cost above.
	return phase("  same, without phone_e164", strings.Replace(def, `transforms: ["phone_e164:US"], `, "", 1))
}

func benchParseCSV(path string) (int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	r := newCSVBaseline(f)
	var n int64
	for {
		_, err := r.Read()
		if err == io.EOF {
			return n - 1, nil // minus the header
		}
		if err != nil {
			return n, err
		}
		n++
	}
}
