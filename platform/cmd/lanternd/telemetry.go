package main

import (
	"context"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/lantern-faas/lantern/telemetry"
)

// telemetryDeps are the registry and tracer provider of one process.
type telemetryDeps struct {
	reg     *prometheus.Registry
	tracing *telemetry.Tracing
	off     bool
}

// registerer is where components register metrics: nil when telemetry is
// off, so that they record nothing.
func (t *telemetryDeps) registerer() prometheus.Registerer {
	if t.off {
		return nil
	}
	return t.reg
}

// newTelemetry sets up metrics and tracing from the OTEL_* environment.
// Only main may set the OTel globals.
func newTelemetry(ctx context.Context, o *options, service string) (*telemetryDeps, error) {
	if !o.telemetry {
		return &telemetryDeps{reg: prometheus.NewRegistry(), tracing: &telemetry.Tracing{Provider: noop.NewTracerProvider()}, off: true}, nil
	}
	tr, err := telemetry.SetupTracing(ctx, service, o.getenv)
	if err != nil {
		return nil, err
	}
	otel.SetTracerProvider(tr.Provider)
	otel.SetTextMapPropagator(telemetry.Propagator())
	return &telemetryDeps{reg: telemetry.NewRegistry(), tracing: tr}, nil
}

// withMetrics serves /metrics beside h.
func (t *telemetryDeps) withMetrics(h http.Handler) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/metrics", telemetry.MetricsHandler(t.reg))
	mux.Handle("/", h)
	return mux
}

func (t *telemetryDeps) shutdown() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = t.tracing.Shutdown(ctx)
}
