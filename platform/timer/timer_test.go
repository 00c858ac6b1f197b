package timer

import (
	"context"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/lantern-faas/lantern/platform/api"
	"github.com/lantern-faas/lantern/platform/client"
)

// fakeObjects is a settable list of timers, synced from the start.
type fakeObjects struct {
	mu     sync.Mutex
	timers []*api.TimeTrigger
	synced chan struct{}
}

var _ Objects = (*fakeObjects)(nil)

func newFakeObjects(ts ...*api.TimeTrigger) *fakeObjects {
	o := &fakeObjects{timers: ts, synced: make(chan struct{})}
	close(o.synced)
	return o
}

func (o *fakeObjects) TimeTriggers() []*api.TimeTrigger {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]*api.TimeTrigger(nil), o.timers...)
}

func (o *fakeObjects) Synced() <-chan struct{} { return o.synced }

func (o *fakeObjects) set(ts ...*api.TimeTrigger) {
	o.mu.Lock()
	o.timers = ts
	o.mu.Unlock()
}

// fakeCaller records calls; hold, if set, is how long each call takes.
type fakeCaller struct {
	mu    sync.Mutex
	calls []client.Call
	hold  time.Duration
	got   chan client.Call
}

func newFakeCaller() *fakeCaller { return &fakeCaller{got: make(chan client.Call, 100)} }

func (c *fakeCaller) Call(ctx context.Context, call client.Call) (client.Result, error) {
	c.mu.Lock()
	c.calls = append(c.calls, call)
	hold := c.hold
	c.mu.Unlock()
	c.got <- call
	select {
	case <-time.After(hold):
	case <-ctx.Done():
		return client.Result{}, ctx.Err()
	}
	return client.Result{Status: http.StatusOK}, nil
}

func (c *fakeCaller) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.calls)
}

func newTimer(name, cron string) *api.TimeTrigger {
	t := &api.TimeTrigger{Metadata: api.Metadata{Name: name, UID: "uid-" + name, ResourceVersion: "1"},
		Spec: api.TimeTriggerSpec{Cron: cron, FunctionRef: api.FunctionRef{Name: "fn"}, Subpath: "/tick", Method: "PUT"}}
	t.SetDefaults()
	return t
}

func startManager(t *testing.T, dir string, objs Objects, caller Caller, reg prometheus.Registerer) (*Manager, func()) {
	t.Helper()
	m, err := New(Config{Dir: dir}, objs, caller, nil, WithRegisterer(reg))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	stop := func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}
	t.Cleanup(func() {
		select {
		case <-ctx.Done():
		default:
			stop()
		}
	})
	return m, stop
}

func waitCall(t *testing.T, c *fakeCaller, within time.Duration) client.Call {
	t.Helper()
	select {
	case call := <-c.got:
		return call
	case <-time.After(within):
		t.Fatalf("no call within %v", within)
		return client.Call{}
	}
}

func TestManager_FiresOnSchedule(t *testing.T) {
	caller := newFakeCaller()
	_, _ = startManager(t, t.TempDir(), newFakeObjects(newTimer("every-second", "* * * * * *")), caller, prometheus.NewRegistry())
	first := waitCall(t, caller, 2500*time.Millisecond)
	second := waitCall(t, caller, 1500*time.Millisecond)
	if first.Function != "fn" || first.Namespace != "default" || first.Method != "PUT" || first.Subpath != "/tick" || first.Trigger != "timer" {
		t.Errorf("call = %+v, want PUT default/fn /tick with trigger timer", first)
	}
	if first.Header.Get(NameHeader) != "every-second" || first.Header.Get(client.RequestIDHeader) == "" {
		t.Errorf("headers = %v, want the timer's name and a request ID", first.Header)
	}
	t1, err1 := time.Parse(time.RFC3339Nano, first.Header.Get(TickHeader))
	t2, err2 := time.Parse(time.RFC3339Nano, second.Header.Get(TickHeader))
	if err1 != nil || err2 != nil || t2.Sub(t1) != time.Second {
		t.Errorf("ticks %v, %v (%v, %v): want one second apart", t1, t2, err1, err2)
	}
}

func TestManager_SkipsWhileRunning(t *testing.T) {
	caller := newFakeCaller()
	caller.hold = 2200 * time.Millisecond
	reg := prometheus.NewRegistry()
	m, _ := startManager(t, t.TempDir(), newFakeObjects(newTimer("slow", "* * * * * *")), caller, reg)
	waitCall(t, caller, 2500*time.Millisecond)
	time.Sleep(2 * time.Second)
	if n := caller.count(); n != 1 {
		t.Fatalf("%d calls while the first one was still going, want 1", n)
	}
	if skipped := testutil.ToFloat64(m.metrics.skipped.WithLabelValues("default", "slow")); skipped < 1 {
		t.Errorf("lantern_timer_skipped_ticks_total = %v, want at least 1", skipped)
	}
	waitCall(t, caller, 2*time.Second) // fires again once the run ended
}

func TestManager_NeverFiresATickTwice(t *testing.T) {
	dir := t.TempDir()
	tm := newTimer("once", "* * * * * *")
	caller := newFakeCaller()
	_, stop := startManager(t, dir, newFakeObjects(tm), caller, prometheus.NewRegistry())
	first := waitCall(t, caller, 2500*time.Millisecond)
	stop()
	// Pretend the last run fired a tick in the future (the clock went
	// back): the restarted manager must not fire that tick or any before.
	tk, err := openTicks(dir)
	if err != nil {
		t.Fatal(err)
	}
	future := time.Now().Truncate(time.Second).Add(2 * time.Second).UTC()
	if ok, err := tk.claim(tm.Metadata.UID, future); !ok || err != nil {
		t.Fatalf("claim %v: %v %v", future, ok, err)
	}
	if ok, _ := tk.claim(tm.Metadata.UID, future); ok {
		t.Fatal("claimed the same tick twice")
	}
	_ = tk.close()

	caller2 := newFakeCaller()
	_, _ = startManager(t, dir, newFakeObjects(tm), caller2, prometheus.NewRegistry())
	next := waitCall(t, caller2, 4500*time.Millisecond)
	tick, _ := time.Parse(time.RFC3339Nano, next.Header.Get(TickHeader))
	firstTick, _ := time.Parse(time.RFC3339Nano, first.Header.Get(TickHeader))
	if !tick.After(future) || !tick.After(firstTick) {
		t.Fatalf("after the restart the first tick fired was %v, want one after %v", tick, future)
	}
}

func TestManager_FollowsChanges(t *testing.T) {
	caller := newFakeCaller()
	objs := newFakeObjects(newTimer("changing", "@every 1h"))
	m, _ := startManager(t, t.TempDir(), objs, caller, prometheus.NewRegistry())
	time.Sleep(1500 * time.Millisecond)
	if n := caller.count(); n != 0 {
		t.Fatalf("an hourly timer fired %d times", n)
	}
	fast := newTimer("changing", "* * * * * *")
	fast.Metadata.ResourceVersion = "2"
	objs.set(fast)
	m.OnChange(client.Change{Kind: api.KindTimeTrigger})
	waitCall(t, caller, 2500*time.Millisecond)

	objs.set()
	m.OnChange(client.Change{Kind: api.KindTimeTrigger})
	time.Sleep(200 * time.Millisecond)
	for len(caller.got) > 0 {
		<-caller.got
	}
	n := caller.count()
	time.Sleep(2 * time.Second)
	if got := caller.count(); got != n {
		t.Fatalf("a deleted timer fired %d more times", got-n)
	}
}

func TestManager_UpdateWhileRunning(t *testing.T) {
	caller := newFakeCaller()
	caller.hold = 2500 * time.Millisecond
	objs := newFakeObjects(newTimer("busy", "* * * * * *"))
	m, _ := startManager(t, t.TempDir(), objs, caller, prometheus.NewRegistry())
	waitCall(t, caller, 2500*time.Millisecond)
	changed := newTimer("busy", "* * * * * *")
	changed.Metadata.ResourceVersion = "2"
	objs.set(changed)
	m.OnChange(client.Change{Kind: api.KindTimeTrigger})
	time.Sleep(1800 * time.Millisecond)
	if n := caller.count(); n != 1 {
		t.Fatalf("%d calls: the updated timer started a run beside the one still going", n)
	}
}
