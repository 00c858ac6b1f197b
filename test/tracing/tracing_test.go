// Package tracing_test checks Lantern's distributed tracing end to end: a
// real "lanternd all" exports its spans over OTLP (gRPC and HTTP) to a real
// Jaeger, and the tests read the traces back through Jaeger's query API.
//
// It needs the Jaeger binary that test/tools/jaeger.sh builds (the tests
// fail, never skip, without it) and the python runtime
// (platform/environments/setup.sh). Run from the repository root:
//
//	bash test/tools/jaeger.sh
//	go test -count=1 ./test/tracing/...
package tracing_test

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// The spans of a cold start, and the ones of every call.
var (
	requestOps   = []string{"router.request", "router.get_instance", "router.proxy"}
	coldStartOps = []string{"poolmgr.cold_start", "poolmgr.acquire", "poolmgr.fetch", "poolmgr.specialize"}
)

const serviceName = "lanternd" // the service.name of "lanternd all"

var (
	traceIDRE     = regexp.MustCompile(`^[0-9a-f]{32}$`)
	traceparentRE = regexp.MustCompile(`^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$`)
)

// traceparent is a parsed W3C traceparent header.
type traceparent struct{ TraceID, ParentID, Flags string }

func parseTraceparent(s string) (traceparent, bool) {
	m := traceparentRE.FindStringSubmatch(s)
	if m == nil || m[1] == strings.Repeat("0", 32) || m[2] == strings.Repeat("0", 16) {
		return traceparent{}, false
	}
	return traceparent{m[1], m[2], m[3]}, true
}

// receivedTraceparent is the traceparent the function saw; it fails the
// test when there was none or it is malformed.
func receivedTraceparent(t *testing.T, r callResult) traceparent {
	t.Helper()
	if r.Echo.Traceparent == nil {
		t.Fatalf("the function received no traceparent header (it saw %s); the router must inject the context of its router.proxy span into the forwarded request (platform/router/proxy.go, Rewrite: s.prop.Inject)", r.Body)
	}
	tp, ok := parseTraceparent(*r.Echo.Traceparent)
	if !ok {
		t.Fatalf("the function received a malformed traceparent %q", *r.Echo.Traceparent)
	}
	return tp
}

func validTraceID(id string) bool {
	return traceIDRE.MatchString(id) && id != strings.Repeat("0", 32)
}

func randomHex(t *testing.T, n int) string {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// otelEnv is the environment of a lanternd that exports to endpoint.
func otelEnv(endpoint, protocol string, extra ...string) []string {
	return append([]string{
		"OTEL_EXPORTER_OTLP_ENDPOINT=" + endpoint,
		"OTEL_EXPORTER_OTLP_PROTOCOL=" + protocol,
		"OTEL_TRACES_SAMPLER=always_on",
	}, extra...)
}

// TestTracing runs the trace checks against a lanternd exporting to Jaeger
// over each OTLP protocol.
func TestTracing(t *testing.T) {
	requireJaeger(t)
	for _, tc := range []struct{ name, protocol, endpoint string }{
		{"grpc", "grpc", "http://" + jaeger.OTLPGRPC},
		{"http-protobuf", "http/protobuf", "http://" + jaeger.OTLPHTTP},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			l := startLanternd(t, otelEnv(tc.endpoint, tc.protocol)...)
			fn := "traced"
			l.deploy(t, fn)
			// The first call of the function is its cold start.
			cold := l.firstCall(t, fn)
			t.Logf("cold call: %s, request id %s, function saw %s", cold.Took.Round(time.Millisecond), cold.RequestID, cold.Body)

			var coldTrace jTrace
			t.Run("ColdStartTrace", func(t *testing.T) { coldTrace = checkColdStartTrace(t, l, fn, cold) })
			t.Run("ColdStartsEndpoint", func(t *testing.T) { checkColdStartsEndpoint(t, l, fn, cold, coldTrace) })
			t.Run("CallerTraceContinues", func(t *testing.T) { checkCallerTraceContinues(t, l, fn) })
			t.Run("MalformedTraceparent", func(t *testing.T) { checkMalformedTraceparent(t, l, fn) })
			if err := l.Healthy(); err != nil {
				t.Error(err)
			}
		})
	}
}

// checkColdStartTrace checks the trace of a cold call: its ID is the
// request ID, and it holds the router's and the poolmgr's spans, correctly
// nested, from the lanternd service. It returns the trace.
func checkColdStartTrace(t *testing.T, l *lanternd, fn string, cold callResult) jTrace {
	if !validTraceID(cold.RequestID) {
		t.Fatalf("X-Lantern-Request-Id of the cold call is %q, want the 32-hex trace ID", cold.RequestID)
	}
	tp := receivedTraceparent(t, cold)
	if tp.TraceID != cold.RequestID {
		t.Errorf("the function received traceparent %q, whose trace ID is not the request ID %s", *cold.Echo.Traceparent, cold.RequestID)
	}
	if cold.Echo.RequestID == nil || *cold.Echo.RequestID != cold.RequestID {
		t.Errorf("the function received X-Lantern-Request-Id %v, want %s", deref(cold.Echo.RequestID), cold.RequestID)
	}

	// router.request ends last; once it is in Jaeger, the cold start's
	// spans, which ended before it, have been exported too. Give them a
	// moment more all the same.
	tr := waitTrace(t, cold.RequestID, requestOps...)
	if missing := missingOps(tr, coldStartOps); len(missing) > 0 {
		if full, err := pollTrace(cold.RequestID, append(slices.Clone(requestOps), coldStartOps...), 2*time.Second); err == nil {
			tr = full
		}
	}
	// Where the cold start's spans are: in the request's trace, or (a bug)
	// in a trace of their own, found through the cold-start log.
	csTrace, inRequestTrace := tr, true
	if missing := missingOps(tr, coldStartOps); len(missing) > 0 {
		inRequestTrace = false
		why, other, found := whereDidTheColdStartGo(t, l, fn, cold.RequestID)
		t.Errorf("the cold call's trace %s lacks the cold start's span(s) %q; it has %s. %s",
			cold.RequestID, missing, describeTrace(tr), why)
		if found {
			csTrace = other
		}
	}
	checkService(t, tr)

	req := tr.span(t, "router.request")
	get := tr.span(t, "router.get_instance")
	proxy := tr.span(t, "router.proxy")
	if p := req.parent(); p != "" {
		t.Errorf("router.request has parent %s; with no traceparent from the caller it must be the root", p)
	}
	wantTag(t, req, "span.kind", "server")
	wantTag(t, req, "lantern.function", fn)
	wantTag(t, req, "lantern.namespace", "default")
	wantTag(t, req, "http.response.status_code", "200")
	wantParent(t, tr, get, req)
	wantTag(t, get, "lantern.cache_hit", "false")
	wantParent(t, tr, proxy, req)
	wantTag(t, proxy, "span.kind", "client")
	wantTag(t, proxy, "lantern.attempt", "0")
	wantNotBefore(t, proxy, get, "the instance is proxied to after it was got")
	if tp.ParentID != proxy.SpanID {
		t.Errorf("the function's traceparent names parent span %s, want router.proxy's span %s (the router must inject the router.proxy context)", tp.ParentID, proxy.SpanID)
	}
	if get.tag("lantern.instance") == "" || get.tag("lantern.instance") != proxy.tag("lantern.instance") {
		t.Errorf("router.get_instance has lantern.instance %q and router.proxy %q: want the same, non-empty", get.tag("lantern.instance"), proxy.tag("lantern.instance"))
	}

	// The cold start's own spans, wherever they are.
	if missing := missingOps(csTrace, coldStartOps); len(missing) > 0 {
		t.Fatalf("the cold start's span(s) %q are nowhere in Jaeger", missing)
	}
	if !inRequestTrace {
		checkService(t, csTrace)
	}
	cs := csTrace.span(t, "poolmgr.cold_start")
	if inRequestTrace {
		wantParent(t, tr, cs, get)
		wantNotBefore(t, proxy, cs, "the function is called once its instance is specialized")
	}
	wantTag(t, cs, "lantern.cold_start", "true")
	wantTag(t, cs, "lantern.function", fn)
	wantTag(t, cs, "lantern.namespace", "default")
	wantTag(t, cs, "lantern.environment", "python")
	if inst := cs.tag("lantern.instance"); inst == "" || inst != proxy.tag("lantern.instance") {
		t.Errorf("poolmgr.cold_start has lantern.instance %q, router.proxy %q: want the same, non-empty", inst, proxy.tag("lantern.instance"))
	}
	var prev jSpan
	for i, op := range coldStartOps[1:] {
		s := csTrace.span(t, op)
		wantParent(t, csTrace, s, cs)
		if _, failed := s.tagOK("error"); failed {
			t.Errorf("%s is marked as an error: %+v", op, s.Tags)
		}
		if s.StartTime < cs.StartTime || s.StartTime+s.Duration > cs.StartTime+cs.Duration+1 {
			t.Errorf("%s [%d, +%dµs] is not within poolmgr.cold_start [%d, +%dµs]", op, s.StartTime, s.Duration, cs.StartTime, cs.Duration)
		}
		if i > 0 {
			wantNotBefore(t, s, prev, "the cold start's phases run one after the other")
		}
		prev = s
	}
	return csTrace
}

// whereDidTheColdStartGo explains a cold start missing from the request's
// trace: the cold-start log names the trace it went to instead, which it
// returns when Jaeger has it.
func whereDidTheColdStartGo(t *testing.T, l *lanternd, fn, requestTrace string) (string, jTrace, bool) {
	t.Helper()
	list := l.coldStarts(t, fn)
	if len(list) == 0 || !validTraceID(list[0].TraceID) {
		return fmt.Sprintf("The cold-start log has no trace ID for it either: %+v.", list), jTrace{}, false
	}
	other := list[0].TraceID
	if other == requestTrace {
		return "The cold-start log names the request's trace, but Jaeger does not have the spans.", jTrace{}, false
	}
	tr, err := pollTrace(other, coldStartOps, traceTimeout)
	if err != nil {
		return fmt.Sprintf("The cold-start log names another trace, %s: %v.", other, err), tr, len(tr.Spans) > 0
	}
	var refs []string
	cs := tr.spansNamed("poolmgr.cold_start")[0]
	for _, r := range cs.References {
		refs = append(refs, fmt.Sprintf("%s %s/%s", r.RefType, r.TraceID, r.SpanID))
	}
	return fmt.Sprintf("PLATFORM BUG: the cold start went to a separate trace %s, whose poolmgr.cold_start is a root span "+
		"with references %q (no link back to the request): %s. The request's context does not reach poolmgr.Manager.specialize "+
		"(platform/poolmgr/manager.go), so poolmgr.cold_start starts a new trace instead of becoming a child of "+
		"router.get_instance. The context is dropped in platform/router/balancer.go, (*balancer).grow, which calls "+
		"GetInstance with context.Background() rather than a context carrying the router.get_instance span "+
		"(started in platform/router/proxy.go, callFunction) of the call that made it scale up.",
		other, refs, describeTrace(tr)), tr, true
}

// checkColdStartsEndpoint checks that the API's cold-start log lists the
// cold start, with the ID of a trace that is in Jaeger.
func checkColdStartsEndpoint(t *testing.T, l *lanternd, fn string, cold callResult, coldTrace jTrace) {
	list := l.coldStarts(t, fn)
	if len(list) != 1 {
		t.Fatalf("GET .../functions/%s/coldstarts lists %d cold starts, want the 1 of the first call: %+v", fn, len(list), list)
	}
	cs := list[0]
	t.Logf("cold start: %+v", cs)
	if cs.Outcome != "ok" || cs.Error != "" {
		t.Errorf("cold start outcome %q (error %q), want ok", cs.Outcome, cs.Error)
	}
	if cs.Instance == "" {
		t.Error("cold start names no instance")
	}
	if cs.Total <= 0 || cs.Acquire+cs.Fetch+cs.Specialize > cs.Total {
		t.Errorf("cold start durations: total %s, acquire %s + fetch %s + specialize %s; want phases adding up to at most a positive total",
			cs.Total, cs.Acquire, cs.Fetch, cs.Specialize)
	}
	if !validTraceID(cs.TraceID) {
		t.Fatalf("cold start traceId %q, want a 32-hex trace ID", cs.TraceID)
	}
	tr := waitTrace(t, cs.TraceID, "poolmgr.cold_start")
	span := tr.span(t, "poolmgr.cold_start")
	if got := span.tag("lantern.instance"); got != cs.Instance {
		t.Errorf("the poolmgr.cold_start span in trace %s has lantern.instance %q, the cold-start log %q", cs.TraceID, got, cs.Instance)
	}
	if cs.TraceID != cold.RequestID {
		t.Errorf("the cold-start log has traceId %s, but the call that caused the cold start has request (trace) ID %s: "+
			"the cold start should be part of the caller's trace (see ColdStartTrace)", cs.TraceID, cold.RequestID)
	}
	if p := coldTrace.spansNamed("router.proxy"); len(p) == 1 && p[0].tag("lantern.instance") != cs.Instance {
		t.Errorf("the cold call was proxied to instance %q, but the cold start was of %q", p[0].tag("lantern.instance"), cs.Instance)
	}
}

// checkCallerTraceContinues sends a sampled traceparent: Lantern's spans
// join the caller's trace and the function gets the trace context.
func checkCallerTraceContinues(t *testing.T, l *lanternd, fn string) {
	traceID, callerSpan := randomHex(t, 16), randomHex(t, 8)
	const state = "congo=t61rcWkgMzE"
	r := l.mustCall(t, fn, "traceparent: 00-"+traceID+"-"+callerSpan+"-01", "tracestate: "+state)
	if r.RequestID != traceID {
		t.Errorf("X-Lantern-Request-Id is %q, want the caller's trace ID %s", r.RequestID, traceID)
	}
	tp := receivedTraceparent(t, r)
	if tp.TraceID != traceID {
		t.Errorf("the function received traceparent %q, want trace ID %s (the caller's)", *r.Echo.Traceparent, traceID)
	}
	if tp.ParentID == callerSpan {
		t.Errorf("the function received the caller's traceparent unchanged (%q); want Lantern's router.proxy span as parent", *r.Echo.Traceparent)
	}
	if tp.Flags != "01" {
		t.Errorf("the function received traceparent %q, flags %s: want 01 (sampled)", *r.Echo.Traceparent, tp.Flags)
	}
	if r.Echo.Tracestate == nil || *r.Echo.Tracestate != state {
		t.Errorf("the function received tracestate %v, want the caller's %q", deref(r.Echo.Tracestate), state)
	}
	if r.Echo.RequestID == nil || *r.Echo.RequestID != traceID {
		t.Errorf("the function received X-Lantern-Request-Id %v, want %s", deref(r.Echo.RequestID), traceID)
	}

	tr := waitTrace(t, traceID, requestOps...)
	checkService(t, tr)
	req := tr.span(t, "router.request")
	if p := req.parent(); p != callerSpan {
		t.Errorf("router.request has parent %q, want the caller's span %s", p, callerSpan)
	}
	get, proxy := tr.span(t, "router.get_instance"), tr.span(t, "router.proxy")
	wantParent(t, tr, get, req)
	wantParent(t, tr, proxy, req)
	wantTag(t, get, "lantern.cache_hit", "true")
	if proxy.SpanID != tp.ParentID {
		t.Errorf("the function's traceparent names parent %s, want router.proxy's span %s", tp.ParentID, proxy.SpanID)
	}
	if n := len(tr.spansNamed("poolmgr.cold_start")); n != 0 {
		t.Errorf("a warm call's trace has %d poolmgr.cold_start span(s)", n)
	}
}

// checkMalformedTraceparent sends broken traceparents: each call succeeds
// in a new trace of its own. The calls go first and the traces are read
// after, so that one wait for Jaeger's batches covers them all.
func checkMalformedTraceparent(t *testing.T, l *lanternd, fn string) {
	type sent struct {
		name, value string
		r           callResult
	}
	var calls []sent
	seen := map[string]bool{}
	for _, tc := range []struct{ name, value string }{
		{"non-hex", "00-zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz-zzzzzzzzzzzzzzzz-01"},
		{"zero trace id", "00-00000000000000000000000000000000-" + randomHex(t, 8) + "-01"},
		{"zero parent id", "00-" + randomHex(t, 16) + "-0000000000000000-01"},
		{"short", "00-" + randomHex(t, 8) + "-" + randomHex(t, 8) + "-01"},
		{"upper-case", "00-" + strings.ToUpper(randomHex(t, 16)) + "-" + randomHex(t, 8) + "-01"},
		{"version ff", "ff-" + randomHex(t, 16) + "-" + randomHex(t, 8) + "-01"},
		{"garbage", "not a traceparent"},
	} {
		r := l.mustCall(t, fn, "traceparent: "+tc.value)
		switch {
		case !validTraceID(r.RequestID):
			t.Errorf("traceparent %q (%s): X-Lantern-Request-Id is %q, want a fresh 32-hex trace ID", tc.value, tc.name, r.RequestID)
			continue
		case strings.Contains(strings.ToLower(tc.value), r.RequestID) || seen[r.RequestID]:
			t.Errorf("traceparent %q (%s): request ID %s is not a fresh one", tc.value, tc.name, r.RequestID)
		}
		seen[r.RequestID] = true
		if tp := receivedTraceparent(t, r); tp.TraceID != r.RequestID {
			t.Errorf("traceparent %q (%s): the function received traceparent %q, want trace ID %s", tc.value, tc.name, *r.Echo.Traceparent, r.RequestID)
		}
		calls = append(calls, sent{tc.name, tc.value, r})
	}
	for _, c := range calls {
		tr := waitTrace(t, c.r.RequestID, requestOps...)
		if p := tr.span(t, "router.request").parent(); p != "" {
			t.Errorf("traceparent %q (%s): router.request has parent %s, want a new root", c.value, c.name, p)
		}
	}
}

// TestTraceBackendDown checks that a trace backend that is down (nothing
// listens) or hangs (accepts connections and never answers) neither fails
// nor slows calls, and that lanternd stays healthy and stops in time.
func TestTraceBackendDown(t *testing.T) {
	requireSetup(t)
	const (
		calls     = 200
		maxP50    = 20 * time.Millisecond
		maxSingle = 2 * time.Second // an export on the call path would take its 5 s timeout
	)
	closed := mustFreePort(t) // nobody listens there
	hung := hangingListener(t)
	for _, tc := range []struct{ name, protocol, endpoint string }{
		{"grpc-closed-port", "grpc", "http://" + closed},
		{"http-closed-port", "http/protobuf", "http://" + closed},
		{"grpc-hanging", "grpc", "http://" + hung},
		{"http-hanging", "http/protobuf", "http://" + hung},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			// Export every 50 ms instead of every 5 s, so that exports fail
			// (or hang) all through the calls below, not after them.
			l := startLanternd(t, otelEnv(tc.endpoint, tc.protocol, "OTEL_BSP_SCHEDULE_DELAY=50")...)
			fn := "traced"
			l.deploy(t, fn)
			cold := l.firstCall(t, fn)
			if !validTraceID(cold.RequestID) {
				t.Errorf("cold call: X-Lantern-Request-Id %q, want a trace ID", cold.RequestID)
			}
			t.Logf("cold call took %s", cold.Took.Round(time.Millisecond))
			took := make([]time.Duration, 0, calls)
			failed := 0
			for i := 0; i < calls; i++ {
				r, err := l.call(fn)
				switch {
				case err != nil:
					failed++
					t.Errorf("call %d: %v", i, err)
				case r.Status != http.StatusOK:
					failed++
					t.Errorf("call %d: %d %q", i, r.Status, r.Body)
				default:
					took = append(took, r.Took)
				}
				if failed >= 5 {
					t.Fatalf("%d calls failed; giving up", failed)
				}
			}
			slices.Sort(took)
			if len(took) == 0 {
				t.Fatal("no call succeeded")
			}
			p50, p90, p99, worst := took[len(took)/2], took[len(took)*9/10], took[len(took)*99/100], took[len(took)-1]
			t.Logf("%d warm calls with the trace backend down: p50 %s, p90 %s, p99 %s, max %s",
				len(took), p50.Round(10*time.Microsecond), p90.Round(10*time.Microsecond), p99.Round(10*time.Microsecond), worst.Round(10*time.Microsecond))
			if p50 > maxP50 {
				t.Errorf("p50 of warm calls is %s with the trace backend down, want under %s", p50, maxP50)
			}
			if worst > maxSingle {
				t.Errorf("the slowest warm call took %s with the trace backend down, want under %s", worst, maxSingle)
			}
			if err := l.Healthy(); err != nil {
				t.Errorf("after the calls: %v", err)
			}
			l.Stop()
			t.Logf("lanternd stopped %s after SIGTERM", l.StopTook.Round(time.Millisecond))
		})
	}
}

// hangingListener accepts TCP connections and never answers on them, like
// a backend that is wedged. It is closed when the test ends.
func hangingListener(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		<-done
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	return ln.Addr().String()
}

// ---------------------------------------------------------------------------
// Assertions on spans

func checkService(t *testing.T, tr jTrace) {
	t.Helper()
	for _, s := range tr.Spans {
		p, ok := tr.Processes[s.ProcessID]
		if !ok || p.ServiceName != serviceName {
			t.Errorf("span %s is from service %q, want %q", s.OperationName, p.ServiceName, serviceName)
		}
	}
}

// wantParent checks that child's CHILD_OF parent is parent.
func wantParent(t *testing.T, tr jTrace, child, parent jSpan) {
	t.Helper()
	got := child.parent()
	if got == parent.SpanID {
		return
	}
	desc := "no parent (a root span)"
	if got != "" {
		desc = "parent " + got
		if ps, ok := tr.byID(got); ok {
			desc += " (" + ps.OperationName + ")"
		} else {
			desc += " (not in this trace)"
		}
	}
	t.Errorf("%s (span %s) has %s, want %s (span %s)", child.OperationName, child.SpanID, desc, parent.OperationName, parent.SpanID)
}

func wantTag(t *testing.T, s jSpan, key, want string) {
	t.Helper()
	if got, ok := s.tagOK(key); !ok || got != want {
		t.Errorf("%s: attribute %s = %q (present %v), want %q; tags %+v", s.OperationName, key, got, ok, want, s.Tags)
	}
}

func (s jSpan) tagOK(key string) (string, bool) {
	for _, tg := range s.Tags {
		if tg.Key == key {
			return fmt.Sprint(tg.Value), true
		}
	}
	return "", false
}

// wantNotBefore checks that later starts once earlier has ended (µs, with
// 1 µs of rounding).
func wantNotBefore(t *testing.T, later, earlier jSpan, why string) {
	t.Helper()
	if later.StartTime+1 < earlier.StartTime+earlier.Duration {
		t.Errorf("%s starts at %d µs, before %s ends at %d µs: %s", later.OperationName, later.StartTime,
			earlier.OperationName, earlier.StartTime+earlier.Duration, why)
	}
}

func deref(p *string) string {
	if p == nil {
		return "(none)"
	}
	return fmt.Sprintf("%q", *p)
}
