package poolmgr

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/lantern-faas/lantern/platform/api"
)

var (
	coldStartBuckets = []float64{1e-3, 2.5e-3, 5e-3, 10e-3, 25e-3, 50e-3, 100e-3, 250e-3, 500e-3, 1, 2.5, 5, 10, 30, 60, 120}
	aliveBuckets     = []float64{1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 4 * 3600, 24 * 3600}
)

// metrics records the poolmgr's events.
type metrics struct {
	coldStarts *prometheus.CounterVec
	coldDur    *prometheus.HistogramVec
	phaseDur   *prometheus.HistogramVec
	alive      *prometheus.HistogramVec
	reaps      *prometheus.CounterVec
	specFails  *prometheus.CounterVec
}

func newMetrics(m *Manager, reg prometheus.Registerer) *metrics {
	x := &metrics{
		coldStarts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "lantern_function_cold_starts_total", Help: "Specializations of a generic instance for a function, by outcome (ok, error, timeout).",
		}, []string{"namespace", "function", "environment", "outcome"}),
		coldDur: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "lantern_function_cold_start_duration_seconds", Help: "Whole cold start: acquire an instance, fetch the code, specialize.",
			Buckets: coldStartBuckets,
		}, []string{"namespace", "function", "environment", "outcome"}),
		phaseDur: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "lantern_function_cold_start_phase_seconds", Help: "Cold start phases: acquire, fetch, specialize.",
			Buckets: coldStartBuckets,
		}, []string{"namespace", "function", "phase"}),
		alive: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "lantern_function_alive_seconds", Help: "How long specialized instances lived, observed when they go, by reason (idle, crash, timeout, deleted, updated, failed).",
			Buckets: aliveBuckets,
		}, []string{"namespace", "function", "reason"}),
		reaps: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "lantern_poolmgr_reaps_total", Help: "Specialized instances removed, by reason.",
		}, []string{"namespace", "function", "reason"}),
		specFails: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "lantern_poolmgr_specialization_failures_total", Help: "Cold starts that failed, by phase (acquire, fetch, specialize).",
		}, []string{"namespace", "function", "environment", "phase"}),
	}
	if reg != nil {
		reg.MustRegister(x.coldStarts, x.coldDur, x.phaseDur, x.alive, x.reaps, x.specFails, &instanceCollector{m: m})
	}
	return x
}

func (x *metrics) coldStart(fn *api.Function, outcome string, ph *phases, total time.Duration) {
	ns, name, env := fn.Metadata.Namespace, fn.Metadata.Name, fn.Spec.Environment
	x.coldStarts.WithLabelValues(ns, name, env, outcome).Inc()
	x.coldDur.WithLabelValues(ns, name, env, outcome).Observe(total.Seconds())
	for _, p := range []struct {
		name string
		d    time.Duration
	}{{"acquire", ph.acquire}, {"fetch", ph.fetch}, {"specialize", ph.specialize}} {
		if p.d > 0 {
			x.phaseDur.WithLabelValues(ns, name, p.name).Observe(p.d.Seconds())
		}
	}
	if outcome != "ok" {
		x.specFails.WithLabelValues(ns, name, env, ph.failed).Inc()
	}
}

func (x *metrics) instanceGone(fn *api.Function, reason string, alive time.Duration) {
	ns, name := fn.Metadata.Namespace, fn.Metadata.Name
	x.alive.WithLabelValues(ns, name, reason).Observe(alive.Seconds())
	x.reaps.WithLabelValues(ns, name, reason).Inc()
}

// instanceCollector reports instances by state at scrape time, so the
// gauges can never drift from the truth.
type instanceCollector struct{ m *Manager }

var (
	fnInstancesDesc = prometheus.NewDesc("lantern_function_instances", "Specialized instances per function, by state (specializing, ready, retiring).",
		[]string{"namespace", "function", "environment", "state"}, nil)
	poolInstancesDesc = prometheus.NewDesc("lantern_pool_instances", "Generic instances per environment pool, by state (idle, starting).",
		[]string{"namespace", "environment", "state"}, nil)
	poolSizeDesc = prometheus.NewDesc("lantern_pool_size", "Configured pool size per environment.",
		[]string{"namespace", "environment"}, nil)
)

func (c *instanceCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- fnInstancesDesc
	ch <- poolInstancesDesc
	ch <- poolSizeDesc
}

func (c *instanceCollector) Collect(ch chan<- prometheus.Metric) {
	type fnKey struct{ ns, fn, env, state string }
	counts := map[fnKey]int{}
	c.m.mu.Lock()
	all := make([]*inst, 0, len(c.m.instances))
	for _, in := range c.m.instances {
		all = append(all, in)
	}
	pools := make([]*pool, 0, len(c.m.pools))
	for _, p := range c.m.pools {
		pools = append(pools, p)
	}
	c.m.mu.Unlock()
	for _, in := range all {
		in.mu.Lock()
		if in.fn != nil {
			counts[fnKey{in.fn.Metadata.Namespace, in.fn.Metadata.Name, in.env.Metadata.Name, in.state}]++
		}
		in.mu.Unlock()
	}
	for k, n := range counts {
		ch <- prometheus.MustNewConstMetric(fnInstancesDesc, prometheus.GaugeValue, float64(n), k.ns, k.fn, k.env, k.state)
	}
	for _, p := range pools {
		idle, starting := p.counts()
		ns, env := p.env.Metadata.Namespace, p.env.Metadata.Name
		ch <- prometheus.MustNewConstMetric(poolInstancesDesc, prometheus.GaugeValue, float64(idle), ns, env, "idle")
		ch <- prometheus.MustNewConstMetric(poolInstancesDesc, prometheus.GaugeValue, float64(starting), ns, env, "starting")
		ch <- prometheus.MustNewConstMetric(poolSizeDesc, prometheus.GaugeValue, float64(p.env.Spec.Poolsize), ns, env)
	}
}
