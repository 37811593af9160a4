package collect

import (
	"github.com/prometheus/client_golang/prometheus"

	cdp "github.com/tributary-cdp/tributary"
)

type metrics struct {
	requests     *prometheus.CounterVec
	accepted     *prometheus.CounterVec
	rejected     *prometheus.CounterVec
	produce      prometheus.Histogram
	requestBytes prometheus.Histogram
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tributary_collector_requests_total", Help: "Tracking API requests by endpoint and HTTP status.",
		}, []string{"endpoint", "code"}),
		accepted: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tributary_collector_events_accepted_total", Help: "Events validated and handed to the producer, by type.",
		}, []string{"type"}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tributary_collector_events_rejected_total", Help: "Events refused, by reason code.",
		}, []string{"reason"}),
		produce: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "tributary_collector_produce_seconds", Help: "Time from produce to the broker's ack, per request.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14),
		}),
		requestBytes: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "tributary_collector_request_bytes", Help: "Request body size after decompression.",
			Buckets: prometheus.ExponentialBuckets(256, 4, 8),
		}),
	}
	for _, code := range cdp.EventCodes { // series from the start, for an alert on the first
		m.rejected.WithLabelValues(code)
	}
	if reg != nil {
		reg.MustRegister(m.requests, m.accepted, m.rejected, m.produce, m.requestBytes)
	}
	return m
}
