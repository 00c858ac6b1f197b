package binary

import (
	"bytes"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/lantern-faas/lantern/logs"
)

func TestTraceID(t *testing.T) {
	const id = "4bf92f3577b34da6a3ce929d0e0e4736"
	tests := []struct{ traceparent, want string }{
		{"00-" + id + "-00f067aa0ba902b7-01", id},
		{" 00-" + id + "-00f067aa0ba902b7-00 ", id},
		{"01-" + id + "-00f067aa0ba902b7-01-future", id}, // a later version may add fields
		{"00-" + id + "-00f067aa0ba902b7-01-extra", ""},  // version 00 may not
		{"01-" + id + "-00f067aa0ba902b7-01x", ""},
		{"ff-" + id + "-00f067aa0ba902b7-01", ""},
		{"00-" + strings.ToUpper(id) + "-00f067aa0ba902b7-01", ""},
		{"00-00000000000000000000000000000000-00f067aa0ba902b7-01", ""},
		{"00-" + id[:31] + "-00f067aa0ba902b7-01", ""},
		{"00_" + id + "-00f067aa0ba902b7-01", ""},
		{"", ""},
	}
	for _, tt := range tests {
		if got := traceID(tt.traceparent); got != tt.want {
			t.Errorf("traceID(%q) = %q, want %q", tt.traceparent, got, tt.want)
		}
	}
}

func TestMarkerRequestID(t *testing.T) {
	tests := []struct{ header, want string }{
		{"abc123", "abc123"},
		{"4bf92f35-77b3", "4bf92f35-77b3"},
		{"", ""},
		{"two words", ""},
		{"tab\there", ""},
		{"caf\u00e9", ""},
		{strings.Repeat("a", 128), strings.Repeat("a", 128)},
		{strings.Repeat("a", 129), ""},
	}
	for _, tt := range tests {
		r := httptest.NewRequest("GET", "/", nil)
		r.Header.Set(requestIDHeader, tt.header)
		if got := markerRequestID(r); got != tt.want {
			t.Errorf("markerRequestID(%q) = %q, want %q", tt.header, got, tt.want)
		}
	}
}

// TestLogWriter checks that a marker always starts a line, even after a
// program left one unterminated.
func TestLogWriter(t *testing.T) {
	var buf bytes.Buffer
	s := newServer(t.TempDir(), nil, &buf)
	r := httptest.NewRequest("GET", "/", nil)
	r.Header.Set(requestIDHeader, "abc123")
	r.Header.Set(traceparentHeader, "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
	end := s.startMarker(r)
	_, _ = s.stderr.Write([]byte("line\npartial"))
	s.stderr.marker(end)
	_, _ = s.stderr.Write([]byte("next\n"))
	s.stderr.marker(end)
	want := logs.ReqStartMarker("abc123", "4bf92f3577b34da6a3ce929d0e0e4736") + "\nline\npartial\n" +
		logs.ReqEndMarker("abc123") + "\nnext\n" + logs.ReqEndMarker("abc123") + "\n"
	if got := buf.String(); got != want {
		t.Errorf("stderr = %q, want %q", got, want)
	}
	r.Header.Del(requestIDHeader)
	if end := s.startMarker(r); end != "" || buf.String() != want {
		t.Errorf("without a request ID: end marker %q, stderr %q; want none", end, buf.String())
	}
}
