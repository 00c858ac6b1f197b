package async

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics records the async queue's events; nil records nothing.
type metrics struct {
	accepted    *prometheus.CounterVec
	outcomes    *prometheus.CounterVec
	retries     *prometheus.CounterVec
	deadLetters *prometheus.CounterVec
	depth       prometheus.Gauge
	oldest      prometheus.Gauge
	inFlight    prometheus.Gauge
	acceptTime  prometheus.Histogram
}

func newMetrics(reg prometheus.Registerer) *metrics {
	if reg == nil {
		return nil
	}
	fn := []string{"namespace", "function"}
	m := &metrics{
		accepted: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "lantern_async_accepted_total", Help: "Asynchronous calls queued.",
		}, fn),
		outcomes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "lantern_async_invocations_total", Help: "Asynchronous invocations finished, by outcome (succeeded, failed after the last retry).",
		}, append(fn, "outcome")),
		retries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "lantern_async_retries_total", Help: "Failed attempts of asynchronous invocations that will be retried.",
		}, fn),
		deadLetters: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "lantern_async_dead_letters_total", Help: "Invocations put in the dead-letter list after their last attempt failed.",
		}, fn),
		depth: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "lantern_async_queue_depth", Help: "Asynchronous calls queued or running, not yet finished.",
		}),
		oldest: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "lantern_async_oldest_queued_age_seconds", Help: "Age of the oldest unfinished asynchronous call; 0 when the queue is empty.",
		}),
		inFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "lantern_async_in_flight", Help: "Asynchronous calls waiting on their function now.",
		}),
		acceptTime: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "lantern_async_accept_duration_seconds", Help: "Time to store an asynchronous call durably before answering 202.",
			Buckets: []float64{100e-6, 250e-6, 500e-6, 1e-3, 2.5e-3, 5e-3, 10e-3, 25e-3, 100e-3, 1},
		}),
	}
	reg.MustRegister(m.accepted, m.outcomes, m.retries, m.deadLetters, m.depth, m.oldest, m.inFlight, m.acceptTime)
	return m
}

func (m *metrics) acceptedCall(ns, fn string, took time.Duration) {
	if m == nil {
		return
	}
	m.accepted.WithLabelValues(ns, fn).Inc()
	m.acceptTime.Observe(took.Seconds())
	// The function's other series start at zero, so that rates and
	// alerts see their first increase.
	m.outcomes.WithLabelValues(ns, fn, "succeeded")
	m.outcomes.WithLabelValues(ns, fn, "failed")
	m.retries.WithLabelValues(ns, fn)
	m.deadLetters.WithLabelValues(ns, fn)
}

func (m *metrics) finished(ns, fn, outcome string) {
	if m == nil {
		return
	}
	m.outcomes.WithLabelValues(ns, fn, outcome).Inc()
	if outcome == "failed" {
		m.deadLetters.WithLabelValues(ns, fn).Inc()
	}
}

func (m *metrics) retried(ns, fn string) {
	if m != nil {
		m.retries.WithLabelValues(ns, fn).Inc()
	}
}

func (m *metrics) running(delta float64) {
	if m != nil {
		m.inFlight.Add(delta)
	}
}

func (m *metrics) queue(depth uint64, oldest time.Duration) {
	if m != nil {
		m.depth.Set(float64(depth))
		m.oldest.Set(oldest.Seconds())
	}
}
