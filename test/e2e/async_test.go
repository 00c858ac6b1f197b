package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/lantern-faas/lantern/platform/api"
	"github.com/lantern-faas/lantern/platform/client"
)

// accept sends an asynchronous call and returns the invocation ID.
func (l *lanternd) accept(t *testing.T, path, body string, headers ...string) string {
	t.Helper()
	r := l.call(t, http.MethodPost, path, body, append(headers, "Content-Type: application/json")...)
	wantResponse(t, "async POST "+path, r, http.StatusAccepted, `"status":"queued"`)
	id := r.Header.Get(api.InvocationIDHeader)
	if id == "" {
		t.Fatalf("202 without %s: %s", api.InvocationIDHeader, r)
	}
	return id
}

// waitInvocation waits until the invocation has the status.
func waitInvocation(t *testing.T, l *lanternd, id, status string) *api.Invocation {
	t.Helper()
	ac := client.NewAsync(l.APIURL, nil)
	var inv *api.Invocation
	eventually(t, 60*time.Second, 100*time.Millisecond, "invocation "+id+" "+status, func() error {
		var err error
		inv, err = ac.Invocation(context.Background(), id)
		if err != nil {
			return err
		}
		if inv.Status != status {
			return fmt.Errorf("status %s (attempts %d, error %q)", inv.Status, inv.Attempts, inv.Error)
		}
		return nil
	})
	return inv
}

// TestAsync_NATS queues calls through a route and the /async route with a
// real nats-server: they run with retries, a failing one lands in the
// dead-letter list and is replayed, a callback gets the outcome, and the
// CLI and metrics show it all.
func TestAsync_NATS(t *testing.T) {
	t.Parallel()
	ns := startNATS(t)
	l := startAll(t, "--nats-url", ns.URL, "--async-retry-delay", "100ms", "--async-max-attempts", "3")
	calls := recordFunction(t, l)
	l.mustLantern(t, "route", "create", "--name", "rec", "--function", "record", "--url", "/rec", "--method", "POST")
	callbacks := make(chan api.Invocation, 10)
	cb := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var inv api.Invocation
		if json.NewDecoder(r.Body).Decode(&inv) == nil {
			callbacks <- inv
		}
	}))
	defer cb.Close()

	okID := l.accept(t, "/rec?q=1", `{"id":"ok"}`, api.InvokeModeHeader+": async", api.CallbackHeader+": "+cb.URL)
	inv := waitInvocation(t, l, okID, api.InvocationSucceeded)
	if inv.Attempts != 1 || inv.ResponseStatus != 200 || inv.RequestID == "" || !strings.Contains(inv.Response, `"attempt": 1`) {
		t.Errorf("invocation = %+v", inv)
	}
	select {
	case got := <-callbacks:
		if got.ID != okID || got.Status != api.InvocationSucceeded {
			t.Errorf("callback got %+v", got)
		}
	case <-time.After(10 * time.Second):
		t.Error("the callback URL got nothing")
	}
	var rec record
	for _, r := range readRecords(t, calls) {
		if strings.Contains(r.Body, `"ok"`) {
			rec = r
		}
	}
	if rec.Headers["X-Lantern-Trigger"] != "async" || rec.Headers["X-Lantern-Invocation-Id"] != okID || rec.Method != "POST" {
		t.Errorf("the function saw %+v", rec)
	}

	flakyID := l.accept(t, "/async/default/record", `{"id":"flaky","fail":1}`)
	if inv := waitInvocation(t, l, flakyID, api.InvocationSucceeded); inv.Attempts != 2 {
		t.Errorf("flaky took %d attempts, want 2", inv.Attempts)
	}
	deadID := l.accept(t, "/async/default/record", `{"id":"dead","fail":3}`)
	inv = waitInvocation(t, l, deadID, api.InvocationFailed)
	if inv.Attempts != 3 || inv.ResponseStatus != 500 {
		t.Errorf("dead invocation = %+v, want 3 attempts ending in 500", inv)
	}
	out := l.mustLantern(t, "fn", "invocations", "--name", "record", "--status", "failed")
	if !strings.Contains(out, deadID) || strings.Contains(out, okID) {
		t.Errorf("dead letters:\n%s", out)
	}
	out = l.mustLantern(t, "fn", "invocations", "--name", "record")
	for _, id := range []string{okID, flakyID, deadID} {
		if !strings.Contains(out, id) {
			t.Errorf("fn invocations lacks %s:\n%s", id, out)
		}
	}
	if _, stderr, code := l.lantern(t, "fn", "replay", "--id", okID); code != 1 || !strings.Contains(stderr, "only failed") {
		t.Errorf("replaying a succeeded invocation: exit %d, %q", code, stderr)
	}
	l.mustLantern(t, "fn", "replay", "--id", deadID)
	if inv := waitInvocation(t, l, deadID, api.InvocationSucceeded); inv.Replays != 1 {
		t.Errorf("replayed invocation = %+v", inv)
	}
	wantResponse(t, "async call of an unknown function", l.call(t, http.MethodPost, "/async/default/nope", "x"), http.StatusNotFound)

	metrics := do(t, http.MethodGet, l.APIURL+"/metrics", nil).Body
	for _, want := range []string{
		`lantern_async_invocations_total{function="record",namespace="default",outcome="succeeded"} 3`,
		`lantern_async_dead_letters_total{function="record",namespace="default"} 1`,
		`lantern_async_retries_total{function="record",namespace="default"} 3`,
		`trigger="async"`, "lantern_async_queue_depth", "lantern_async_oldest_queued_age_seconds",
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

// TestAsync_SurvivesRestart queues calls and restarts lanternd at once:
// every call still runs (embedded NATS, store under --data-dir).
func TestAsync_SurvivesRestart(t *testing.T) {
	t.Parallel()
	l := startAll(t)
	calls := recordFunction(t, l)
	var ids []string
	for i := range 20 {
		ids = append(ids, l.accept(t, "/async/default/record", fmt.Sprintf(`{"id":"c%02d"}`, i)))
	}
	l.Restart()
	for _, id := range ids {
		waitInvocation(t, l, id, api.InvocationSucceeded)
	}
	if a := attempts(t, calls); len(a) != 20 {
		t.Errorf("the function saw %d distinct calls, want 20: %v", len(a), a)
	}
}
