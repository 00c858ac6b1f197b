package main

import (
	"context"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel"

	"github.com/lantern-faas/lantern/telemetry"
)

// telemetryDeps are the registry and tracer provider of one process.
type telemetryDeps struct {
	reg     *prometheus.Registry
	tracing *telemetry.Tracing
}

// newTelemetry sets up metrics and tracing from the OTEL_* environment.
// Only main may set the OTel globals.
func newTelemetry(ctx context.Context, o *options, service string) (*telemetryDeps, error) {
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
