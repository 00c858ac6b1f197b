package httpx

import (
	"encoding/json"
	"net/http"
)

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
