package router_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/lantern-faas/lantern/platform/api"
	"github.com/lantern-faas/lantern/platform/internal/httpx"
	"github.com/lantern-faas/lantern/platform/router"
)

func TestServer_FunctionTimeout(t *testing.T) {
	cancelled := make(chan struct{}, 1)
	var calls atomic.Int32
	h := newHarness(t, setup{
		spec: api.FunctionSpec{FunctionTimeout: 1},
		function: func(w http.ResponseWriter, r *http.Request) {
			if calls.Add(1) > 1 {
				return // only the first call hangs
			}
			select {
			case <-time.After(3 * time.Second):
				_, _ = w.Write([]byte("too late"))
			case <-r.Context().Done():
				cancelled <- struct{}{}
			}
		},
	})
	start := time.Now()
	res := h.get(t.Context(), "/fn/default/hello")
	elapsed := time.Since(start)
	if got, want := res.Status, http.StatusGatewayTimeout; got != want {
		t.Errorf("status: got %d %q, want %d", got, res.Body, want)
	}
	if elapsed < time.Second || elapsed > 2500*time.Millisecond {
		t.Errorf("answered after %v, want after the 1s function timeout", elapsed)
	}
	if got, want := h.waitRemoval(t), (removal{"inst-1", api.ReasonTimeout}); got != want {
		t.Errorf("RemoveInstance: got %+v, want %+v", got, want)
	}
	select {
	case <-cancelled:
	case <-time.After(2 * time.Second):
		t.Errorf("function's request: still running 2s after the timeout, want cancelled")
	}
	// The stuck instance is not used again.
	if res := h.get(t.Context(), "/fn/default/hello"); res.Instance != "inst-2" {
		t.Errorf("call after timeout: got instance %q (%d), want inst-2", res.Instance, res.Status)
	}
}

func TestServer_DialErrorRetry(t *testing.T) {
	h := newHarness(t, setup{})
	dead := freeAddr(t)
	serve := h.inst.GetInstanceFunc
	h.inst.GetInstanceFunc = func(ctx context.Context, req api.InstanceRequest) (*api.Instance, error) {
		if h.gets.Load() == 0 {
			h.gets.Add(1)
			h.mu.Lock()
			defer h.mu.Unlock()
			return h.instance("inst-dead", dead), nil
		}
		return serve(ctx, req)
	}
	req, _ := http.NewRequest(http.MethodPost, h.URL+"/fn/default/hello", strings.NewReader("payload"))
	res := do(req)
	if res.Err != nil || res.Status != http.StatusOK {
		t.Fatalf("call: got %d %v %q, want 200", res.Status, res.Err, res.Body)
	}
	if got, want := res.Instance, "inst-1"; got != want {
		t.Errorf("serving instance: got %q, want %q", got, want)
	}
	if got, want := h.waitRemoval(t), (removal{"inst-dead", api.ReasonCrash}); got != want {
		t.Errorf("RemoveInstance: got %+v, want %+v", got, want)
	}
	if got, want := h.gets.Load(), int32(2); got != want {
		t.Errorf("GetInstance calls: got %d, want %d", got, want)
	}
}

func TestServer_DialErrorRetry_GivesUp(t *testing.T) {
	h := newHarness(t, setup{cfg: router.Config{MaxRetries: 2}})
	dead := freeAddr(t)
	h.inst.GetInstanceFunc = func(context.Context, api.InstanceRequest) (*api.Instance, error) {
		n := h.gets.Add(1)
		h.mu.Lock()
		defer h.mu.Unlock()
		return h.instance(fmt.Sprintf("inst-dead-%d", n), dead), nil
	}
	res := h.get(t.Context(), "/fn/default/hello")
	if got, want := res.Status, http.StatusBadGateway; got != want {
		t.Errorf("status: got %d %q, want %d", got, res.Body, want)
	}
	if got, want := h.gets.Load(), int32(3); got != want {
		t.Errorf("GetInstance calls: got %d, want %d (1 + MaxRetries)", got, want)
	}
}

func TestServer_BodyLimit(t *testing.T) {
	const limit = 1024
	var mu sync.Mutex
	var got []int
	h := newHarness(t, setup{
		cfg: router.Config{MaxBodyBytes: limit},
		function: func(w http.ResponseWriter, r *http.Request) {
			b, err := io.ReadAll(r.Body)
			if err != nil {
				w.WriteHeader(http.StatusBadRequest)
				return
			}
			mu.Lock()
			got = append(got, len(b))
			mu.Unlock()
		},
	})
	tests := []struct {
		name       string
		size       int
		chunked    bool
		wantStatus int
	}{
		{"AtLimit", limit, false, http.StatusOK},
		{"AtLimitChunked", limit, true, http.StatusOK},
		{"OverContentLength", limit + 1, false, http.StatusRequestEntityTooLarge},
		{"OverChunked", 64 * limit, true, http.StatusRequestEntityTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var body io.Reader = bytes.NewReader(bytes.Repeat([]byte("x"), tt.size))
			if tt.chunked {
				body = io.MultiReader(body) // no length known: chunked
			}
			req, _ := http.NewRequest(http.MethodPost, h.URL+"/fn/default/hello", body)
			if tt.chunked {
				req.ContentLength = -1
			}
			res := do(req)
			if res.Status != tt.wantStatus {
				t.Errorf("status: got %d %v %q, want %d", res.Status, res.Err, res.Body, tt.wantStatus)
			}
		})
	}
	mu.Lock()
	defer mu.Unlock()
	if diff := cmp.Diff([]int{limit, limit}, got); diff != "" {
		t.Errorf("bodies the function read in full (-want +got):\n%s", diff)
	}
}

func TestServer_ClientDisconnect(t *testing.T) {
	started, cancelled := make(chan struct{}, 1), make(chan struct{}, 1)
	var calls atomic.Int32
	h := newHarness(t, setup{function: func(_ http.ResponseWriter, r *http.Request) {
		if calls.Add(1) > 1 {
			return // only the first call hangs
		}
		started <- struct{}{}
		select {
		case <-r.Context().Done():
			cancelled <- struct{}{}
		case <-time.After(5 * time.Second):
		}
	}})
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan result, 1)
	go func() { done <- h.get(ctx, "/fn/default/hello") }()
	select {
	case <-started:
	case <-time.After(5 * time.Second):
		t.Fatal("function not called within 5s")
	}
	cancel()
	select {
	case <-cancelled:
	case <-time.After(2 * time.Second):
		t.Errorf("function's request context: not done 2s after the client left, want done")
	}
	<-done
	// The slot was given back: the next call reuses the instance.
	res := h.get(t.Context(), "/fn/default/hello")
	if got, want := res.Instance, "inst-1"; got != want {
		t.Errorf("next call: got instance %q, want %q", got, want)
	}
}

func TestServer_Streaming(t *testing.T) {
	h := newHarness(t, setup{function: func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte("first\n"))
		_ = http.NewResponseController(w).Flush()
		time.Sleep(300 * time.Millisecond)
		_, _ = w.Write([]byte("second\n"))
	}})
	start := time.Now()
	resp, err := http.Get(h.URL + "/fn/default/hello")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	br := bufio.NewReader(resp.Body)
	line, err := br.ReadString('\n')
	firstAt := time.Since(start)
	if err != nil || line != "first\n" {
		t.Fatalf("first chunk: got %q %v, want %q", line, err, "first\n")
	}
	if firstAt >= 250*time.Millisecond {
		t.Errorf("first chunk read after %v, want before 250ms", firstAt)
	}
	rest, err := io.ReadAll(br)
	if err != nil || string(rest) != "second\n" {
		t.Errorf("second chunk: got %q %v, want %q", rest, err, "second\n")
	}
	if total := time.Since(start); total < 300*time.Millisecond {
		t.Errorf("whole response after %v, want after the function's 300ms pause", total)
	}
}

func TestServer_Headers(t *testing.T) {
	type seen struct {
		Path, Query, Method      string
		ParamID, FunctionName    string
		Namespace, RequestID     string
		FissionName, ForwardHost string
	}
	calls := make(chan seen, 10)
	h := newHarness(t, setup{function: func(w http.ResponseWriter, r *http.Request) {
		calls <- seen{
			Path: r.URL.Path, Query: r.URL.RawQuery, Method: r.Method,
			ParamID: r.Header.Get("X-Fission-Params-id"), FunctionName: r.Header.Get("X-Fission-Function-Name"),
			Namespace: r.Header.Get("X-Fission-Function-Namespace"), RequestID: r.Header.Get(httpx.RequestIDHeader),
			FissionName: r.Header.Get("X-Fission-Function-Name"), ForwardHost: r.Host,
		}
		w.Header().Set(httpx.RequestIDHeader, "function-set-id") // the router's ID wins
	}})
	h.setTriggers(
		&api.HTTPTrigger{Metadata: api.Metadata{Namespace: "default", Name: "users"},
			Spec: api.HTTPTriggerSpec{RelativeURL: "/users/{id}", Methods: []string{"GET", "PUT"}, FunctionRef: api.FunctionRef{Name: "hello"}}},
		&api.HTTPTrigger{Metadata: api.Metadata{Namespace: "default", Name: "api"},
			Spec: api.HTTPTriggerSpec{Prefix: "/api", FunctionRef: api.FunctionRef{Name: "hello"}}},
	)
	tests := []struct {
		name      string
		method    string
		path      string
		requestID string // sent by the client; "" lets the router choose
		want      seen
	}{
		{"Param", "PUT", "/users/42?x=1", "", seen{Path: "/", Query: "x=1", Method: "PUT", ParamID: "42"}},
		{"Prefix", "GET", "/api/v1/items", "", seen{Path: "/v1/items", Method: "GET"}},
		{"Internal", "GET", "/fn/default/hello/sub/path", "", seen{Path: "/sub/path", Method: "GET"}},
		{"Fission", "GET", "/fission-function/hello", "", seen{Path: "/", Method: "GET"}},
		{"ClientRequestID", "GET", "/fn/default/hello", "0123456789abcdef", seen{Path: "/", Method: "GET", RequestID: "0123456789abcdef"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest(tt.method, h.URL+tt.path, nil)
			if tt.requestID != "" {
				req.Header.Set(httpx.RequestIDHeader, tt.requestID)
			}
			res := do(req)
			if res.Err != nil || res.Status != http.StatusOK {
				t.Fatalf("call: got %d %v %q, want 200", res.Status, res.Err, res.Body)
			}
			var got seen
			select {
			case got = <-calls:
			default:
				t.Fatal("function: got no call, want one")
			}
			ids := res.Header.Values(httpx.RequestIDHeader)
			if len(ids) != 1 || ids[0] == "" || ids[0] != got.RequestID {
				t.Errorf("response %s: got %q, want exactly the ID the function got (%q)", httpx.RequestIDHeader, ids, got.RequestID)
			}
			want := tt.want
			want.FunctionName, want.Namespace, want.FissionName = "hello", "default", "hello"
			want.ForwardHost = strings.TrimPrefix(h.URL, "http://")
			if want.RequestID == "" {
				want.RequestID = got.RequestID
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("what the function saw (-want +got):\n%s", diff)
			}
		})
	}
}

// TestServer_ForwardedHeaders checks what of the caller's headers reaches
// the function: hop-by-hop headers and those Connection names stay behind,
// the Fission headers cannot be forged, a parameter cannot start a header
// line, and the caller's trace continues.
func TestServer_ForwardedHeaders(t *testing.T) {
	got := make(chan http.Header, 1)
	h := newHarness(t, setup{function: func(_ http.ResponseWriter, r *http.Request) { got <- r.Header.Clone() }})
	h.setTriggers(&api.HTTPTrigger{Metadata: api.Metadata{Namespace: "default", Name: "users"},
		Spec: api.HTTPTriggerSpec{RelativeURL: "/users/{id}", FunctionRef: api.FunctionRef{Name: "hello"}}})
	const traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	req, _ := http.NewRequest(http.MethodGet, h.URL+"/users/a%0D%0AX-Injected:%201", nil)
	for k, vs := range map[string][]string{
		"X-Fission-Function-Name": {"forged"}, "X-Fission-Params-Id": {"forged"},
		"Connection": {"X-Secret"}, "X-Secret": {"s"}, "Keep-Alive": {"timeout=5"}, "Proxy-Authorization": {"Basic eA=="},
		"X-Multi": {"a", "b"}, "X-Forwarded-For": {"10.0.0.1"}, "Traceparent": {traceparent},
	} {
		req.Header[k] = vs
	}
	if res := do(req); res.Err != nil || res.Status != http.StatusOK {
		t.Fatalf("call: got %d %v %q, want 200", res.Status, res.Err, res.Body)
	}
	hdr := <-got
	want := map[string][]string{
		"X-Fission-Function-Name": {"hello"}, "X-Fission-Params-Id": {"a  X-Injected: 1"},
		"X-Secret": nil, "Keep-Alive": nil, "Proxy-Authorization": nil, "X-Injected": nil,
		"X-Multi": {"a", "b"}, "X-Forwarded-For": {"10.0.0.1, 127.0.0.1"}, "Traceparent": {traceparent},
		"X-Fission-Full-Url": {"/users/a%0D%0AX-Injected:%201"},
	}
	for k, w := range want {
		if diff := cmp.Diff(w, hdr[k]); diff != "" {
			t.Errorf("%s (-want +got):\n%s", k, diff)
		}
	}
}

func TestServer_Errors(t *testing.T) {
	h := newHarness(t, setup{})
	h.setTriggers(&api.HTTPTrigger{Metadata: api.Metadata{Namespace: "default", Name: "hello"},
		Spec: api.HTTPTriggerSpec{RelativeURL: "/hello", FunctionRef: api.FunctionRef{Name: "hello"}}},
		&api.HTTPTrigger{Metadata: api.Metadata{Namespace: "default", Name: "ghost"},
			Spec: api.HTTPTriggerSpec{RelativeURL: "/ghost", FunctionRef: api.FunctionRef{Name: "ghost"}}})
	tests := []struct {
		name       string
		method     string
		path       string
		wantStatus int
		wantCode   string
	}{
		{"Healthz", "GET", "/router-healthz", http.StatusOK, ""},
		{"Version", "GET", "/_version", http.StatusOK, ""},
		{"Root", "GET", "/", http.StatusOK, ""},
		{"Trigger", "GET", "/hello", http.StatusOK, ""},
		{"NoRoute", "GET", "/nothing", http.StatusNotFound, "not_found"},
		{"MethodNotRouted", "POST", "/hello", http.StatusMethodNotAllowed, "method_not_allowed"},
		{"UnknownFunction", "GET", "/fn/default/nope", http.StatusNotFound, "not_found"},
		{"TriggerOfMissingFunction", "GET", "/ghost", http.StatusNotFound, "not_found"},
		{"OtherNamespace", "GET", "/fn/other/hello", http.StatusNotFound, "not_found"},
		{"InternalNoName", "GET", "/fn/default", http.StatusNotFound, "not_found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, accept := range []string{"", "application/json"} {
				req, _ := http.NewRequest(tt.method, h.URL+tt.path, nil)
				req.Header.Set("Accept", accept)
				res := do(req)
				if res.Status != tt.wantStatus {
					t.Errorf("Accept %q: got %d %q, want %d", accept, res.Status, res.Body, tt.wantStatus)
				}
				if tt.wantCode == "" {
					continue
				}
				if accept == "" {
					if got := res.Header.Get("X-Lantern-Error"); got != tt.wantCode {
						t.Errorf("X-Lantern-Error: got %q, want %q", got, tt.wantCode)
					}
					continue
				}
				var eb api.ErrorBody
				if err := jsonDecode(res.Body, &eb); err != nil || eb.Code != tt.wantCode || eb.RequestID == "" {
					t.Errorf("JSON error: got %+v (%v), want code %q and a request_id", eb, err, tt.wantCode)
				}
			}
		})
	}
}
