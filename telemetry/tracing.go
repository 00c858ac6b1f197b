package telemetry

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

// ColdStartAttr marks spans that are always sampled: set it as a start
// attribute of a new root span.
var ColdStartAttr = attribute.Bool("lantern.cold_start", true)

// Tracing is a configured tracer provider.
type Tracing struct {
	Provider trace.TracerProvider
	// Exporting is true when spans leave the process (an OTLP endpoint is set).
	Exporting bool
	shutdown  func(context.Context) error
}

// Shutdown flushes and stops the exporter, waiting at most until ctx ends.
func (t *Tracing) Shutdown(ctx context.Context) error {
	if t.shutdown == nil {
		return nil
	}
	return t.shutdown(ctx)
}

// Propagator is W3C trace context plus baggage.
func Propagator() propagation.TextMapPropagator {
	return propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{})
}

// SetupTracing builds a tracer provider from the OTEL_* variables that
// getenv returns: OTEL_EXPORTER_OTLP_ENDPOINT (or ..._TRACES_ENDPOINT) turns
// export on, OTEL_EXPORTER_OTLP_PROTOCOL picks grpc or http/protobuf,
// OTEL_TRACES_SAMPLER and OTEL_TRACES_SAMPLER_ARG pick the sampler (default
// parentbased_traceidratio 0.1 when exporting; with no exporter,
// parentbased_always_off: spans that go nowhere are not recorded, except
// the cold starts and the calls whose caller sampled them). Export is
// asynchronous with a bounded queue: a down backend never slows calls.
// Spans with ColdStartAttr are always sampled.
func SetupTracing(ctx context.Context, service string, getenv func(string) string) (*Tracing, error) {
	endpoint := firstNonEmpty(getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"), getenv("OTEL_EXPORTER_OTLP_ENDPOINT"))
	exporting := endpoint != "" && getenv("OTEL_TRACES_EXPORTER") != "none"
	sampler, err := samplerFromEnv(getenv, exporting)
	if err != nil {
		return nil, err
	}
	res := resource.NewSchemaless(attribute.String("service.name", service))
	opts := []sdktrace.TracerProviderOption{sdktrace.WithSampler(coldStartSampler{sampler}), sdktrace.WithResource(res)}
	t := &Tracing{}
	if exporting {
		protocol := firstNonEmpty(getenv("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"), getenv("OTEL_EXPORTER_OTLP_PROTOCOL"), "grpc")
		var exp sdktrace.SpanExporter
		switch protocol {
		case "grpc":
			exp, err = otlptracegrpc.New(ctx)
		case "http/protobuf":
			exp, err = otlptracehttp.New(ctx)
		default:
			return nil, fmt.Errorf("OTEL_EXPORTER_OTLP_PROTOCOL=%q: use grpc or http/protobuf", protocol)
		}
		if err != nil {
			return nil, fmt.Errorf("otlp exporter for %s: %w", endpoint, err)
		}
		opts = append(opts, sdktrace.WithBatcher(exp, sdktrace.WithMaxQueueSize(4096), sdktrace.WithExportTimeout(5*time.Second)))
		t.Exporting = true
	}
	tp := sdktrace.NewTracerProvider(opts...)
	t.Provider, t.shutdown = tp, tp.Shutdown
	return t, nil
}

func samplerFromEnv(getenv func(string) string, exporting bool) (sdktrace.Sampler, error) {
	def := "parentbased_traceidratio"
	if !exporting {
		def = "parentbased_always_off"
	}
	name := firstNonEmpty(getenv("OTEL_TRACES_SAMPLER"), def)
	arg := getenv("OTEL_TRACES_SAMPLER_ARG")
	ratio := 0.1
	if arg != "" && strings.Contains(name, "traceidratio") {
		r, err := strconv.ParseFloat(arg, 64)
		if err != nil || r < 0 || r > 1 {
			return nil, fmt.Errorf("OTEL_TRACES_SAMPLER_ARG=%q: want a ratio between 0 and 1", arg)
		}
		ratio = r
	}
	switch name {
	case "always_on":
		return sdktrace.AlwaysSample(), nil
	case "always_off":
		return sdktrace.NeverSample(), nil
	case "traceidratio":
		return sdktrace.TraceIDRatioBased(ratio), nil
	case "parentbased_always_on":
		return sdktrace.ParentBased(sdktrace.AlwaysSample()), nil
	case "parentbased_always_off":
		return sdktrace.ParentBased(sdktrace.NeverSample()), nil
	case "parentbased_traceidratio":
		return sdktrace.ParentBased(sdktrace.TraceIDRatioBased(ratio)), nil
	}
	return nil, fmt.Errorf("OTEL_TRACES_SAMPLER=%q is not supported", name)
}

// coldStartSampler samples every span started with ColdStartAttr and defers
// to the configured sampler otherwise.
type coldStartSampler struct{ next sdktrace.Sampler }

func (s coldStartSampler) ShouldSample(p sdktrace.SamplingParameters) sdktrace.SamplingResult {
	for _, a := range p.Attributes {
		if a == ColdStartAttr {
			return sdktrace.SamplingResult{Decision: sdktrace.RecordAndSample, Tracestate: trace.SpanContextFromContext(p.ParentContext).TraceState()}
		}
	}
	return s.next.ShouldSample(p)
}

func (s coldStartSampler) Description() string {
	return "ColdStartAlways{" + s.next.Description() + "}"
}

func firstNonEmpty(vs ...string) string {
	for _, v := range vs {
		if v != "" {
			return v
		}
	}
	return ""
}
