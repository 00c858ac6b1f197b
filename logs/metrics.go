package logs

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

// Drop reasons, the values of the reason label of lantern_logs_dropped_total.
const (
	dropRateLimited = "rate_limited"
	dropTooLong     = "too_long"
	dropBufferFull  = "buffer_full"
	dropRejected    = "rejected"
)

// register registers c on reg and returns it, or returns the collector already
// registered under the same descriptor so that a Capture and a Shipper (or two
// of either) can share one registry. A nil reg registers nothing.
func register[C prometheus.Collector](reg prometheus.Registerer, c C) C {
	if reg == nil {
		return c
	}
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(C); ok {
				return existing
			}
		}
		panic(err) // a conflicting definition is a programming error
	}
	return c
}

func newDroppedCounter(reg prometheus.Registerer) *prometheus.CounterVec {
	return register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "lantern_logs_dropped_total",
		Help: "Log lines dropped, by reason (rate_limited, too_long, buffer_full, rejected).",
	}, []string{"reason"}))
}

// captureMetrics are the Capture's metrics.
type captureMetrics struct {
	captured    prometheus.Counter
	rateLimited prometheus.Counter
	tooLong     prometheus.Counter
}

func newCaptureMetrics(reg prometheus.Registerer) *captureMetrics {
	dropped := newDroppedCounter(reg)
	return &captureMetrics{
		captured: register(reg, prometheus.NewCounter(prometheus.CounterOpts{
			Name: "lantern_logs_lines_captured_total",
			Help: "Log lines captured from function instances (chunks of split lines count separately).",
		})),
		rateLimited: dropped.WithLabelValues(dropRateLimited),
		tooLong:     dropped.WithLabelValues(dropTooLong),
	}
}

// shipperMetrics are the Shipper's metrics.
type shipperMetrics struct {
	shipped    prometheus.Counter
	spooled    prometheus.Counter
	dropped    prometheus.Counter
	delay      prometheus.Histogram
	memoryFill prometheus.Gauge
	spoolFill  prometheus.Gauge
}

func newShipperMetrics(reg prometheus.Registerer) *shipperMetrics {
	fill := register(reg, prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "lantern_logs_buffer_fill_ratio",
		Help: "How full the shipper's buffers are (0..1): buffer=memory is the in-memory queue, buffer=spool the disk spool.",
	}, []string{"buffer"}))
	return &shipperMetrics{
		shipped: register(reg, prometheus.NewCounter(prometheus.CounterOpts{
			Name: "lantern_logs_lines_shipped_total",
			Help: "Log lines acknowledged by the collector.",
		})),
		spooled: register(reg, prometheus.NewCounter(prometheus.CounterOpts{
			Name: "lantern_logs_lines_spooled_total",
			Help: "Log lines written to the disk spool because the collector was unreachable or slow.",
		})),
		dropped: newDroppedCounter(reg).WithLabelValues(dropBufferFull),
		delay: register(reg, prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "lantern_logs_ship_delay_seconds",
			Help:    "Time from capture to hand-off to the forward-protocol client.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300},
		})),
		memoryFill: fill.WithLabelValues("memory"),
		spoolFill:  fill.WithLabelValues("spool"),
	}
}

// collectorMetrics are the Collector's metrics.
type collectorMetrics struct {
	received    prometheus.Counter
	duplicates  prometheus.Counter
	written     prometheus.Counter
	writeErrors prometheus.Counter
	rejected    prometheus.Counter
	lost        prometheus.Counter // spool overflow, or unwritten at shutdown without a spool
	pending     prometheus.Gauge
}

func newCollectorMetrics(reg prometheus.Registerer) *collectorMetrics {
	return &collectorMetrics{
		received: register(reg, prometheus.NewCounter(prometheus.CounterOpts{
			Name: "lantern_logs_lines_received_total",
			Help: "Log lines decoded from forward-protocol connections.",
		})),
		duplicates: register(reg, prometheus.NewCounter(prometheus.CounterOpts{
			Name: "lantern_logs_duplicates_total",
			Help: "Resent log lines dropped because their (instance, seq) was already seen.",
		})),
		written: register(reg, prometheus.NewCounter(prometheus.CounterOpts{
			Name: "lantern_logs_lines_written_total",
			Help: "Log lines written to the sink.",
		})),
		writeErrors: register(reg, prometheus.NewCounter(prometheus.CounterOpts{
			Name: "lantern_logs_write_errors_total",
			Help: "Failed sink writes (each retry counts).",
		})),
		rejected: newDroppedCounter(reg).WithLabelValues(dropRejected),
		lost:     newDroppedCounter(reg).WithLabelValues(dropBufferFull),
		pending: register(reg, prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "lantern_logs_collector_pending_lines",
			Help: "Log lines received by the collector and not yet written to the sink.",
		})),
	}
}
