package httpx

import (
	"crypto/rand"
	"encoding/hex"
	"net/http"

	"go.opentelemetry.io/otel/trace"

	"github.com/lantern-faas/lantern/platform/api"
)

// RequestIDHeader carries the request ID on every response, and to functions.
const RequestIDHeader = api.RequestIDHeader

// NewID returns a random 128-bit hex ID, the shape of a W3C trace ID.
func NewID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// NewRequestIDHandler sets X-Lantern-Request-Id on the response, reusing
// a valid incoming one.
func NewRequestIDHandler(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		SetRequestID(w, r)
		next.ServeHTTP(w, r)
	})
}

// SetRequestID gives the request and its response the caller's request ID,
// or a new one when the caller sent none (or a malformed one), and returns
// it.
func SetRequestID(w http.ResponseWriter, r *http.Request) string {
	id := r.Header.Get(RequestIDHeader)
	if !validID(id) {
		id = NewID()
		r.Header.Set(RequestIDHeader, id)
	}
	w.Header().Set(RequestIDHeader, id)
	return id
}

func validID(s string) bool {
	if len(s) == 0 || len(s) > 64 {
		return false
	}
	for _, c := range s {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F' || c == '-') {
			return false
		}
	}
	return true
}

// IDFor is the request ID of a call made under sc: its trace ID, or a new
// ID when there is no trace (tracing off).
func IDFor(sc trace.SpanContext) string {
	if sc.HasTraceID() {
		return sc.TraceID().String()
	}
	return NewID()
}
