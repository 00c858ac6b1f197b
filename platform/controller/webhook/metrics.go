package webhook

import (
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics counts and times admission requests.
type metrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "lantern_controller_admission_requests_total",
			Help: "Admission requests the webhook answered, by kind (other: not Lantern's), operation and whether the request was allowed.",
		}, []string{"kind", "operation", "allowed"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "lantern_controller_admission_duration_seconds",
			Help:    "Time the webhook took to answer an admission request, by kind and operation.",
			Buckets: []float64{100e-6, 250e-6, 500e-6, 1e-3, 2.5e-3, 5e-3, 10e-3, 25e-3, 50e-3, 100e-3, 250e-3, 1, 5},
		}, []string{"kind", "operation"}),
	}
	if reg != nil {
		reg.MustRegister(m.requests, m.duration)
	}
	return m
}

// answered records one answered request.
func (m *metrics) answered(kind, op string, allowed bool, took time.Duration) {
	m.requests.WithLabelValues(kind, op, strconv.FormatBool(allowed)).Inc()
	m.duration.WithLabelValues(kind, op).Observe(took.Seconds())
}
