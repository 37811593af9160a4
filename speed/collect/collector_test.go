package collect

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"

	cdp "github.com/tributary-cdp/tributary"
	"github.com/tributary-cdp/tributary/internal/auth"
	"github.com/tributary-cdp/tributary/internal/broker"
)

const testKey = "wk_test_0123456789abcdef"

// startCollector runs a real embedded broker and the collector behind httptest.
func startCollector(t *testing.T, mods ...func(*Config)) (*httptest.Server, string) {
	t.Helper()
	bcfg := broker.DefaultConfig()
	bcfg.Addr, bcfg.DataDir, bcfg.Partitions = "127.0.0.1:0", t.TempDir(), 4
	b, err := broker.Start(bcfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	cfg := DefaultConfig()
	cfg.Brokers = []string{b.Addr()}
	cfg.Keys = auth.NewKeys([]cdp.Workspace{{ID: "acme", WriteKeys: []string{testKey}}})
	for _, m := range mods {
		m(&cfg)
	}
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	mux := http.NewServeMux()
	c.Register(mux)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv, b.Addr()
}

type reqSpec struct {
	method  string // POST when empty
	path    string
	body    string
	auth    string // write key as Basic user; "" = none
	gzip    bool
	headers map[string]string
}

func do(t *testing.T, srv *httptest.Server, r reqSpec) (int, map[string]any, http.Header) {
	t.Helper()
	var body io.Reader = strings.NewReader(r.body)
	if r.gzip {
		var buf bytes.Buffer
		zw := gzip.NewWriter(&buf)
		zw.Write([]byte(r.body))
		zw.Close()
		body = &buf
	}
	method := http.MethodPost
	if r.method != "" {
		method = r.method
	}
	req, _ := http.NewRequest(method, srv.URL+r.path, body)
	if r.auth != "" {
		req.Header.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(r.auth+":")))
	}
	if r.gzip {
		req.Header.Set("Content-Encoding", "gzip")
	}
	for k, v := range r.headers {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	raw, _ := io.ReadAll(resp.Body)
	if len(raw) == 0 && resp.StatusCode == http.StatusNoContent {
		return resp.StatusCode, nil, resp.Header
	}
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatalf("response is not JSON: %q", raw)
	}
	return resp.StatusCode, out, resp.Header
}

func TestCollectorErrors(t *testing.T) {
	reg := prometheus.NewRegistry()
	srv, _ := startCollector(t, func(c *Config) { c.Registerer = reg })
	// Every reason has its series from the start, for an alert on the first.
	before := rejectedByReason(t, reg)
	for _, code := range cdp.EventCodes {
		if n, ok := before[code]; !ok || n != 0 {
			t.Errorf("events_rejected_total{reason=%s} at the start: %v, %v", code, n, ok)
		}
	}
	big := `{"userId":"u","event":"e","properties":{"pad":"` + strings.Repeat("x", 33<<10) + `"}}`
	var bigBatch strings.Builder
	bigBatch.WriteString(`{"batch":[`)
	for i := range 30 {
		if i > 0 {
			bigBatch.WriteString(",")
		}
		bigBatch.WriteString(`{"type":"track","userId":"u","event":"e","properties":{"pad":"` + strings.Repeat("y", 20<<10) + `"}}`)
	}
	bigBatch.WriteString(`]}`)
	tests := []struct {
		name   string
		req    reqSpec
		status int
		code   string
		msg    string // substring of message
	}{
		{"malformed JSON", reqSpec{path: "/v1/track", body: `{"userId":`, auth: testKey}, 400, "invalid_json", ""},
		{"malformed batch", reqSpec{path: "/v1/batch", body: `[1,2`, auth: testKey}, 400, "invalid_json", ""},
		// goccy can read past the end of these (FuzzDecodeCanonical): they
		// are refused before it sees them, saying where they break.
		{"goccy poison event", reqSpec{path: "/v1/track", body: `{"":"","":"","":"e29","tim\`, auth: testKey}, 400, "invalid_json", "at byte"},
		{"goccy poison identify", reqSpec{path: "/v1/identify", body: `{"userId":"u","traits":{"a":"\`, auth: testKey}, 400, "invalid_json", "at byte"},
		{"goccy poison batch", reqSpec{path: "/v1/batch", body: `{"":"","":"","":"e29","tim\`, auth: testKey}, 400, "invalid_json", "at byte"},
		{"goccy poison in a batch element", reqSpec{path: "/v1/batch", body: `{"batch":[{"type":"track","event":"e","userId":"u","timestamp":"2026-11-22T00:00:00Z\`, auth: testKey}, 400, "invalid_json", "at byte"},
		{"goccy poison in a batch id", reqSpec{path: "/v1/batch", body: `{"batch":[{"type":"track","event":"e","userId":"\u00`, auth: testKey}, 400, "invalid_json", "at byte"},
		{"batch without array", reqSpec{path: "/v1/batch", body: `{}`, auth: testKey}, 400, "missing_field", "batch"},
		{"invalid track names the field", reqSpec{path: "/v1/track", body: `{"userId":"u"}`, auth: testKey}, 400, "missing_field", "event"},
		{"invalid identify", reqSpec{path: "/v1/identify", body: `{"traits":{}}`, auth: testKey}, 400, "missing_field", "userId"},
		{"invalid alias", reqSpec{path: "/v1/alias", body: `{"userId":"u"}`, auth: testKey}, 400, "missing_field", "previousId"},
		{"invalid group", reqSpec{path: "/v1/group", body: `{"userId":"u"}`, auth: testKey}, 400, "missing_field", "groupId"},
		{"bad timestamp", reqSpec{path: "/v1/page", body: `{"userId":"u","timestamp":"now"}`, auth: testKey}, 400, "invalid_timestamp", "timestamp"},
		{"no key", reqSpec{path: "/v1/track", body: `{"userId":"u","event":"e"}`}, 401, "unauthorized", "write key"},
		{"unknown key", reqSpec{path: "/v1/track", body: `{"userId":"u","event":"e"}`, auth: "wk_nope_nope_nope_nope"}, 401, "unauthorized", "unknown"},
		{"unknown key in body", reqSpec{path: "/v1/track", body: `{"userId":"u","event":"e","writeKey":"zzzzzzzzzzzzzzzzzzz"}`}, 401, "unauthorized", ""},
		{"event over 32 KB", reqSpec{path: "/v1/track", body: big, auth: testKey}, 413, "payload_too_large", "32 KB"},
		{"gzip event over 32 KB", reqSpec{path: "/v1/track", body: big, auth: testKey, gzip: true}, 413, "payload_too_large", "32 KB"},
		{"batch over 500 KB", reqSpec{path: "/v1/batch", body: bigBatch.String(), auth: testKey}, 413, "payload_too_large", "500 KB"},
		{"broken gzip", reqSpec{path: "/v1/track", body: "not gzip", auth: testKey, headers: map[string]string{"Content-Encoding": "gzip"}}, 400, "invalid_body", "gzip"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, out, _ := do(t, srv, tt.req)
			if status != tt.status || out["code"] != tt.code || out["success"] != false {
				t.Fatalf("got %d %v, want %d %s", status, out, tt.status, tt.code)
			}
			if !strings.Contains(fmt.Sprint(out["message"]), tt.msg) {
				t.Fatalf("message %q does not mention %q", out["message"], tt.msg)
			}
		})
	}
	// The four invalid events and the bad timestamp, under reasons of the list.
	after := rejectedByReason(t, reg)
	if after[cdp.CodeMissingField] != 4 || after[cdp.CodeInvalidTimestamp] != 1 || len(after) != len(cdp.EventCodes) {
		t.Errorf("events_rejected_total by reason: %v", after)
	}
}

// rejectedByReason reads tributary_collector_events_rejected_total of reg.
func rejectedByReason(t *testing.T, reg *prometheus.Registry) map[string]float64 {
	t.Helper()
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, f := range fams {
		if f.GetName() == "tributary_collector_events_rejected_total" {
			for _, m := range f.GetMetric() {
				got[m.GetLabel()[0].GetValue()] = m.GetCounter().GetValue()
			}
		}
	}
	return got
}

func TestCollectorProducesCanonicalEvents(t *testing.T) {
	srv, addr := startCollector(t)
	send := []reqSpec{
		{path: "/v1/identify", body: `{"userId":"u1","traits":{"email":"Ann@Example.com"},"messageId":"m-identify"}`, auth: testKey},
		{path: "/v1/track", body: `{"anonymousId":"a1","event":"Order Completed","properties":{"revenue":9.5},"messageId":"m-track"}`, auth: testKey, gzip: true},
		{path: "/v1/page", body: `{"userId":"u1","name":"Home","messageId":"m-page","writeKey":"` + testKey + `"}`},
		{path: "/v1/screen", body: `{"userId":"u1","name":"Cart","messageId":"m-screen"}`, auth: testKey},
		{path: "/v1/group", body: `{"userId":"u1","groupId":"g1","messageId":"m-group"}`, auth: testKey},
		{path: "/v1/alias", body: `{"userId":"u1","previousId":"a1","messageId":"m-alias"}`, auth: testKey},
	}
	for _, r := range send {
		if status, out, _ := do(t, srv, r); status != 200 || out["success"] != true {
			t.Fatalf("%s: %d %v", r.path, status, out)
		}
	}
	// A batch with one invalid event: the valid one lands, the invalid is reported.
	status, out, _ := do(t, srv, reqSpec{path: "/v1/batch", auth: testKey, body: `{"batch":[
		{"type":"track","userId":"u2","event":"Signed Up","messageId":"m-batch-ok","timestamp":"2026-11-22T10:00:00Z","sentAt":"2026-11-22T10:00:00Z"},
		{"type":"track","userId":"u2","messageId":"m-batch-bad"}]}`})
	if status != 200 || out["success"] != true {
		t.Fatalf("batch: %d %v", status, out)
	}
	rej, _ := out["rejected"].([]any)
	if len(rej) != 1 || rej[0].(map[string]any)["index"].(float64) != 1 || rej[0].(map[string]any)["code"] != "missing_field" {
		t.Fatalf("rejected = %v", out["rejected"])
	}

	msgs := readTopic(t, addr, cdp.TopicEvents, 7)
	byID := map[string]kafka.Message{}
	for _, m := range msgs {
		e, err := cdp.DecodeEvent(m.Value)
		if err != nil {
			t.Fatalf("topic holds an invalid event: %v", err)
		}
		if e.Workspace != "acme" || string(m.Key) != e.Key() {
			t.Fatalf("key %q workspace %q for %s", m.Key, e.Workspace, e.MessageID)
		}
		byID[e.MessageID] = m
	}
	for _, id := range []string{"m-identify", "m-track", "m-page", "m-screen", "m-group", "m-alias", "m-batch-ok"} {
		if _, ok := byID[id]; !ok {
			t.Fatalf("%s missing from %s", id, cdp.TopicEvents)
		}
	}
	if string(byID["m-track"].Key) != "acme/a1" || string(byID["m-identify"].Key) != "acme/u1" {
		t.Fatalf("keys: %q %q", byID["m-track"].Key, byID["m-identify"].Key)
	}
	tr, _ := cdp.DecodeEvent(byID["m-track"].Value)
	if string(tr.Properties) != `{"revenue":9.5}` || tr.Event != "Order Completed" {
		t.Fatalf("gzip track content: %+v", tr)
	}
	ok, _ := cdp.DecodeEvent(byID["m-batch-ok"].Value)
	// sentAt equals the event time here, so the skew shift moves the event to receivedAt.
	if !ok.Timestamp.Equal(ok.ReceivedAt) || ok.SentAt == nil {
		t.Fatalf("skew correction: timestamp %v receivedAt %v", ok.Timestamp, ok.ReceivedAt)
	}

	rmsgs := readTopic(t, addr, cdp.TopicRejected, 1)
	var r cdp.Rejection
	if err := json.Unmarshal(rmsgs[0].Value, &r); err != nil || r.Code != "missing_field" || r.Field != "event" || !strings.Contains(r.Payload, "m-batch-bad") {
		t.Fatalf("rejection: %+v %v", r, err)
	}
}

// TestCollectorTakesBrowserAndMobileSDKRequests: analytics.js posts each
// call to a one-letter path (/v1/t, …) as text/plain from another origin,
// with the write key in the body, and must be able to read the answer (it
// retries otherwise); the batching and mobile SDKs post to /v1/b.
func TestCollectorTakesBrowserAndMobileSDKRequests(t *testing.T) {
	srv, addr := startCollector(t)
	page := map[string]string{"Origin": "https://shop.example", "Content-Type": "text/plain"}
	status, _, h := do(t, srv, reqSpec{method: http.MethodOptions, path: "/v1/t",
		headers: map[string]string{"Origin": "https://shop.example", "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "content-type"}})
	if status != http.StatusNoContent || h.Get("Access-Control-Allow-Origin") != "*" || h.Get("Access-Control-Allow-Methods") != "POST" ||
		!strings.Contains(h.Get("Access-Control-Allow-Headers"), "Content-Type") {
		t.Fatalf("preflight: %d %v", status, h)
	}
	ids := []string{}
	for _, c := range []struct{ path, body string }{
		{"/v1/t", `{"type":"track","anonymousId":"a1","event":"Product Viewed"`},
		{"/v1/i", `{"type":"identify","anonymousId":"a1","userId":"u1","traits":{"email":"ann@example.com"}`},
		{"/v1/p", `{"type":"page","anonymousId":"a1","name":"Home"`},
		{"/v1/s", `{"type":"screen","userId":"u1","name":"Cart"`},
		{"/v1/g", `{"type":"group","userId":"u1","groupId":"g1"`},
		{"/v1/a", `{"type":"alias","userId":"u1","previousId":"a1"`},
		{"/v1/b", `{"batch":[{"type":"track","userId":"u1","event":"Order Completed","messageId":"m-b"}],"sentAt":"2026-11-22T10:00:00Z"`},
		{"/v1/import", `{"batch":[{"type":"track","userId":"u1","event":"Signed Up","messageId":"m-import"}]`},
	} {
		id := "m" + c.path
		body := c.body + `,"messageId":"` + id + `","writeKey":"` + testKey + `"}`
		if strings.Contains(c.body, "batch") {
			id = map[string]string{"/v1/b": "m-b", "/v1/import": "m-import"}[c.path]
			body = c.body + `,"writeKey":"` + testKey + `"}`
		}
		ids = append(ids, id)
		status, out, h := do(t, srv, reqSpec{path: c.path, body: body, headers: page})
		if status != 200 || out["success"] != true || h.Get("Access-Control-Allow-Origin") != "*" {
			t.Fatalf("%s: %d %v %v", c.path, status, out, h)
		}
	}
	got := map[string]bool{}
	for _, m := range readTopic(t, addr, cdp.TopicEvents, len(ids)) {
		e, err := cdp.DecodeEvent(m.Value)
		if err != nil {
			t.Fatal(err)
		}
		got[e.MessageID] = true
	}
	for _, id := range ids {
		if !got[id] {
			t.Errorf("%s missing from %s", id, cdp.TopicEvents)
		}
	}
	// A call's type must still match its path, short or not.
	if status, out, _ := do(t, srv, reqSpec{path: "/v1/t", auth: testKey, body: `{"type":"identify","userId":"u1"}`}); status != 400 || out["code"] != "invalid_type" {
		t.Errorf("identify posted to /v1/t: %d %v", status, out)
	}
}

// TestCollectorCORSOrigins: with origins listed, only their pages may read
// the answers; a server-side SDK (no Origin) is unaffected.
func TestCollectorCORSOrigins(t *testing.T) {
	srv, _ := startCollector(t, func(c *Config) { c.CORSOrigins = []string{"https://shop.example"} })
	for _, c := range []struct{ origin, want string }{
		{"https://shop.example", "https://shop.example"},
		{"https://elsewhere.example", ""},
		{"", ""},
	} {
		hs := map[string]string{}
		if c.origin != "" {
			hs["Origin"] = c.origin
		}
		status, _, h := do(t, srv, reqSpec{path: "/v1/track", auth: testKey, headers: hs, body: `{"userId":"u1","event":"E"}`})
		if status != 200 || h.Get("Access-Control-Allow-Origin") != c.want || c.want != "" && h.Get("Vary") != "Origin" {
			t.Errorf("origin %q: %d, allowed %q, vary %q", c.origin, status, h.Get("Access-Control-Allow-Origin"), h.Get("Vary"))
		}
		_, _, h = do(t, srv, reqSpec{method: http.MethodOptions, path: "/v1/t", headers: hs})
		if h.Get("Access-Control-Allow-Origin") != c.want || (c.want != "") != (h.Get("Access-Control-Allow-Methods") != "") {
			t.Errorf("preflight from %q: %v", c.origin, h)
		}
	}
}

func TestCollectorBrokerDown(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Brokers = []string{"127.0.0.1:1"} // nothing listens on port 1
	cfg.ProduceTimeout = 500 * time.Millisecond
	cfg.Keys = auth.NewKeys([]cdp.Workspace{{ID: "acme", WriteKeys: []string{testKey}}})
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	mux := http.NewServeMux()
	c.Register(mux)
	srv := httptest.NewServer(mux)
	defer srv.Close()
	status, out, h := do(t, srv, reqSpec{path: "/v1/track", body: `{"userId":"u","event":"e"}`, auth: testKey})
	if status != 503 || out["code"] != "broker_unavailable" || h.Get("Retry-After") == "" {
		t.Fatalf("got %d %v Retry-After=%q", status, out, h.Get("Retry-After"))
	}
}

// readTopic reads n messages from every partition of topic, or fails after 20 s.
func readTopic(t *testing.T, addr, topic string, n int) []kafka.Message {
	t.Helper()
	r := kafka.NewReader(kafka.ReaderConfig{Brokers: []string{addr}, Topic: topic, GroupID: "test-" + t.Name(),
		StartOffset: kafka.FirstOffset, MaxWait: 50 * time.Millisecond})
	defer r.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var out []kafka.Message
	for len(out) < n {
		m, err := r.FetchMessage(ctx)
		if err != nil {
			t.Fatalf("read %s: got %d of %d messages: %v", topic, len(out), n, err)
		}
		out = append(out, m)
	}
	return out
}
