package router

import (
	"context"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/lantern-faas/lantern/platform/api"
	"github.com/lantern-faas/lantern/platform/internal/httpx"
)

// backend is a cached instance with the router's in-flight count.
type backend struct {
	api.Instance
	inFlight int
	lastUsed time.Time
	gone     bool
}

// waiter is a request waiting for capacity.
type waiter struct {
	ch     chan waitResult
	served bool
	// trace is the waiting request's span: a cold start it triggers joins
	// that request's trace.
	trace trace.SpanContext
}

type waitResult struct {
	b   *backend
	err error
}

// balancer caches one function's instances and hands out capacity. The warm
// path takes only its mutex: no poolmgr round trip. When demand exceeds the
// capacity it has and is getting, it asks the poolmgr for exactly the
// instances that cover it, and serves waiters first come, first served as
// each instance arrives, so no caller waits for the slowest cold start.
type balancer struct {
	s *Server

	mu       sync.Mutex
	fn       *api.Function
	backends []*backend
	pending  int
	// grows are the scale-ups under way, oldest first; a grow no longer
	// needed (its waiters were served by freed capacity) is cancelled so
	// that a burst does not keep more instances than it needs.
	grows    []*growCall
	waiters  []*waiter
	reported time.Time
	// draining are dropped backends still serving requests; they are
	// reported until idle so the poolmgr can stop them promptly.
	draining []*backend
}

// acquire returns a backend with a free slot, waiting up to queueTimeout.
// hit reports a warm-path answer from the cache, without waiting.
func (b *balancer) acquire(ctx context.Context, fn *api.Function) (be *backend, hit bool, err error) {
	b.mu.Lock()
	if b.fn != fn && newer(fn.Metadata.ResourceVersion, b.fn.Metadata.ResourceVersion) {
		b.updateLocked(fn)
	}
	if be := b.pickLocked(); be != nil {
		be.inFlight++
		b.mu.Unlock()
		return be, true, nil
	}
	w := &waiter{ch: make(chan waitResult, 1), trace: trace.SpanContextFromContext(ctx)}
	b.waiters = append(b.waiters, w)
	b.scaleLocked()
	b.mu.Unlock()

	timer := time.NewTimer(b.s.cfg.QueueTimeout)
	defer timer.Stop()
	select {
	case res := <-w.ch:
		return res.b, false, res.err
	case <-ctx.Done():
		return nil, false, b.abandon(w, ctx.Err())
	case <-timer.C:
		b.mu.Lock()
		fn := b.fn
		b.mu.Unlock()
		return nil, false, b.abandon(w, httpx.Errorf(http.StatusTooManyRequests,
			"function %q has no free capacity: all %d instance(s) are busy (concurrency %d, %d request(s) per instance) and none freed up within %s",
			fn.Metadata.Name, len(b.backends), fn.Spec.Concurrency, fn.Spec.RequestsPerPod, b.s.cfg.QueueTimeout).
			WithHint("raise --concurrency or --requestsperpod"))
	}
}

// abandon withdraws a waiter; if it was served meanwhile, the slot it got is
// given back.
func (b *balancer) abandon(w *waiter, err error) error {
	b.mu.Lock()
	if !w.served {
		b.waiters = slices.DeleteFunc(b.waiters, func(x *waiter) bool { return x == w })
		b.mu.Unlock()
		return err
	}
	b.mu.Unlock()
	if res := <-w.ch; res.b != nil {
		b.release(res.b)
	}
	return err
}

// pickLocked returns the least loaded backend with a free slot.
func (b *balancer) pickLocked() *backend {
	rpp := b.fn.Spec.RequestsPerPod
	var best *backend
	for _, be := range b.backends {
		if be.inFlight < rpp && (best == nil || be.inFlight < best.inFlight) {
			best = be
			if be.inFlight == 0 {
				break
			}
		}
	}
	return best
}

// scaleLocked asks for as many instances as the waiters not covered by free
// or coming capacity need, up to the function's concurrency.
func (b *balancer) scaleLocked() {
	rpp, conc := b.fn.Spec.RequestsPerPod, b.fn.Spec.Concurrency
	need := len(b.waiters) - b.pending*rpp
	for _, be := range b.backends {
		need -= rpp - be.inFlight
	}
	for need > 0 && len(b.backends)+b.pending < conc {
		b.pending++
		// The newest uncovered waiter asked for this instance; the call is
		// not tied to its request: every waiter benefits from the instance.
		parent := b.waiters[len(b.waiters)-need].trace
		ctx, cancel := context.WithTimeout(trace.ContextWithSpanContext(context.Background(), parent),
			b.fn.Spec.SpecializationTimeoutDuration()+5*time.Second)
		g := &growCall{cancel: cancel}
		b.grows = append(b.grows, g)
		go b.grow(ctx, g)
		need -= rpp
	}
}

// growCall is one scale-up under way.
type growCall struct {
	cancel    context.CancelFunc
	cancelled bool
}

// trimLocked cancels the newest scale-ups that no waiter needs any more.
func (b *balancer) trimLocked() {
	rpp := b.fn.Spec.RequestsPerPod
	uncovered := len(b.waiters)
	for _, be := range b.backends {
		uncovered -= rpp - be.inFlight
	}
	for len(b.grows) > 0 && (b.pending-1)*rpp >= uncovered {
		g := b.grows[len(b.grows)-1]
		b.grows = b.grows[:len(b.grows)-1]
		g.cancelled = true
		g.cancel()
		b.pending--
	}
}

// grow gets one more instance from the poolmgr and hands it to waiters.
func (b *balancer) grow(ctx context.Context, g *growCall) {
	defer g.cancel()
	b.mu.Lock()
	fn := b.fn
	exclude := make([]string, 0, len(b.backends))
	for _, be := range b.backends {
		exclude = append(exclude, be.ID)
	}
	b.mu.Unlock()
	inst, err := b.s.instances.GetInstance(ctx, api.InstanceRequest{
		Namespace: fn.Metadata.Namespace, Function: fn.Metadata.Name, Exclude: exclude,
	})

	b.mu.Lock()
	defer b.mu.Unlock()
	if g.cancelled {
		if err != nil {
			return // withdrawn: nobody waits for it
		}
	} else {
		b.pending--
		b.grows = slices.DeleteFunc(b.grows, func(x *growCall) bool { return x == g })
	}
	if err != nil {
		b.failLocked(err)
		return
	}
	if newer(b.fn.Metadata.ResourceVersion, inst.ResourceVersion) {
		// The function changed while this instance loaded, or the poolmgr
		// has not seen the change yet: ask again shortly.
		b.pending++
		go func() {
			time.Sleep(20 * time.Millisecond)
			b.mu.Lock()
			b.pending--
			b.scaleLocked()
			b.mu.Unlock()
		}()
		return
	}
	if !slices.ContainsFunc(b.backends, func(x *backend) bool { return x.ID == inst.ID }) {
		b.backends = append(b.backends, &backend{Instance: *inst, lastUsed: time.Now()})
	}
	b.dispatchLocked()
	b.trimLocked()
	b.scaleLocked()
}

// failLocked gives a failed scale-up's error to the waiters it was for.
func (b *balancer) failLocked(err error) {
	rpp := b.fn.Spec.RequestsPerPod
	covered := b.pending * rpp
	for _, be := range b.backends {
		covered += rpp - be.inFlight
	}
	n := min(len(b.waiters)-covered, rpp)
	if len(b.backends) == 0 && b.pending == 0 {
		n = len(b.waiters) // nothing else will ever serve them
	}
	for i := 0; i < n && len(b.waiters) > 0; i++ {
		w := b.waiters[0]
		b.waiters = b.waiters[1:]
		w.served = true
		w.ch <- waitResult{err: err}
	}
}

// dispatchLocked hands free slots to waiters in arrival order.
func (b *balancer) dispatchLocked() {
	for len(b.waiters) > 0 {
		be := b.pickLocked()
		if be == nil {
			return
		}
		be.inFlight++
		w := b.waiters[0]
		b.waiters = b.waiters[1:]
		w.served = true
		w.ch <- waitResult{b: be}
	}
}

// release returns a slot.
func (b *balancer) release(be *backend) {
	b.mu.Lock()
	be.inFlight--
	be.lastUsed = time.Now()
	if !be.gone {
		b.dispatchLocked()
		if len(b.grows) > 0 {
			b.trimLocked()
		}
	}
	b.mu.Unlock()
}

// drop forgets an instance (gone, crashed or retired) and replaces its
// capacity for anyone waiting.
func (b *balancer) drop(id string) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	found := false
	b.backends = slices.DeleteFunc(b.backends, func(be *backend) bool {
		if be.ID == id {
			found = true
			b.retireLocked(be)
			return true
		}
		return false
	})
	if found && len(b.waiters) > 0 {
		b.scaleLocked()
	}
	return found
}

// update takes a changed function: instances of an older version are
// dropped, and waiters are served by the new one.
func (b *balancer) update(fn *api.Function) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.updateLocked(fn)
}

func (b *balancer) updateLocked(fn *api.Function) {
	b.fn = fn
	b.backends = slices.DeleteFunc(b.backends, func(be *backend) bool {
		if newer(fn.Metadata.ResourceVersion, be.ResourceVersion) {
			b.retireLocked(be)
			return true
		}
		return false
	})
	b.dispatchLocked()
	if len(b.waiters) > 0 {
		b.scaleLocked()
	}
}

// close fails every waiter of a deleted function.
func (b *balancer) close(err error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, w := range b.waiters {
		w.served = true
		w.ch <- waitResult{err: err}
	}
	b.waiters = nil
	for _, be := range b.backends {
		b.retireLocked(be)
	}
	b.backends = nil
}

func (b *balancer) retireLocked(be *backend) {
	be.gone = true
	if be.inFlight > 0 {
		b.draining = append(b.draining, be)
	}
}

// activity lists what to report to the poolmgr since the last report.
func (b *balancer) activity(now time.Time, out []api.InstanceActivity) []api.InstanceActivity {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, be := range b.backends {
		if be.inFlight > 0 || be.lastUsed.After(b.reported) {
			out = append(out, api.InstanceActivity{ID: be.ID, InFlight: be.inFlight, LastUsed: be.lastUsed})
		}
	}
	b.draining = slices.DeleteFunc(b.draining, func(be *backend) bool {
		out = append(out, api.InstanceActivity{ID: be.ID, InFlight: be.inFlight, LastUsed: be.lastUsed})
		return be.inFlight == 0
	})
	b.reported = now
	return out
}

// errFunctionDeleted answers the calls that waited for a function that was
// deleted meanwhile.
var errFunctionDeleted = &httpx.Error{Status: http.StatusNotFound, Code: "not_found", Message: "the function was deleted while the call waited for an instance"}

// newer reports whether resource version a is later than b. Versions are
// the store's increasing counters.
func newer(a, b string) bool {
	x, errA := strconv.ParseUint(a, 10, 64)
	y, errB := strconv.ParseUint(b, 10, 64)
	if errA != nil || errB != nil {
		return a != b
	}
	return x > y
}
