// Package telemetry sets up what every Lantern component shares for
// observability: a Prometheus registry with the process and Go collectors
// and its /metrics handler (OpenMetrics, so exemplars reach Prometheus), and
// the OpenTelemetry tracer provider configured from the standard OTEL_*
// environment variables, with a sampler that always keeps cold starts.
//
// It must not import anything under platform/.
package telemetry
