package router_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/lantern-faas/lantern/platform/api"
	"github.com/lantern-faas/lantern/platform/router"
)

// fakeQueue records what the router queues.
type fakeQueue struct {
	mu   sync.Mutex
	reqs []api.AsyncRequest
}

func (q *fakeQueue) Enqueue(_ context.Context, req api.AsyncRequest) (*api.Invocation, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.reqs = append(q.reqs, req)
	return &api.Invocation{ID: "inv-1", Namespace: req.Namespace, Function: req.Function, Status: api.InvocationQueued}, nil
}

func TestServer_Async(t *testing.T) {
	q := &fakeQueue{}
	h := newHarness(t, setup{opts: []router.Option{router.WithAsync(q)}})
	h.setTriggers(&api.HTTPTrigger{Metadata: api.Metadata{Namespace: "default", Name: "r"},
		Spec: api.HTTPTriggerSpec{RelativeURL: "/users/{id}", Methods: []string{"POST"}, FunctionRef: api.FunctionRef{Name: "hello"}}})
	tests := []struct {
		name, path  string
		header      map[string]string
		wantSubpath string
		wantParam   string
	}{
		{"AsyncRoute", "/async/default/hello/sub?x=1", nil, "/sub", ""},
		{"HeaderOnInternalRoute", "/fn/default/hello?x=1", map[string]string{api.InvokeModeHeader: "async"}, "/", ""},
		{"HeaderOnHTTPTrigger", "/users/42?x=1", map[string]string{api.InvokeModeHeader: "ASYNC", api.CallbackHeader: "http://cb/x"}, "/", "42"},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodPost, h.URL+tc.path, strings.NewReader("payload"))
			for k, v := range tc.header {
				req.Header.Set(k, v)
			}
			res := do(req)
			if res.Status != http.StatusAccepted || res.Header.Get(api.InvocationIDHeader) != "inv-1" || res.Header.Get("Location") != "/v1/invocations/inv-1" {
				t.Fatalf("got %d %q %v, want 202 with the invocation", res.Status, res.Body, res.Header)
			}
			var inv api.Invocation
			if err := json.Unmarshal([]byte(res.Body), &inv); err != nil || inv.Status != api.InvocationQueued {
				t.Errorf("body %q: %v", res.Body, err)
			}
			q.mu.Lock()
			got := q.reqs[i]
			q.mu.Unlock()
			if got.Function != "hello" || got.Method != "POST" || string(got.Body) != "payload" || got.Query != "x=1" ||
				got.Subpath != tc.wantSubpath || got.RequestID == "" || got.Header[api.InvokeModeHeader] != nil {
				t.Errorf("queued %+v", got)
			}
			if tc.wantParam != "" && (len(got.Header["X-Fission-Params-id"]) != 1 || got.Header["X-Fission-Params-id"][0] != tc.wantParam) {
				t.Errorf("params not kept: %v", got.Header)
			}
			if tc.header[api.CallbackHeader] != "" && got.CallbackURL != tc.header[api.CallbackHeader] {
				t.Errorf("callback %q", got.CallbackURL)
			}
		})
	}
	if h.gets.Load() != 0 {
		t.Errorf("an async call asked for an instance %d times", h.gets.Load())
	}
	t.Run("UnknownFunction", func(t *testing.T) {
		req, _ := http.NewRequest(http.MethodPost, h.URL+"/async/default/nope", nil)
		if res := do(req); res.Status != http.StatusNotFound {
			t.Errorf("got %d, want 404", res.Status)
		}
	})
}

func TestServer_AsyncDisabled(t *testing.T) {
	h := newHarness(t, setup{})
	req, _ := http.NewRequest(http.MethodPost, h.URL+"/async/default/hello", nil)
	if res := do(req); res.Status != http.StatusNotImplemented {
		t.Errorf("got %d %q, want 501", res.Status, res.Body)
	}
}
