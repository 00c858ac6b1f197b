package async

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"

	"github.com/lantern-faas/lantern/platform/api"
	"github.com/lantern-faas/lantern/platform/internal/httpx"
)

// Handler serves the invocations API:
//
//	POST /v1/invocations              queue a call (an api.AsyncRequest); 202 with the invocation
//	GET  /v1/invocations              list; ?namespace=&function=&status=&limit=
//	GET  /v1/invocations/{id}         one invocation
//	POST /v1/invocations/{id}/replay  queue a failed invocation again
func (m *Manager) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/invocations", m.serveEnqueue)
	mux.HandleFunc("GET /v1/invocations", m.serveList)
	mux.HandleFunc("GET /v1/invocations/{id}", m.serveGet)
	mux.HandleFunc("POST /v1/invocations/{id}/replay", m.serveReplay)
	return httpx.NewRequestIDHandler(mux)
}

func (m *Manager) serveEnqueue(w http.ResponseWriter, r *http.Request) {
	var req api.AsyncRequest
	if err := json.NewDecoder(io.LimitReader(r.Body, int64(2*m.cfg.MaxBodyBytes)+1<<20)).Decode(&req); err != nil {
		httpx.WriteError(w, r, httpx.Errorf(http.StatusBadRequest, "malformed JSON body: %v", err))
		return
	}
	inv, err := m.Enqueue(r.Context(), req)
	if err != nil {
		httpx.WriteError(w, r, classify(err))
		return
	}
	writeJSON(w, http.StatusAccepted, inv)
}

func (m *Manager) serveList(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	limit := 100
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			httpx.WriteError(w, r, httpx.Errorf(http.StatusBadRequest, "limit=%q is not a positive number", s))
			return
		}
		limit = n
	}
	for _, p := range []string{"namespace", "function"} {
		if v := q.Get(p); v != "" {
			if err := api.ValidateName(p, v); err != nil {
				httpx.WriteError(w, r, err)
				return
			}
		}
	}
	list, err := m.List(r.Context(), q.Get("namespace"), q.Get("function"), q.Get("status"), limit)
	if err != nil {
		httpx.WriteError(w, r, classify(err))
		return
	}
	writeJSON(w, http.StatusOK, list)
}

func (m *Manager) serveGet(w http.ResponseWriter, r *http.Request) {
	inv, err := m.Get(r.Context(), r.PathValue("id"))
	if err != nil {
		httpx.WriteError(w, r, classify(err))
		return
	}
	writeJSON(w, http.StatusOK, inv)
}

func (m *Manager) serveReplay(w http.ResponseWriter, r *http.Request) {
	inv, err := m.Replay(r.Context(), r.PathValue("id"))
	if err != nil {
		httpx.WriteError(w, r, classify(err))
		return
	}
	writeJSON(w, http.StatusAccepted, inv)
}

// classify maps the queue's errors to HTTP errors (an unavailable queue's
// already are: see unavailable).
func classify(err error) error {
	switch {
	case errors.Is(err, ErrNotFound):
		return httpx.Errorf(http.StatusNotFound, "%v", err).WithHint("see 'lantern fn invocations --name <function>'")
	case errors.Is(err, ErrNotFailed):
		return httpx.Errorf(http.StatusConflict, "%v: only failed invocations can be replayed", err)
	}
	return err
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
