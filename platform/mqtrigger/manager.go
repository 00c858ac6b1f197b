package mqtrigger

import (
	"context"
	"fmt"
	"log/slog"
	"reflect"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/lantern-faas/lantern/platform/api"
	"github.com/lantern-faas/lantern/platform/client"
	"github.com/lantern-faas/lantern/platform/internal/delivery"
)

// Objects is the read side of the controller's state the manager needs;
// client.Informer satisfies it.
type Objects interface {
	MessageQueueTriggers() []*api.MessageQueueTrigger
	Synced() <-chan struct{}
}

// Caller calls a function; client.Router satisfies it.
type Caller interface {
	Call(ctx context.Context, c client.Call) (client.Result, error)
}

// Config tunes how messages are consumed.
type Config struct {
	// Concurrency is how many messages of one trigger are handled at once.
	Concurrency int
	// AckWait is how long the broker waits for news of a message before
	// delivering it again; long calls report progress every AckWait/3.
	AckWait time.Duration
	// RetryDelay is the delay before the first retry of a failed message;
	// it doubles with each attempt up to MaxRetryDelay.
	RetryDelay    time.Duration
	MaxRetryDelay time.Duration
	// LagInterval is how often consumer lag is measured.
	LagInterval time.Duration
}

// DefaultConfig returns the defaults.
func DefaultConfig() Config {
	return Config{Concurrency: 64, AckWait: 30 * time.Second, RetryDelay: 200 * time.Millisecond,
		MaxRetryDelay: 30 * time.Second, LagInterval: 5 * time.Second}
}

// Option sets an optional dependency.
type Option func(*Manager)

// WithRegisterer registers the manager's metrics with reg.
func WithRegisterer(reg prometheus.Registerer) Option { return func(m *Manager) { m.reg = reg } }

// WithTracerProvider traces every message as a span "mqt.message".
func WithTracerProvider(tp trace.TracerProvider) Option {
	return func(m *Manager) { m.tracer = tp.Tracer("lantern/mqtrigger") }
}

// Manager consumes the topics of every message queue trigger.
type Manager struct {
	cfg     Config
	brokers map[string]Broker
	objs    Objects
	caller  Caller
	logger  *slog.Logger
	reg     prometheus.Registerer
	tracer  trace.Tracer
	metrics *metrics
	kick    chan struct{}

	triggers map[string]*running // by UID; only Run touches it
	// stopping are triggers cancelled and still finishing their messages;
	// only Run touches it.
	stopping []*running

	mu     sync.Mutex
	status map[string]Status // by namespace/name
}

// Status is how a trigger's subscription is doing.
type Status = api.MQTriggerStatus

type running struct {
	spec   api.MessageQueueTriggerSpec
	cancel context.CancelFunc
	done   chan struct{}
}

// New returns a manager over brokers, keyed by message queue type
// (api.MQTypeNATS, api.MQTypeKafka); a type with no broker makes its
// triggers fail with a visible status.
func New(cfg Config, brokers map[string]Broker, objs Objects, caller Caller, logger *slog.Logger, opts ...Option) *Manager {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	d := DefaultConfig()
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = d.Concurrency
	}
	if cfg.AckWait <= 0 {
		cfg.AckWait = d.AckWait
	}
	if cfg.RetryDelay <= 0 {
		cfg.RetryDelay = d.RetryDelay
	}
	if cfg.MaxRetryDelay <= 0 {
		cfg.MaxRetryDelay = d.MaxRetryDelay
	}
	if cfg.LagInterval <= 0 {
		cfg.LagInterval = d.LagInterval
	}
	m := &Manager{cfg: cfg, brokers: brokers, objs: objs, caller: caller, logger: logger,
		tracer: noop.NewTracerProvider().Tracer(""), kick: make(chan struct{}, 1),
		triggers: map[string]*running{}, status: map[string]Status{}}
	for _, o := range opts {
		o(m)
	}
	m.metrics = newMetrics(m.reg)
	return m
}

// OnChange makes Run look at the triggers again.
func (m *Manager) OnChange(ch client.Change) {
	if ch.Kind != api.KindMessageQueueTrigger {
		return
	}
	select {
	case m.kick <- struct{}{}:
	default:
	}
}

// Statuses returns the status of every trigger, sorted by namespace and
// name.
func (m *Manager) Statuses() []Status {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]Status, 0, len(m.status))
	for _, s := range m.status {
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Namespace != out[j].Namespace {
			return out[i].Namespace < out[j].Namespace
		}
		return out[i].Name < out[j].Name
	})
	return out
}

func (m *Manager) setStatus(t *api.MessageQueueTrigger, ready bool, msg string) {
	ns, name := t.Metadata.Namespace, t.Metadata.Name
	m.mu.Lock()
	defer m.mu.Unlock()
	key := ns + "/" + name
	if old, ok := m.status[key]; ok && old.Ready == ready && old.Message == msg {
		return
	}
	m.status[key] = Status{Namespace: ns, Name: name, Ready: ready, Message: msg, Since: time.Now().UTC()}
	m.metrics.setReady(ns, name, ready)
}

func (m *Manager) dropStatus(ns, name string) {
	m.mu.Lock()
	delete(m.status, ns+"/"+name)
	m.mu.Unlock()
	m.metrics.forget(ns, name)
}

// Run consumes until ctx ends, once the informer has synced. On the way
// out it stops consuming and waits for the messages being handled.
func (m *Manager) Run(ctx context.Context) error {
	select {
	case <-ctx.Done():
		return nil
	case <-m.objs.Synced():
	}
	for {
		m.reconcile(ctx)
		select {
		case <-ctx.Done():
			for _, r := range m.triggers {
				r.cancel()
			}
			for _, r := range m.triggers {
				<-r.done
			}
			for _, r := range m.stopping {
				<-r.done
			}
			return nil
		case <-m.kick:
		}
	}
}

// reconcile subscribes new triggers, resubscribes changed ones and stops
// deleted ones.
func (m *Manager) reconcile(ctx context.Context) {
	keep := map[string]bool{}
	exists := map[[2]string]bool{}
	for _, t := range m.objs.MessageQueueTriggers() {
		uid := t.Metadata.UID
		keep[uid] = true
		exists[[2]string{t.Metadata.Namespace, t.Metadata.Name}] = true
		if r := m.triggers[uid]; r != nil {
			if reflect.DeepEqual(r.spec, t.Spec) {
				continue
			}
			m.stop(r)
		}
		tctx, cancel := context.WithCancel(ctx)
		r := &running{spec: t.Spec, cancel: cancel, done: make(chan struct{})}
		m.triggers[uid] = r
		go func() {
			defer close(r.done)
			m.consume(tctx, t)
		}()
	}
	for uid, r := range m.triggers {
		if !keep[uid] {
			m.stop(r)
			delete(m.triggers, uid)
		}
	}
	m.mu.Lock()
	var gone [][2]string
	for _, s := range m.status {
		if k := [2]string{s.Namespace, s.Name}; !exists[k] {
			gone = append(gone, k)
		}
	}
	m.mu.Unlock()
	for _, g := range gone {
		m.dropStatus(g[0], g[1])
	}
}

// stop cancels a trigger without waiting for the messages it is
// handling (calls may take up to the function's timeout), so that other
// triggers' changes are not held up; Run waits for them on its way out.
func (m *Manager) stop(r *running) {
	r.cancel()
	live := m.stopping[:0]
	for _, s := range m.stopping {
		select {
		case <-s.done:
		default:
			live = append(live, s)
		}
	}
	m.stopping = append(live, r)
}

// consume subscribes one trigger, retrying until it works, and handles its
// messages until ctx ends.
func (m *Manager) consume(ctx context.Context, t *api.MessageQueueTrigger) {
	ns, name := t.Metadata.Namespace, t.Metadata.Name
	log := m.logger.With("namespace", ns, "trigger", name, "topic", t.Spec.Topic)
	b := m.brokers[t.Spec.MessageQueueType]
	if b == nil {
		msg := fmt.Sprintf("no %s broker is configured on this lanternd", t.Spec.MessageQueueType)
		if t.Spec.MessageQueueType == api.MQTypeKafka {
			msg += ": start it with --kafka-brokers"
		}
		m.setStatus(t, false, msg)
		log.Error("message queue trigger cannot run", "reason", msg)
		<-ctx.Done()
		return
	}
	h := &handler{m: m, t: t, broker: b, log: log, gate: delivery.NewGate(m.cfg.Concurrency), tm: m.metrics.forTrigger(ns, name)}
	sub := Subscription{ID: "lantern-" + t.Metadata.UID, Topic: t.Spec.Topic, MaxInFlight: 2 * m.cfg.Concurrency, AckWait: m.cfg.AckWait}
	var cons Consumer
	if !delivery.Retry(ctx, func() (err error) {
		cons, err = b.Subscribe(ctx, sub, h.handle)
		return err
	}, func(err error, wait time.Duration) {
		m.setStatus(t, false, "subscribe: "+err.Error())
		log.Warn("subscribe to the topic; retrying", "err", err, "in", wait)
	}) {
		return
	}
	m.setStatus(t, true, "")
	log.Info("consuming")
	tick := time.NewTicker(m.cfg.LagInterval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			cons.Stop()
			h.stop()
			return
		case <-tick.C:
			lctx, cancel := context.WithTimeout(ctx, m.cfg.LagInterval)
			lag, err := cons.Lag(lctx)
			cancel()
			if err != nil {
				if ctx.Err() == nil {
					m.setStatus(t, false, "broker: "+err.Error())
				}
				continue
			}
			m.setStatus(t, true, "")
			m.metrics.setLag(ns, name, lag)
		}
	}
}

// shortReason keeps a failure's reason to one bounded line.
func shortReason(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 512 {
		s = s[:512] + "..."
	}
	return s
}
