package client_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/lantern-faas/lantern/platform/api"
	"github.com/lantern-faas/lantern/platform/client"
)

// TestFollowLogs_ErrorInStream: a server that ends a follow with the error
// envelope makes FollowLogs return that error, not a log line.
func TestFollowLogs_ErrorInStream(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/x-ndjson")
		_, _ = w.Write([]byte(`{"time":"2026-11-27T10:00:00Z","message":"{\"code\": \"a\", \"message\": \"printed\"}"}` + "\n"))
		_, _ = w.Write([]byte(`{"code":"internal","message":"influxdb went away"}` + "\n"))
	}))
	defer srv.Close()
	var got []string
	err := client.NewController(srv.URL, nil).FollowLogs(context.Background(), "default", "hello", nil, func(r api.LogRecord) error {
		got = append(got, r.Message)
		return nil
	})
	var ae *client.APIError
	if !errors.As(err, &ae) || ae.Body.Message != "influxdb went away" {
		t.Fatalf("FollowLogs error = %v, want the server's error", err)
	}
	if len(got) != 1 || got[0] != `{"code": "a", "message": "printed"}` {
		t.Errorf("lines = %q, want only the printed one", got)
	}
}
