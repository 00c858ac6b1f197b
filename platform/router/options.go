package router

import (
	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// Option sets an optional dependency of the router.
type Option func(*Server)

// WithRegisterer registers the router's metrics with reg.
func WithRegisterer(reg prometheus.Registerer) Option {
	return func(s *Server) { s.reg = reg }
}

// WithTracing traces requests with tp and propagates context with prop.
func WithTracing(tp trace.TracerProvider, prop propagation.TextMapPropagator) Option {
	return func(s *Server) { s.tracer, s.prop = tp.Tracer("lantern/router"), prop }
}

func defaultTracing() (trace.Tracer, propagation.TextMapPropagator) {
	return noop.NewTracerProvider().Tracer(""), propagation.TraceContext{}
}
