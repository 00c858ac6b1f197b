package telemetry_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"testing"

	"go.opentelemetry.io/otel/trace"

	"github.com/lantern-faas/lantern/telemetry"
)

func TestNewLogHandler(t *testing.T) {
	var buf bytes.Buffer
	logger := slog.New(telemetry.NewLogHandler(slog.NewJSONHandler(&buf, nil))).With("component", "x")
	tid, _ := trace.TraceIDFromHex("0af7651916cd43dd8448eb211c80319c")
	sid, _ := trace.SpanIDFromHex("b7ad6b7169203331")
	ctx := trace.ContextWithSpanContext(context.Background(), trace.NewSpanContext(trace.SpanContextConfig{TraceID: tid, SpanID: sid}))

	logger.InfoContext(ctx, "with span")
	logger.Info("without span")
	lines := bytes.Split(bytes.TrimSpace(buf.Bytes()), []byte("\n"))
	if len(lines) != 2 {
		t.Fatalf("got %d lines, want 2", len(lines))
	}
	var with, without map[string]any
	_ = json.Unmarshal(lines[0], &with)
	_ = json.Unmarshal(lines[1], &without)
	if with["trace_id"] != tid.String() || with["span_id"] != sid.String() || with["component"] != "x" {
		t.Errorf("got %v, want the trace and span IDs and the component", with)
	}
	if _, ok := without["trace_id"]; ok {
		t.Errorf("got %v, want no trace_id without a span", without)
	}
}
