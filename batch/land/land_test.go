package land_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	cdp "github.com/tributary-cdp/tributary"
	"github.com/tributary-cdp/tributary/batch/land"
	"github.com/tributary-cdp/tributary/internal/broker"
	"github.com/tributary-cdp/tributary/internal/testenv"
	"github.com/tributary-cdp/tributary/lake"
	"github.com/tributary-cdp/tributary/lake/local"
	"github.com/tributary-cdp/tributary/lake/s3"
)

const partitions = 4

func startBroker(t *testing.T) string {
	t.Helper()
	b, err := broker.Start(broker.Config{Addr: "127.0.0.1:0", DataDir: t.TempDir(), Partitions: partitions})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	return b.Addr()
}

// produce writes n events (every 97th message is garbage) starting at
// sequence number seq, spread over two workspaces and three days.
func produce(t testing.TB, addr string, seq, n int) {
	t.Helper()
	w := &kafka.Writer{Addr: kafka.TCP(addr), Topic: cdp.TopicEvents, Balancer: &kafka.Hash{},
		BatchSize: 1000, BatchTimeout: 5 * time.Millisecond, RequiredAcks: kafka.RequireAll}
	defer w.Close()
	base := time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)
	msgs := make([]kafka.Message, 0, n)
	for i := seq; i < seq+n; i++ {
		ws := []string{"acme", "globex"}[i%2]
		e := cdp.Event{Workspace: ws, MessageID: fmt.Sprintf("m-%d", i), Type: cdp.Track, Event: "Order Completed",
			UserID: fmt.Sprintf("u%d", i%50), Timestamp: base.Add(time.Duration(i%3) * 24 * time.Hour), ReceivedAt: base,
			Properties: json.RawMessage(`{"revenue":12.5,"currency":"EUR"}`), Context: json.RawMessage(`{"ip":"10.0.0.1"}`)}
		v, _ := json.Marshal(e)
		if i%97 == 0 {
			v = []byte(malformed[i/97%len(malformed)])
		}
		msgs = append(msgs, kafka.Message{Key: []byte(e.Key()), Value: v})
	}
	for len(msgs) > 0 {
		k := min(len(msgs), 10000)
		if err := w.WriteMessages(context.Background(), msgs[:k]...); err != nil {
			t.Fatalf("produce: %v", err)
		}
		msgs = msgs[k:]
	}
}

// malformed are the messages produce writes at every 97th position: cut
// off, and the ends goccy/go-json can read past (found by
// FuzzDecodeCanonical), which must reach the quarantine, not goccy.
var malformed = []string{
	`{"workspace":"acme","type":"nope"`,
	`{"":"","":"","":"e29","tim\`,
	`{"workspace":"acme","type":"track","event":"e","userId":"\u00`,
	`{"workspace":"acme","type":"track","event":"e","userId":"u","timestamp":"2026-11-20T12:00:00Z\`,
}

func garbage(seq, n int) (bad int) {
	for i := seq; i < seq+n; i++ {
		if i%97 == 0 {
			bad++
		}
	}
	return bad
}

func highWaterMarks(t *testing.T, addr string) map[int32]int64 {
	t.Helper()
	client := &kafka.Client{Addr: kafka.TCP(addr)}
	var reqs []kafka.OffsetRequest
	for p := range partitions {
		reqs = append(reqs, kafka.LastOffsetOf(p))
	}
	resp, err := client.ListOffsets(context.Background(), &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{cdp.TopicEvents: reqs}})
	if err != nil {
		t.Fatal(err)
	}
	out := map[int32]int64{}
	for _, po := range resp.Topics[cdp.TopicEvents] {
		out[int32(po.Partition)] = po.LastOffset
	}
	return out
}

// checkExactlyOnce reads every committed row of raw/events and
// quarantine/events and checks each offset below the high-water marks
// appears exactly once, and that file names and manifest ranges agree.
func checkExactlyOnce(t *testing.T, st lake.Storage, addr string, wantEvents, wantRejected int) {
	t.Helper()
	ctx := context.Background()
	hwm := highWaterMarks(t, addr)
	seen := map[[2]int64]int{}
	m, err := lake.LatestManifest(ctx, st, lake.TableEvents)
	if err != nil {
		t.Fatal(err)
	}
	events := 0
	ids := map[string]bool{}
	for _, f := range m.Files {
		rows, err := lake.ReadAll[lake.EventRow](ctx, st, f.Path)
		if err != nil {
			t.Fatal(err)
		}
		want := fmt.Sprintf("part-%d-%d-%d.parquet", f.Kafka.Partition, f.Kafka.First, f.Kafka.Last)
		if !strings.HasSuffix(f.Path, want) || !strings.Contains(f.Path, "/workspace="+f.Workspace+"/date="+f.Date+"/") {
			t.Errorf("file %s does not match its manifest entry %+v", f.Path, f)
		}
		for _, r := range rows {
			seen[[2]int64{int64(r.KafkaPartition), r.KafkaOffset}]++
			if r.KafkaOffset < f.Kafka.First || r.KafkaOffset > f.Kafka.Last || r.Workspace != f.Workspace || r.Timestamp.Format(time.DateOnly) != f.Date {
				t.Fatalf("row %+v outside its file %+v", r, f)
			}
			ids[r.MessageID] = true
			events++
		}
	}
	rejected := 0
	rej, err := lake.ReadTable[lake.RejectRow](ctx, st, lake.TableRejected)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rej {
		seen[[2]int64{int64(r.KafkaPartition), r.KafkaOffset}]++
		if r.Reason == "" || r.Raw == "" {
			t.Fatalf("reject without reason or payload: %+v", r)
		}
		rejected++
	}
	for p, n := range hwm {
		if m.Offsets[p] != n {
			t.Errorf("manifest offset of partition %d = %d, high-water mark %d", p, m.Offsets[p], n)
		}
		for o := int64(0); o < n; o++ {
			if c := seen[[2]int64{int64(p), o}]; c != 1 {
				t.Fatalf("partition %d offset %d landed %d times", p, o, c)
			}
		}
	}
	if events != wantEvents || rejected != wantRejected || len(ids) != wantEvents {
		t.Fatalf("landed %d events (%d distinct) and %d rejects, want %d and %d", events, len(ids), rejected, wantEvents, wantRejected)
	}
	// Nothing uncommitted is left lying around after a successful run.
	objs, _ := st.List(ctx, lake.TableEvents+"/")
	if len(objs) != len(m.Files) {
		t.Errorf("%d objects under raw/events but %d committed", len(objs), len(m.Files))
	}
}

func landConfig(addr string, st lake.Storage) land.Config {
	cfg := land.DefaultConfig()
	cfg.Brokers, cfg.Storage = []string{addr}, st
	return cfg
}

func TestLandExactlyOnceAcrossReruns(t *testing.T) {
	addr := startBroker(t)
	st, err := local.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	cfg := landConfig(addr, st)
	cfg.ChunkEvents = 700

	produce(t, addr, 0, 5000)
	dry, err := land.Run(ctx, cfg, land.Options{DryRun: true})
	if err != nil || dry.Events != 5000 {
		t.Fatalf("dry run: %+v, %v", dry, err)
	}
	if objs, _ := st.List(ctx, ""); len(objs) != 0 {
		t.Fatalf("dry run wrote %d objects", len(objs))
	}
	res, err := land.Run(ctx, cfg, land.Options{RunID: "r1"})
	if err != nil {
		t.Fatal(err)
	}
	bad := garbage(0, 5000)
	if res.Events != int64(5000-bad) || res.Rejected != int64(bad) {
		t.Fatalf("first run: %+v", res)
	}
	checkExactlyOnce(t, st, addr, 5000-bad, bad)

	// Nothing new: nothing landed.
	res, err = land.Run(ctx, cfg, land.Options{})
	if err != nil || res.Events != 0 || res.Files != 0 {
		t.Fatalf("idle run: %+v, %v", res, err)
	}
	produce(t, addr, 5000, 3000)
	if _, err := land.Run(ctx, cfg, land.Options{}); err != nil {
		t.Fatal(err)
	}
	bad = garbage(0, 8000)
	checkExactlyOnce(t, st, addr, 8000-bad, bad)

	// The manifest's file list is readable by later jobs, per workspace and day.
	files, err := lake.CommittedFiles(ctx, st, lake.TableEvents)
	if err != nil {
		t.Fatal(err)
	}
	days := map[string]bool{}
	for _, f := range files {
		days[f.Workspace+"/"+f.Date] = true
	}
	if len(days) != 6 {
		t.Fatalf("partitions %v, want 2 workspaces × 3 days", days)
	}
}

func TestLandSurvivesMinIOOutage(t *testing.T) {
	addr := startBroker(t)
	m := testenv.StartMinIO(t)
	scfg := s3.DefaultConfig()
	scfg.Endpoint, scfg.AccessKey, scfg.SecretKey, scfg.Secure, scfg.Bucket, scfg.Prefix, scfg.MaxRetries =
		m.Endpoint, m.AccessKey, m.SecretKey, false, "lake", "prod", 2
	st, err := s3.New(context.Background(), scfg)
	if err != nil {
		t.Fatal(err)
	}
	produce(t, addr, 0, 6000)
	cfg := landConfig(addr, st)
	cfg.ChunkEvents = 400
	cfg.Workers = 1
	commits := 0
	cfg.AfterCommit = func(int32, int64) {
		if commits++; commits == 3 {
			m.Stop() // S3 goes away in the middle of the run
		}
	}
	_, err = land.Run(context.Background(), cfg, land.Options{})
	if err == nil {
		t.Fatal("land succeeded with MinIO stopped")
	}
	if !strings.Contains(err.Error(), "land partition") || !strings.Contains(err.Error(), m.Endpoint) {
		t.Fatalf("error does not say what failed where: %v", err)
	}
	t.Logf("error during the outage: %v", err)
	if err := m.Start(); err != nil {
		t.Fatal(err)
	}
	cfg.AfterCommit = nil
	if _, err := land.Run(context.Background(), cfg, land.Options{}); err != nil {
		t.Fatalf("run after the outage: %v", err)
	}
	bad := garbage(0, 6000)
	checkExactlyOnce(t, st, addr, 6000-bad, bad)
}
