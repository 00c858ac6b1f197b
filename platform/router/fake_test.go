package router_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lantern-faas/lantern/platform/api"
	"github.com/lantern-faas/lantern/platform/client"
	"github.com/lantern-faas/lantern/platform/router"
)

// fakeInstances is a router.Instances whose behaviour each test sets; a nil
// field gets a harmless default.
type fakeInstances struct {
	GetInstanceFunc    func(ctx context.Context, req api.InstanceRequest) (*api.Instance, error)
	RemoveInstanceFunc func(ctx context.Context, id, reason string) error
	ReportActivityFunc func(ctx context.Context, acts []api.InstanceActivity) error
	WatchInstancesFunc func(ctx context.Context, fn func(api.InstanceEvent) error) error
}

var _ router.Instances = (*fakeInstances)(nil)

func (f *fakeInstances) GetInstance(ctx context.Context, req api.InstanceRequest) (*api.Instance, error) {
	if f.GetInstanceFunc == nil {
		return nil, errors.New("fakeInstances: GetInstance not set")
	}
	return f.GetInstanceFunc(ctx, req)
}

func (f *fakeInstances) RemoveInstance(ctx context.Context, id, reason string) error {
	if f.RemoveInstanceFunc == nil {
		return nil
	}
	return f.RemoveInstanceFunc(ctx, id, reason)
}

func (f *fakeInstances) ReportActivity(ctx context.Context, acts []api.InstanceActivity) error {
	if f.ReportActivityFunc == nil {
		return nil
	}
	return f.ReportActivityFunc(ctx, acts)
}

func (f *fakeInstances) WatchInstances(ctx context.Context, fn func(api.InstanceEvent) error) error {
	if f.WatchInstancesFunc == nil {
		<-ctx.Done()
		return ctx.Err()
	}
	return f.WatchInstancesFunc(ctx, fn)
}

// fakeObjects is a router.Objects whose behaviour each test sets.
type fakeObjects struct {
	FunctionFunc     func(ns, name string) *api.Function
	HTTPTriggersFunc func() []*api.HTTPTrigger
}

var _ router.Objects = (*fakeObjects)(nil)

func (f *fakeObjects) Function(ns, name string) *api.Function {
	if f.FunctionFunc == nil {
		return nil
	}
	return f.FunctionFunc(ns, name)
}

func (f *fakeObjects) HTTPTriggers() []*api.HTTPTrigger {
	if f.HTTPTriggersFunc == nil {
		return nil
	}
	return f.HTTPTriggersFunc()
}

// instanceHeader names the instance that served a response; every fake
// instance sets it.
const instanceHeader = "X-Test-Instance"

// removal is one RemoveInstance call.
type removal struct{ ID, Reason string }

// harness is a router over fakes whose GetInstance starts a real
// httptest.Server per instance, running function.
type harness struct {
	t        *testing.T
	URL      string // the router's
	Server   *router.Server
	inst     *fakeInstances
	objs     *fakeObjects
	function http.HandlerFunc

	mu       sync.Mutex
	fn       *api.Function
	triggers []*api.HTTPTrigger
	servers  []*httptest.Server
	requests []api.InstanceRequest // GetInstance calls

	gets    atomic.Int32
	removed chan removal
}

// setup configures a harness; zero fields get defaults.
type setup struct {
	cfg      router.Config
	spec     api.FunctionSpec // Environment is set; zero limits get defaults
	function http.HandlerFunc // nil answers "ok"
	getDelay time.Duration    // how long GetInstance takes
	opts     []router.Option
}

func newHarness(t *testing.T, s setup) *harness {
	t.Helper()
	fn := &api.Function{Metadata: api.Metadata{Namespace: "default", Name: "hello", UID: "uid-hello", ResourceVersion: "1"}, Spec: s.spec}
	fn.Spec.Environment = "python"
	fn.SetDefaults()
	h := &harness{t: t, fn: fn, function: s.function, removed: make(chan removal, 100)}
	if h.function == nil {
		h.function = func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok")) }
	}
	h.objs = &fakeObjects{
		FunctionFunc: func(ns, name string) *api.Function {
			h.mu.Lock()
			defer h.mu.Unlock()
			if ns == h.fn.Metadata.Namespace && name == h.fn.Metadata.Name {
				return h.fn
			}
			return nil
		},
		HTTPTriggersFunc: func() []*api.HTTPTrigger {
			h.mu.Lock()
			defer h.mu.Unlock()
			return append([]*api.HTTPTrigger(nil), h.triggers...)
		},
	}
	h.inst = &fakeInstances{
		GetInstanceFunc: func(ctx context.Context, req api.InstanceRequest) (*api.Instance, error) {
			h.gets.Add(1)
			h.mu.Lock()
			h.requests = append(h.requests, req)
			h.mu.Unlock()
			if s.getDelay > 0 {
				select {
				case <-time.After(s.getDelay):
				case <-ctx.Done():
					return nil, ctx.Err()
				}
			}
			return h.startInstance(), nil
		},
		RemoveInstanceFunc: func(_ context.Context, id, reason string) error {
			h.removed <- removal{id, reason}
			return nil
		},
	}
	h.Server = router.New(s.cfg, h.inst, h.objs, nil, s.opts...)
	rs := httptest.NewServer(h.Server.Handler())
	t.Cleanup(func() {
		rs.Close()
		h.mu.Lock()
		defer h.mu.Unlock()
		for _, srv := range h.servers {
			srv.Close()
		}
	})
	h.URL = rs.URL
	return h
}

// startInstance starts one instance of the current function version.
func (h *harness) startInstance() *api.Instance {
	h.mu.Lock()
	defer h.mu.Unlock()
	id := "inst-" + strconv.Itoa(len(h.servers)+1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set(instanceHeader, id)
		h.function(w, r)
	}))
	h.servers = append(h.servers, srv)
	return h.instance(id, strings.TrimPrefix(srv.URL, "http://"))
}

// instance describes an instance of the current function version.
func (h *harness) instance(id, addr string) *api.Instance {
	return &api.Instance{
		ID: id, Address: addr, Namespace: h.fn.Metadata.Namespace, Function: h.fn.Metadata.Name,
		Environment: h.fn.Spec.Environment, ResourceVersion: h.fn.Metadata.ResourceVersion,
		State: api.StateReady, CreatedAt: time.Now(),
	}
}

// update replaces the function with a new version and tells the router.
func (h *harness) update(mutate func(*api.Function)) *api.Function {
	h.mu.Lock()
	old := h.fn
	fn := *old
	fn.Metadata.ResourceVersion = strconv.Itoa(mustAtoi(h.t, old.Metadata.ResourceVersion) + 1)
	fn.Metadata.Generation++
	if mutate != nil {
		mutate(&fn)
	}
	h.fn = &fn
	h.mu.Unlock()
	h.Server.OnChange(client.Change{Kind: api.KindFunction, Old: old, New: &fn})
	return &fn
}

// setTriggers replaces the HTTP triggers and tells the router.
func (h *harness) setTriggers(trs ...*api.HTTPTrigger) {
	h.mu.Lock()
	h.triggers = trs
	h.mu.Unlock()
	for _, tr := range trs {
		h.Server.OnChange(client.Change{Kind: api.KindHTTPTrigger, New: tr})
	}
}

// run runs the server's background work until the test ends.
func (h *harness) run() {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- h.Server.Run(ctx) }()
	h.t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				h.t.Errorf("Run after cancel: got %v, want nil", err)
			}
		case <-time.After(5 * time.Second):
			h.t.Errorf("Run after cancel: still running after 5s")
		}
	})
}

// waitRemoval waits for a RemoveInstance call.
func (h *harness) waitRemoval(t *testing.T) removal {
	t.Helper()
	select {
	case r := <-h.removed:
		return r
	case <-time.After(5 * time.Second):
		t.Fatalf("RemoveInstance: got no call within 5s, want one")
		return removal{}
	}
}

// result is a router answer.
type result struct {
	Status   int
	Body     string
	Instance string // which instance served it
	Header   http.Header
	Err      error
}

// get calls the function through the router's internal route.
func (h *harness) get(ctx context.Context, path string) result {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, h.URL+path, nil)
	if err != nil {
		return result{Err: err}
	}
	return do(req)
}

func do(req *http.Request) result {
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return result{Err: err}
	}
	defer resp.Body.Close()
	var sb strings.Builder
	_, err = io.Copy(&sb, resp.Body)
	return result{Status: resp.StatusCode, Body: sb.String(), Instance: resp.Header.Get(instanceHeader), Header: resp.Header, Err: err}
}

func mustAtoi(t *testing.T, s string) int {
	t.Helper()
	n, err := strconv.Atoi(s)
	if err != nil {
		t.Fatalf("resourceVersion %q: %v", s, err)
	}
	return n
}

// barrier lets n callers through together, or each after timeout.
type barrier struct {
	n       int
	mu      sync.Mutex
	arrived int
	all     chan struct{}
	timeout time.Duration
	missed  atomic.Bool // some caller gave up waiting
}

func newBarrier(n int, timeout time.Duration) *barrier {
	return &barrier{n: n, all: make(chan struct{}), timeout: timeout}
}

func (b *barrier) wait() {
	b.mu.Lock()
	b.arrived++
	if b.arrived == b.n {
		close(b.all)
	}
	b.mu.Unlock()
	select {
	case <-b.all:
	case <-time.After(b.timeout):
		b.missed.Store(true)
	}
}

// freeAddr returns a loopback host:port that nothing listens on: dialing it
// is refused, like an instance that crashed.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

func jsonDecode(s string, v any) error { return json.Unmarshal([]byte(s), v) }
