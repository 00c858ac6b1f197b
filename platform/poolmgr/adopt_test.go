package poolmgr

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/lantern-faas/lantern/platform/api"
	"github.com/lantern-faas/lantern/platform/client"
	"github.com/lantern-faas/lantern/platform/instance"
)

// adoptingRuntime hands over instances of a previous run.
type adoptingRuntime struct {
	fakeRuntime
	prev []instance.Adopted
}

func (r *adoptingRuntime) Adopt() []instance.Adopted { p := r.prev; r.prev = nil; return p }

func newFakeProc() *fakeProc {
	return &fakeProc{srv: httptest.NewServer(http.NotFoundHandler()), done: make(chan struct{})}
}

func TestManager_Adopt(t *testing.T) {
	env := &api.Environment{Metadata: api.Metadata{Name: "py", UID: "e", Generation: 1, ResourceVersion: "1"}, Spec: api.EnvironmentSpec{Runtime: "python", Poolsize: 1}}
	fn := &api.Function{Metadata: api.Metadata{Name: "hello", UID: "f", Generation: 3, ResourceVersion: "9"}, Spec: api.FunctionSpec{Environment: "py"}}
	fn.SetDefaults()
	idle, ready, stale, orphan, gone := newFakeProc(), newFakeProc(), newFakeProc(), newFakeProc(), newFakeProc()
	rt := &adoptingRuntime{prev: []instance.Adopted{
		{ID: "idle", Process: idle, EnvNamespace: "default", EnvName: "py", EnvVersion: "e/1"},
		{ID: "ready", Process: ready, EnvNamespace: "default", EnvName: "py", EnvVersion: "e/1", FunctionName: "hello", FunctionVersion: "f/3"},
		// Specialized for an older spec of hello: never handed out.
		{ID: "stale", Process: stale, EnvNamespace: "default", EnvName: "py", EnvVersion: "e/1", FunctionName: "hello", FunctionVersion: "f/2"},
		// Of a function that is deleted after the restart.
		{ID: "orphan", Process: orphan, EnvNamespace: "default", EnvName: "py", EnvVersion: "e/1", FunctionName: "bye", FunctionVersion: "b/1"},
		// Of an environment whose spec changed since.
		{ID: "gone", Process: gone, EnvNamespace: "default", EnvName: "py", EnvVersion: "e/0"},
	}}
	env.Metadata.Namespace, fn.Metadata.Namespace = "default", "default"
	loader := &fakeLoader{}
	m := New(Config{ReapInterval: 50 * time.Millisecond, StopGrace: time.Millisecond, KeepOnShutdown: true}, rt, loader, &fakeObjects{env: env, fn: fn}, nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = m.Run(ctx); close(done) }()

	m.OnChange(client.Change{Kind: api.KindEnvironment, New: env})
	m.OnChange(client.Change{Kind: api.KindFunction, New: fn})
	bye := &api.Function{Metadata: api.Metadata{Name: "bye", Namespace: "default"}, Spec: api.FunctionSpec{Environment: "py"}}
	m.OnChange(client.Change{Kind: api.KindFunction, Old: bye})

	if rt.started.Load() != 0 {
		t.Fatalf("instances started: got %d, want 0 (the pool of 1 has the adopted idle one)", rt.started.Load())
	}
	in, err := m.GetInstance(ctx, api.InstanceRequest{Namespace: "default", Function: "hello"})
	if err != nil || in.ID != "ready" {
		t.Fatalf("GetInstance: got %+v, %v; want the adopted instance \"ready\"", in, err)
	}
	if n := loader.specializes.Load(); n != 0 {
		t.Fatalf("specializations: got %d, want 0", n)
	}
	// The deleted function's instance is stopped at once.
	select {
	case <-orphan.done:
	case <-time.After(5 * time.Second):
		t.Fatal("the instance of the deleted function bye was not stopped")
	}
	for name, p := range map[string]*fakeProc{"idle": idle, "ready": ready} {
		select {
		case <-p.done:
			t.Fatalf("adopted instance %s was stopped", name)
		default:
		}
	}
	// KeepOnShutdown: the adopted instances outlive the manager.
	cancel()
	<-done
	for name, p := range map[string]*fakeProc{"idle": idle, "ready": ready} {
		select {
		case <-p.done:
			t.Fatalf("instance %s stopped at shutdown, want it kept for the next run", name)
		default:
		}
		p.kill()
	}
	stale.kill()
	gone.kill()
}
