package poolmgr

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/lantern-faas/lantern/platform/api"
	"github.com/lantern-faas/lantern/platform/client"
	"github.com/lantern-faas/lantern/platform/instance"
	"github.com/lantern-faas/lantern/platform/internal/httpx"
	"github.com/lantern-faas/lantern/telemetry"
)

// Loader loads a function's code into an instance: Fetch places the package
// in the instance's code folder and returns the path to give the runtime;
// Specialize calls the runtime contract.
type Loader interface {
	Fetch(ctx context.Context, fn *api.Function, env *api.Environment, codeDir string) (string, error)
	Specialize(ctx context.Context, addr string, fn *api.Function, env *api.Environment, path string) error
}

// Objects is the read side of the controller's state the poolmgr needs;
// client.Informer satisfies it.
type Objects interface {
	Environment(ns, name string) *api.Environment
	Function(ns, name string) *api.Function
}

// Config is the poolmgr's user-facing configuration.
type Config struct {
	// ReapInterval is how often idle and retiring instances are checked.
	ReapInterval time.Duration
	// StopGrace is how long an instance has to exit after SIGTERM.
	StopGrace time.Duration
	// KeepOnShutdown leaves instances running when the manager stops, for
	// the next run to adopt (a Runtime whose instances outlive it: pods).
	KeepOnShutdown bool
}

// DefaultConfig returns the defaults.
func DefaultConfig() Config {
	return Config{ReapInterval: time.Second, StopGrace: 2 * time.Second}
}

// Manager owns every instance.
type Manager struct {
	cfg     Config
	rt      instance.Runtime
	loader  Loader
	objs    Objects
	logger  *slog.Logger
	metrics *metrics
	ctx     context.Context

	mu         sync.Mutex
	pools      map[client.NamespacedName]*pool
	funcs      map[client.NamespacedName]*funcInstances
	instances  map[string]*inst
	subs       map[chan api.InstanceEvent]struct{}
	sink       LineSink
	gone       func(id string)
	fnChanged  func(ns, name string)
	envChanged func(ns, name string)
	adopted    []instance.Adopted
	reg        prometheus.Registerer
	tracer     trace.Tracer
	recent     *coldStartLog
}

// funcInstances are the specialized instances of one function. Its own
// lock keeps one function's cold starts from waiting on another's.
type funcInstances struct {
	mu           sync.Mutex
	ready        []*inst
	specializing int
}

// New returns a manager. Run must be called for it to work.
func New(cfg Config, rt instance.Runtime, loader Loader, objs Objects, logger *slog.Logger, opts ...Option) *Manager {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	d := DefaultConfig()
	if cfg.ReapInterval <= 0 {
		cfg.ReapInterval = d.ReapInterval
	}
	if cfg.StopGrace <= 0 {
		cfg.StopGrace = d.StopGrace
	}
	m := &Manager{
		cfg: cfg, rt: rt, loader: loader, objs: objs, logger: logger,
		pools: map[client.NamespacedName]*pool{}, funcs: map[client.NamespacedName]*funcInstances{},
		instances: map[string]*inst{}, subs: map[chan api.InstanceEvent]struct{}{},
		ctx: context.Background(), tracer: noop.NewTracerProvider().Tracer(""), recent: newColdStartLog(20),
	}
	for _, o := range opts {
		o(m)
	}
	if a, ok := rt.(instance.Adopter); ok {
		m.adopted = a.Adopt()
	}
	m.metrics = newMetrics(m, m.reg)
	return m
}

// Run reaps idle and retiring instances until ctx ends, then stops every
// instance.
func (m *Manager) Run(ctx context.Context) error {
	go m.dropUnclaimed(ctx)
	t := time.NewTicker(m.cfg.ReapInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			m.shutdown()
			return nil
		case now := <-t.C:
			m.reap(now)
		}
	}
}

// OnChange reacts to controller changes: it creates, replaces and closes
// pools, and retires instances of changed or deleted functions.
func (m *Manager) OnChange(ch client.Change) {
	switch ch.Kind {
	case api.KindEnvironment:
		m.environmentChanged(ch)
	case api.KindFunction:
		m.retireFunction(ch)
		if ch.New != nil {
			m.adoptFunction(ch.New.(*api.Function))
		}
	}
}

// retireFunction retires the instances of a function that changed or went
// away.
func (m *Manager) retireFunction(ch client.Change) {
	if ch.Old == nil {
		return
	}
	old := ch.Old.(*api.Function)
	reason := api.ReasonUpdated
	if ch.New == nil {
		reason = api.ReasonDeleted
	}
	key := client.NamespacedName{Namespace: old.Metadata.Namespace, Name: old.Metadata.Name}
	m.mu.Lock()
	fi := m.funcs[key]
	if ch.New == nil {
		delete(m.funcs, key)
	}
	m.mu.Unlock()
	if ch.New == nil {
		m.dropAdopted(func(a instance.Adopted) bool { return a.EnvNamespace == key.Namespace && a.FunctionName == key.Name })
	}
	if fi == nil {
		return
	}
	fi.mu.Lock()
	ready := fi.ready
	fi.ready = nil
	fi.mu.Unlock()
	for _, in := range ready {
		m.retire(in, reason)
	}
}

func (m *Manager) environmentChanged(ch client.Change) {
	var key client.NamespacedName
	if ch.New != nil {
		md := ch.New.GetMetadata()
		key = client.NamespacedName{Namespace: md.Namespace, Name: md.Name}
	} else {
		md := ch.Old.GetMetadata()
		key = client.NamespacedName{Namespace: md.Namespace, Name: md.Name}
	}
	var adopted []*inst // generic instances of the previous run
	if ch.New != nil {
		adopted = m.adoptIdle(ch.New.(*api.Environment))
	}
	if ch.New == nil {
		m.dropAdopted(func(a instance.Adopted) bool { return a.EnvNamespace == key.Namespace && a.EnvName == key.Name })
	}
	m.mu.Lock()
	old := m.pools[key]
	delete(m.pools, key)
	if ch.New != nil {
		m.pools[key] = newPool(m, ch.New.(*api.Environment), adopted)
	}
	m.mu.Unlock()
	if old != nil {
		go old.close()
	}
}

// start starts a generic instance and watches for its exit.
func (m *Manager) start(ctx context.Context, env *api.Environment) (*inst, error) {
	id := newInstanceID(env.Metadata.Name)
	in := &inst{id: id, env: env, created: time.Now(), state: api.StateIdle}
	proc, err := m.rt.Start(ctx, env, instance.StartOptions{ID: id, Output: m.outputFor(in)})
	if err != nil {
		return nil, err
	}
	in.proc = proc
	m.mu.Lock()
	m.instances[id] = in
	m.mu.Unlock()
	go m.watchExit(in)
	return in, nil
}

// watchExit removes an instance that exits on its own.
func (m *Manager) watchExit(in *inst) {
	<-in.proc.Done()
	if m.gone != nil {
		defer m.gone(in.id) // after its last output line was captured
	}
	in.mu.Lock()
	retiring := !in.retiredAt.IsZero()
	in.mu.Unlock()
	if !retiring {
		m.logger.Warn("instance exited", "instance", in.id, "environment", in.env.Metadata.Name, "err", in.proc.Err(), "output", in.proc.Tail())
		m.remove(in, api.ReasonCrash)
	}
}

// GetInstance returns a specialized instance of a function that is not in
// req.Exclude, specializing one when there is none.
func (m *Manager) GetInstance(ctx context.Context, req api.InstanceRequest) (*api.Instance, error) {
	ns := req.Namespace
	if ns == "" {
		ns = api.DefaultNamespace
	}
	fn := m.objs.Function(ns, req.Function)
	if fn == nil {
		return nil, httpx.Errorf(http.StatusNotFound, "function %q not found in namespace %q", req.Function, ns)
	}
	fi := m.funcInstancesFor(client.NamespacedName{Namespace: ns, Name: req.Function})

	m.adoptFunction(fn)
	fi.mu.Lock()
	for _, in := range fi.ready {
		if in.fn.Metadata.ResourceVersion == fn.Metadata.ResourceVersion && !slices.Contains(req.Exclude, in.id) && in.alive() {
			fi.mu.Unlock()
			v := in.view()
			return &v, nil
		}
	}
	if n := len(fi.ready) + fi.specializing; n >= fn.Spec.Concurrency {
		fi.mu.Unlock()
		return nil, httpx.Errorf(http.StatusTooManyRequests, "function %q has reached its concurrency of %d instances", fn.Metadata.Name, fn.Spec.Concurrency).
			WithHint("raise it with 'lantern fn update --concurrency N'")
	}
	fi.specializing++
	fi.mu.Unlock()

	in, err := m.specialize(ctx, fn)
	fi.mu.Lock()
	fi.specializing--
	if err == nil {
		fi.ready = append(fi.ready, in)
	}
	fi.mu.Unlock()
	if !errors.Is(err, context.Canceled) {
		m.functionChanged(fn)
	}
	if err != nil {
		return nil, err
	}
	// The function may have changed or gone while we specialized.
	if cur := m.objs.Function(ns, req.Function); cur == nil || cur.Metadata.ResourceVersion != fn.Metadata.ResourceVersion {
		m.OnChange(client.Change{Kind: api.KindFunction, Old: fn, New: cur})
	}
	v := in.view()
	return &v, nil
}

// specialize takes an idle instance of fn's environment and loads fn. Its
// span is always sampled: when the caller's trace is not, it starts a new
// trace linked to the caller's.
func (m *Manager) specialize(ctx context.Context, fn *api.Function) (*inst, error) {
	start := time.Now()
	ctx, cancel := context.WithTimeout(ctx, fn.Spec.SpecializationTimeoutDuration())
	defer cancel()
	spanOpts := []trace.SpanStartOption{trace.WithAttributes(telemetry.ColdStartAttr,
		attribute.String("lantern.namespace", fn.Metadata.Namespace), attribute.String("lantern.function", fn.Metadata.Name),
		attribute.String("lantern.environment", fn.Spec.Environment))}
	if parent := trace.SpanContextFromContext(ctx); parent.IsValid() && !parent.IsSampled() {
		spanOpts = append(spanOpts, trace.WithNewRoot(), trace.WithLinks(trace.Link{SpanContext: parent}))
	}
	ctx, span := m.tracer.Start(ctx, "poolmgr.cold_start", spanOpts...)
	defer span.End()
	name := fn.Metadata.Name
	env := m.objs.Environment(fn.Metadata.Namespace, fn.Spec.Environment)
	m.mu.Lock()
	p := m.pools[client.NamespacedName{Namespace: fn.Metadata.Namespace, Name: fn.Spec.Environment}]
	m.mu.Unlock()
	ph := &phases{trace: span.SpanContext()}
	if env == nil || p == nil {
		return nil, m.coldStartFailed(fn, ph, start, "acquire", httpx.Errorf(http.StatusServiceUnavailable, "environment %q of function %q is not available", fn.Spec.Environment, name))
	}
	in, err := phase(ctx, m.tracer, "poolmgr.acquire", &ph.acquire, func(ctx context.Context) (*inst, error) { return p.acquire(ctx) })
	if errors.Is(err, context.Canceled) {
		return nil, err // withdrawn before any instance was touched: no cold start
	}
	if err != nil {
		return nil, m.coldStartFailed(fn, ph, start, "acquire", err)
	}
	span.SetAttributes(attribute.String("lantern.instance", in.id))
	// From now on the instance's output is fn's (outputFor), and a pod's
	// is from this time on (markSpecialized).
	taken := time.Now()
	in.mu.Lock()
	in.state, in.fn = api.StateSpecializing, fn
	in.mu.Unlock()

	path, err := phase(ctx, m.tracer, "poolmgr.fetch", &ph.fetch, func(ctx context.Context) (string, error) {
		return m.loader.Fetch(ctx, fn, env, in.proc.CodeDir())
	})
	if err != nil {
		m.remove(in, api.ReasonFailed)
		return nil, m.coldStartFailed(fn, ph, start, "fetch", err)
	}
	_, err = phase(ctx, m.tracer, "poolmgr.specialize", &ph.specialize, func(ctx context.Context) (struct{}, error) {
		return struct{}{}, m.loader.Specialize(ctx, in.proc.Address(), fn, env, path)
	})
	if err != nil {
		if !in.alive() {
			err = fmt.Errorf("%w; the instance exited: %s", err, in.proc.Tail())
		}
		m.remove(in, api.ReasonFailed)
		return nil, m.coldStartFailed(fn, ph, start, "specialize", err)
	}
	now := time.Now()
	in.mu.Lock()
	in.state, in.specialized, in.lastUsed, in.coldStart = api.StateReady, now, now, now.Sub(start)
	in.mu.Unlock()
	m.markSpecialized(in, fn, taken)
	m.metrics.coldStart(fn, "ok", ph, now.Sub(start))
	m.recent.add(fn, api.ColdStart{Time: start, Outcome: "ok", Instance: in.id, Total: now.Sub(start),
		Acquire: ph.acquire, Fetch: ph.fetch, Specialize: ph.specialize, TraceID: traceID(ph.trace)})
	m.logger.InfoContext(ctx, "specialized", "function", name, "namespace", fn.Metadata.Namespace, "instance", in.id,
		"ms", float64(now.Sub(start).Microseconds())/1000)
	return in, nil
}

// phase runs one step of a cold start in its own span and times it.
func phase[T any](ctx context.Context, tr trace.Tracer, name string, d *time.Duration, f func(context.Context) (T, error)) (T, error) {
	ctx, span := tr.Start(ctx, name)
	defer span.End()
	t := time.Now()
	v, err := f(ctx)
	*d = time.Since(t)
	if err != nil {
		span.SetStatus(codes.Error, err.Error())
	}
	return v, err
}

func traceID(sc trace.SpanContext) string {
	if !sc.HasTraceID() {
		return ""
	}
	return sc.TraceID().String()
}

// phases are the durations of a cold start's steps.
type phases struct {
	acquire, fetch, specialize time.Duration
	failed                     string
	trace                      trace.SpanContext
}

// coldStartFailed classifies a failed cold start for the caller.
func (m *Manager) coldStartFailed(fn *api.Function, ph *phases, start time.Time, phase string, err error) error {
	if errors.Is(err, context.Canceled) {
		// Withdrawn by the caller (a router cancels scale-ups no request
		// needs any more): not a failure of the function.
		m.logger.Debug("cold start withdrawn", "function", fn.Metadata.Name, "namespace", fn.Metadata.Namespace, "phase", phase)
		return err
	}
	outcome := "error"
	status := http.StatusBadGateway
	if errors.Is(err, context.DeadlineExceeded) {
		outcome, status = "timeout", http.StatusGatewayTimeout
	}
	ph.failed = phase
	m.metrics.coldStart(fn, outcome, ph, time.Since(start))
	m.logger.Warn("cold start failed", "function", fn.Metadata.Name, "namespace", fn.Metadata.Namespace, "phase", phase, "err", err)
	var he *httpx.Error
	if errors.As(err, &he) {
		return err
	}
	msg := fmt.Sprintf("function %q failed to load (%s): %v", fn.Metadata.Name, phase, err)
	if outcome == "timeout" {
		msg = fmt.Sprintf("function %q did not load within its specialization timeout of %ds (%s)", fn.Metadata.Name, fn.Spec.SpecializationTimeout, phase)
	}
	m.recent.add(fn, api.ColdStart{Time: start, Outcome: outcome, Total: time.Since(start), Acquire: ph.acquire,
		Fetch: ph.fetch, Specialize: ph.specialize, TraceID: traceID(ph.trace), Error: msg})
	return &httpx.Error{Status: status, Code: "specialization_failed", Message: msg, Err: err}
}

// RemoveInstance stops an instance at a router's request.
func (m *Manager) RemoveInstance(_ context.Context, id, reason string) error {
	m.mu.Lock()
	in := m.instances[id]
	m.mu.Unlock()
	if in == nil {
		return httpx.Errorf(http.StatusNotFound, "instance %q not found", id)
	}
	if reason == "" {
		reason = api.ReasonDeleted
	}
	// Out of service before answering, so the next GetInstance cannot
	// return it; the process stops in the background.
	m.outOfService(in)
	go m.remove(in, reason)
	return nil
}

// ReportActivity records what routers saw of their instances.
func (m *Manager) ReportActivity(_ context.Context, acts []api.InstanceActivity) error {
	now := time.Now()
	for _, a := range acts {
		m.mu.Lock()
		in := m.instances[a.ID]
		m.mu.Unlock()
		if in == nil {
			continue
		}
		in.mu.Lock()
		if a.LastUsed.After(in.lastUsed) {
			in.lastUsed = a.LastUsed
		}
		in.inFlight, in.reportedAt = a.InFlight, now
		in.mu.Unlock()
	}
	return nil
}

// ListInstances lists every instance.
func (m *Manager) ListInstances(context.Context) ([]api.Instance, error) {
	m.mu.Lock()
	all := make([]*inst, 0, len(m.instances))
	for _, in := range m.instances {
		all = append(all, in)
	}
	m.mu.Unlock()
	out := make([]api.Instance, 0, len(all))
	for _, in := range all {
		out = append(out, in.view())
	}
	slices.SortFunc(out, func(a, b api.Instance) int { return a.CreatedAt.Compare(b.CreatedAt) })
	return out, nil
}

// retire takes a specialized instance out of service: routers are told at
// once, and the process is stopped once routers report it idle, or after
// the function's timeout.
func (m *Manager) retire(in *inst, reason string) {
	in.mu.Lock()
	if !in.retiredAt.IsZero() {
		in.mu.Unlock()
		return
	}
	in.retiredAt, in.reason, in.state = time.Now(), reason, api.StateRetiring
	fn := in.fn
	in.mu.Unlock()
	m.outOfService(in)
	m.publish(api.InstanceEvent{Type: api.EventDeleted, Instance: in.view(), Reason: reason})
	m.functionChanged(fn)
}

// outOfService stops GetInstance from handing out in.
func (m *Manager) outOfService(in *inst) {
	in.mu.Lock()
	fn := in.fn
	in.mu.Unlock()
	if fn == nil {
		return
	}
	m.mu.Lock()
	fi := m.funcs[client.NamespacedName{Namespace: fn.Metadata.Namespace, Name: fn.Metadata.Name}]
	m.mu.Unlock()
	if fi != nil {
		fi.mu.Lock()
		fi.ready = slices.DeleteFunc(fi.ready, func(x *inst) bool { return x == in })
		fi.mu.Unlock()
	}
}

// remove retires an instance and stops it now. Of several removals of one
// instance (a reap, a crash, a router's report), the first does it all.
func (m *Manager) remove(in *inst, reason string) {
	m.mu.Lock()
	_, known := m.instances[in.id]
	delete(m.instances, in.id)
	m.mu.Unlock()
	if !known {
		return
	}
	in.mu.Lock()
	wasReady := in.state == api.StateReady || in.state == api.StateRetiring
	alreadyRetired := !in.retiredAt.IsZero()
	if alreadyRetired && in.reason != "" {
		reason = in.reason
	}
	in.retiredAt, in.state, in.reason = time.Now(), api.StateRetiring, reason
	fn := in.fn
	in.mu.Unlock()

	if fn != nil {
		m.outOfService(in)
		m.functionChanged(fn)
	} else {
		m.mu.Lock()
		p := m.pools[client.NamespacedName{Namespace: in.env.Metadata.Namespace, Name: in.env.Metadata.Name}]
		m.mu.Unlock()
		if p != nil {
			p.drop(in)
		}
	}
	if wasReady && !alreadyRetired {
		m.publish(api.InstanceEvent{Type: api.EventDeleted, Instance: in.view(), Reason: reason})
	}
	in.proc.Stop(m.cfg.StopGrace)
	if fn != nil && wasReady {
		m.metrics.instanceGone(fn, reason, time.Since(in.created))
		m.logger.Info("instance removed", "function", fn.Metadata.Name, "namespace", fn.Metadata.Namespace, "instance", in.id, "reason", reason)
	}
}

// reap removes instances idle longer than their function's idle timeout,
// and retiring instances routers no longer use.
func (m *Manager) reap(now time.Time) {
	m.mu.Lock()
	all := make([]*inst, 0, len(m.instances))
	for _, in := range m.instances {
		all = append(all, in)
	}
	m.mu.Unlock()
	for _, in := range all {
		in.mu.Lock()
		fn, state, retired := in.fn, in.state, in.retiredAt
		idleFor := now.Sub(in.lastUsed)
		quiet := in.inFlight == 0
		reportedSince := in.reportedAt.After(retired)
		in.mu.Unlock()
		switch {
		case fn == nil:
		case state == api.StateRetiring && !retired.IsZero():
			// Routers said it is idle (or have had time to), or its calls
			// have run out of time anyway.
			settled := reportedSince || now.Sub(retired) > 2*m.cfg.ReapInterval+time.Second
			if (quiet && settled) || now.Sub(retired) > fn.Spec.FunctionTimeoutDuration() {
				go m.remove(in, "")
			}
		case state == api.StateReady && quiet && idleFor > fn.Spec.IdleTimeoutDuration():
			m.retire(in, api.ReasonIdle)
		}
	}
}

func (m *Manager) shutdown() {
	m.mu.Lock()
	pools := m.pools
	m.pools = map[client.NamespacedName]*pool{}
	all := make([]*inst, 0, len(m.instances))
	for _, in := range m.instances {
		all = append(all, in)
	}
	m.mu.Unlock()
	for _, p := range pools {
		p.cancel()
	}
	if m.cfg.KeepOnShutdown {
		m.logger.Info("leaving instances running for the next run to adopt", "instances", len(all))
		return
	}
	var wg sync.WaitGroup
	for _, in := range all {
		wg.Add(1)
		go func() { defer wg.Done(); m.remove(in, api.ReasonDeleted) }()
	}
	wg.Wait()
}
