package speed

import (
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	cdp "github.com/tributary-cdp/tributary"
)

// TestMetricsReportTheSpeedLayer runs a consumer over a few events of
// known effect (a merge, a blocked id, a capped email, a retried message) and reads every
// metric the speed layer promises from its registry.
func TestMetricsReportTheSpeedLayer(t *testing.T) {
	b := startBroker(t)
	reg := prometheus.NewRegistry()
	dir := t.TempDir()
	c, stop := runConsumer(t, b.Addr(), dir, func(cfg *Config) {
		cfg.Registerer = reg
		cfg.CheckpointInterval = 100 * time.Millisecond
	})
	for _, kind := range []string{"full", "delta"} {
		if value(t, reg, "tributary_speed_checkpoints_total", "kind="+kind) < 0 {
			t.Errorf("no checkpoints_total{kind=%s} at the start", kind)
		}
	}
	for _, code := range append([]string{codeUndecodable}, cdp.EventCodes...) {
		if got := value(t, reg, "tributary_speed_poison_messages_total", "reason="+code); got != 0 {
			t.Errorf("poison_messages_total{reason=%s} = %v at the start, want 0", code, got)
		}
	}
	send := func(msgs ...msg) {
		values := make([][]byte, len(msgs))
		for i, m := range msgs {
			values[i] = m.value()
		}
		produce(t, b.Addr(), values...)
	}
	applied := func(n int64) func() bool {
		return func() bool { st := c.Store().Stats(); return st.Applied+st.Duplicates == n }
	}
	// Messages of different users land on different partitions, applied
	// in any order: what must come after something is sent after.
	first := []msg{
		{typ: cdp.Track, id: "m1", anon: "a1", event: "Viewed"},
		{typ: cdp.Identify, id: "m2", anon: "a1", user: "u1", traits: `{"email":"Ann@Example.com"}`, at: time.Second},
		{typ: cdp.Track, id: "m3", anon: "a2", event: "Viewed"},
		{typ: cdp.Page, id: "m4", user: "u2", name: "Home"},
		{typ: cdp.Identify, id: "m6", anon: "a3", user: "undefined"}, // user_id blocked
	}
	// One email for six user ids: the sixth is over the cap of 5.
	for i := range 6 {
		u := "c" + string(rune('1'+i))
		first = append(first, msg{typ: cdp.Identify, id: "c" + u, user: u, traits: `{"email":"shared@example.com"}`})
	}
	send(first...)
	waitFor(t, "the first 11 messages applied", 10*time.Second, applied(11))
	send(msg{typ: cdp.Alias, id: "m5", prev: "a2", user: "u2", at: time.Second}, // merges a2's profile into u2's
		msg{typ: cdp.Track, id: "m3", anon: "a2", event: "Viewed"}) // m3 retried
	waitFor(t, "all 13 applied", 10*time.Second, applied(13))
	waitFor(t, "a checkpoint of them", 10*time.Second, func() bool {
		return value(t, reg, "tributary_speed_checkpoint_write_seconds", "") > 0 &&
			value(t, reg, "tributary_speed_dedupe_entries", "") == 12
	})

	for _, w := range []struct {
		name, labels string
		want         float64
	}{
		{"tributary_speed_events_applied_total", "type=track", 3}, // read, m3 twice
		{"tributary_speed_events_applied_total", "type=identify", 8},
		{"tributary_speed_events_applied_total", "type=page", 1},
		{"tributary_speed_events_applied_total", "type=alias", 1},
		{"tributary_speed_events_duplicate_total", "", 1},
		// {a1, u1, ann@example.com}, {a2, u2, a2 as a user id (the alias's previous id)}, {a3},
		// {c1..c5, shared@example.com}, {c6}
		{"tributary_speed_profiles", "", 5},
		{"tributary_speed_identifiers", "", 14},
		{"tributary_speed_merges_total", "", 1},
		{"tributary_speed_links_blocked_total", "type=user_id", 1},
		// The types nothing was refused of show 0, not nothing.
		{"tributary_speed_links_blocked_total", "type=anonymous_id", 0},
		{"tributary_speed_links_blocked_total", "type=email", 0},
		{"tributary_speed_links_blocked_total", "type=phone", 0},
		{"tributary_speed_links_capped_total", "type=email", 1},
		{"tributary_speed_links_capped_total", "type=phone", 0},
		{"tributary_speed_shared_identifiers", "", 1},
		{"tributary_speed_dedupe_entries", "", 12},
	} {
		if got := value(t, reg, w.name, w.labels); got != w.want {
			t.Errorf("%s{%s} = %v, want %v", w.name, w.labels, got, w.want)
		}
	}
	for p := range 4 {
		if got := value(t, reg, "tributary_speed_consumer_lag", "partition="+string(rune('0'+p))); got != 0 {
			t.Errorf("lag of partition %d is %v after catching up", p, got)
		}
	}
	for _, name := range []string{"tributary_speed_store_memory_bytes", "tributary_speed_checkpoint_bytes",
		"tributary_speed_checkpoint_duration_seconds", "tributary_speed_checkpoint_write_seconds"} {
		if got := value(t, reg, name, ""); got <= 0 {
			t.Errorf("%s = %v, want > 0", name, got)
		}
	}
	if age := value(t, reg, "tributary_speed_checkpoint_age_seconds", ""); age < 0 || age > 5 {
		t.Errorf("checkpoint age %v s with a checkpoint every 100 ms", age)
	}
	// The first checkpoint is full, the ones after it deltas.
	waitFor(t, "a delta checkpoint", 10*time.Second, func() bool {
		return value(t, reg, "tributary_speed_checkpoints_total", "kind=delta") > 0
	})
	if got := value(t, reg, "tributary_speed_checkpoints_total", "kind=full"); got < 1 {
		t.Errorf("%v full checkpoints, want one before the deltas", got)
	}

	// A restart sizes the store it loaded at once, not at its first full checkpoint.
	stop()
	reg = prometheus.NewRegistry()
	c, _ = runConsumer(t, b.Addr(), dir, func(cfg *Config) { cfg.Registerer = reg })
	waitFor(t, "the store memory after a restart", 10*time.Second, func() bool {
		return value(t, reg, "tributary_speed_store_memory_bytes", "") > 0
	})
	if got := value(t, reg, "tributary_speed_profiles", ""); got != 5 {
		t.Errorf("%v profiles after a restart, want 5", got)
	}
}

// value is the metric name{labels} ("k=v,k=v") of reg: a counter's or
// gauge's value, a histogram's sample count; -1 when there is none.
func value(t *testing.T, reg *prometheus.Registry, name, labels string) float64 {
	t.Helper()
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fams {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			if labelString(m) != labels {
				continue
			}
			switch {
			case m.Counter != nil:
				return m.Counter.GetValue()
			case m.Gauge != nil:
				return m.Gauge.GetValue()
			case m.Histogram != nil:
				return float64(m.Histogram.GetSampleCount())
			}
		}
	}
	return -1
}

func labelString(m *dto.Metric) string {
	var l []string
	for _, p := range m.GetLabel() {
		l = append(l, p.GetName()+"="+p.GetValue())
	}
	return strings.Join(l, ",")
}
