package async_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	natsgo "github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/lantern-faas/lantern/platform/api"
	"github.com/lantern-faas/lantern/platform/async"
	"github.com/lantern-faas/lantern/platform/client"
	"github.com/lantern-faas/lantern/platform/natsd"
)

// fakeCaller fails the first failures[body] calls of each body with 500.
type fakeCaller struct {
	mu       sync.Mutex
	calls    []client.Call
	failures map[string]int
}

func (c *fakeCaller) Call(_ context.Context, call client.Call) (client.Result, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.calls = append(c.calls, call)
	body := string(call.Body)
	if c.failures[body] != 0 {
		if c.failures[body] > 0 {
			c.failures[body]--
		}
		return client.Result{Status: 500, Body: []byte("boom"), Duration: time.Millisecond}, nil
	}
	return client.Result{Status: 200, Body: []byte("done " + body), Duration: time.Millisecond}, nil
}

func (c *fakeCaller) setFailures(body string, n int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.failures[body] = n
}

func start(t *testing.T, caller async.Caller) (*async.Manager, *client.Async) {
	t.Helper()
	srv, err := natsd.Start(natsd.Config{Dir: filepath.Join(t.TempDir(), "nats"), Addr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Shutdown)
	nc, err := natsgo.Connect(srv.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	cfg := async.DefaultConfig()
	cfg.MaxAttempts, cfg.RetryDelay = 3, 10*time.Millisecond
	m, err := async.New(cfg, nc, caller, nil, async.WithRegisterer(prometheus.NewRegistry()))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = m.Run(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	hs := httptest.NewServer(m.Handler())
	t.Cleanup(hs.Close)
	return m, client.NewAsync(hs.URL, nil)
}

func waitStatus(t *testing.T, c *client.Async, id, status string) *api.Invocation {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	var last *api.Invocation
	for time.Now().Before(deadline) {
		inv, err := c.Invocation(context.Background(), id)
		if err == nil && inv.Status == status {
			return inv
		}
		last = inv
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("invocation %s: %+v, want status %s", id, last, status)
	return nil
}

func TestManager_Lifecycle(t *testing.T) {
	caller := &fakeCaller{failures: map[string]int{"flaky": 1, "bad": -1}}
	got := make(chan api.Invocation, 4)
	cb := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var inv api.Invocation
		_ = json.NewDecoder(r.Body).Decode(&inv)
		got <- inv
	}))
	defer cb.Close()
	_, c := start(t, caller)
	ctx := context.Background()
	req := func(body, callback string) api.AsyncRequest {
		return api.AsyncRequest{Namespace: "default", Function: "fn", Method: "POST", Subpath: "/x", Query: "a=1",
			Header: map[string][]string{"X-Custom": {"v"}, api.InvokeModeHeader: {"async"}}, Body: []byte(body), CallbackURL: callback}
	}

	ok, err := c.Enqueue(ctx, req("ok", cb.URL))
	if err != nil || ok.Status != api.InvocationQueued || ok.ID == "" {
		t.Fatalf("Enqueue = %+v, %v", ok, err)
	}
	inv := waitStatus(t, c, ok.ID, api.InvocationSucceeded)
	if inv.Attempts != 1 || inv.ResponseStatus != 200 || inv.Response != "done ok" || inv.RequestID == "" {
		t.Errorf("succeeded invocation = %+v", inv)
	}
	select {
	case cbInv := <-got:
		if cbInv.ID != ok.ID || cbInv.Status != api.InvocationSucceeded {
			t.Errorf("callback got %+v", cbInv)
		}
	case <-time.After(5 * time.Second):
		t.Error("no callback")
	}
	caller.mu.Lock()
	first := caller.calls[0]
	caller.mu.Unlock()
	if first.Trigger != "async" || first.Query != "a=1" || first.Subpath != "/x" || first.Header.Get("X-Custom") != "v" ||
		first.Header.Get(api.InvokeModeHeader) != "" || first.Header.Get(api.InvocationIDHeader) != ok.ID {
		t.Errorf("call = %+v", first)
	}

	flaky, _ := c.Enqueue(ctx, req("flaky", ""))
	if inv := waitStatus(t, c, flaky.ID, api.InvocationSucceeded); inv.Attempts != 2 {
		t.Errorf("flaky took %d attempts, want 2", inv.Attempts)
	}

	bad, _ := c.Enqueue(ctx, req("bad", ""))
	inv = waitStatus(t, c, bad.ID, api.InvocationFailed)
	if inv.Attempts != 3 || inv.ResponseStatus != 500 || !strings.Contains(inv.Error, "status 500") {
		t.Errorf("failed invocation = %+v", inv)
	}
	dead, err := c.Invocations(ctx, "default", "fn", api.InvocationFailed, 0)
	if err != nil || len(dead) != 1 || dead[0].ID != bad.ID {
		t.Fatalf("dead letters = %+v, %v; want the bad one", dead, err)
	}
	all, err := c.Invocations(ctx, "default", "", "", 0)
	if err != nil || len(all) != 3 || all[0].ID != bad.ID {
		t.Errorf("all invocations = %d (%v), want 3 newest first", len(all), err)
	}
	if _, err := c.Replay(ctx, ok.ID); err == nil || !strings.Contains(err.Error(), "only failed") {
		t.Errorf("replaying a succeeded invocation: %v", err)
	}
	caller.setFailures("bad", 0)
	if _, err := c.Replay(ctx, bad.ID); err != nil {
		t.Fatal(err)
	}
	inv = waitStatus(t, c, bad.ID, api.InvocationSucceeded)
	if inv.Replays != 1 || inv.Attempts != 1 {
		t.Errorf("replayed invocation = %+v, want 1 replay, 1 attempt", inv)
	}
	if dead, _ := c.Invocations(ctx, "", "", api.InvocationFailed, 0); len(dead) != 0 {
		t.Errorf("dead letters after the replay: %+v", dead)
	}
	if _, err := c.Invocation(ctx, "0123456789abcdef"); err == nil || !strings.Contains(err.Error(), "not found") {
		t.Errorf("unknown invocation: %v", err)
	}
}

func TestManager_EnqueueInvalid(t *testing.T) {
	m, _ := start(t, &fakeCaller{failures: map[string]int{}})
	ctx := context.Background()
	if _, err := m.Enqueue(ctx, api.AsyncRequest{Namespace: "default", Function: "fn", CallbackURL: "ftp://x"}); err == nil {
		t.Error("a non-http callback URL was accepted")
	}
	big := make([]byte, async.DefaultConfig().MaxBodyBytes+1)
	if _, err := m.Enqueue(ctx, api.AsyncRequest{Namespace: "default", Function: "fn", Body: big}); err == nil || !strings.Contains(err.Error(), "may hold") {
		t.Errorf("a too large body: %v", err)
	}
}
