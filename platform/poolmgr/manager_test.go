package poolmgr

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lantern-faas/lantern/platform/api"
	"github.com/lantern-faas/lantern/platform/client"
	"github.com/lantern-faas/lantern/platform/instance"
	"github.com/lantern-faas/lantern/platform/internal/httpx"
)

// fakeProc is an instance backed by an httptest server.
type fakeProc struct {
	srv  *httptest.Server
	done chan struct{}
	once sync.Once
}

func (p *fakeProc) Address() string       { return strings.TrimPrefix(p.srv.URL, "http://") }
func (p *fakeProc) CodeDir() string       { return "" }
func (p *fakeProc) PID() int              { return 0 }
func (p *fakeProc) Done() <-chan struct{} { return p.done }
func (p *fakeProc) Err() error            { return errors.New("killed") }
func (p *fakeProc) Tail() string          { return "last words" }
func (p *fakeProc) Stop(time.Duration)    { p.kill() }
func (p *fakeProc) kill() {
	p.once.Do(func() { p.srv.Close(); close(p.done) })
}

type fakeRuntime struct {
	started atomic.Int32
	mu      sync.Mutex
	procs   []*fakeProc
}

func (r *fakeRuntime) Start(context.Context, *api.Environment, instance.StartOptions) (instance.Process, error) {
	r.started.Add(1)
	p := &fakeProc{srv: httptest.NewServer(http.NotFoundHandler()), done: make(chan struct{})}
	r.mu.Lock()
	r.procs = append(r.procs, p)
	r.mu.Unlock()
	return p, nil
}

type fakeLoader struct {
	delay       time.Duration
	specializes atomic.Int32
	fail        error
}

func (l *fakeLoader) Fetch(context.Context, *api.Function, *api.Environment, string) (string, error) {
	return "/code", nil
}

func (l *fakeLoader) Specialize(ctx context.Context, _ string, _ *api.Function, _ *api.Environment, _ string) error {
	l.specializes.Add(1)
	select {
	case <-time.After(l.delay):
	case <-ctx.Done():
		return ctx.Err()
	}
	return l.fail
}

type fakeObjects struct {
	env *api.Environment
	fn  *api.Function
}

func (o *fakeObjects) Environment(_, name string) *api.Environment {
	if o.env != nil && o.env.Metadata.Name == name {
		return o.env
	}
	return nil
}

func (o *fakeObjects) Function(_, name string) *api.Function {
	if o.fn != nil && o.fn.Metadata.Name == name {
		return o.fn
	}
	return nil
}

func setup(t *testing.T, loader *fakeLoader, fnSpec func(*api.FunctionSpec)) (*Manager, *fakeRuntime, *fakeObjects) {
	t.Helper()
	env := &api.Environment{Metadata: api.Metadata{Name: "py", ResourceVersion: "1"}, Spec: api.EnvironmentSpec{Runtime: "python"}}
	env.SetDefaults()
	fn := &api.Function{Metadata: api.Metadata{Name: "hello", ResourceVersion: "2"}, Spec: api.FunctionSpec{Environment: "py"}}
	fn.SetDefaults()
	if fnSpec != nil {
		fnSpec(&fn.Spec)
	}
	objs := &fakeObjects{env: env, fn: fn}
	rt := &fakeRuntime{}
	m := New(Config{ReapInterval: 50 * time.Millisecond, StopGrace: time.Millisecond}, rt, loader, objs, nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = m.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	m.OnChange(client.Change{Kind: api.KindEnvironment, New: env})
	return m, rt, objs
}

func TestManager_GetInstance(t *testing.T) {
	t.Run("OK", func(t *testing.T) {
		loader := &fakeLoader{}
		m, rt, _ := setup(t, loader, nil)
		inst, err := m.GetInstance(context.Background(), api.InstanceRequest{Function: "hello"})
		if err != nil {
			t.Fatalf("GetInstance: %v", err)
		}
		if inst.Function != "hello" || inst.ResourceVersion != "2" || inst.Address == "" {
			t.Fatalf("got %+v, want a hello instance at version 2", inst)
		}
		// The same instance comes back unless excluded.
		again, err := m.GetInstance(context.Background(), api.InstanceRequest{Function: "hello"})
		if err != nil || again.ID != inst.ID {
			t.Fatalf("got %v, %v; want instance %s again", again, err, inst.ID)
		}
		other, err := m.GetInstance(context.Background(), api.InstanceRequest{Function: "hello", Exclude: []string{inst.ID}})
		if err != nil || other.ID == inst.ID {
			t.Fatalf("got %v, %v; want a new instance", other, err)
		}
		if got := loader.specializes.Load(); got != 2 {
			t.Fatalf("got %d specializations, want 2", got)
		}
		// The pool refills: 2 taken from a pool of 3 means 5 started.
		waitFor(t, func() bool { return rt.started.Load() == 5 })
		cs, _ := m.ColdStarts(context.Background(), "default", "hello")
		if len(cs) != 2 || cs[0].Outcome != "ok" {
			t.Fatalf("got cold starts %+v, want 2 ok", cs)
		}
	})
	t.Run("ErrNotFound", func(t *testing.T) {
		m, _, _ := setup(t, &fakeLoader{}, nil)
		_, err := m.GetInstance(context.Background(), api.InstanceRequest{Function: "nope"})
		if status, _ := httpx.Classify(err); status != http.StatusNotFound {
			t.Fatalf("got status %d (%v), want 404", status, err)
		}
	})
	t.Run("Concurrency", func(t *testing.T) {
		m, _, _ := setup(t, &fakeLoader{}, func(s *api.FunctionSpec) { s.Concurrency = 1 })
		first, err := m.GetInstance(context.Background(), api.InstanceRequest{Function: "hello"})
		if err != nil {
			t.Fatal(err)
		}
		_, err = m.GetInstance(context.Background(), api.InstanceRequest{Function: "hello", Exclude: []string{first.ID}})
		if status, _ := httpx.Classify(err); status != http.StatusTooManyRequests {
			t.Fatalf("got status %d (%v), want 429", status, err)
		}
	})
	t.Run("SpecializeFails", func(t *testing.T) {
		m, _, _ := setup(t, &fakeLoader{fail: errors.New("SyntaxError: bad")}, nil)
		_, err := m.GetInstance(context.Background(), api.InstanceRequest{Function: "hello"})
		status, body := httpx.Classify(err)
		if status != http.StatusBadGateway || !strings.Contains(body.Message, "SyntaxError") {
			t.Fatalf("got %d %q, want 502 naming the SyntaxError", status, body.Message)
		}
		cs, _ := m.ColdStarts(context.Background(), "default", "hello")
		if len(cs) != 1 || cs[0].Outcome != "error" {
			t.Fatalf("got %+v, want one failed cold start", cs)
		}
	})
	t.Run("SpecializeTimeout", func(t *testing.T) {
		m, _, _ := setup(t, &fakeLoader{delay: 3 * time.Second}, func(s *api.FunctionSpec) { s.SpecializationTimeout = 1 })
		start := time.Now()
		_, err := m.GetInstance(context.Background(), api.InstanceRequest{Function: "hello"})
		if status, _ := httpx.Classify(err); status != http.StatusGatewayTimeout {
			t.Fatalf("got status %d (%v), want 504", status, err)
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Fatalf("took %s, want about the 1 s timeout", d)
		}
	})
	t.Run("ConcurrentFirstCallsDoNotSerialize", func(t *testing.T) {
		// Each cold start takes 200 ms; 6 concurrent ones must overlap.
		m, _, _ := setup(t, &fakeLoader{delay: 200 * time.Millisecond}, nil)
		start := time.Now()
		var wg sync.WaitGroup
		var mu sync.Mutex
		ids := map[string]bool{}
		for i := 0; i < 6; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				inst, err := m.GetInstance(context.Background(), api.InstanceRequest{Function: "hello", Exclude: []string{"x"}})
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				ids[inst.ID] = true
				mu.Unlock()
			}()
		}
		wg.Wait()
		if d := time.Since(start); d > 1200*time.Millisecond {
			t.Fatalf("6 cold starts took %s: they were serialized", d)
		}
	})
}

func TestManager_Reap(t *testing.T) {
	t.Run("Idle", func(t *testing.T) {
		m, _, _ := setup(t, &fakeLoader{}, func(s *api.FunctionSpec) { s.IdleTimeout = 1 })
		events := watch(t, m)
		inst, err := m.GetInstance(context.Background(), api.InstanceRequest{Function: "hello"})
		if err != nil {
			t.Fatal(err)
		}
		ev := nextEvent(t, events, 5*time.Second)
		if ev.Instance.ID != inst.ID || ev.Reason != api.ReasonIdle {
			t.Fatalf("got %+v, want idle removal of %s", ev, inst.ID)
		}
		waitFor(t, func() bool { return countReady(m) == 0 })
	})
	t.Run("ActivityKeepsAlive", func(t *testing.T) {
		m, _, _ := setup(t, &fakeLoader{}, func(s *api.FunctionSpec) { s.IdleTimeout = 1 })
		inst, err := m.GetInstance(context.Background(), api.InstanceRequest{Function: "hello"})
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < 8; i++ {
			_ = m.ReportActivity(context.Background(), []api.InstanceActivity{{ID: inst.ID, InFlight: 1, LastUsed: time.Now()}})
			time.Sleep(250 * time.Millisecond)
		}
		if countReady(m) != 1 {
			t.Fatalf("a busy instance was reaped")
		}
	})
	t.Run("Crash", func(t *testing.T) {
		m, rt, _ := setup(t, &fakeLoader{}, nil)
		events := watch(t, m)
		inst, err := m.GetInstance(context.Background(), api.InstanceRequest{Function: "hello"})
		if err != nil {
			t.Fatal(err)
		}
		rt.mu.Lock()
		for _, p := range rt.procs {
			if p.Address() == inst.Address {
				p.kill()
			}
		}
		rt.mu.Unlock()
		ev := nextEvent(t, events, 2*time.Second)
		if ev.Instance.ID != inst.ID || ev.Reason != api.ReasonCrash {
			t.Fatalf("got %+v, want crash removal of %s", ev, inst.ID)
		}
		next, err := m.GetInstance(context.Background(), api.InstanceRequest{Function: "hello"})
		if err != nil || next.ID == inst.ID {
			t.Fatalf("got %v, %v; want a new instance after the crash", next, err)
		}
	})
	t.Run("FunctionUpdated", func(t *testing.T) {
		m, _, objs := setup(t, &fakeLoader{}, nil)
		events := watch(t, m)
		inst, err := m.GetInstance(context.Background(), api.InstanceRequest{Function: "hello"})
		if err != nil {
			t.Fatal(err)
		}
		old := objs.fn
		updated := *old
		updated.Metadata.ResourceVersion = "3"
		objs.fn = &updated
		m.OnChange(client.Change{Kind: api.KindFunction, Old: old, New: &updated})
		ev := nextEvent(t, events, 2*time.Second)
		if ev.Instance.ID != inst.ID || ev.Reason != api.ReasonUpdated {
			t.Fatalf("got %+v, want updated removal of %s", ev, inst.ID)
		}
		next, err := m.GetInstance(context.Background(), api.InstanceRequest{Function: "hello"})
		if err != nil || next.ResourceVersion != "3" {
			t.Fatalf("got %v, %v; want an instance at version 3", next, err)
		}
		// The retired instance is stopped once routers report it quiet.
		_ = m.ReportActivity(context.Background(), []api.InstanceActivity{{ID: inst.ID}})
		waitFor(t, func() bool {
			list, _ := m.ListInstances(context.Background())
			for _, i := range list {
				if i.ID == inst.ID {
					return false
				}
			}
			return true
		})
	})
}

// TestManager_WatchStartsSynced checks that a watch begins with every
// instance alive at that moment, so a router that reconnects can forget
// only those gone while it was away.
func TestManager_WatchStartsSynced(t *testing.T) {
	m, _, _ := setup(t, &fakeLoader{}, nil)
	inst, err := m.GetInstance(context.Background(), api.InstanceRequest{Function: "hello"})
	if err != nil {
		t.Fatalf("GetInstance: %v", err)
	}
	before, _ := m.ListInstances(context.Background()) // the pool may start more meanwhile, none goes
	ch := make(chan api.InstanceEvent, 1)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = m.WatchInstances(ctx, func(ev api.InstanceEvent) error { ch <- ev; return nil }) }()
	ev := nextEvent(t, ch, 5*time.Second)
	if ev.Type != api.EventSynced {
		t.Fatalf("first event: got %+v, want %s", ev, api.EventSynced)
	}
	for _, in := range before {
		if !slices.Contains(ev.Live, in.ID) {
			t.Errorf("the first event lists %v, without %s (%s)", ev.Live, in.ID, in.State)
		}
	}
	if !slices.Contains(ev.Live, inst.ID) {
		t.Errorf("the first event lists %v, without the function's instance %s", ev.Live, inst.ID)
	}
}

func watch(t *testing.T, m *Manager) <-chan api.InstanceEvent {
	t.Helper()
	ch := make(chan api.InstanceEvent, 16)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	go func() {
		_ = m.WatchInstances(ctx, func(ev api.InstanceEvent) error { ch <- ev; return nil })
	}()
	if ev := nextEvent(t, ch, 5*time.Second); ev.Type != api.EventSynced {
		t.Fatalf("first event of a watch: got %+v, want %s", ev, api.EventSynced)
	}
	return ch
}

func nextEvent(t *testing.T, ch <-chan api.InstanceEvent, d time.Duration) api.InstanceEvent {
	t.Helper()
	select {
	case ev := <-ch:
		return ev
	case <-time.After(d):
		t.Fatalf("no instance event within %s", d)
		return api.InstanceEvent{}
	}
}

func countReady(m *Manager) int {
	list, _ := m.ListInstances(context.Background())
	n := 0
	for _, i := range list {
		if i.State == api.StateReady {
			n++
		}
	}
	return n
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 5 s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
