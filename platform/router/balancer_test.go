package router_test

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/lantern-faas/lantern/platform/api"
	"github.com/lantern-faas/lantern/platform/client"
	"github.com/lantern-faas/lantern/platform/internal/httpx"
	"github.com/lantern-faas/lantern/platform/router"
)

func TestServer_WarmPath(t *testing.T) {
	h := newHarness(t, setup{})
	var served []string
	for i := range 6 {
		res := h.get(t.Context(), "/fn/default/hello")
		if res.Err != nil || res.Status != http.StatusOK {
			t.Fatalf("call %d: got %d %v, want 200", i, res.Status, res.Err)
		}
		served = append(served, res.Instance)
	}
	if got, want := h.gets.Load(), int32(1); got != want {
		t.Errorf("GetInstance calls: got %d, want %d", got, want)
	}
	want := []string{"inst-1", "inst-1", "inst-1", "inst-1", "inst-1", "inst-1"}
	if diff := cmp.Diff(want, served); diff != "" {
		t.Errorf("serving instances (-want +got):\n%s", diff)
	}
}

func TestServer_Burst(t *testing.T) {
	tests := []struct {
		name      string
		rpp       int
		n         int
		getDelay  time.Duration
		wantGets  int32
		wantInsts int
	}{
		// Every call must be in the function at once, so each needs its
		// own instance: exactly n, no more.
		{"OnePerInstance", 1, 20, 0, 20, 20},
		// One instance holds them all; the cold start is slow enough
		// that every call waits for it, and only one is asked for.
		{"TenPerInstance", 10, 10, 200 * time.Millisecond, 1, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bar := newBarrier(tt.n, 5*time.Second)
			h := newHarness(t, setup{
				spec:     api.FunctionSpec{RequestsPerPod: tt.rpp},
				getDelay: tt.getDelay,
				function: func(w http.ResponseWriter, _ *http.Request) {
					bar.wait()
					_, _ = w.Write([]byte("ok"))
				},
			})
			results := make([]result, tt.n)
			var wg sync.WaitGroup
			for i := range tt.n {
				wg.Go(func() { results[i] = h.get(context.Background(), "/fn/default/hello") })
			}
			wg.Wait()
			insts := map[string]bool{}
			for i, res := range results {
				if res.Err != nil || res.Status != http.StatusOK {
					t.Errorf("call %d: got %d %v %q, want 200", i, res.Status, res.Err, res.Body)
				}
				insts[res.Instance] = true
			}
			if bar.missed.Load() {
				t.Errorf("calls in the function at once: got fewer than %d, want all", tt.n)
			}
			if got := h.gets.Load(); got != tt.wantGets {
				t.Errorf("GetInstance calls: got %d, want %d", got, tt.wantGets)
			}
			if got := len(insts); got != tt.wantInsts {
				t.Errorf("instances serving: got %d, want %d", got, tt.wantInsts)
			}
		})
	}
}

func TestServer_QueueTimeout(t *testing.T) {
	started, release := make(chan struct{}, 1), make(chan struct{})
	h := newHarness(t, setup{
		cfg:  router.Config{QueueTimeout: 100 * time.Millisecond},
		spec: api.FunctionSpec{Concurrency: 1, RequestsPerPod: 1},
		function: func(w http.ResponseWriter, _ *http.Request) {
			select {
			case started <- struct{}{}:
			default:
			}
			select {
			case <-release:
			case <-time.After(2 * time.Second):
			}
			_, _ = w.Write([]byte("ok"))
		},
	})
	first := make(chan result, 1)
	go func() { first <- h.get(context.Background(), "/fn/default/hello") }()
	<-started

	start := time.Now()
	res := h.get(t.Context(), "/fn/default/hello")
	elapsed := time.Since(start)
	close(release)
	if got, want := res.Status, http.StatusTooManyRequests; got != want {
		t.Errorf("second call: got %d %q, want %d", got, res.Body, want)
	}
	if elapsed < 100*time.Millisecond || elapsed > time.Second {
		t.Errorf("second call answered after %v, want after the 100ms queue timeout", elapsed)
	}
	if res := <-first; res.Status != http.StatusOK {
		t.Errorf("first call: got %d %q, want 200", res.Status, res.Body)
	}
	if got, want := h.gets.Load(), int32(1); got != want {
		t.Errorf("GetInstance calls: got %d, want %d (concurrency 1)", got, want)
	}
	// The slot freed: the next call is served at once.
	if res := h.get(t.Context(), "/fn/default/hello"); res.Status != http.StatusOK {
		t.Errorf("third call: got %d %q, want 200", res.Status, res.Body)
	}
}

func TestServer_GetInstanceError(t *testing.T) {
	badGateway := &httpx.Error{Status: http.StatusBadGateway, Message: "function failed to load"}
	tests := []struct {
		name        string
		concurrency int
		err         error
		wantStatus  int
	}{
		{"BadGateway", 0, badGateway, http.StatusBadGateway},
		{"TooManyRequests", 0, httpx.Errorf(http.StatusTooManyRequests, "concurrency reached"), http.StatusTooManyRequests},
		{"Timeout", 0, httpx.Errorf(http.StatusGatewayTimeout, "specialization timeout"), http.StatusGatewayTimeout},
		// The poolmgr over HTTP: its answer passes through.
		{"RemoteAPIError", 0, &client.APIError{Status: http.StatusServiceUnavailable,
			Body: api.ErrorBody{Code: "unavailable", Message: "environment not available"}}, http.StatusServiceUnavailable},
		// One cold start for every caller: its failure is everyone's.
		{"ConcurrencyOne", 1, badGateway, http.StatusBadGateway},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, setup{
				cfg:  router.Config{QueueTimeout: 2 * time.Second}, // a waiter left behind gets 429
				spec: api.FunctionSpec{Concurrency: tt.concurrency},
			})
			h.inst.GetInstanceFunc = func(context.Context, api.InstanceRequest) (*api.Instance, error) {
				h.gets.Add(1)
				time.Sleep(20 * time.Millisecond) // let the callers queue up
				return nil, tt.err
			}
			const n = 3
			results := make([]result, n)
			var wg sync.WaitGroup
			for i := range n {
				wg.Go(func() {
					req, _ := http.NewRequest(http.MethodGet, h.URL+"/fn/default/hello", nil)
					req.Header.Set("Accept", "application/json")
					results[i] = do(req)
				})
			}
			wg.Wait()
			for i, res := range results {
				if res.Err != nil || res.Status != tt.wantStatus {
					t.Errorf("call %d: got %d %v %q, want %d", i, res.Status, res.Err, res.Body, tt.wantStatus)
				}
			}
			if got := h.gets.Load(); got < 1 || got > n {
				t.Errorf("GetInstance calls: got %d, want 1 to %d", got, n)
			}
		})
	}
}

func TestServer_FunctionUpdate(t *testing.T) {
	var mu sync.Mutex
	var versions []string
	h := newHarness(t, setup{function: func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		versions = append(versions, r.Header.Get("X-Fission-Function-Resourceversion"))
		mu.Unlock()
	}})
	ctx := t.Context()
	for range 2 {
		if res := h.get(ctx, "/fn/default/hello"); res.Status != http.StatusOK {
			t.Fatalf("call before update: got %d %q, want 200", res.Status, res.Body)
		}
	}
	h.update(func(fn *api.Function) { fn.Spec.FunctionTimeout = 30 })
	var served []string
	for range 2 {
		res := h.get(ctx, "/fn/default/hello")
		if res.Status != http.StatusOK {
			t.Fatalf("call after update: got %d %q, want 200", res.Status, res.Body)
		}
		served = append(served, res.Instance)
	}
	if got, want := h.gets.Load(), int32(2); got != want {
		t.Errorf("GetInstance calls: got %d, want %d (one per version)", got, want)
	}
	if diff := cmp.Diff([]string{"inst-2", "inst-2"}, served); diff != "" {
		t.Errorf("instances after update (-want +got):\n%s", diff)
	}
	mu.Lock()
	defer mu.Unlock()
	if diff := cmp.Diff([]string{"1", "1", "2", "2"}, versions); diff != "" {
		t.Errorf("versions the function saw (-want +got):\n%s", diff)
	}
}

// TestServer_FunctionUpdate_StaleRead covers a request that read the
// function just before an update landed: it must neither undo the update
// nor make the router ask for instances in a loop.
func TestServer_FunctionUpdate_StaleRead(t *testing.T) {
	h := newHarness(t, setup{cfg: router.Config{QueueTimeout: 500 * time.Millisecond}})
	ctx := t.Context()
	if res := h.get(ctx, "/fn/default/hello"); res.Status != http.StatusOK {
		t.Fatalf("first call: got %d %q, want 200", res.Status, res.Body)
	}
	v1 := h.objs.Function("default", "hello")
	var reads atomic.Int32
	current := h.objs.FunctionFunc
	h.objs.FunctionFunc = func(ns, name string) *api.Function {
		if reads.Add(1) == 1 {
			h.update(nil) // the update lands right after this read
			return v1
		}
		return current(ns, name)
	}
	res := h.get(ctx, "/fn/default/hello")
	if res.Status != http.StatusOK {
		t.Errorf("call with the stale read: got %d %q, want 200", res.Status, res.Body)
	}
	if got := h.gets.Load(); got > 3 {
		t.Errorf("GetInstance calls: got %d, want at most 3", got)
	}
	// The router serves the current version afterwards.
	if res := h.get(ctx, "/fn/default/hello"); res.Status != http.StatusOK {
		t.Errorf("next call: got %d %q, want 200", res.Status, res.Body)
	}
}

func TestServer_InstanceDeleted(t *testing.T) {
	events, acks := make(chan api.InstanceEvent), make(chan struct{})
	h := newHarness(t, setup{})
	h.inst.WatchInstancesFunc = func(ctx context.Context, fn func(api.InstanceEvent) error) error {
		for {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case ev := <-events:
				if err := fn(ev); err != nil {
					return err
				}
				acks <- struct{}{}
			}
		}
	}
	h.run()
	ctx := t.Context()
	first := h.get(ctx, "/fn/default/hello")
	if first.Status != http.StatusOK {
		t.Fatalf("first call: got %d %q, want 200", first.Status, first.Body)
	}
	send := func(ev api.InstanceEvent) {
		t.Helper()
		select {
		case events <- ev:
			<-acks
		case <-time.After(5 * time.Second):
			t.Fatalf("Run did not watch instances")
		}
	}
	// Another function's instance and an unknown event type change nothing.
	send(api.InstanceEvent{Type: api.EventDeleted, Instance: api.Instance{ID: first.Instance, Namespace: "default", Function: "other"}})
	send(api.InstanceEvent{Type: api.EventModified, Instance: api.Instance{ID: first.Instance, Namespace: "default", Function: "hello"}})
	if res := h.get(ctx, "/fn/default/hello"); res.Instance != first.Instance {
		t.Errorf("after unrelated events: got instance %q, want %q", res.Instance, first.Instance)
	}
	send(api.InstanceEvent{Type: api.EventDeleted, Reason: api.ReasonIdle,
		Instance: api.Instance{ID: first.Instance, Namespace: "default", Function: "hello"}})
	res := h.get(ctx, "/fn/default/hello")
	if res.Status != http.StatusOK {
		t.Fatalf("call after DELETED: got %d %q, want 200", res.Status, res.Body)
	}
	if res.Instance == first.Instance {
		t.Errorf("call after DELETED: got instance %q, want a new one", res.Instance)
	}
	if got, want := h.gets.Load(), int32(2); got != want {
		t.Errorf("GetInstance calls: got %d, want %d", got, want)
	}
}

// TestServer_PoolmgrAway checks that cached instances keep serving while
// the poolmgr's watch is broken, and that the first event of the next
// watch forgets those the poolmgr no longer has.
func TestServer_PoolmgrAway(t *testing.T) {
	h := newHarness(t, setup{})
	watches := make(chan func(api.InstanceEvent) error)
	h.inst.WatchInstancesFunc = func(ctx context.Context, fn func(api.InstanceEvent) error) error {
		select {
		case watches <- fn:
		case <-ctx.Done():
			return ctx.Err()
		}
		return errors.New("poolmgr went away") // the stream ends at once
	}
	h.run()
	ctx := t.Context()
	next := func() func(api.InstanceEvent) error {
		t.Helper()
		select {
		case fn := <-watches:
			return fn
		case <-time.After(5 * time.Second):
			t.Fatal("Run did not watch instances again")
			return nil
		}
	}
	next() // the first watch breaks
	first := h.get(ctx, "/fn/default/hello")
	if first.Status != http.StatusOK {
		t.Fatalf("first call: got %d %q, want 200", first.Status, first.Body)
	}
	_ = next()(api.InstanceEvent{Type: api.EventSynced, Live: []string{first.Instance}})
	next() // broken again: the poolmgr restarts
	for i := range 5 {
		if res := h.get(ctx, "/fn/default/hello"); res.Status != http.StatusOK || res.Instance != first.Instance {
			t.Fatalf("call %d with the poolmgr away: got %d from %q, want 200 from the cached %q", i, res.Status, res.Instance, first.Instance)
		}
	}
	if got := h.gets.Load(); got != 1 {
		t.Errorf("GetInstance calls with the poolmgr away: got %d, want 1 (the first call's)", got)
	}
	_ = next()(api.InstanceEvent{Type: api.EventSynced, Live: []string{"someone-else"}})
	res := h.get(ctx, "/fn/default/hello")
	if res.Status != http.StatusOK || res.Instance == first.Instance {
		t.Errorf("call after a watch whose first event no longer lists %q: got %d from %q, want 200 from a new instance", first.Instance, res.Status, res.Instance)
	}
}

func TestServer_ReportActivity(t *testing.T) {
	reports := make(chan []api.InstanceActivity, 100)
	h := newHarness(t, setup{cfg: router.Config{ActivityInterval: 50 * time.Millisecond}})
	h.inst.ReportActivityFunc = func(_ context.Context, acts []api.InstanceActivity) error {
		reports <- append([]api.InstanceActivity(nil), acts...)
		return nil
	}
	h.run()
	before := time.Now()
	res := h.get(t.Context(), "/fn/default/hello")
	if res.Status != http.StatusOK {
		t.Fatalf("call: got %d %q, want 200", res.Status, res.Body)
	}
	timeout := time.After(2 * time.Second)
	for {
		select {
		case acts := <-reports:
			for _, a := range acts {
				if a.ID != res.Instance {
					t.Errorf("reported instance: got %q, want %q", a.ID, res.Instance)
					continue
				}
				if a.LastUsed.Before(before) {
					t.Errorf("lastUsed: got %v, want after %v", a.LastUsed, before)
				}
				return
			}
		case <-timeout:
			t.Fatalf("activity reports: got none naming %q within 2s, want one", res.Instance)
		}
	}
}

func TestServer_ReportActivity_Idle(t *testing.T) {
	reports := make(chan []api.InstanceActivity, 100)
	h := newHarness(t, setup{cfg: router.Config{ActivityInterval: 20 * time.Millisecond}})
	h.inst.ReportActivityFunc = func(_ context.Context, acts []api.InstanceActivity) error {
		reports <- acts
		return errors.New("poolmgr unreachable") // logged, not fatal
	}
	h.run()
	if res := h.get(t.Context(), "/fn/default/hello"); res.Status != http.StatusOK {
		t.Fatalf("call: got %d, want 200", res.Status)
	}
	select {
	case <-reports:
	case <-time.After(2 * time.Second):
		t.Fatalf("activity reports: got none, want one after a call")
	}
	// With no further calls, an unused instance is reported no more.
	time.Sleep(60 * time.Millisecond)
	for len(reports) > 0 {
		<-reports
	}
	select {
	case acts := <-reports:
		t.Errorf("report while idle: got %+v, want none", acts)
	case <-time.After(100 * time.Millisecond):
	}
}
