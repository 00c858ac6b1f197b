package router

import (
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/trace"

	"github.com/lantern-faas/lantern/platform/api"
)

// Buckets fit what they measure: the platform's overhead is microseconds
// on the warm path and up to seconds on a cold one.
var (
	overheadBuckets = []float64{25e-6, 50e-6, 100e-6, 250e-6, 500e-6, 1e-3, 2.5e-3, 5e-3, 10e-3, 25e-3, 50e-3, 100e-3, 250e-3, 1, 5}
	durationBuckets = []float64{500e-6, 1e-3, 2.5e-3, 5e-3, 10e-3, 25e-3, 50e-3, 100e-3, 250e-3, 500e-3, 1, 2.5, 5, 10, 30, 60}
	sizeBuckets     = prometheus.ExponentialBuckets(64, 4, 10) // 64 B .. 16 MiB
)

// metrics records the router's events. Label values come from validated
// object names, never from raw request data.
type metrics struct {
	calls    *prometheus.CounterVec
	errors   *prometheus.CounterVec
	duration *prometheus.HistogramVec
	overhead *prometheus.HistogramVec
	size     *prometheus.HistogramVec
	inFlight *prometheus.GaugeVec
	hits     *prometheus.CounterVec
	misses   *prometheus.CounterVec

	fns sync.Map // fnKey -> *fnSeries
}

// newMetrics returns nil when reg is nil: telemetry is off and recording
// costs nothing.
func newMetrics(reg prometheus.Registerer) *metrics {
	if reg == nil {
		return nil
	}
	fnLabels := []string{"namespace", "function", "trigger"}
	callLabels := []string{"namespace", "function", "trigger", "method", "code"}
	m := &metrics{
		calls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "lantern_function_calls_total", Help: "Calls to functions through the router.",
		}, callLabels),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "lantern_function_errors_total", Help: "Calls that answered with a status of 400 or more.",
		}, callLabels),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "lantern_function_duration_seconds", Help: "Whole call as the router sees it, to the end of the response.",
			Buckets: durationBuckets,
		}, []string{"namespace", "function", "trigger", "code_class"}),
		overhead: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "lantern_function_overhead_seconds", Help: "Time the platform adds to a call: everything but waiting on the instance (includes cold starts).",
			Buckets: overheadBuckets,
		}, fnLabels),
		size: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "lantern_function_response_size_bytes", Help: "Response body sizes.",
			Buckets: sizeBuckets,
		}, fnLabels),
		inFlight: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "lantern_router_requests_in_flight", Help: "Calls being served now.",
		}, []string{"namespace", "function"}),
		hits: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "lantern_router_instance_cache_hits_total", Help: "Calls served by a cached instance with no poolmgr round trip.",
		}, []string{"namespace", "function"}),
		misses: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "lantern_router_instance_cache_misses_total", Help: "Calls that had to wait for an instance from the poolmgr.",
		}, []string{"namespace", "function"}),
	}
	reg.MustRegister(m.calls, m.errors, m.duration, m.overhead, m.size, m.inFlight, m.hits, m.misses)
	return m
}

// Series are bound once per function and per kind of call, so that the
// call path does no label hashing and no allocation for them: a map lookup
// on the function and one on the call's trigger, method and status.
type (
	fnKey struct{ ns, name string }
	// fnSeries are one function's series.
	fnSeries struct {
		m            *metrics
		key          fnKey
		inFlight     prometheus.Gauge
		hits, misses prometheus.Counter
		calls        sync.Map // callKey -> *callSeries
	}
	callKey struct {
		trigger, method string
		code            int
	}
	// callSeries are the series of one kind of call to one function.
	callSeries struct {
		calls, errors            prometheus.Counter // errors is nil below 400
		duration, overhead, size prometheus.Observer
	}
)

func (m *metrics) function(ns, name string) *fnSeries {
	k := fnKey{ns, name}
	if v, ok := m.fns.Load(k); ok {
		return v.(*fnSeries)
	}
	f := &fnSeries{m: m, key: k,
		inFlight: m.inFlight.WithLabelValues(ns, name),
		hits:     m.hits.WithLabelValues(ns, name),
		misses:   m.misses.WithLabelValues(ns, name),
	}
	v, _ := m.fns.LoadOrStore(k, f)
	return v.(*fnSeries)
}

func (f *fnSeries) call(trigger, method string, code int) *callSeries {
	k := callKey{trigger, method, code}
	if v, ok := f.calls.Load(k); ok {
		return v.(*callSeries)
	}
	m, ns, name := f.m, f.key.ns, f.key.name
	c := strconv.Itoa(code)
	cs := &callSeries{
		calls:    m.calls.WithLabelValues(ns, name, trigger, method, c),
		duration: m.duration.WithLabelValues(ns, name, trigger, c[:1]+"xx"),
		overhead: m.overhead.WithLabelValues(ns, name, trigger),
		size:     m.size.WithLabelValues(ns, name, trigger),
	}
	if code >= 400 {
		cs.errors = m.errors.WithLabelValues(ns, name, trigger, method, c)
	}
	v, _ := f.calls.LoadOrStore(k, cs)
	return v.(*callSeries)
}

// forget drops a deleted function's series, so that they leave /metrics
// and memory.
func (m *metrics) forget(ns, name string) {
	if m == nil {
		return
	}
	m.fns.Delete(fnKey{ns, name})
	l := prometheus.Labels{"namespace": ns, "function": name}
	for _, v := range []interface{ DeletePartialMatch(prometheus.Labels) int }{
		m.calls, m.errors, m.duration, m.overhead, m.size, m.inFlight, m.hits, m.misses,
	} {
		v.DeletePartialMatch(l)
	}
}

// recorder measures one call.
type recorder struct {
	fn       *fnSeries
	trigger  string
	method   string
	start    time.Time
	upstream time.Time // when the request was handed to the instance
	miss     bool
}

func (m *metrics) start(fn *api.Function, trigger, method string) *recorder {
	if m == nil {
		return nil
	}
	f := m.function(fn.Metadata.Namespace, fn.Metadata.Name)
	f.inFlight.Inc()
	return &recorder{fn: f, trigger: trigger, method: methodLabel(method), start: time.Now()}
}

// forwarded marks the moment the request leaves for the instance.
func (r *recorder) forwarded() {
	if r != nil {
		r.upstream = time.Now()
	}
}

// cacheMiss marks that the call waited for an instance.
func (r *recorder) cacheMiss() {
	if r != nil {
		r.miss = true
	}
}

// done records the outcome. spanCtx supplies the exemplar's trace ID.
func (r *recorder) done(code int, size int64, sc trace.SpanContext) {
	if r == nil {
		return
	}
	f := r.fn
	f.inFlight.Dec()
	if r.miss {
		f.misses.Inc()
	} else {
		f.hits.Inc()
	}
	cs := f.call(r.trigger, r.method, code)
	cs.calls.Inc()
	if cs.errors != nil {
		cs.errors.Inc()
	}
	total := time.Since(r.start)
	overhead := total
	if !r.upstream.IsZero() {
		overhead = r.upstream.Sub(r.start)
	}
	var ex prometheus.Labels
	if sc.IsSampled() {
		ex = prometheus.Labels{"trace_id": sc.TraceID().String()}
	}
	observe(cs.duration, total.Seconds(), ex)
	observe(cs.overhead, overhead.Seconds(), ex)
	cs.size.Observe(float64(size))
}

func observe(o prometheus.Observer, v float64, ex prometheus.Labels) {
	if eo, ok := o.(prometheus.ExemplarObserver); ok && ex != nil {
		eo.ObserveWithExemplar(v, ex)
		return
	}
	o.Observe(v)
}

// methodLabel bounds the method label to the known methods.
func methodLabel(m string) string {
	switch m {
	case "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS":
		return m
	}
	return "other"
}
