package router

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"

	"github.com/lantern-faas/lantern/platform/api"
	"github.com/lantern-faas/lantern/platform/internal/httpx"
)

// AsyncQueue queues asynchronous calls; the async component satisfies it
// in one process, client.Async over HTTP.
type AsyncQueue interface {
	Enqueue(ctx context.Context, req api.AsyncRequest) (*api.Invocation, error)
}

// WithAsync queues calls marked async (X-Lantern-Invoke-Mode: async, or
// the internal route /async/{ns}/{name}) on q instead of running them.
func WithAsync(q AsyncQueue) Option { return func(s *Server) { s.async = q } }

// maxAsyncBody bounds what the router reads of an async call's body; the
// queue applies its own, smaller, limit.
const maxAsyncBody = 8 << 20

// isAsync reports whether the caller asked for an asynchronous call.
func isAsync(r *http.Request) bool {
	return strings.EqualFold(r.Header.Get(api.InvokeModeHeader), "async")
}

// asyncRoute parses /async/<ns>/<name>[/sub].
func asyncRoute(path string) (ns, name, sub string, ok bool) {
	if !strings.HasPrefix(path, "/async/") {
		return "", "", "", false
	}
	return internalRoute("/fn/" + path[len("/async/"):])
}

// Headers a queued call does not keep besides the hop-by-hop ones: its
// length and trace are its own when it runs, the rest are the router's.
var droppedAsyncHeaders = []string{"Content-Length", "Traceparent", "Tracestate",
	api.InvokeModeHeader, api.CallbackHeader, httpx.RequestIDHeader, TriggerHeader}

// serveAsync queues the call and answers 202 with the invocation.
func (s *Server) serveAsync(w http.ResponseWriter, r *http.Request, tgt target) {
	httpx.SetRequestID(w, r)
	if s.async == nil {
		writeError(w, r, httpx.Errorf(http.StatusNotImplemented, "asynchronous calls are not enabled on this router").
			WithHint("run lanternd all, or start the router with --async-url"))
		return
	}
	if _, err := s.function(r.Context(), tgt); err != nil {
		writeError(w, r, err)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxAsyncBody))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			writeError(w, r, httpx.Errorf(http.StatusRequestEntityTooLarge, "an asynchronous call's body may hold at most %d bytes", maxAsyncBody))
			return
		}
		writeError(w, r, httpx.Errorf(http.StatusBadRequest, "read the request body: %v", err))
		return
	}
	hdr := r.Header.Clone()
	removeHopHeaders(hdr)
	for _, k := range droppedAsyncHeaders {
		hdr.Del(k)
	}
	for k, v := range tgt.params {
		hdr["X-Fission-Params-"+k] = []string{v}
	}
	inv, err := s.async.Enqueue(r.Context(), api.AsyncRequest{Namespace: tgt.ns, Function: tgt.name, Method: r.Method,
		Subpath: tgt.subpath, Query: r.URL.RawQuery, Header: hdr, Body: body,
		CallbackURL: r.Header.Get(api.CallbackHeader), RequestID: r.Header.Get(httpx.RequestIDHeader)})
	if err != nil {
		writeError(w, r, err)
		return
	}
	w.Header().Set(api.InvocationIDHeader, inv.ID)
	w.Header().Set("Location", "/v1/invocations/"+inv.ID)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusAccepted)
	_ = json.NewEncoder(w).Encode(inv)
}
