package main_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	cdp "github.com/tributary-cdp/tributary"
	"github.com/tributary-cdp/tributary/internal/testenv"
)

func post(t *testing.T, url, key string, body []byte, gz bool) (int, error) {
	t.Helper()
	if gz {
		var buf bytes.Buffer
		zw := gzip.NewWriter(&buf)
		zw.Write(body)
		zw.Close()
		body = buf.Bytes()
	}
	req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	req.SetBasicAuth(key, "")
	if gz {
		req.Header.Set("Content-Encoding", "gzip")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}

// readAll reads every message of topic with a fresh kafka-go consumer group
// until want messages arrived, or fails after 30 s.
func readAll(t *testing.T, broker, topic string, want int) map[string]*cdp.Event {
	t.Helper()
	r := kafka.NewReader(kafka.ReaderConfig{Brokers: []string{broker}, Topic: topic, GroupID: fmt.Sprintf("it-%d", time.Now().UnixNano()),
		StartOffset: kafka.FirstOffset, MaxWait: 50 * time.Millisecond})
	defer r.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out := map[string]*cdp.Event{}
	for n := 0; n < want; n++ {
		m, err := r.FetchMessage(ctx)
		if err != nil {
			t.Fatalf("kafka-go read %s: %d of %d messages: %v", topic, n, want, err)
		}
		e, err := cdp.DecodeEvent(m.Value)
		if err != nil {
			t.Fatalf("invalid event in topic: %v", err)
		}
		if string(m.Key) != e.Key() {
			t.Fatalf("message %s has key %q, want %q", e.MessageID, m.Key, e.Key())
		}
		out[e.MessageID] = e
	}
	return out
}

func TestSegmentSDKAndRawHTTPLandInKafka(t *testing.T) {
	root := testenv.ModuleRoot(t)
	sdkDir := filepath.Join(root, "testdata", "segment-node")
	if _, err := os.Stat(filepath.Join(sdkDir, "node_modules", "@segment", "analytics-node")); err != nil {
		t.Fatalf("Segment's Node SDK is not installed: run `make test-deps` (%v)", err)
	}
	in := testenv.Init(t)
	in.Serve(t)

	// 1. Segment's own Node SDK: 5 users × 6 calls, one of each type.
	cmd := exec.Command("node", "send.mjs", in.URL(), in.WriteKey, "sdk", "5")
	cmd.Dir = sdkDir
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("node SDK: %v\n%s", err, out)
	}
	var sdk struct {
		Sent       int      `json:"sent"`
		MessageIDs []string `json:"messageIds"`
	}
	if err := json.Unmarshal(out, &sdk); err != nil || sdk.Sent != 30 {
		t.Fatalf("SDK summary %q: %v", out, err)
	}

	// 2. Raw HTTP: a gzip batch from a device whose clock is 1 h ahead, and a plain track.
	now := time.Now().UTC()
	ahead := now.Add(time.Hour)
	batch := fmt.Sprintf(`{"batch":[
		{"type":"track","userId":"raw-1","event":"Product Viewed","messageId":"raw-skew","timestamp":%q},
		{"type":"identify","userId":"raw-1","traits":{"email":"Raw@Example.com"},"messageId":"raw-identify"}],
		"sentAt":%q}`, ahead.Add(-time.Minute).Format(time.RFC3339Nano), ahead.Format(time.RFC3339Nano))
	if st, err := post(t, in.URL()+"/v1/batch", in.WriteKey, []byte(batch), true); err != nil || st != 200 {
		t.Fatalf("gzip batch: %d %v", st, err)
	}
	if st, err := post(t, in.URL()+"/v1/track", in.WriteKey, []byte(`{"anonymousId":"raw-anon","event":"Signed Up","messageId":"raw-track"}`), false); err != nil || st != 200 {
		t.Fatalf("track: %d %v", st, err)
	}

	// 3. As analytics.js posts from a shop's page: a one-letter path, text/plain,
	// the write key in the body; and /v1/b, where the batching and mobile SDKs post.
	for path, body := range map[string]string{
		"/v1/t": `{"type":"track","anonymousId":"web-anon","event":"Product Viewed","messageId":"web-track","writeKey":"` + in.WriteKey + `"}`,
		"/v1/b": `{"batch":[{"type":"page","anonymousId":"web-anon","name":"Home","messageId":"web-page"}],"writeKey":"` + in.WriteKey + `"}`,
	} {
		req, _ := http.NewRequest(http.MethodPost, in.URL()+path, strings.NewReader(body))
		req.Header.Set("Content-Type", "text/plain")
		req.Header.Set("Origin", "https://shop.example")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 || resp.Header.Get("Access-Control-Allow-Origin") != "*" {
			t.Fatalf("%s from a page: %d %v", path, resp.StatusCode, resp.Header)
		}
	}

	// Read back with kafka-go.
	events := readAll(t, in.Broker, cdp.TopicEvents, 35)
	for _, id := range append(sdk.MessageIDs, "raw-skew", "raw-identify", "raw-track", "web-track", "web-page") {
		if events[id] == nil {
			t.Fatalf("%s not in %s", id, cdp.TopicEvents)
		}
	}
	idf := events["sdk-identify-0"]
	if idf.Type != cdp.Identify || idf.UserID != "sdk-user-0" || idf.AnonymousID != "sdk-anon-0" || !strings.Contains(string(idf.Traits), "User0@Example.com") {
		t.Fatalf("SDK identify content: %+v traits %s", idf, idf.Traits)
	}
	if e := events["sdk-alias-3"]; e.Type != cdp.Alias || e.PreviousID != "sdk-anon-3" {
		t.Fatalf("SDK alias: %+v", e)
	}
	if e := events["sdk-group-1"]; e.GroupID != "sdk-org-1" {
		t.Fatalf("SDK group: %+v", e)
	}
	if e := events["sdk-track-2"]; e.Event != "Order Completed" || !strings.Contains(string(e.Properties), `"revenue":12`) || len(e.Context) == 0 {
		t.Fatalf("SDK track: %+v props %s ctx %s", e, e.Properties, e.Context)
	}
	skew := events["raw-skew"]
	if d := skew.Timestamp.Sub(now.Add(-time.Minute)); d < -5*time.Second || d > 5*time.Second {
		t.Fatalf("skew not corrected: timestamp %v, want ≈ %v", skew.Timestamp, now.Add(-time.Minute))
	}

	// Read back with kcat, an outside Kafka client.
	kc := exec.Command("kcat", "-C", "-b", in.Broker, "-t", cdp.TopicEvents, "-o", "beginning", "-e", "-q", "-f", "%k\t%s\n")
	kout, err := kc.Output()
	if err != nil {
		t.Fatalf("kcat: %v", err)
	}
	lines := strings.Split(strings.TrimSpace(string(kout)), "\n")
	if len(lines) != 35 {
		t.Fatalf("kcat read %d messages, want 35", len(lines))
	}
	seen := 0
	for _, l := range lines {
		key, val, _ := strings.Cut(l, "\t")
		e, err := cdp.DecodeEvent([]byte(val))
		if err != nil || key != e.Key() {
			t.Fatalf("kcat message %q: %v", l, err)
		}
		if e.MessageID == "raw-track" && key == "default/raw-anon" {
			seen++
		}
	}
	if seen != 1 {
		t.Fatal("kcat did not see raw-track under key default/raw-anon")
	}
}

func TestKill9KeepsAcknowledgedEvents(t *testing.T) {
	in := testenv.Init(t)
	p := in.Serve(t)

	var mu sync.Mutex
	acked := map[string]bool{}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for c := range 4 {
		wg.Go(func() {
			for i := 0; ctx.Err() == nil; i++ {
				ids := make([]string, 50)
				var sb strings.Builder
				sb.WriteString(`{"batch":[`)
				for j := range ids {
					ids[j] = fmt.Sprintf("c%d-%d-%d", c, i, j)
					if j > 0 {
						sb.WriteByte(',')
					}
					fmt.Fprintf(&sb, `{"type":"track","userId":"u-%d","event":"Tick","messageId":%q}`, j, ids[j])
				}
				sb.WriteString(`]}`)
				st, err := post(t, in.URL()+"/v1/batch", in.WriteKey, []byte(sb.String()), false)
				if err == nil && st == 200 {
					mu.Lock()
					for _, id := range ids {
						acked[id] = true
					}
					mu.Unlock()
				}
			}
		})
	}
	// Kill once a good number of batches were acknowledged.
	deadline := time.Now().Add(30 * time.Second)
	for {
		mu.Lock()
		n := len(acked)
		mu.Unlock()
		if n >= 5000 || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	p.Kill()
	cancel()
	wg.Wait()
	if len(acked) == 0 {
		t.Fatal("nothing was acknowledged before the kill")
	}

	in.Serve(t) // restart on the same data dir
	got := readAllAvailable(t, in.Broker, cdp.TopicEvents)
	missing := 0
	for id := range acked {
		if !got[id] {
			missing++
		}
	}
	if missing > 0 {
		t.Fatalf("%d of %d acknowledged events lost after kill -9", missing, len(acked))
	}
	t.Logf("%d acknowledged events, all present after kill -9 (%d in topic)", len(acked), len(got))
}

// readAllAvailable reads each partition up to its high-water mark.
func readAllAvailable(t *testing.T, broker, topic string) map[string]bool {
	t.Helper()
	conn, err := kafka.Dial("tcp", broker)
	if err != nil {
		t.Fatal(err)
	}
	parts, err := conn.ReadPartitions(topic)
	conn.Close()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for _, p := range parts {
		pc, err := kafka.DialLeader(context.Background(), "tcp", broker, topic, p.ID)
		if err != nil {
			t.Fatal(err)
		}
		last, err := pc.ReadLastOffset()
		pc.Close()
		if err != nil {
			t.Fatal(err)
		}
		if last == 0 {
			continue
		}
		r := kafka.NewReader(kafka.ReaderConfig{Brokers: []string{broker}, Topic: topic, Partition: p.ID, MaxWait: 50 * time.Millisecond})
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		for {
			m, err := r.FetchMessage(ctx)
			if err != nil {
				t.Fatalf("read partition %d: %v", p.ID, err)
			}
			var e struct {
				MessageID string `json:"messageId"`
			}
			json.Unmarshal(m.Value, &e)
			got[e.MessageID] = true
			if m.Offset >= last-1 {
				break
			}
		}
		cancel()
		r.Close()
	}
	return got
}

func TestCollectorOnlyServe(t *testing.T) {
	in := testenv.Init(t)
	in.Serve(t, "--collector-only")
	if st, err := post(t, in.URL()+"/v1/track", in.WriteKey, []byte(`{"userId":"co-1","event":"e","messageId":"co-m1"}`), false); err != nil || st != 200 {
		t.Fatalf("track: %d %v", st, err)
	}
	if got := readAll(t, in.Broker, cdp.TopicEvents, 1); got["co-m1"] == nil {
		t.Fatal("event not in cdp.events")
	}
	resp, err := http.Get(in.URL() + "/v1/profiles/user_id:co-1")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Fatalf("a collector-only server serves look-ups: %d", resp.StatusCode)
	}
}
