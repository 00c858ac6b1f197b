package mqtrigger

import "github.com/prometheus/client_golang/prometheus"

// metrics records the triggers' events; nil records nothing. Labels are
// validated object names.
type metrics struct {
	processed *prometheus.CounterVec
	failed    *prometheus.CounterVec
	retried   *prometheus.CounterVec
	inFlight  *prometheus.GaugeVec
	lag       *prometheus.GaugeVec
	ready     *prometheus.GaugeVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	if reg == nil {
		return nil
	}
	labels := []string{"namespace", "trigger"}
	m := &metrics{
		processed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "lantern_mqt_messages_processed_total", Help: "Messages the function succeeded on, acknowledged.",
		}, labels),
		failed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "lantern_mqt_messages_failed_total", Help: "Messages the function failed on after every retry (sent to the error topic, if any).",
		}, labels),
		retried: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "lantern_mqt_message_retries_total", Help: "Failed calls that will be retried.",
		}, labels),
		inFlight: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "lantern_mqt_messages_in_flight", Help: "Messages being handled now.",
		}, labels),
		lag: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "lantern_mqt_consumer_lag_messages", Help: "Messages of the topic not yet delivered to the trigger's consumer.",
		}, labels),
		ready: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "lantern_mqt_trigger_ready", Help: "1 when the trigger consumes its topic, 0 when it cannot (see its status).",
		}, labels),
	}
	reg.MustRegister(m.processed, m.failed, m.retried, m.inFlight, m.lag, m.ready)
	return m
}

// triggerMetrics are one trigger's series, looked up once.
type triggerMetrics struct {
	processed, failed, retried prometheus.Counter
	inFlight                   prometheus.Gauge
}

// forTrigger returns the trigger's series, exported at zero so that rates
// start from the first message; nil when metrics are off.
func (m *metrics) forTrigger(ns, name string) *triggerMetrics {
	if m == nil {
		return nil
	}
	m.lag.WithLabelValues(ns, name)
	return &triggerMetrics{processed: m.processed.WithLabelValues(ns, name), failed: m.failed.WithLabelValues(ns, name),
		retried: m.retried.WithLabelValues(ns, name), inFlight: m.inFlight.WithLabelValues(ns, name)}
}

func (t *triggerMetrics) started() {
	if t != nil {
		t.inFlight.Inc()
	}
}

func (t *triggerMetrics) finished() {
	if t != nil {
		t.inFlight.Dec()
	}
}

func (t *triggerMetrics) messageProcessed() {
	if t != nil {
		t.processed.Inc()
	}
}

func (t *triggerMetrics) messageFailed() {
	if t != nil {
		t.failed.Inc()
	}
}

func (t *triggerMetrics) messageRetried() {
	if t != nil {
		t.retried.Inc()
	}
}

func (m *metrics) setLag(ns, name string, lag int64) {
	if m != nil {
		m.lag.WithLabelValues(ns, name).Set(float64(lag))
	}
}

func (m *metrics) setReady(ns, name string, ready bool) {
	if m == nil {
		return
	}
	v := 0.0
	if ready {
		v = 1
	}
	m.ready.WithLabelValues(ns, name).Set(v)
}

// forget drops the series of a deleted trigger.
func (m *metrics) forget(ns, name string) {
	if m == nil {
		return
	}
	for _, v := range []*prometheus.CounterVec{m.processed, m.failed, m.retried} {
		v.DeleteLabelValues(ns, name)
	}
	for _, v := range []*prometheus.GaugeVec{m.inFlight, m.lag, m.ready} {
		v.DeleteLabelValues(ns, name)
	}
}
