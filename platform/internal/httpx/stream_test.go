package httpx_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/lantern-faas/lantern/platform/internal/httpx"
)

// TestStreamContext_Drain checks that a server's shutdown ends its streams
// at once but lets an ordinary request in flight finish.
func TestStreamContext_Drain(t *testing.T) {
	drain := make(chan struct{})
	streaming, slowStarted := make(chan struct{}), make(chan struct{})
	mux := http.NewServeMux()
	mux.HandleFunc("/watch", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := httpx.StreamContext(r.Context())
		defer cancel()
		s := httpx.NewNDJSON(w)
		_ = s.Send("hello")
		close(streaming)
		<-ctx.Done()
	})
	mux.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) {
		close(slowStarted)
		time.Sleep(300 * time.Millisecond)
		if r.Context().Err() != nil {
			http.Error(w, "cancelled", http.StatusServiceUnavailable)
			return
		}
		_, _ = io.WriteString(w, "done")
	})
	srv := &http.Server{Handler: mux, BaseContext: func(net.Listener) context.Context { return httpx.WithDrain(context.Background(), drain) }}
	srv.RegisterOnShutdown(func() { close(drain) })
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(ln) }()
	base := "http://" + ln.Addr().String()

	watch, err := http.Get(base + "/watch")
	if err != nil {
		t.Fatal(err)
	}
	defer watch.Body.Close()
	<-streaming
	slow := make(chan string, 1)
	go func() {
		resp, err := http.Get(base + "/slow")
		if err != nil {
			slow <- err.Error()
			return
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		slow <- resp.Status + " " + string(b)
	}()
	<-slowStarted

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	start := time.Now()
	if err := srv.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v (the open watch kept it waiting)", err)
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("Shutdown took %v with a watch open, want well under its 5s limit", took)
	}
	if got := <-slow; got != "200 OK done" {
		t.Errorf("ordinary request in flight during shutdown: got %q, want 200 OK done", got)
	}
	if _, err := io.ReadAll(watch.Body); err != nil {
		t.Errorf("watch after shutdown: %v, want its stream ended cleanly", err)
	}
}
