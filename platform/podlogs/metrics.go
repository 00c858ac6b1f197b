package podlogs

import "github.com/prometheus/client_golang/prometheus"

// metrics are the Tailer's; the lines it captures are counted by the
// Capture's own (lantern_logs_lines_captured_total, _dropped_total).
type metrics struct {
	entries   prometheus.Counter
	malformed prometheus.Counter
	pods      prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		entries: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "lantern_logs_pod_entries_read_total", Help: "CRI log entries read from pool pods' log files (partial entries count apart).",
		}),
		malformed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "lantern_logs_pod_entries_malformed_total", Help: "Lines of pool pods' log files that are not CRI log entries (skipped).",
		}),
		pods: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "lantern_logs_pods_followed", Help: "Pool pods on this node whose logs are read, deleted ones not read to their end included.",
		}),
	}
	if reg != nil {
		reg.MustRegister(m.entries, m.malformed, m.pods)
	}
	return m
}
