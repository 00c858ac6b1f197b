package router_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/lantern-faas/lantern/platform/router"
	"github.com/lantern-faas/lantern/telemetry"
)

// TestServer_Exemplars checks that call-path histograms carry the trace ID
// of a sampled call as an exemplar, and the metrics their labels.
func TestServer_Exemplars(t *testing.T) {
	reg := prometheus.NewRegistry()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.NeverSample())))
	s := newWarmServer(t, router.WithRegisterer(reg), router.WithTracing(tp, telemetry.Propagator()))

	const traceID = "0af7651916cd43dd8448eb211c80319c"
	req := httptest.NewRequest(http.MethodGet, "/fn/default/hello", nil)
	req.Header.Set("traceparent", "00-"+traceID+"-b7ad6b7169203331-01")
	rec := httptest.NewRecorder()
	s.Handler().ServeHTTP(rec, req)
	if rec.Code != http.StatusOK || rec.Header().Get("X-Lantern-Request-Id") != traceID {
		t.Fatalf("got %d, request ID %q; want 200 and the caller's trace ID", rec.Code, rec.Header().Get("X-Lantern-Request-Id"))
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	found := map[string]bool{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			if h := m.GetHistogram(); h != nil {
				for _, b := range h.GetBucket() {
					if ex := b.GetExemplar(); ex != nil {
						for _, l := range ex.GetLabel() {
							if l.GetName() == "trace_id" && l.GetValue() == traceID {
								found[mf.GetName()] = true
							}
						}
					}
				}
			}
		}
	}
	for _, name := range []string{"lantern_function_duration_seconds", "lantern_function_overhead_seconds"} {
		if !found[name] {
			t.Errorf("%s has no exemplar with trace_id %s", name, traceID)
		}
	}
}
