package client_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/lantern-faas/lantern/platform/api"
	"github.com/lantern-faas/lantern/platform/client"
	"github.com/lantern-faas/lantern/platform/controller"
	"github.com/lantern-faas/lantern/platform/store/boltstore"
)

// gate refuses watch requests while closed, so a test can change objects
// while an informer is certainly disconnected.
type gate struct {
	next    http.Handler
	closed  atomic.Bool
	refused atomic.Int32 // watch requests refused
}

func (g *gate) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/v1/watch" && g.closed.Load() {
		g.refused.Add(1)
		http.Error(w, "gate closed", http.StatusServiceUnavailable)
		return
	}
	g.next.ServeHTTP(w, r)
}

// newController serves a controller over a fresh store behind a gate.
func newController(t *testing.T) (*httptest.Server, *gate, *client.Controller) {
	t.Helper()
	st, err := boltstore.Open(filepath.Join(t.TempDir(), "state.db"), &boltstore.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	g := &gate{next: controller.New(controller.Config{}, st, nil).Handler()}
	srv := httptest.NewServer(g)
	t.Cleanup(func() {
		srv.Close()
		st.Close()
	})
	return srv, g, client.NewController(srv.URL, nil)
}

// change is a client.Change reduced to comparable values.
type change struct {
	Kind, Name     string
	OldRV, NewRV   string // "" for a missing side
	OldNil, NewNil bool
}

func reduce(ch client.Change) change {
	c := change{Kind: ch.Kind, OldNil: ch.Old == nil, NewNil: ch.New == nil}
	if ch.Old != nil {
		c.Name, c.OldRV = ch.Old.GetMetadata().Name, ch.Old.GetMetadata().ResourceVersion
	}
	if ch.New != nil {
		c.Name, c.NewRV = ch.New.GetMetadata().Name, ch.New.GetMetadata().ResourceVersion
	}
	return c
}

// recorder collects the changes an informer reports.
type recorder struct {
	inf     *client.Informer // set before Run
	mu      sync.Mutex
	changes []change
	stale   []string // changes the informer's maps did not yet reflect
	notify  chan struct{}
}

func newRecorder() *recorder { return &recorder{notify: make(chan struct{}, 1000)} }

func (r *recorder) OnChange(ch client.Change) {
	c := reduce(ch)
	// The informer's maps must already hold the change.
	var inMap string
	switch ch.Kind {
	case api.KindEnvironment:
		inMap = rvOf(r.inf.Environment("default", c.Name))
	case api.KindFunction:
		inMap = rvOf(r.inf.Function("default", c.Name))
	case api.KindHTTPTrigger:
		for _, tr := range r.inf.HTTPTriggers() {
			if tr.Metadata.Name == c.Name {
				inMap = tr.Metadata.ResourceVersion
			}
		}
	}
	r.mu.Lock()
	r.changes = append(r.changes, c)
	if inMap != c.NewRV {
		r.stale = append(r.stale, fmt.Sprintf("%+v: map holds resourceVersion %q", c, inMap))
	}
	r.mu.Unlock()
	r.notify <- struct{}{}
}

// wait returns the changes once there are n of them (in arrival order) and
// resets the list.
func (r *recorder) wait(t *testing.T, n int) []change {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		r.mu.Lock()
		if len(r.changes) >= n {
			got := r.changes
			r.changes = nil
			r.mu.Unlock()
			return got
		}
		r.mu.Unlock()
		select {
		case <-r.notify:
		case <-timeout:
			r.mu.Lock()
			defer r.mu.Unlock()
			t.Fatalf("changes: got %+v, want %d", r.changes, n)
		}
	}
}

// cmpSortChanges ignores the order of changes, which a resync does not define.
var cmpSortChanges = cmpopts.SortSlices(func(a, b change) bool { return a.Kind+"/"+a.Name < b.Kind+"/"+b.Name })

func mustCreate(t *testing.T, c *client.Controller, objs ...api.Object) {
	t.Helper()
	for _, o := range objs {
		if err := c.Create(t.Context(), o); err != nil {
			t.Fatalf("Create %s %s: got %v, want nil", o.GetKind(), o.GetMetadata().Name, err)
		}
	}
}

func env(name string) *api.Environment {
	return &api.Environment{Metadata: api.Metadata{Name: name}, Spec: api.EnvironmentSpec{Runtime: "python"}}
}

func fn(name string) *api.Function {
	return &api.Function{Metadata: api.Metadata{Name: name}, Spec: api.FunctionSpec{Environment: "python"},
		Code: &api.Code{Filename: "f.py", Data: []byte("x")}}
}

func trigger(name, fn string) *api.HTTPTrigger {
	return &api.HTTPTrigger{Metadata: api.Metadata{Name: name},
		Spec: api.HTTPTriggerSpec{RelativeURL: "/" + name, FunctionRef: api.FunctionRef{Name: fn}}}
}

// startInformer runs an informer over c until the test ends and waits for
// its first sync.
func startInformer(t *testing.T, c *client.Controller, rec *recorder) *client.Informer {
	t.Helper()
	inf := client.NewInformer(c, nil)
	rec.inf = inf
	inf.OnChange(rec.OnChange)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- inf.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		rec.mu.Lock()
		for _, s := range rec.stale {
			t.Errorf("OnChange before the maps reflected the change: %s", s)
		}
		rec.mu.Unlock()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run after cancel: got %v, want nil", err)
			}
		case <-time.After(5 * time.Second):
			t.Errorf("Run after cancel: still running after 5s")
		}
	})
	wctx, wcancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer wcancel()
	if err := inf.WaitSynced(wctx); err != nil {
		t.Fatalf("WaitSynced: got %v, want nil", err)
	}
	return inf
}

func TestInformer_Sync(t *testing.T) {
	_, _, c := newController(t)
	e, f, tr := env("python"), fn("hello"), trigger("hello", "hello")
	mustCreate(t, c, e, f, tr)
	rec := newRecorder()
	inf := startInformer(t, c, rec)

	// Synced means the maps are complete and the handlers have run.
	want := []change{
		{Kind: api.KindEnvironment, Name: "python", NewRV: e.Metadata.ResourceVersion, OldNil: true},
		{Kind: api.KindFunction, Name: "hello", NewRV: f.Metadata.ResourceVersion, OldNil: true},
		{Kind: api.KindHTTPTrigger, Name: "hello", NewRV: tr.Metadata.ResourceVersion, OldNil: true},
	}
	if diff := cmp.Diff(want, rec.wait(t, 3)); diff != "" {
		t.Errorf("initial changes (-want +got):\n%s", diff)
	}
	tests := []struct {
		name      string
		got, want any
	}{
		{"Environment", rvOf(inf.Environment("default", "python")), e.Metadata.ResourceVersion},
		{"Function", rvOf(inf.Function("default", "hello")), f.Metadata.ResourceVersion},
		{"FunctionOtherNamespace", rvOf(inf.Function("other", "hello")), ""},
		{"Functions", len(inf.Functions()), 1},
		{"HTTPTriggers", len(inf.HTTPTriggers()), 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, tt.got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

// rvOf returns an object's resource version, "" for nil.
func rvOf[T any, P interface {
	*T
	api.Object
}](o P) string {
	if o == nil {
		return ""
	}
	return o.GetMetadata().ResourceVersion
}

func TestInformer_Changes(t *testing.T) {
	_, _, c := newController(t)
	ctx := t.Context()
	mustCreate(t, c, env("python"))
	rec := newRecorder()
	inf := startInformer(t, c, rec)
	rec.wait(t, 1)

	f := fn("hello")
	mustCreate(t, c, f)
	got := rec.wait(t, 1)
	want := []change{{Kind: api.KindFunction, Name: "hello", NewRV: f.Metadata.ResourceVersion, OldNil: true}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("create (-want +got):\n%s", diff)
	}

	upd := fn("hello")
	upd.Spec.FunctionTimeout = 7
	if err := c.Update(ctx, upd); err != nil {
		t.Fatal(err)
	}
	want = []change{{Kind: api.KindFunction, Name: "hello", OldRV: f.Metadata.ResourceVersion, NewRV: upd.Metadata.ResourceVersion}}
	if diff := cmp.Diff(want, rec.wait(t, 1)); diff != "" {
		t.Errorf("update (-want +got):\n%s", diff)
	}
	if got := inf.Function("default", "hello"); got == nil || got.Spec.FunctionTimeout != 7 {
		t.Errorf("Function after update: got %+v, want functionTimeout 7", got)
	}

	if err := c.Delete(ctx, api.KindFunction, "default", "hello"); err != nil {
		t.Fatal(err)
	}
	want = []change{{Kind: api.KindFunction, Name: "hello", OldRV: upd.Metadata.ResourceVersion, NewNil: true}}
	if diff := cmp.Diff(want, rec.wait(t, 1)); diff != "" {
		t.Errorf("delete (-want +got):\n%s", diff)
	}
	if got := inf.Function("default", "hello"); got != nil {
		t.Errorf("Function after delete: got %+v, want nil", got)
	}
}

func TestInformer_Reconnect(t *testing.T) {
	srv, g, c := newController(t)
	ctx := t.Context()
	e, f, gone, tr := env("python"), fn("hello"), fn("gone"), trigger("hello", "hello")
	mustCreate(t, c, e, f, gone, tr)
	rec := newRecorder()
	inf := startInformer(t, c, rec)
	rec.wait(t, 4)

	// Break the stream and keep the informer out while things change.
	g.closed.Store(true)
	srv.CloseClientConnections()
	if err := c.Delete(ctx, api.KindFunction, "default", "gone"); err != nil {
		t.Fatal(err)
	}
	updEnv := env("python")
	updEnv.Spec.Poolsize = 1
	if err := c.Update(ctx, updEnv); err != nil {
		t.Fatal(err)
	}
	added := fn("added")
	mustCreate(t, c, added)
	for deadline := time.Now().Add(5 * time.Second); g.refused.Load() == 0; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("informer did not try to reconnect within 5s")
		}
	}
	rec.mu.Lock()
	early := rec.changes
	rec.mu.Unlock()
	if len(early) != 0 {
		t.Errorf("changes while disconnected: got %+v, want none", early)
	}
	g.closed.Store(false)

	// The resync reports what happened meanwhile, and only that.
	got := rec.wait(t, 3)
	want := []change{
		{Kind: api.KindEnvironment, Name: "python", OldRV: e.Metadata.ResourceVersion, NewRV: updEnv.Metadata.ResourceVersion},
		{Kind: api.KindFunction, Name: "added", NewRV: added.Metadata.ResourceVersion, OldNil: true},
		{Kind: api.KindFunction, Name: "gone", OldRV: gone.Metadata.ResourceVersion, NewNil: true},
	}
	if diff := cmp.Diff(want, got, cmpSortChanges); diff != "" {
		t.Errorf("changes after reconnect (-want +got):\n%s", diff)
	}
	if got := inf.Function("default", "gone"); got != nil {
		t.Errorf("Function(gone) after resync: got %+v, want nil", got)
	}
	if got, want := rvOf(inf.Function("default", "hello")), f.Metadata.ResourceVersion; got != want {
		t.Errorf("Function(hello) resourceVersion after resync: got %q, want %q", got, want)
	}

	// The new stream delivers later changes.
	if err := c.Delete(ctx, api.KindHTTPTrigger, "default", "hello"); err != nil {
		t.Fatal(err)
	}
	want = []change{{Kind: api.KindHTTPTrigger, Name: "hello", OldRV: tr.Metadata.ResourceVersion, NewNil: true}}
	if diff := cmp.Diff(want, rec.wait(t, 1)); diff != "" {
		t.Errorf("change after reconnect (-want +got):\n%s", diff)
	}
	time.Sleep(50 * time.Millisecond)
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if len(rec.changes) != 0 {
		t.Errorf("extra changes: got %+v, want none", rec.changes)
	}
}

func TestInformer_WaitFor(t *testing.T) {
	_, _, c := newController(t)
	ctx := t.Context()
	mustCreate(t, c, env("python"))
	rec := newRecorder()
	inf := client.NewInformer(c, nil)
	rec.inf = inf
	inf.OnChange(rec.OnChange)
	// hold keeps the handlers busy with function changes until released.
	hold := make(chan struct{})
	inf.OnChange(func(ch client.Change) {
		if ch.Kind == api.KindFunction {
			<-hold
		}
	})
	rctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go inf.Run(rctx)
	rec.wait(t, 1)

	// waitFor runs WaitFor in the background; the channel gets its result.
	waitFor := func(rv string, gone bool) <-chan error {
		v, err := strconv.ParseUint(rv, 10, 64)
		if err != nil {
			t.Fatalf("resource version %q: %v", rv, err)
		}
		done := make(chan error, 1)
		go func() { done <- inf.WaitFor(ctx, api.KindFunction, "default", "hello", v, gone) }()
		return done
	}
	// waitedOnHandlers checks that done stays open while the handlers are
	// held, and closes with nil once they are released.
	waitedOnHandlers := func(what string, done <-chan error) {
		t.Helper()
		select {
		case err := <-done:
			t.Fatalf("%s: WaitFor returned %v while a handler still ran", what, err)
		case <-time.After(100 * time.Millisecond):
		}
		hold <- struct{}{}
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("%s: WaitFor: got %v, want nil", what, err)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("%s: WaitFor still waiting 5s after the handlers ran", what)
		}
	}

	f := fn("hello")
	mustCreate(t, c, f)
	waitedOnHandlers("create", waitFor(f.Metadata.ResourceVersion, false))
	rec.wait(t, 1)
	// Seen already: at once, for that version or an earlier one.
	for _, rv := range []string{f.Metadata.ResourceVersion, "1"} {
		if err := <-waitFor(rv, false); err != nil {
			t.Errorf("WaitFor(version %s) after the handlers ran: got %v, want nil", rv, err)
		}
	}

	upd := fn("hello")
	upd.Spec.FunctionTimeout = 7
	if err := c.Update(ctx, upd); err != nil {
		t.Fatal(err)
	}
	waitedOnHandlers("update", waitFor(upd.Metadata.ResourceVersion, false))
	rec.wait(t, 1)

	if err := c.Delete(ctx, api.KindFunction, "default", "hello"); err != nil {
		t.Fatal(err)
	}
	waitedOnHandlers("delete", waitFor(upd.Metadata.ResourceVersion, true))
	rec.wait(t, 1)

	// A write the informer never gets: WaitFor ends with its context and
	// says what it waited for.
	short, cancelShort := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancelShort()
	err := inf.WaitFor(short, api.KindFunction, "default", "hello", 1000, false)
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "Function default/hello at version 1000") {
		t.Errorf("WaitFor(a version never written): got %v, want an error naming it, wrapping context.DeadlineExceeded", err)
	}
}
