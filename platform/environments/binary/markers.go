package binary

import (
	"io"
	"net/http"
	"strings"
	"sync"

	"github.com/lantern-faas/lantern/logs"
	"github.com/lantern-faas/lantern/platform/api"
)

// Headers that name a call in its log marker lines.
const (
	requestIDHeader   = api.RequestIDHeader
	traceparentHeader = "Traceparent"
)

// logWriter is the instance's stderr, shared by every call: the programs'
// stderr and the marker lines go through it, so that a marker always
// starts a line of its own.
type logWriter struct {
	w io.Writer

	mu      sync.Mutex
	midLine bool // the last byte written was not a newline
}

func (l *logWriter) Write(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	n, err := l.w.Write(p)
	if n > 0 {
		l.midLine = p[n-1] != '\n'
	}
	return n, err
}

// marker writes line and a newline in one write, ending first a line a
// program left unterminated.
func (l *logWriter) marker(line string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.midLine {
		line = "\n" + line + "\n"
	} else {
		line += "\n"
	}
	if n, _ := io.WriteString(l.w, line); n > 0 {
		l.midLine = line[n-1] != '\n'
	}
}

// markerRequestID returns the request ID of r if it can go in a marker line
// (one token of visible ASCII), else "".
func markerRequestID(r *http.Request) string {
	id := r.Header.Get(requestIDHeader)
	if len(id) > 128 {
		return ""
	}
	for i := 0; i < len(id); i++ {
		if id[i] <= ' ' || id[i] > '~' {
			return ""
		}
	}
	return id
}

// traceID returns the trace ID of a valid W3C traceparent header
// (version-traceid-parentid-flags), else "".
func traceID(traceparent string) string {
	const prefix = len("00-") + 32 + len("-") + 16 + len("-") + 2
	tp := strings.TrimSpace(traceparent)
	if len(tp) < prefix || tp[2] != '-' || tp[35] != '-' || tp[52] != '-' ||
		!lowerHex(tp[:2]) || !lowerHex(tp[3:35]) || !lowerHex(tp[36:52]) || !lowerHex(tp[53:55]) {
		return ""
	}
	version, id := tp[:2], tp[3:35]
	switch {
	case version == "ff",
		version == "00" && len(tp) != prefix,
		len(tp) > prefix && tp[prefix] != '-',
		id == "00000000000000000000000000000000":
		return ""
	}
	return id
}

func lowerHex(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// startMarker writes the start marker of a call that has a usable request
// ID and returns its end marker line, or "" when there is none.
func (s *server) startMarker(r *http.Request) (end string) {
	id := markerRequestID(r)
	if id == "" {
		return ""
	}
	s.stderr.marker(logs.ReqStartMarker(id, traceID(r.Header.Get(traceparentHeader))))
	return logs.ReqEndMarker(id)
}
