package telemetry

import (
	"context"
	"testing"
	"time"

	"go.opentelemetry.io/otel/trace"
)

func env(kv ...string) func(string) string {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return func(k string) string { return m[k] }
}

// sampledShare starts n root spans and returns the share that was sampled.
func sampledShare(t *testing.T, tr *Tracing, n int) float64 {
	t.Helper()
	tracer := tr.Provider.Tracer("test")
	sampled := 0
	for range n {
		_, span := tracer.Start(context.Background(), "call")
		if span.SpanContext().IsSampled() {
			sampled++
		}
		span.End()
	}
	return float64(sampled) / float64(n)
}

func TestSetupTracingSamplingDefaults(t *testing.T) {
	ctx := context.Background()

	// No exporter: plain calls are not recorded, cold starts and calls whose
	// caller sampled them are.
	local, err := SetupTracing(ctx, "test", env())
	if err != nil {
		t.Fatal(err)
	}
	if local.Exporting {
		t.Fatal("Exporting with no endpoint")
	}
	if got := sampledShare(t, local, 1000); got != 0 {
		t.Errorf("no exporter: %.3f of root spans sampled, want none", got)
	}
	tracer := local.Provider.Tracer("test")
	_, cs := tracer.Start(ctx, "cold", trace.WithAttributes(ColdStartAttr))
	if !cs.SpanContext().IsSampled() || !cs.IsRecording() {
		t.Error("no exporter: a cold start span is not sampled")
	}
	cs.End()
	tid, _ := trace.TraceIDFromHex("0af7651916cd43dd8448eb211c80319c")
	sid, _ := trace.SpanIDFromHex("b7ad6b7169203331")
	parent := trace.ContextWithRemoteSpanContext(ctx, trace.NewSpanContext(trace.SpanContextConfig{
		TraceID: tid, SpanID: sid, TraceFlags: trace.FlagsSampled, Remote: true}))
	_, child := tracer.Start(parent, "call")
	if !child.SpanContext().IsSampled() {
		t.Error("no exporter: a call whose caller sampled it is not sampled")
	}
	child.End()

	// Exporting: a tenth of the calls by default, or what OTEL_TRACES_SAMPLER says.
	exp, err := SetupTracing(ctx, "test", env("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:1", "OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"))
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		sctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
		defer cancel()
		_ = exp.Shutdown(sctx)
	}()
	if got := sampledShare(t, exp, 4000); got < 0.07 || got > 0.13 {
		t.Errorf("exporting: %.3f of root spans sampled, want about 0.1", got)
	}
	on, err := SetupTracing(ctx, "test", env("OTEL_TRACES_SAMPLER", "always_on"))
	if err != nil {
		t.Fatal(err)
	}
	if got := sampledShare(t, on, 100); got != 1 {
		t.Errorf("OTEL_TRACES_SAMPLER=always_on: %.2f sampled, want all", got)
	}
	if _, err := SetupTracing(ctx, "test", env("OTEL_TRACES_SAMPLER", "sometimes")); err == nil {
		t.Error("OTEL_TRACES_SAMPLER=sometimes accepted")
	}
}
