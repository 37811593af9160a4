// Package collect is Tributary's Segment-compatible HTTP collector. It
// validates Tracking API calls and produces them to Kafka (cdp.events),
// answering 200 only once the broker acknowledged the write (acks=all).
package collect

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	json "github.com/goccy/go-json"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"

	cdp "github.com/tributary-cdp/tributary"
	"github.com/tributary-cdp/tributary/internal/auth"
	"github.com/tributary-cdp/tributary/internal/httpx"
	"github.com/tributary-cdp/tributary/internal/jsonx"
)

// Config of the collector.
type Config struct {
	Brokers []string
	Keys    *auth.Keys
	// MaxEventBytes bounds one event (Segment: 32 KB).
	MaxEventBytes int
	// MaxRequestBytes bounds one request body after decompression (Segment: 500 KB).
	MaxRequestBytes int
	// BatchTimeout is how long the producer waits to fill a batch.
	BatchTimeout time.Duration
	// BatchSize is the producer's maximum messages per batch.
	BatchSize int
	// ProduceTimeout bounds the wait for the broker's ack; past it the request gets 503.
	ProduceTimeout time.Duration
	// CORSOrigins are the web origins whose pages may post events from a
	// browser (analytics.js): "*" for any, as a write key is public in a
	// page anyway; none when empty.
	CORSOrigins []string
	// Registerer receives the collector's metrics; nil disables them.
	Registerer prometheus.Registerer
	// Now is the clock (tests replace it).
	Now func() time.Time
}

// DefaultConfig returns Segment's limits and a low-latency producer.
func DefaultConfig() Config {
	return Config{
		MaxEventBytes:   32 << 10,
		MaxRequestBytes: 500 << 10,
		BatchTimeout:    2 * time.Millisecond,
		BatchSize:       1000,
		ProduceTimeout:  10 * time.Second,
		CORSOrigins:     []string{"*"},
		Now:             time.Now,
	}
}

// Validate checks the config.
func (c Config) Validate() error {
	switch {
	case len(c.Brokers) == 0:
		return errors.New("collector: no Kafka brokers")
	case c.Keys == nil:
		return errors.New("collector: no keys")
	case c.MaxEventBytes <= 0 || c.MaxRequestBytes < c.MaxEventBytes:
		return fmt.Errorf("collector: limits event %d, request %d are inconsistent", c.MaxEventBytes, c.MaxRequestBytes)
	case c.BatchTimeout <= 0 || c.BatchSize <= 0 || c.ProduceTimeout <= 0:
		return errors.New("collector: batch timeout, batch size and produce timeout must be positive")
	}
	return nil
}

// Collector serves the Tracking API.
type Collector struct {
	cfg      Config
	events   *kafka.Writer
	rejected *kafka.Writer
	m        *metrics
	closeMu  sync.Once
}

// New builds a collector; its producers connect lazily.
func New(cfg Config) (*Collector, error) {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	newWriter := func(topic string) *kafka.Writer {
		return &kafka.Writer{
			Addr:                   kafka.TCP(cfg.Brokers...),
			Topic:                  topic,
			Balancer:               &kafka.Murmur2Balancer{}, // same partition as Java clients for a key
			RequiredAcks:           kafka.RequireAll,
			BatchSize:              cfg.BatchSize,
			BatchBytes:             4 << 20,
			BatchTimeout:           cfg.BatchTimeout,
			MaxAttempts:            5,
			WriteBackoffMin:        20 * time.Millisecond,
			WriteBackoffMax:        500 * time.Millisecond,
			AllowAutoTopicCreation: false,
		}
	}
	return &Collector{
		cfg:      cfg,
		events:   newWriter(cdp.TopicEvents),
		rejected: newWriter(cdp.TopicRejected),
		m:        newMetrics(cfg.Registerer),
	}, nil
}

// Register mounts the Tracking API endpoints on mux: Segment's paths; the
// one-letter ones analytics.js posts to (/v1/t, /v1/i, /v1/p, /v1/s,
// /v1/g, /v1/a) and /v1/b of the batching and mobile SDKs; /v1/import,
// Segment's older name for batch. Each answers CORS preflights.
func (c *Collector) Register(mux *http.ServeMux) {
	mount := func(name string, typ cdp.EventType, paths ...string) {
		h := c.cors(c.handler(name, typ))
		for _, p := range paths {
			mux.Handle("POST "+p, h)
			mux.Handle("OPTIONS "+p, h)
		}
	}
	for _, t := range cdp.EventTypes {
		mount(string(t), t, "/v1/"+string(t), "/v1/"+string(t)[:1])
	}
	mount("batch", "", "/v1/batch", "/v1/b", "/v1/import")
}

// cors lets the pages of CORSOrigins post events from a browser and read
// the answer (analytics.js retries a request whose answer it cannot read),
// and answers their preflights.
func (c *Collector) cors(next http.Handler) http.Handler {
	anyOrigin := slices.Contains(c.cfg.CORSOrigins, "*")
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		origin := r.Header.Get("Origin")
		allowed := origin != "" && (anyOrigin || slices.Contains(c.cfg.CORSOrigins, origin))
		h := w.Header()
		if allowed {
			if anyOrigin {
				h.Set("Access-Control-Allow-Origin", "*")
			} else {
				h.Set("Access-Control-Allow-Origin", origin)
				h.Add("Vary", "Origin")
			}
		}
		if r.Method != http.MethodOptions {
			next.ServeHTTP(w, r)
			return
		}
		if allowed {
			h.Set("Access-Control-Allow-Methods", "POST")
			h.Set("Access-Control-Allow-Headers", "Authorization, Content-Type, Content-Encoding")
			h.Set("Access-Control-Max-Age", "86400")
		}
		w.WriteHeader(http.StatusNoContent)
	})
}

// Close flushes and closes the producers; it is idempotent.
func (c *Collector) Close() error {
	var err error
	c.closeMu.Do(func() {
		err = errors.Join(c.events.Close(), c.rejected.Close())
	})
	return err
}

// rejectedEvent is one entry of a batch response's "rejected" list.
type rejectedEvent struct {
	Index   int    `json:"index"`
	Code    string `json:"code"`
	Message string `json:"message"`
}

type response struct {
	Success  bool            `json:"success"`
	Rejected []rejectedEvent `json:"rejected,omitempty"`
}

// status wraps an error with its HTTP answer.
type status struct {
	code   int
	errors string
	msg    string
}

func (c *Collector) handler(endpoint string, typ cdp.EventType) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := c.cfg.Now()
		code := c.serve(w, r, endpoint, typ, start)
		c.m.requests.WithLabelValues(endpoint, strconv.Itoa(code)).Inc()
	})
}

func (c *Collector) fail(w http.ResponseWriter, st int, code, msg string) int {
	if st == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", "1")
	}
	httpx.WriteError(w, st, code, msg)
	return st
}

func (c *Collector) serve(w http.ResponseWriter, r *http.Request, endpoint string, typ cdp.EventType, receivedAt time.Time) int {
	limit := c.cfg.MaxRequestBytes
	limitName := "request"
	if typ != "" {
		limit, limitName = c.cfg.MaxEventBytes, "event"
	}
	body, err := readBody(r, limit)
	c.m.requestBytes.Observe(float64(len(body)))
	switch {
	case errors.Is(err, cdp.ErrTooLarge):
		return c.fail(w, http.StatusRequestEntityTooLarge, "payload_too_large",
			fmt.Sprintf("%s body exceeds the %d KB limit per %s", endpoint, limit>>10, limitName))
	case err != nil:
		return c.fail(w, http.StatusBadRequest, "invalid_body", "read body: "+err.Error())
	}

	receivedAt = receivedAt.UTC()
	var (
		raws      []json.RawMessage
		bodyKey   string
		sentAt    *string
		batchCtx  json.RawMessage
		batchIntg json.RawMessage
	)
	if typ == "" {
		b, err := decodeBatch(body)
		if err != nil {
			return c.fail(w, http.StatusBadRequest, cdp.CodeInvalidJSON, "body is not a valid batch: "+err.Error())
		}
		if b.Batch == nil {
			return c.fail(w, http.StatusBadRequest, cdp.CodeMissingField, "batch: is required and must be an array of events")
		}
		raws, bodyKey, sentAt, batchCtx, batchIntg = b.Batch, b.WriteKey, b.SentAt, b.Context, b.Integrations
		if bodyKey == "" && len(raws) > 0 {
			bodyKey = peekWriteKey(raws[0])
		}
	} else {
		// Checked here, the body and every part of it are well-formed
		// before goccy reads them (jsonx).
		if err := jsonx.Check(body); err != nil {
			return c.fail(w, http.StatusBadRequest, cdp.CodeInvalidJSON, "body is not a JSON object: "+err.Error())
		}
		if !bytes.HasPrefix(bytes.TrimSpace(body), []byte("{")) {
			return c.fail(w, http.StatusBadRequest, cdp.CodeInvalidJSON, "body is not a JSON object")
		}
		raws = []json.RawMessage{body}
		bodyKey = peekWriteKey(body)
	}

	key := bodyKey
	if u, _, ok := r.BasicAuth(); ok && u != "" {
		key = u
	}
	workspace, ok := c.cfg.Keys.Workspace(key)
	if !ok {
		if key == "" {
			return c.fail(w, http.StatusUnauthorized, "unauthorized", "no write key: send it as the HTTP Basic username or as writeKey in the body")
		}
		return c.fail(w, http.StatusUnauthorized, "unauthorized", "unknown write key")
	}

	msgs := make([]kafka.Message, 0, len(raws))
	var rejected []rejectedEvent
	var rejMsgs []kafka.Message
	for i, raw := range raws {
		var e *cdp.Event
		var err error
		if len(raw) > c.cfg.MaxEventBytes {
			err = cdp.Invalid(cdp.CodeEventTooLarge, "batch["+strconv.Itoa(i)+"]", "", fmt.Sprintf("event of %d bytes exceeds the %d KB limit per event", len(raw), c.cfg.MaxEventBytes>>10))
		} else {
			e, err = decodeEvent(raw, typ, workspace, receivedAt, sentAt, batchCtx, batchIntg)
		}
		if err != nil {
			var ve *cdp.ValidationError
			if !errors.As(err, &ve) {
				ve = cdp.Invalid(cdp.CodeInvalidEvent, "body", "", err.Error())
			}
			c.m.rejected.WithLabelValues(ve.Code).Inc()
			if typ != "" {
				if ve.Code == cdp.CodeEventTooLarge {
					return c.fail(w, http.StatusRequestEntityTooLarge, "payload_too_large", ve.Error())
				}
				return c.fail(w, http.StatusBadRequest, ve.Code, ve.Error())
			}
			rejected = append(rejected, rejectedEvent{Index: i, Code: ve.Code, Message: ve.Error()})
			rej, _ := json.Marshal(cdp.Rejection{Workspace: workspace, Source: "collector", Code: ve.Code, Field: ve.Field,
				Message: ve.Error(), ReceivedAt: receivedAt}.WithPayload(raw))
			rejMsgs = append(rejMsgs, kafka.Message{Key: []byte(workspace + "/rejected"), Value: rej})
			continue
		}
		msgs = append(msgs, kafka.Message{Key: []byte(e.Key()), Value: e.AppendJSON(make([]byte, 0, len(raw)+256))})
		c.m.accepted.WithLabelValues(string(e.Type)).Inc()
	}

	ctx, cancel := context.WithTimeout(r.Context(), c.cfg.ProduceTimeout)
	defer cancel()
	pstart := time.Now()
	var perr error
	if len(msgs) > 0 {
		perr = c.events.WriteMessages(ctx, msgs...)
	}
	if perr == nil && len(rejMsgs) > 0 {
		perr = c.rejected.WriteMessages(ctx, rejMsgs...)
	}
	c.m.produce.Observe(time.Since(pstart).Seconds())
	if perr != nil {
		slog.Warn("produce failed", "endpoint", endpoint, "events", len(msgs), "err", perr)
		return c.fail(w, http.StatusServiceUnavailable, "broker_unavailable",
			"the event bus did not acknowledge the write; retry with the same messageIds: "+perr.Error())
	}
	httpx.WriteJSON(w, http.StatusOK, response{Success: true, Rejected: rejected})
	return http.StatusOK
}

// readBody reads at most limit bytes of the (possibly gzip-compressed) body.
func readBody(r *http.Request, limit int) ([]byte, error) {
	var rd io.Reader = http.MaxBytesReader(nil, r.Body, int64(limit)*4+1024)
	if strings.EqualFold(strings.TrimSpace(r.Header.Get("Content-Encoding")), "gzip") {
		gz, err := gzip.NewReader(rd)
		if err != nil {
			return nil, fmt.Errorf("gzip: %w", err)
		}
		defer gz.Close()
		rd = gz
	}
	b, err := io.ReadAll(io.LimitReader(rd, int64(limit)+1))
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) || len(b) > limit {
		return b[:min(len(b), limit)], cdp.ErrTooLarge
	}
	return b, err
}

// peekWriteKey reads "writeKey" from an event object, if any.
func peekWriteKey(raw []byte) string {
	var k struct {
		WriteKey string `json:"writeKey"`
	}
	_ = json.Unmarshal(raw, &k)
	return k.WriteKey
}
