package httpx_test

import (
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/lantern-faas/lantern/platform/internal/httpx"
)

func TestInProcess_RoundTrip(t *testing.T) {
	var p httpx.InProcess
	c := &http.Client{Transport: &p}
	if _, err := c.Get("http://router/fn/default/hello"); !errors.Is(err, httpx.ErrNotServing) {
		t.Fatalf("before Serve: got %v, want ErrNotServing", err)
	}
	p.Serve(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		w.Header().Set("X-Seen", r.Method+" "+r.Host+" "+r.RequestURI+" "+r.RemoteAddr+" "+r.Header.Get("X-In")+" "+string(body))
		w.WriteHeader(http.StatusTeapot)
		w.Header().Set("X-Late", "not sent") // after WriteHeader, as over a connection
		_, _ = io.WriteString(w, "answer")
	}))
	req, _ := http.NewRequest(http.MethodPost, "http://router/fn/default/hello?x=1", strings.NewReader("payload"))
	req.Header.Set("X-In", "in")
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if want := "POST router /fn/default/hello?x=1 127.0.0.1:0 in payload"; resp.StatusCode != http.StatusTeapot || resp.Header.Get("X-Seen") != want ||
		resp.Header.Get("X-Late") != "" || string(body) != "answer" {
		t.Errorf("got %d %v %q, want 418, X-Seen %q, no X-Late, body answer", resp.StatusCode, resp.Header, body, want)
	}
}

// TestInProcess_Streams checks that the answer reaches the caller as it is
// written, and that a caller closing the body cancels the handler.
func TestInProcess_Streams(t *testing.T) {
	var p httpx.InProcess
	next, cancelled := make(chan struct{}), make(chan struct{})
	p.Serve(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "first")
		http.NewResponseController(w).Flush()
		<-next
		_, _ = io.WriteString(w, "second")
		<-r.Context().Done()
		close(cancelled)
	}))
	resp, err := (&http.Client{Transport: &p}).Get("http://router/stream")
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 16)
	if n, err := resp.Body.Read(buf); err != nil || string(buf[:n]) != "first" {
		t.Fatalf("first read: got %q %v, want %q before the handler goes on", buf[:n], err, "first")
	}
	close(next)
	if n, err := resp.Body.Read(buf); err != nil || string(buf[:n]) != "second" {
		t.Fatalf("second read: got %q %v, want %q", buf[:n], err, "second")
	}
	resp.Body.Close()
	select {
	case <-cancelled:
	case <-time.After(5 * time.Second):
		t.Fatal("closing the body did not cancel the handler's context")
	}
}

// TestInProcess_Abort checks that a handler breaking off its answer makes
// the read fail, and that one failing before any status fails the round
// trip.
func TestInProcess_Abort(t *testing.T) {
	var p httpx.InProcess
	p.Serve(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/late" {
			_, _ = io.WriteString(w, "part")
		}
		panic(http.ErrAbortHandler)
	}))
	c := &http.Client{Transport: &p}
	resp, err := c.Get("http://router/late")
	if err != nil {
		t.Fatal(err)
	}
	if body, err := io.ReadAll(resp.Body); !errors.Is(err, io.ErrUnexpectedEOF) || string(body) != "part" {
		t.Errorf("aborted answer: got %q %v, want %q then ErrUnexpectedEOF", body, err, "part")
	}
	resp.Body.Close()
	if _, err := c.Get("http://router/early"); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("aborted before any status: got %v, want ErrUnexpectedEOF", err)
	}
}
