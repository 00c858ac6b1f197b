package httpx

import (
	"context"
	"encoding/json"
	"net/http"
)

type drainKey struct{}

// WithDrain returns a server's base context (http.Server.BaseContext) whose
// streams end when drain is closed: the server closes it as it starts
// shutting down (http.Server.RegisterOnShutdown), since Shutdown waits for
// every open request and a watch never ends by itself.
func WithDrain(ctx context.Context, drain <-chan struct{}) context.Context {
	return context.WithValue(ctx, drainKey{}, drain)
}

// StreamContext is the context of a stream served from a request with
// context ctx: it also ends when the server starts shutting down (see
// WithDrain), so a watch or a follow ends and its client reconnects to the
// next server, while ordinary requests finish. Call cancel when done.
func StreamContext(ctx context.Context) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(ctx)
	if drain, ok := ctx.Value(drainKey{}).(<-chan struct{}); ok {
		go func() {
			select {
			case <-drain:
				cancel()
			case <-ctx.Done():
			}
		}()
	}
	return ctx, cancel
}

// NDJSON writes one JSON value per line and flushes after each, for watch
// streams.
type NDJSON struct {
	w  http.ResponseWriter
	rc *http.ResponseController
	e  *json.Encoder
}

// NewNDJSON starts a stream: it writes the headers and flushes them.
func NewNDJSON(w http.ResponseWriter) *NDJSON {
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	s := &NDJSON{w: w, rc: http.NewResponseController(w), e: json.NewEncoder(w)}
	_ = s.rc.Flush()
	return s
}

// Send writes v and flushes.
func (s *NDJSON) Send(v any) error {
	if err := s.e.Encode(v); err != nil {
		return err
	}
	return s.rc.Flush()
}
