package timer

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics records the timer's events; nil records nothing. Labels are
// validated object names.
type metrics struct {
	fires   *prometheus.CounterVec
	skipped *prometheus.CounterVec
	missed  *prometheus.CounterVec
	jitter  prometheus.Histogram
	timers  prometheus.Gauge
	running prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer) *metrics {
	if reg == nil {
		return nil
	}
	labels := []string{"namespace", "timer"}
	m := &metrics{
		fires: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "lantern_timer_fires_total", Help: "Ticks that called the function, by outcome (ok: status below 400; error: an error status or no answer).",
		}, append(labels, "outcome")),
		skipped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "lantern_timer_skipped_ticks_total", Help: "Ticks not fired because the timer's previous run was still going.",
		}, labels),
		missed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "lantern_timer_missed_ticks_total", Help: "Ticks that fell while the timer was not running (lanternd stopped, or the process stalled) and were not fired.",
		}, labels),
		jitter: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "lantern_timer_jitter_seconds", Help: "How late a tick was fired after its scheduled time.",
			Buckets: []float64{100e-6, 250e-6, 500e-6, 1e-3, 2.5e-3, 5e-3, 10e-3, 25e-3, 50e-3, 100e-3, 250e-3, 1},
		}),
		timers: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "lantern_timer_timers", Help: "Timers scheduled.",
		}),
		running: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "lantern_timer_runs_in_flight", Help: "Timer calls waiting on their function now.",
		}),
	}
	reg.MustRegister(m.fires, m.skipped, m.missed, m.jitter, m.timers, m.running)
	return m
}

// scheduledTimer exports a timer's series at zero.
func (m *metrics) scheduledTimer(ns, name string) {
	if m == nil {
		return
	}
	m.fires.WithLabelValues(ns, name, "ok")
	m.fires.WithLabelValues(ns, name, "error")
	m.skipped.WithLabelValues(ns, name)
	m.missed.WithLabelValues(ns, name)
}

func (m *metrics) fired(late time.Duration) {
	if m != nil {
		m.jitter.Observe(late.Seconds())
		m.running.Inc()
	}
}

func (m *metrics) finished(ns, name string, ok bool) {
	if m == nil {
		return
	}
	m.running.Dec()
	outcome := "ok"
	if !ok {
		outcome = "error"
	}
	m.fires.WithLabelValues(ns, name, outcome).Inc()
}

func (m *metrics) skippedTick(ns, name string) {
	if m != nil {
		m.skipped.WithLabelValues(ns, name).Inc()
	}
}

func (m *metrics) missedTicks(ns, name string, n int) {
	if m != nil && n > 0 {
		m.missed.WithLabelValues(ns, name).Add(float64(n))
	}
}

func (m *metrics) scheduled(n int) {
	if m != nil {
		m.timers.Set(float64(n))
	}
}

func (m *metrics) forget(ns, name string) {
	if m == nil {
		return
	}
	m.fires.DeleteLabelValues(ns, name, "ok")
	m.fires.DeleteLabelValues(ns, name, "error")
	m.skipped.DeleteLabelValues(ns, name)
	m.missed.DeleteLabelValues(ns, name)
}
