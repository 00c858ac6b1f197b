package poolmgr

import (
	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/trace"
)

// Option sets an optional dependency of the manager.
type Option func(*Manager)

// WithRegisterer registers the poolmgr's metrics with reg.
func WithRegisterer(reg prometheus.Registerer) Option {
	return func(m *Manager) { m.reg = reg }
}

// WithTracerProvider traces cold starts with tp.
func WithTracerProvider(tp trace.TracerProvider) Option {
	return func(m *Manager) { m.tracer = tp.Tracer("lantern/poolmgr") }
}
