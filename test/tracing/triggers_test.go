package tracing_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/lantern-faas/lantern/platform/api"
	"github.com/lantern-faas/lantern/platform/client"
)

// TestTriggerTraces checks that calls made by triggers other than HTTP
// are traced like HTTP calls: an asynchronous call's attempt and a
// timer's fire are root spans whose child is the router's request span,
// and the invocation's request ID is the trace ID.
func TestTriggerTraces(t *testing.T) {
	requireJaeger(t)
	l := startLanternd(t, otelEnv("http://"+jaeger.OTLPGRPC, "grpc")...)
	fn := "triggered"
	l.deploy(t, fn)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	t.Run("Async", func(t *testing.T) {
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, l.RouterURL+"/async/default/"+fn, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		id := resp.Header.Get(api.InvocationIDHeader)
		if resp.StatusCode != http.StatusAccepted || id == "" {
			t.Fatalf("async call: %s, invocation %q", resp.Status, id)
		}
		ac := client.NewAsync(l.APIURL, nil)
		var inv *api.Invocation
		for inv == nil || inv.Status != api.InvocationSucceeded {
			if ctx.Err() != nil {
				t.Fatalf("invocation %s: %+v", id, inv)
			}
			time.Sleep(100 * time.Millisecond)
			inv, _ = ac.Invocation(ctx, id)
		}
		tr := waitTrace(t, inv.RequestID, "async.invoke", "router.request", "router.proxy")
		root, req2 := tr.span(t, "async.invoke"), tr.span(t, "router.request")
		if req2.parent() != root.SpanID || root.tag("lantern.invocation") != id {
			t.Errorf("router.request %s should be a child of async.invoke %s for invocation %s:\n%s", req2, root, id, describeTrace(tr))
		}
	})

	t.Run("Timer", func(t *testing.T) {
		tm := &api.TimeTrigger{Metadata: api.Metadata{Name: "tick"},
			Spec: api.TimeTriggerSpec{Cron: "@every 1s", FunctionRef: api.FunctionRef{Name: fn}}}
		if err := l.Client.Create(ctx, tm); err != nil {
			t.Fatal(err)
		}
		traceID := ""
		for traceID == "" {
			if ctx.Err() != nil {
				t.Fatal("no timer.fire span in Jaeger within 60s")
			}
			time.Sleep(500 * time.Millisecond)
			traceID = searchTrace(t, ctx, "timer.fire")
		}
		tr := waitTrace(t, traceID, "timer.fire", "router.request", "router.proxy")
		root, req := tr.span(t, "timer.fire"), tr.span(t, "router.request")
		if req.parent() != root.SpanID || root.tag("lantern.timer") != "tick" {
			t.Errorf("router.request %s should be a child of timer.fire %s:\n%s", req, root, describeTrace(tr))
		}
	})
}

// searchTrace returns the ID of a trace of lanternd holding a span named
// op, or "".
func searchTrace(t *testing.T, ctx context.Context, op string) string {
	t.Helper()
	q := url.Values{"service": {serviceName}, "operation": {op}, "limit": {"1"}, "lookback": {"1h"}}
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, jaeger.QueryURL+"/api/traces?"+q.Encode(), nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return ""
	}
	defer resp.Body.Close()
	var r jTraceResponse
	if json.NewDecoder(resp.Body).Decode(&r) != nil || len(r.Data) == 0 {
		return ""
	}
	return fmt.Sprint(r.Data[0].TraceID)
}
