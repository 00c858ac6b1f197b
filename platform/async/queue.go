package async

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	natsgo "github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/lantern-faas/lantern/platform/api"
	"github.com/lantern-faas/lantern/platform/client"
	"github.com/lantern-faas/lantern/platform/internal/delivery"
	"github.com/lantern-faas/lantern/platform/internal/httpx"
)

// Names of what the queue keeps in JetStream.
const (
	StreamName    = "LANTERN_ASYNC"
	subjectPrefix = "lantern.async."
	consumerName  = "lantern-async"
	recordsBucket = "lantern_invocations"
	deadBucket    = "lantern_async_dead"
)

// Caller calls a function; client.Router satisfies it.
type Caller interface {
	Call(ctx context.Context, c client.Call) (client.Result, error)
}

// Config tunes the queue.
type Config struct {
	// MaxAttempts is how many times a call is tried before it is a dead
	// letter.
	MaxAttempts int
	// Concurrency is how many calls run at once.
	Concurrency int
	// AckWait is how long JetStream waits for news of a call before it is
	// run again (after a crash); running calls report progress.
	AckWait time.Duration
	// RetryDelay is the delay before the first retry; it doubles up to
	// MaxRetryDelay.
	RetryDelay, MaxRetryDelay time.Duration
	// MaxBodyBytes bounds a queued request's body.
	MaxBodyBytes int
	// Retention is how long outcomes and dead letters are kept.
	Retention time.Duration
}

// DefaultConfig returns the defaults.
func DefaultConfig() Config {
	return Config{MaxAttempts: 4, Concurrency: 64, AckWait: 30 * time.Second, RetryDelay: time.Second,
		MaxRetryDelay: 5 * time.Minute, MaxBodyBytes: 512 << 10, Retention: 7 * 24 * time.Hour}
}

const maxResponseBytes = 16 << 10

// Option sets an optional dependency.
type Option func(*Manager)

// WithRegisterer registers the queue's metrics with reg.
func WithRegisterer(reg prometheus.Registerer) Option { return func(m *Manager) { m.reg = reg } }

// WithTracerProvider traces every attempt as a span "async.invoke".
func WithTracerProvider(tp trace.TracerProvider) Option {
	return func(m *Manager) { m.tracer = tp.Tracer("lantern/async") }
}

// Manager queues, runs and reports asynchronous invocations.
type Manager struct {
	cfg     Config
	js      jetstream.JetStream
	caller  Caller
	logger  *slog.Logger
	reg     prometheus.Registerer
	tracer  trace.Tracer
	metrics *metrics
	hc      *http.Client

	setupMu sync.Mutex
	ready   bool
	stream  jetstream.Stream
	records jetstream.KeyValue
	dead    jetstream.KeyValue

	gate *delivery.Gate
}

// envelope is what the queue holds for one call.
type envelope struct {
	ID          string           `json:"id"`
	Request     api.AsyncRequest `json:"request"`
	MaxAttempts int              `json:"maxAttempts"`
	Replays     int              `json:"replays,omitempty"`
}

// New returns a queue over the NATS connection nc. Streams and buckets
// are created on first use, so an unreachable NATS is not an error here.
func New(cfg Config, nc *natsgo.Conn, caller Caller, logger *slog.Logger, opts ...Option) (*Manager, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	d := DefaultConfig()
	if cfg.MaxAttempts <= 0 {
		cfg.MaxAttempts = d.MaxAttempts
	}
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
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = d.MaxBodyBytes
	}
	if cfg.Retention <= 0 {
		cfg.Retention = d.Retention
	}
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, err
	}
	m := &Manager{cfg: cfg, js: js, caller: caller, logger: logger, tracer: noop.NewTracerProvider().Tracer(""),
		hc: &http.Client{Timeout: 10 * time.Second}, gate: delivery.NewGate(cfg.Concurrency)}
	for _, o := range opts {
		o(m)
	}
	m.metrics = newMetrics(m.reg)
	return m, nil
}

// setup creates the stream and buckets once.
func (m *Manager) setup(ctx context.Context) error {
	m.setupMu.Lock()
	defer m.setupMu.Unlock()
	if m.ready {
		return nil
	}
	st, err := m.js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{Name: StreamName, Subjects: []string{subjectPrefix + ">"},
		Retention: jetstream.WorkQueuePolicy, Storage: jetstream.FileStorage, Duplicates: 2 * time.Minute,
		Description: "Lantern's asynchronous invocations"})
	if err != nil {
		return fmt.Errorf("create stream %s: %w", StreamName, err)
	}
	rec, err := m.js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: recordsBucket, TTL: m.cfg.Retention,
		Storage: jetstream.FileStorage, Description: "outcomes of Lantern's asynchronous invocations"})
	if err != nil {
		return fmt.Errorf("create bucket %s: %w", recordsBucket, err)
	}
	dead, err := m.js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: deadBucket, TTL: m.cfg.Retention,
		Storage: jetstream.FileStorage, Description: "dead letters of Lantern's asynchronous invocations"})
	if err != nil {
		return fmt.Errorf("create bucket %s: %w", deadBucket, err)
	}
	m.stream, m.records, m.dead, m.ready = st, rec, dead, true
	return nil
}

// unavailable wraps a NATS error as ErrUnavailable, a 503 for clients.
func unavailable(err error) error {
	return &httpx.Error{Status: http.StatusServiceUnavailable, Code: "unavailable",
		Message: fmt.Sprintf("%v: %v", ErrUnavailable, err), Err: ErrUnavailable}
}

func key(ns, fn, id string) string { return ns + "." + fn + "." + id }

// Enqueue stores a call durably and returns its invocation, queued.
func (m *Manager) Enqueue(ctx context.Context, req api.AsyncRequest) (*api.Invocation, error) {
	start := time.Now()
	if len(req.Body) > m.cfg.MaxBodyBytes {
		return nil, httpx.Errorf(http.StatusRequestEntityTooLarge, "an asynchronous call's body may hold %d bytes, this one has %d", m.cfg.MaxBodyBytes, len(req.Body))
	}
	if req.CallbackURL != "" {
		if u, err := url.Parse(req.CallbackURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, httpx.Errorf(http.StatusBadRequest, "%s %q is not an http(s) URL", api.CallbackHeader, req.CallbackURL)
		}
	}
	if err := api.ValidateName("namespace", req.Namespace); err != nil {
		return nil, err
	}
	if err := api.ValidateName("function", req.Function); err != nil {
		return nil, err
	}
	if err := m.setup(ctx); err != nil {
		return nil, unavailable(err)
	}
	delete(req.Header, api.InvokeModeHeader)
	env := envelope{ID: httpx.NewID(), Request: req, MaxAttempts: m.cfg.MaxAttempts}
	now := time.Now().UTC()
	inv := &api.Invocation{ID: env.ID, Namespace: req.Namespace, Function: req.Function, Method: req.Method, Subpath: req.Subpath,
		Status: api.InvocationQueued, MaxAttempts: env.MaxAttempts, CreatedAt: now, UpdatedAt: now,
		CallbackURL: req.CallbackURL, AcceptRequestID: req.RequestID}
	// The record and the queued call are written side by side.
	recErr := make(chan error, 1)
	go func() { recErr <- m.putRecord(ctx, inv) }()
	err := m.publish(ctx, env, env.ID)
	if rerr := <-recErr; err == nil && rerr != nil {
		err = rerr
	}
	if err != nil {
		return nil, unavailable(err)
	}
	m.metrics.acceptedCall(req.Namespace, req.Function, time.Since(start))
	return inv, nil
}

func (m *Manager) publish(ctx context.Context, env envelope, msgID string) error {
	data, err := json.Marshal(env)
	if err != nil {
		return err
	}
	_, err = m.js.Publish(ctx, subjectPrefix+env.Request.Namespace+"."+env.Request.Function, data, jetstream.WithMsgID(msgID))
	return err
}

func (m *Manager) putRecord(ctx context.Context, inv *api.Invocation) error {
	data, err := json.Marshal(inv)
	if err != nil {
		return err
	}
	_, err = m.records.Put(ctx, key(inv.Namespace, inv.Function, inv.ID), data)
	return err
}

// find returns the key of id in kv.
func (m *Manager) find(ctx context.Context, kv jetstream.KeyValue, id string) (string, error) {
	if strings.ContainsAny(id, ".*> ") || id == "" {
		return "", ErrNotFound
	}
	kl, err := kv.ListKeysFiltered(ctx, "*.*."+id)
	if err != nil {
		if errors.Is(err, jetstream.ErrNoKeysFound) {
			return "", ErrNotFound
		}
		return "", err
	}
	defer kl.Stop()
	for k := range kl.Keys() {
		return k, nil
	}
	return "", ErrNotFound
}

// Get returns an invocation; ErrNotFound if there is none with id.
func (m *Manager) Get(ctx context.Context, id string) (*api.Invocation, error) {
	if err := m.setup(ctx); err != nil {
		return nil, unavailable(err)
	}
	k, err := m.find(ctx, m.records, id)
	if err != nil {
		return nil, err
	}
	return m.getRecord(ctx, k)
}

func (m *Manager) getRecord(ctx context.Context, k string) (*api.Invocation, error) {
	e, err := m.records.Get(ctx, k)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	var inv api.Invocation
	if err := json.Unmarshal(e.Value(), &inv); err != nil {
		return nil, fmt.Errorf("decode invocation %s: %w", k, err)
	}
	return &inv, nil
}

// List returns invocations of a namespace (all when ""), a function (all
// when "") and a status (all when ""), newest first, at most limit.
func (m *Manager) List(ctx context.Context, ns, fn, status string, limit int) ([]api.Invocation, error) {
	if err := m.setup(ctx); err != nil {
		return nil, unavailable(err)
	}
	filter := orStar(ns) + "." + orStar(fn) + ".*"
	kl, err := m.records.ListKeysFiltered(ctx, filter)
	if errors.Is(err, jetstream.ErrNoKeysFound) {
		return []api.Invocation{}, nil
	}
	if err != nil {
		return nil, err
	}
	defer kl.Stop()
	out := []api.Invocation{}
	for k := range kl.Keys() {
		inv, err := m.getRecord(ctx, k)
		if err != nil {
			continue // expired meanwhile
		}
		if status == "" || inv.Status == status {
			out = append(out, *inv)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].CreatedAt.After(out[j].CreatedAt) })
	if limit > 0 && len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

func orStar(s string) string {
	if s == "" {
		return "*"
	}
	return s
}

// Replay queues a dead letter again; ErrNotFailed if id is not one.
func (m *Manager) Replay(ctx context.Context, id string) (*api.Invocation, error) {
	if err := m.setup(ctx); err != nil {
		return nil, unavailable(err)
	}
	k, err := m.find(ctx, m.dead, id)
	if errors.Is(err, ErrNotFound) {
		if _, gerr := m.Get(ctx, id); gerr == nil {
			return nil, ErrNotFailed
		}
	}
	if err != nil {
		return nil, err
	}
	e, err := m.dead.Get(ctx, k)
	if err != nil {
		return nil, err
	}
	var env envelope
	if err := json.Unmarshal(e.Value(), &env); err != nil {
		return nil, fmt.Errorf("decode dead letter %s: %w", k, err)
	}
	env.Replays++
	inv, err := m.getRecord(ctx, k)
	if err != nil {
		return nil, err
	}
	inv.Status, inv.Attempts, inv.Replays, inv.UpdatedAt = api.InvocationQueued, 0, env.Replays, time.Now().UTC()
	if err := m.putRecord(ctx, inv); err != nil {
		return nil, err
	}
	if err := m.publish(ctx, env, env.ID+"-replay-"+strconv.Itoa(env.Replays)); err != nil {
		return nil, err
	}
	if err := m.dead.Delete(ctx, k); err != nil {
		m.logger.Warn("drop a replayed dead letter", "invocation", id, "err", err)
	}
	return inv, nil
}
