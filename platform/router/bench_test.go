package router_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/lantern-faas/lantern/platform/api"
	"github.com/lantern-faas/lantern/platform/router"
	"github.com/lantern-faas/lantern/telemetry"
)

// newWarmServer returns a router whose one function, hello, is served by a
// loopback upstream answering "ok": every call after the first is warm.
func newWarmServer(tb testing.TB, opts ...router.Option) *router.Server {
	tb.Helper()
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, "Hello, world!\n")
	}))
	tb.Cleanup(upstream.Close)
	fn := &api.Function{Metadata: api.Metadata{Name: "hello", Namespace: "default", ResourceVersion: "1"}, Spec: api.FunctionSpec{Environment: "py"}}
	fn.SetDefaults()
	fn.Spec.RequestsPerPod = 1000
	inst := &api.Instance{ID: "i1", Address: strings.TrimPrefix(upstream.URL, "http://"), Namespace: "default", Function: "hello", ResourceVersion: "1"}
	instances := &fakeInstances{GetInstanceFunc: func(context.Context, api.InstanceRequest) (*api.Instance, error) { return inst, nil }}
	objs := &fakeObjects{FunctionFunc: func(_, _ string) *api.Function { return fn }}
	return router.New(router.DefaultConfig(), instances, objs, nil, opts...)
}

// BenchmarkServer_WarmPath measures the router's own cost per warm call:
// a loopback upstream, with telemetry off and on.
func BenchmarkServer_WarmPath(b *testing.B) {
	for _, tc := range []struct {
		name string
		opts func() []router.Option
	}{
		{"TelemetryOff", func() []router.Option { return nil }},
		{"TelemetryOn", func() []router.Option {
			return []router.Option{router.WithRegisterer(prometheus.NewRegistry()),
				router.WithTracing(sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.TraceIDRatioBased(0.1)))), telemetry.Propagator())}
		}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			s := newWarmServer(b, tc.opts()...)
			h := s.Handler()
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					req := httptest.NewRequest(http.MethodGet, "/fn/default/hello", nil)
					rec := httptest.NewRecorder()
					h.ServeHTTP(rec, req)
					if rec.Code != http.StatusOK {
						b.Fatalf("got %d: %s", rec.Code, rec.Body)
					}
				}
			})
		})
	}
}
