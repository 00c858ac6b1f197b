package controller_test

import (
	"context"
	"errors"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/lantern-faas/lantern/platform/api"
	"github.com/lantern-faas/lantern/platform/client"
	"github.com/lantern-faas/lantern/platform/controller"
	"github.com/lantern-faas/lantern/platform/store/boltstore"
)

// seenCall is one WaitFor call.
type seenCall struct {
	Kind, Namespace, Name string
	RV                    uint64
	Gone                  bool
}

// fakeSeen records WaitFor calls and holds each until released, or fails
// them at once with err.
type fakeSeen struct {
	mu      sync.Mutex
	calls   []seenCall
	release chan struct{}
	err     error
}

func (f *fakeSeen) WaitFor(ctx context.Context, kind, ns, name string, rv uint64, gone bool) error {
	f.mu.Lock()
	f.calls = append(f.calls, seenCall{kind, ns, name, rv, gone})
	f.mu.Unlock()
	if f.err != nil {
		return f.err
	}
	select {
	case <-f.release:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (f *fakeSeen) take() []seenCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	c := f.calls
	f.calls = nil
	return c
}

func newSeenServer(t *testing.T, seen controller.Seen) *client.Controller {
	t.Helper()
	st, err := boltstore.Open(filepath.Join(t.TempDir(), "state.db"), &boltstore.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(controller.New(controller.Config{}, st, nil, controller.WithSeen(seen)).Handler())
	t.Cleanup(func() {
		srv.Close()
		st.Close()
	})
	return client.NewController(srv.URL, nil)
}

func rvNumber(t *testing.T, m *api.Metadata) uint64 {
	t.Helper()
	v, err := strconv.ParseUint(m.ResourceVersion, 10, 64)
	if err != nil {
		t.Fatalf("resourceVersion %q: %v", m.ResourceVersion, err)
	}
	return v
}

// TestController_WithSeen checks that a write is answered only once the
// components have seen it, and that nothing else waits.
func TestController_WithSeen(t *testing.T) {
	seen := &fakeSeen{release: make(chan struct{})}
	c := newSeenServer(t, seen)
	ctx := t.Context()

	// write runs fn in the background, checks that it is not answered while
	// WaitFor holds it, releases it, and returns the calls made.
	write := func(what string, fn func() error) []seenCall {
		t.Helper()
		done := make(chan error, 1)
		go func() { done <- fn() }()
		select {
		case err := <-done:
			t.Fatalf("%s: answered (%v) before the components saw it", what, err)
		case <-time.After(100 * time.Millisecond):
		}
		seen.release <- struct{}{}
		if err := <-done; err != nil {
			t.Fatalf("%s: got %v, want nil", what, err)
		}
		return seen.take()
	}

	env := newEnv("default", "python")
	got := write("create", func() error { return c.Create(ctx, env) })
	want := []seenCall{{api.KindEnvironment, "default", "python", rvNumber(t, &env.Metadata), false}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("create: WaitFor calls (-want +got):\n%s", diff)
	}

	upd := newEnv("default", "python")
	upd.Spec.Poolsize = 2
	got = write("update", func() error { return c.Update(ctx, upd) })
	want = []seenCall{{api.KindEnvironment, "default", "python", rvNumber(t, &upd.Metadata), false}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("update: WaitFor calls (-want +got):\n%s", diff)
	}

	got = write("delete", func() error { return c.Delete(ctx, api.KindEnvironment, "default", "python") })
	want = []seenCall{{api.KindEnvironment, "default", "python", rvNumber(t, &upd.Metadata), true}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("delete: WaitFor calls (-want +got):\n%s", diff)
	}

	// Refused writes and reads wait for nothing.
	if err := c.Create(ctx, newEnv("default", "Bad_Name")); err == nil {
		t.Error("create with an invalid name: got nil, want an error")
	}
	if err := c.Delete(ctx, api.KindEnvironment, "default", "python"); err == nil {
		t.Error("delete of a deleted environment: got nil, want an error")
	}
	if _, err := c.ListEnvironments(ctx, "default"); err != nil {
		t.Fatal(err)
	}
	if got := seen.take(); len(got) != 0 {
		t.Errorf("WaitFor calls for refused writes and reads: got %+v, want none", got)
	}
}

// TestController_WithSeen_Fails checks that a write the components do not
// see in time is answered anyway, and kept.
func TestController_WithSeen_Fails(t *testing.T) {
	seen := &fakeSeen{err: errors.New("watch broken")}
	c := newSeenServer(t, seen)
	ctx := t.Context()
	if err := c.Create(ctx, newEnv("default", "python")); err != nil {
		t.Fatalf("create while the components lag: got %v, want nil", err)
	}
	var got api.Environment
	if err := c.Get(ctx, "default", "python", &got); err != nil {
		t.Errorf("Get after the create: got %v, want nil", err)
	}
	if n := len(seen.take()); n != 1 {
		t.Errorf("WaitFor calls: got %d, want 1", n)
	}
}
