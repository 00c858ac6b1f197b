package router

import (
	"context"
	"log/slog"
	"net/textproto"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/lantern-faas/lantern/platform/api"
	"github.com/lantern-faas/lantern/platform/client"
)

// Instances is what the router needs of the poolmgr. client.Poolmgr
// satisfies it over HTTP, and the poolmgr itself in one process.
type Instances interface {
	GetInstance(ctx context.Context, req api.InstanceRequest) (*api.Instance, error)
	RemoveInstance(ctx context.Context, id, reason string) error
	ReportActivity(ctx context.Context, acts []api.InstanceActivity) error
	WatchInstances(ctx context.Context, fn func(api.InstanceEvent) error) error
}

// Objects is the read side of the controller's state the router needs;
// client.Informer satisfies it.
type Objects interface {
	Function(ns, name string) *api.Function
	HTTPTriggers() []*api.HTTPTrigger
}

// Config is the router's user-facing configuration.
type Config struct {
	// MaxBodyBytes is the largest request body passed to a function.
	MaxBodyBytes int64
	// QueueTimeout is how long a request waits for capacity when the
	// function is at its concurrency before it gets 429.
	QueueTimeout time.Duration
	// ActivityInterval is how often instance use is reported to the poolmgr.
	ActivityInterval time.Duration
	// MaxRetries is how often a request is retried on another instance
	// when connecting to one fails.
	MaxRetries int
}

// DefaultConfig returns the defaults.
func DefaultConfig() Config {
	return Config{MaxBodyBytes: 32 << 20, QueueTimeout: 30 * time.Second, ActivityInterval: time.Second, MaxRetries: 3}
}

// Server routes requests to functions.
type Server struct {
	cfg       Config
	instances Instances
	objs      Objects
	logger    *slog.Logger
	metrics   *metrics
	upstreams *upstreams
	reg       prometheus.Registerer
	tracer    trace.Tracer
	prop      propagation.TextMapPropagator
	// traceFields are the headers prop reads and writes, canonical.
	traceFields map[string]bool
	async       AsyncQueue

	routes atomic.Pointer[table]

	changeMu sync.Mutex
	changed  chan struct{}

	mu        sync.RWMutex
	balancers map[client.NamespacedName]*balancer
}

// New returns a router. Wire OnChange to the informer and call Run.
func New(cfg Config, instances Instances, objs Objects, logger *slog.Logger, opts ...Option) *Server {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	d := DefaultConfig()
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = d.MaxBodyBytes
	}
	if cfg.QueueTimeout <= 0 {
		cfg.QueueTimeout = d.QueueTimeout
	}
	if cfg.ActivityInterval <= 0 {
		cfg.ActivityInterval = d.ActivityInterval
	}
	if cfg.MaxRetries <= 0 {
		cfg.MaxRetries = d.MaxRetries
	}
	s := &Server{
		cfg: cfg, instances: instances, objs: objs, logger: logger,
		balancers: map[client.NamespacedName]*balancer{},
		changed:   make(chan struct{}),
	}
	s.tracer, s.prop = defaultTracing()
	for _, o := range opts {
		o(s)
	}
	s.traceFields = map[string]bool{}
	for _, f := range s.prop.Fields() {
		s.traceFields[textproto.CanonicalMIMEHeaderKey(f)] = true
	}
	s.metrics = newMetrics(s.reg)
	// One pool of keep-alive connections shared by every request.
	s.upstreams = newUpstreams()
	s.routes.Store(buildTable(nil))
	return s
}

// OnChange rebuilds the route table and updates function caches.
func (s *Server) OnChange(ch client.Change) {
	defer s.notifyChanged()
	switch ch.Kind {
	case api.KindHTTPTrigger:
		s.routes.Store(buildTable(s.objs.HTTPTriggers()))
	case api.KindFunction:
		var md *api.Metadata
		if ch.New != nil {
			md = ch.New.GetMetadata()
		} else {
			md = ch.Old.GetMetadata()
		}
		key := client.NamespacedName{Namespace: md.Namespace, Name: md.Name}
		s.mu.Lock()
		b := s.balancers[key]
		if ch.New == nil {
			delete(s.balancers, key)
		}
		s.mu.Unlock()
		if ch.New == nil {
			s.metrics.forget(md.Namespace, md.Name)
		}
		if b == nil {
			return
		}
		if ch.New == nil {
			b.close(errFunctionDeleted)
		} else {
			b.update(ch.New.(*api.Function))
		}
	}
}

// Run watches the poolmgr's instance events and reports activity until ctx
// ends.
func (s *Server) Run(ctx context.Context) error {
	go s.reportActivity(ctx)
	go s.upstreams.sweep(ctx)
	backoff := 50 * time.Millisecond
	for {
		err := s.instances.WatchInstances(ctx, func(ev api.InstanceEvent) error {
			switch ev.Type {
			case api.EventDeleted:
				s.dropInstance(ev.Instance.Namespace, ev.Instance.Function, ev.Instance.ID)
				// Kept-alive connections to a gone process would fail the
				// next request sent on them.
				s.upstreams.closeIdle(ev.Instance.Address)
			case api.EventSynced:
				s.keepOnly(ev.Live)
			}
			return nil
		})
		if ctx.Err() != nil {
			s.upstreams.closeIdle("")
			return nil
		}
		// The cached instances keep serving while the poolmgr is away (a
		// restart, an upgrade): warm calls need no poolmgr. One that died
		// meanwhile fails to connect, and the call is retried elsewhere;
		// events missed are made up for by the next watch's first event.
		s.logger.Warn("poolmgr instance watch broke, reconnecting", "err", err)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 2*time.Second)
	}
}

func (s *Server) dropInstance(ns, fn, id string) {
	s.mu.RLock()
	b := s.balancers[client.NamespacedName{Namespace: ns, Name: fn}]
	s.mu.RUnlock()
	if b != nil {
		b.drop(id)
	}
}

// keepOnly forgets the cached instances whose IDs are not in live.
func (s *Server) keepOnly(live []string) {
	alive := make(map[string]bool, len(live))
	for _, id := range live {
		alive[id] = true
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	for _, b := range s.balancers {
		b.mu.Lock()
		var gone []*backend
		for _, be := range b.backends {
			if !alive[be.ID] {
				gone = append(gone, be)
			}
		}
		b.mu.Unlock()
		for _, be := range gone {
			b.drop(be.ID)
			s.upstreams.closeIdle(be.Address)
		}
	}
}

func (s *Server) reportActivity(ctx context.Context) {
	t := time.NewTicker(s.cfg.ActivityInterval)
	defer t.Stop()
	var acts []api.InstanceActivity
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			acts = acts[:0]
			s.mu.RLock()
			for _, b := range s.balancers {
				acts = b.activity(now, acts)
			}
			s.mu.RUnlock()
			if len(acts) == 0 {
				continue
			}
			rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			if err := s.instances.ReportActivity(rctx, acts); err != nil {
				s.logger.Warn("report activity", "err", err)
			}
			cancel()
		}
	}
}

// balancerFor returns the function's balancer, creating it.
func (s *Server) balancerFor(fn *api.Function) *balancer {
	key := client.NamespacedName{Namespace: fn.Metadata.Namespace, Name: fn.Metadata.Name}
	s.mu.RLock()
	b := s.balancers[key]
	s.mu.RUnlock()
	if b != nil {
		return b
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if b = s.balancers[key]; b == nil {
		b = &balancer{s: s, fn: fn}
		s.balancers[key] = b
	}
	return b
}
