package fetcher_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/lantern-faas/lantern/platform/api"
	"github.com/lantern-faas/lantern/platform/api/runtime"
	"github.com/lantern-faas/lantern/platform/fetcher"
)

// specializeRequest is what a fake runtime received.
type specializeRequest struct {
	Method, Path, ContentType string
	Body                      []byte
}

// runtimeServer is a fake runtime answering status and body, recording
// every request.
type runtimeServer struct {
	mu   sync.Mutex
	reqs []specializeRequest
}

func (rs *runtimeServer) handler(status int, body string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		rs.mu.Lock()
		rs.reqs = append(rs.reqs, specializeRequest{r.Method, r.URL.Path, r.Header.Get("Content-Type"), b})
		rs.mu.Unlock()
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
	})
}

func (rs *runtimeServer) requests() []specializeRequest {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	return append([]specializeRequest(nil), rs.reqs...)
}

// startRuntime serves a fake runtime and returns it with its host:port.
func startRuntime(t *testing.T, status int, body string) (*runtimeServer, string) {
	t.Helper()
	rs := &runtimeServer{}
	srv := httptest.NewServer(rs.handler(status, body))
	t.Cleanup(srv.Close)
	return rs, strings.TrimPrefix(srv.URL, "http://")
}

func specializedFn() *api.Function {
	return &api.Function{
		Metadata: api.Metadata{Namespace: "team-a", Name: "hello", UID: "uid-1", ResourceVersion: "42"},
		Spec:     api.FunctionSpec{Environment: "python", Entrypoint: "main.handler"},
	}
}

func TestSpecializer_Specialize(t *testing.T) {
	v2Body := func(version int) *runtime.LoadRequest {
		return &runtime.LoadRequest{
			FilePath:     "/code/deployarchive",
			FunctionName: "main.handler",
			FunctionMetadata: &runtime.FunctionMetadata{
				Name: "hello", Namespace: "team-a", UID: "uid-1", ResourceVersion: "42",
			},
			EnvVersion: version,
		}
	}
	tests := []struct {
		name     string
		version  int
		status   int
		wantPath string
		wantBody *runtime.LoadRequest // nil: an empty body
	}{
		{"V2", 2, http.StatusOK, "/v2/specialize", v2Body(2)},
		{"V3", 3, http.StatusOK, "/v2/specialize", v2Body(3)},
		{"V1", 1, http.StatusOK, "/specialize", nil},
		{"Created", 2, http.StatusCreated, "/v2/specialize", v2Body(2)},
		{"NoContent", 2, http.StatusNoContent, "/v2/specialize", v2Body(2)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rs, addr := startRuntime(t, tt.status, "")
			env := envWith(tt.version, false)
			err := fetcher.NewSpecializer(nil).Specialize(t.Context(), addr, specializedFn(), env, "/code/deployarchive")
			if err != nil {
				t.Fatalf("Specialize: got %v, want nil", err)
			}
			reqs := rs.requests()
			if got, want := len(reqs), 1; got != want {
				t.Fatalf("requests: got %d, want %d", got, want)
			}
			r := reqs[0]
			if r.Method != http.MethodPost || r.Path != tt.wantPath {
				t.Errorf("request: got %s %s, want POST %s", r.Method, r.Path, tt.wantPath)
			}
			if tt.wantBody == nil {
				if len(r.Body) != 0 {
					t.Errorf("body: got %q, want empty", r.Body)
				}
				return
			}
			if got, want := r.ContentType, "application/json"; got != want {
				t.Errorf("Content-Type: got %q, want %q", got, want)
			}
			var got runtime.LoadRequest
			if err := json.Unmarshal(r.Body, &got); err != nil {
				t.Fatalf("body %q: got %v, want JSON", r.Body, err)
			}
			if diff := cmp.Diff(tt.wantBody, &got); diff != "" {
				t.Errorf("load request (-want +got):\n%s", diff)
			}
			// The Fission contract's field names, exactly.
			var raw map[string]json.RawMessage
			_ = json.Unmarshal(r.Body, &raw)
			for _, k := range []string{"filepath", "functionName", "FunctionMetadata", "envVersion"} {
				if _, ok := raw[k]; !ok {
					t.Errorf("body %s: got no %q key, want one", r.Body, k)
				}
			}
		})
	}
}

func TestSpecializer_Specialize_Refused(t *testing.T) {
	tests := []struct {
		name   string
		status int
		body   string
	}{
		{"ServerError", http.StatusInternalServerError, "SyntaxError: invalid syntax (main.py, line 3)\n"},
		{"BadRequest", http.StatusBadRequest, "no module named main"},
		{"Redirect", http.StatusMultipleChoices, "see elsewhere"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rs, addr := startRuntime(t, tt.status, tt.body)
			ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
			defer cancel()
			err := fetcher.NewSpecializer(nil).Specialize(ctx, addr, specializedFn(), envWith(2, false), "/code")
			var se *fetcher.SpecializeError
			if !errors.As(err, &se) {
				t.Fatalf("Specialize: got %v, want a *SpecializeError", err)
			}
			want := &fetcher.SpecializeError{Status: tt.status, Body: strings.TrimSpace(tt.body)}
			if diff := cmp.Diff(want, se); diff != "" {
				t.Errorf("SpecializeError (-want +got):\n%s", diff)
			}
			if !strings.Contains(err.Error(), strings.TrimSpace(tt.body)) {
				t.Errorf("message: got %q, want it to hold the runtime's answer", err)
			}
			// An answer is final: no retry.
			if got, want := len(rs.requests()), 1; got != want {
				t.Errorf("requests: got %d, want %d", got, want)
			}
		})
	}
}

// freeAddr returns a loopback host:port that nothing listens on.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

func TestSpecializer_Specialize_RetriesUntilListening(t *testing.T) {
	addr := freeAddr(t)
	rs := &runtimeServer{}
	srv := &http.Server{Handler: rs.handler(http.StatusOK, "")}
	listening := make(chan time.Time, 1)
	go func() {
		time.Sleep(100 * time.Millisecond)
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			t.Errorf("listen on %s: %v", addr, err)
			close(listening)
			return
		}
		listening <- time.Now()
		_ = srv.Serve(ln)
	}()
	t.Cleanup(func() { srv.Close() })

	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	start := time.Now()
	if err := fetcher.NewSpecializer(nil).Specialize(ctx, addr, specializedFn(), envWith(2, false), "/code"); err != nil {
		t.Fatalf("Specialize: got %v, want nil", err)
	}
	since, ok := <-listening
	if !ok {
		t.FailNow()
	}
	if got := time.Since(start); got < 100*time.Millisecond {
		t.Errorf("Specialize returned after %v, want after the runtime started listening (100ms)", got)
	}
	if got, want := len(rs.requests()), 1; got != want {
		t.Errorf("requests: got %d, want %d", got, want)
	}
	// The backoff is capped low enough to notice the runtime promptly.
	if got := time.Since(since); got > time.Second {
		t.Errorf("time from listening to specialized: got %v, want under 1s", got)
	}
}

func TestSpecializer_Specialize_Timeout(t *testing.T) {
	addr := freeAddr(t) // nothing ever listens
	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	err := fetcher.NewSpecializer(nil).Specialize(ctx, addr, specializedFn(), envWith(2, false), "/code")
	elapsed := time.Since(start)

	t.Run("Ends", func(t *testing.T) {
		if err == nil {
			t.Fatalf("Specialize: got nil, want an error")
		}
		if elapsed < 300*time.Millisecond || elapsed > 2*time.Second {
			t.Errorf("Specialize returned after %v, want shortly after the 300ms deadline", elapsed)
		}
	})
	// The poolmgr tells a specialization timeout (504) from a failure (502)
	// with errors.Is(err, context.DeadlineExceeded).
	t.Run("WrapsDeadlineExceeded", func(t *testing.T) {
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Specialize: got %v, want an error wrapping context.DeadlineExceeded", err)
		}
	})
}
