package controller

import (
	"context"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/lantern-faas/lantern/platform/api"
	"github.com/lantern-faas/lantern/platform/internal/httpx"
)

// metrics records API requests and reports object counts at scrape time.
type metrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

func newMetrics(c *Controller, reg prometheus.Registerer) *metrics {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "lantern_controller_api_requests_total", Help: "API requests by route template, method and status code.",
		}, []string{"route", "method", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "lantern_controller_api_request_duration_seconds", Help: "API request duration by route template and method.",
			Buckets: []float64{100e-6, 250e-6, 500e-6, 1e-3, 2.5e-3, 5e-3, 10e-3, 25e-3, 50e-3, 100e-3, 250e-3, 1, 5},
		}, []string{"route", "method"}),
	}
	if reg != nil {
		reg.MustRegister(m.requests, m.duration, &objectCollector{c: c})
	}
	return m
}

// middleware measures every request by its route template (never the raw
// path). Long-lived watch streams are counted but not timed.
func (m *metrics) middleware(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		start := time.Now()
		err := next(c)
		route := c.Path()
		if route == "" {
			route = "unmatched"
		}
		code := c.Response().Status
		if err != nil {
			code, _ = httpx.Classify(err)
		}
		m.requests.WithLabelValues(route, c.Request().Method, strconv.Itoa(code)).Inc()
		if route != "/v1/watch" {
			m.duration.WithLabelValues(route, c.Request().Method).Observe(time.Since(start).Seconds())
		}
		return err
	}
}

var objectsDesc = prometheus.NewDesc("lantern_controller_objects", "Stored objects by kind.", []string{"kind"}, nil)

type objectCollector struct{ c *Controller }

func (o *objectCollector) Describe(ch chan<- *prometheus.Desc) { ch <- objectsDesc }

func (o *objectCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	for _, kind := range api.Kinds {
		recs, err := o.c.store.List(ctx, kind, "")
		if err != nil {
			continue
		}
		ch <- prometheus.MustNewConstMetric(objectsDesc, prometheus.GaugeValue, float64(len(recs)), kind)
	}
}
