package router

import (
	"net/http"
	"strings"

	"github.com/lantern-faas/lantern/platform/api"
	"github.com/lantern-faas/lantern/platform/internal/httpx"
	"github.com/lantern-faas/lantern/platform/internal/version"
)

// Handler returns the router's HTTP handler. Every response carries
// X-Lantern-Request-Id: a function call's is its trace ID, set when its
// span starts; any other answer gets the caller's or a new one.
func (s *Server) Handler() http.Handler {
	return http.HandlerFunc(s.serveHTTP)
}

func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	path := r.URL.Path
	switch {
	case path == "/router-healthz":
		httpx.SetRequestID(w, r)
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write([]byte("ok\n"))
		return
	case path == "/_version":
		httpx.SetRequestID(w, r)
		_, _ = w.Write([]byte(version.Version + "\n"))
		return
	}
	if ns, name, sub, ok := asyncRoute(path); ok {
		s.serveAsync(w, r, target{ns: ns, name: name, subpath: sub, trigger: "async"})
		return
	}
	if ns, name, sub, ok := internalRoute(path); ok {
		s.serveTarget(w, r, target{ns: ns, name: name, subpath: sub, trigger: triggerOf(r)})
		return
	}
	m, found := s.routes.Load().lookup(r.Method, path)
	if m.r == nil && !found && !(path == "/" && r.Method == http.MethodGet) {
		// Perhaps a route created a moment ago.
		m, _ = retryFresh(r.Context(), s, func() (match, bool) {
			mm, f := s.routes.Load().lookup(r.Method, path)
			found = found || f
			return mm, mm.r != nil
		})
	}
	if m.r != nil {
		s.serveTarget(w, r, target{ns: m.r.ns, name: m.r.function, subpath: m.subpath, params: m.params, paramHeaders: m.r.paramHeaders, trigger: "http"})
		return
	}
	httpx.SetRequestID(w, r)
	switch {
	case found:
		writeError(w, r, httpx.Errorf(http.StatusMethodNotAllowed, "method %s is not routed for %s", r.Method, path))
	case path == "/" && r.Method == http.MethodGet:
		// Load balancers probe "/"; answer when no trigger owns it.
		_, _ = w.Write([]byte("lantern router\n"))
	default:
		writeError(w, r, httpx.Errorf(http.StatusNotFound, "no route for %s %s", r.Method, path).
			WithHint("see 'lantern route list'"))
	}
}

// serveTarget calls the target's function, or queues the call when the
// caller asked for an asynchronous one.
func (s *Server) serveTarget(w http.ResponseWriter, r *http.Request, tgt target) {
	if isAsync(r) {
		s.serveAsync(w, r, tgt)
		return
	}
	s.serveFunction(w, r, tgt)
}

// internalRoute parses /fn/<ns>/<name>[/sub], and Fission's
// /fission-function/<name> and /fission-function/<ns>/<name>.
func internalRoute(path string) (ns, name, sub string, ok bool) {
	switch {
	case strings.HasPrefix(path, "/fn/"):
		parts := strings.SplitN(path[len("/fn/"):], "/", 3)
		if len(parts) < 2 || parts[0] == "" || parts[1] == "" {
			return "", "", "", false
		}
		sub = "/"
		if len(parts) == 3 {
			sub += parts[2]
		}
		return parts[0], parts[1], sub, true
	case strings.HasPrefix(path, "/fission-function/"):
		parts := strings.SplitN(path[len("/fission-function/"):], "/", 3)
		switch {
		case len(parts) == 1 && parts[0] != "":
			return "default", parts[0], "/", true
		case len(parts) >= 2 && parts[0] != "" && parts[1] != "":
			sub = "/"
			if len(parts) == 3 {
				sub += parts[2]
			}
			return parts[0], parts[1], sub, true
		}
	}
	return "", "", "", false
}

// writeError answers with the error: plain text for people (curl), the
// JSON envelope for clients that ask for JSON.
func writeError(w http.ResponseWriter, r *http.Request, err error) {
	if strings.Contains(r.Header.Get("Accept"), "application/json") {
		httpx.WriteError(w, r, err)
		return
	}
	status, body := httpx.Classify(err)
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Lantern-Error", body.Code)
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	msg := "lantern: " + body.Message + "\n"
	if body.Hint != "" {
		msg += "hint: " + body.Hint + "\n"
	}
	_, _ = w.Write([]byte(msg))
}

// TriggerHeader names the trigger kind of an internal call (timer, mqt,
// async); the metrics' trigger label takes only known values.
const TriggerHeader = api.TriggerHeader

func triggerOf(r *http.Request) string {
	switch t := r.Header.Get(TriggerHeader); t {
	case "timer", "mqt", "async", "test":
		return t
	}
	return "internal"
}
