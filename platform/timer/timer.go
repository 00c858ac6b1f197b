package timer

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/lantern-faas/lantern/platform/api"
	"github.com/lantern-faas/lantern/platform/client"
	"github.com/lantern-faas/lantern/platform/internal/httpx"
	"github.com/lantern-faas/lantern/platform/schedule"
)

// Headers of a timer's call, besides the router's X-Lantern-Trigger: timer.
const (
	// NameHeader is Fission's header naming the timer.
	NameHeader = "X-Fission-Timer-Name"
	// TickHeader is the scheduled time of the tick, RFC 3339 in UTC.
	TickHeader = "X-Lantern-Timer-Tick"
)

// Objects is the read side of the controller's state the timer needs;
// client.Informer satisfies it.
type Objects interface {
	TimeTriggers() []*api.TimeTrigger
	Synced() <-chan struct{}
}

// Caller calls a function; client.Router satisfies it.
type Caller interface {
	Call(ctx context.Context, c client.Call) (client.Result, error)
}

// Config is the timer's configuration.
type Config struct {
	// Dir holds the timer's state: the last fired tick of every timer.
	Dir string
}

// Option sets an optional dependency.
type Option func(*Manager)

// WithRegisterer registers the timer's metrics with reg.
func WithRegisterer(reg prometheus.Registerer) Option { return func(m *Manager) { m.reg = reg } }

// WithTracerProvider traces every fire as a span "timer.fire".
func WithTracerProvider(tp trace.TracerProvider) Option {
	return func(m *Manager) { m.tracer = tp.Tracer("lantern/timer") }
}

// Manager schedules and fires every timer.
type Manager struct {
	cfg     Config
	objs    Objects
	caller  Caller
	logger  *slog.Logger
	reg     prometheus.Registerer
	tracer  trace.Tracer
	metrics *metrics
	ticks   *ticks
	kick    chan struct{}
	timers  map[string]*running // by UID
	// pruned: the kept ticks of timers deleted while no timer ran are
	// gone (done on the first reconcile, then as timers are deleted).
	pruned bool
}

// running is one scheduled timer.
type running struct {
	version         string
	namespace, name string
	cancel          context.CancelFunc
	// busy is set while a call runs; it outlives a change of the timer,
	// so that an updated timer does not start a run beside the old one.
	busy *atomic.Bool
}

// New returns a timer manager. Wire OnChange to the informer and call Run.
func New(cfg Config, objs Objects, caller Caller, logger *slog.Logger, opts ...Option) (*Manager, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Dir == "" {
		return nil, fmt.Errorf("timer: no state folder")
	}
	m := &Manager{cfg: cfg, objs: objs, caller: caller, logger: logger,
		tracer: noop.NewTracerProvider().Tracer(""), kick: make(chan struct{}, 1), timers: map[string]*running{}}
	for _, o := range opts {
		o(m)
	}
	t, err := openTicks(cfg.Dir)
	if err != nil {
		return nil, err
	}
	m.ticks = t
	m.metrics = newMetrics(m.reg)
	return m, nil
}

// OnChange makes Run look at the timers again.
func (m *Manager) OnChange(ch client.Change) {
	if ch.Kind != api.KindTimeTrigger {
		return
	}
	select {
	case m.kick <- struct{}{}:
	default:
	}
}

// Run schedules the timers until ctx ends, once the informer has synced.
// Calls in flight are cancelled when ctx ends.
func (m *Manager) Run(ctx context.Context) error {
	defer m.ticks.close()
	var wg sync.WaitGroup
	defer wg.Wait()
	defer m.stopAll()
	select {
	case <-ctx.Done():
		return nil
	case <-m.objs.Synced():
	}
	for {
		m.reconcile(ctx, &wg)
		select {
		case <-ctx.Done():
			return nil
		case <-m.kick:
		}
	}
}

// reconcile starts new and changed timers and stops deleted ones.
func (m *Manager) reconcile(ctx context.Context, wg *sync.WaitGroup) {
	keep := map[string]bool{}
	for _, t := range m.objs.TimeTriggers() {
		uid := t.Metadata.UID
		keep[uid] = true
		busy := &atomic.Bool{}
		if r := m.timers[uid]; r != nil {
			if r.version == t.Metadata.ResourceVersion {
				continue
			}
			r.cancel()
			busy = r.busy
		}
		s, err := schedule.Parse(t.Spec.Cron)
		if err != nil { // the controller refuses these; an old object may hold one
			m.logger.Error("timer has a bad cron expression; not scheduled", "namespace", t.Metadata.Namespace, "timer", t.Metadata.Name, "err", err)
			delete(m.timers, uid)
			continue
		}
		lctx, cancel := context.WithCancel(ctx)
		m.timers[uid] = &running{version: t.Metadata.ResourceVersion, namespace: t.Metadata.Namespace, name: t.Metadata.Name,
			cancel: cancel, busy: busy}
		wg.Add(1)
		go func() {
			defer wg.Done()
			m.loop(lctx, ctx, t, s, busy)
		}()
	}
	for uid, r := range m.timers {
		if !keep[uid] {
			r.cancel()
			delete(m.timers, uid)
			m.metrics.forget(r.namespace, r.name)
			m.pruned = false
		}
	}
	m.metrics.scheduled(len(m.timers))
	if m.pruned {
		return // a write transaction for nothing
	}
	if err := m.ticks.forget(keep); err != nil {
		m.logger.Warn("drop the state of deleted timers", "err", err)
		return
	}
	m.pruned = true
}

func (m *Manager) stopAll() {
	for _, r := range m.timers {
		r.cancel()
	}
}

// loop fires one timer's ticks until lctx ends (the timer changed or was
// deleted). Calls run with callCtx, which ends only when the manager stops.
func (m *Manager) loop(lctx, callCtx context.Context, t *api.TimeTrigger, s schedule.Schedule, busy *atomic.Bool) {
	ns, name, uid := t.Metadata.Namespace, t.Metadata.Name, t.Metadata.UID
	m.metrics.scheduledTimer(ns, name)
	after := time.Now()
	if last := m.ticks.last(uid); !last.IsZero() {
		m.metrics.missedTicks(ns, name, countBetween(s, last, after))
		if last.After(after) { // the clock went back: never fire a tick twice
			after = last
		}
	}
	tm := time.NewTimer(time.Hour)
	defer tm.Stop()
	for {
		next := s.Next(after)
		if next.IsZero() {
			return
		}
		tm.Reset(time.Until(next))
		select {
		case <-lctx.Done():
			return
		case <-tm.C:
		}
		after = next
		if late := time.Since(next); late < 0 { // woke early by a wall clock step
			after = next.Add(-time.Nanosecond)
			continue
		}
		ok, err := m.ticks.claim(uid, next)
		if err != nil {
			m.logger.Error("record a timer tick; not fired", "namespace", ns, "timer", name, "err", err)
			continue
		}
		if !ok {
			continue // fired before a restart
		}
		if !busy.CompareAndSwap(false, true) {
			m.metrics.skippedTick(ns, name)
			m.logger.Debug("previous run still going; tick skipped", "namespace", ns, "timer", name, "tick", next)
			continue
		}
		m.metrics.fired(time.Since(next))
		go func(tick time.Time) {
			defer busy.Store(false)
			m.fire(callCtx, t, tick)
		}(next)
	}
}

// countBetween counts the ticks after from and before to, up to 10000.
func countBetween(s schedule.Schedule, from, to time.Time) int {
	n := 0
	for t := s.Next(from); !t.IsZero() && t.Before(to) && n < 10000; t = s.Next(t) {
		n++
	}
	return n
}

// fire calls the timer's function once.
func (m *Manager) fire(ctx context.Context, t *api.TimeTrigger, tick time.Time) {
	ns, name, fn := t.Metadata.Namespace, t.Metadata.Name, t.Spec.FunctionRef.Name
	ctx, span := m.tracer.Start(ctx, "timer.fire", trace.WithSpanKind(trace.SpanKindProducer),
		trace.WithAttributes(attribute.String("lantern.namespace", ns), attribute.String("lantern.timer", name),
			attribute.String("lantern.function", fn)))
	defer span.End()
	id := httpx.IDFor(span.SpanContext())
	h := http.Header{}
	h.Set(NameHeader, name)
	h.Set(TickHeader, tick.UTC().Format(time.RFC3339Nano))
	h.Set(client.RequestIDHeader, id)
	res, err := m.caller.Call(ctx, client.Call{Namespace: ns, Function: fn, Method: t.Spec.Method, Subpath: t.Spec.Subpath,
		Trigger: "timer", Header: h})
	ok := err == nil && res.Status < 400
	m.metrics.finished(ns, name, ok)
	switch {
	case err != nil && ctx.Err() != nil:
	case err != nil:
		m.logger.Warn("timer call got no answer", "namespace", ns, "timer", name, "function", fn, "request_id", id, "err", err)
	case !ok:
		m.logger.Warn("timer call failed", "namespace", ns, "timer", name, "function", fn, "request_id", id, "status", res.Status)
	default:
		m.logger.Debug("timer fired", "namespace", ns, "timer", name, "function", fn, "request_id", id, "status", res.Status, "duration", res.Duration)
	}
}
