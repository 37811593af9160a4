package speed

import (
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	cdp "github.com/tributary-cdp/tributary"
)

type metrics struct {
	applied           *prometheus.CounterVec
	appliedByType     map[string]prometheus.Counter // cached children of applied
	poison            *prometheus.CounterVec
	checkpointSeconds prometheus.Histogram
	checkpointWrite   prometheus.Histogram
	checkpointSkipped prometheus.Counter
	checkpoints       *prometheus.CounterVec
	checkpointBytes   prometheus.Gauge
	storeBytes        prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer, c *Consumer) *metrics {
	m := &metrics{
		applied: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tributary_speed_events_applied_total", Help: "Events read from cdp.events and applied (or deduplicated), by type.",
		}, []string{"type"}),
		poison: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tributary_speed_poison_messages_total", Help: "Messages that could not be decoded, copied to cdp.events.rejected and skipped, by reason; one a restart finds copied already is not counted again.",
		}, []string{"reason"}),
		checkpointSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "tributary_speed_checkpoint_duration_seconds", Help: "Time the apply loop pauses for a checkpoint: the snapshot's header (the profiles, fsync and rename follow in the background).",
			Buckets: prometheus.ExponentialBuckets(10e-6, 2, 20), // 10 µs to 5 s
		}),
		checkpointWrite: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "tributary_speed_checkpoint_write_seconds", Help: "Time a checkpoint takes in the background: its profiles written, fsync and rename.",
			Buckets: prometheus.ExponentialBuckets(0.01, 2, 16), // 10 ms to 5 min
		}),
		checkpointSkipped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "tributary_speed_checkpoints_skipped_total", Help: "Checkpoint intervals skipped because the previous checkpoint was still being written.",
		}),
		checkpoints: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tributary_speed_checkpoints_total", Help: "Checkpoints published, by kind: full (every profile) or delta (the profiles changed since the checkpoint before).",
		}, []string{"kind"}),
		checkpointBytes: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "tributary_speed_checkpoint_bytes", Help: "Size of the last checkpoint, full or delta.",
		}),
		storeBytes: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "tributary_speed_store_memory_bytes", Help: "Estimated memory held by the profile store, as of the start or the last checkpoint (a delta counts profiles at the last full checkpoint's mean size).",
		}),
	}
	m.appliedByType = map[string]prometheus.Counter{}
	for _, t := range cdp.EventTypes {
		m.appliedByType[string(t)] = m.applied.WithLabelValues(string(t))
	}
	for _, kind := range []string{"full", "delta"} { // series from the start, as by type
		m.checkpoints.WithLabelValues(kind)
	}
	for _, code := range append([]string{codeUndecodable}, cdp.EventCodes...) {
		m.poison.WithLabelValues(code)
	}
	if reg != nil {
		reg.MustRegister(m.applied, m.poison, m.checkpointSeconds, m.checkpointWrite, m.checkpointSkipped, m.checkpoints, m.checkpointBytes, m.storeBytes, &storeCollector{c: c})
	}
	return m
}

func checkpointKind(sn *Snapshot) string {
	if sn.Delta() {
		return "delta"
	}
	return "full"
}

// appliedOf returns the applied counter of a type without a label look-up.
func (m *metrics) appliedOf(t cdp.EventType) prometheus.Counter {
	if c, ok := m.appliedByType[string(t)]; ok {
		return c
	}
	return m.applied.WithLabelValues(string(t))
}

// storeCollector reports the current store's counters at scrape time, so
// a swapped-in store is reported without re-registering anything.
type storeCollector struct{ c *Consumer }

var (
	descLag          = prometheus.NewDesc("tributary_speed_consumer_lag", "Messages of cdp.events not applied yet, per partition.", []string{"partition"}, nil)
	descProfiles     = prometheus.NewDesc("tributary_speed_profiles", "Profiles in the store.", nil, nil)
	descIdentifiers  = prometheus.NewDesc("tributary_speed_identifiers", "Identifiers in the identity index.", nil, nil)
	descMerges       = prometheus.NewDesc("tributary_speed_merges_total", "Profile merges caused by identity links.", nil, nil)
	descDuplicates   = prometheus.NewDesc("tributary_speed_events_duplicate_total", "Events skipped because their (workspace, messageId) was applied already.", nil, nil)
	descUnattributed = prometheus.NewDesc("tributary_speed_events_unattributed_total", "Events with no usable identifier (all blocked).", nil, nil)
	descBlocked      = prometheus.NewDesc("tributary_speed_links_blocked_total", "Identifier values refused by the blocklist or invalid, by type.", []string{"type"}, nil)
	descCapped       = prometheus.NewDesc("tributary_speed_links_capped_total", "Links refused because the value is shared by more user ids than the cap, by type.", []string{"type"}, nil)
	descShared       = prometheus.NewDesc("tributary_speed_shared_identifiers", "Identifier values over their cap, treated as shared.", nil, nil)
	descDedupe       = prometheus.NewDesc("tributary_speed_dedupe_entries", "MessageIds remembered for deduplication.", nil, nil)
	descDedupeEvict  = prometheus.NewDesc("tributary_speed_dedupe_evicted_early_total", "MessageIds forgotten before the dedupe window because of the entry bound.", nil, nil)
	descCkptAge      = prometheus.NewDesc("tributary_speed_checkpoint_age_seconds", "Seconds since the last checkpoint was written.", nil, nil)
)

func (sc *storeCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descLag, descProfiles, descIdentifiers, descMerges, descDuplicates, descUnattributed,
		descBlocked, descCapped, descShared, descDedupe, descDedupeEvict, descCkptAge} {
		ch <- d
	}
}

func (sc *storeCollector) Collect(ch chan<- prometheus.Metric) {
	st := sc.c.Store().Stats()
	gauge := func(d *prometheus.Desc, v int64, l ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, float64(v), l...)
	}
	counter := func(d *prometheus.Desc, v int64, l ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), l...)
	}
	gauge(descProfiles, st.Profiles)
	gauge(descIdentifiers, st.Identifiers)
	counter(descMerges, st.Merges)
	counter(descDuplicates, st.Duplicates)
	counter(descUnattributed, st.Unattributed)
	gauge(descShared, st.Shared)
	gauge(descDedupe, st.DedupeEntries)
	counter(descDedupeEvict, st.DedupeEvicted)
	for t, n := range st.Blocked {
		counter(descBlocked, n, t)
	}
	for t, n := range st.Capped {
		counter(descCapped, n, t)
	}
	ch <- prometheus.MustNewConstMetric(descCkptAge, prometheus.GaugeValue,
		time.Since(time.Unix(0, sc.c.lastCheckpoint.Load())).Seconds())
	sc.c.partsMu.Lock()
	for p, ps := range sc.c.parts {
		gauge(descLag, max(0, ps.highWater.Load()-ps.applied.Load()), strconv.Itoa(p))
	}
	sc.c.partsMu.Unlock()
}
