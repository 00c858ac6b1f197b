package async

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/lantern-faas/lantern/platform/api"
	"github.com/lantern-faas/lantern/platform/client"
	"github.com/lantern-faas/lantern/platform/internal/delivery"
	"github.com/lantern-faas/lantern/platform/internal/httpx"
)

// AttemptHeader numbers the attempts of an asynchronous call.
const AttemptHeader = api.AttemptHeader

// Run runs queued calls until ctx ends, then waits for the running ones.
func (m *Manager) Run(ctx context.Context) error {
	var cc jetstream.ConsumeContext
	if !delivery.Retry(ctx, func() error {
		err := m.setup(ctx)
		if err == nil {
			cc, err = m.consume(ctx)
		}
		return err
	}, func(err error, wait time.Duration) {
		m.logger.Warn("async queue unavailable; retrying", "err", err, "in", wait)
	}) {
		return nil
	}
	m.logger.Info("async queue running")
	tick := time.NewTicker(2 * time.Second)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			cc.Stop()
			m.gate.Stop()
			return nil
		case <-tick.C:
			m.measureQueue(ctx)
		}
	}
}

func (m *Manager) consume(ctx context.Context) (jetstream.ConsumeContext, error) {
	cons, err := m.js.CreateOrUpdateConsumer(ctx, StreamName, jetstream.ConsumerConfig{Durable: consumerName,
		AckPolicy: jetstream.AckExplicitPolicy, AckWait: m.cfg.AckWait, MaxDeliver: -1, MaxAckPending: 2 * m.cfg.Concurrency})
	if err != nil {
		return nil, fmt.Errorf("create consumer %s: %w", consumerName, err)
	}
	return cons.Consume(func(msg jetstream.Msg) {
		m.gate.Go(func() { m.handle(msg) })
	}, jetstream.PullMaxMessages(2*m.cfg.Concurrency))
}

// measureQueue sets the depth and oldest-age gauges from the work queue,
// which holds exactly the unfinished calls.
func (m *Manager) measureQueue(ctx context.Context) {
	if m.metrics == nil {
		return
	}
	qctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	info, err := m.stream.Info(qctx)
	if err != nil {
		return
	}
	var age time.Duration
	if info.State.Msgs > 0 && !info.State.FirstTime.IsZero() {
		age = time.Since(info.State.FirstTime)
	}
	m.metrics.queue(info.State.Msgs, age)
}

// handle runs one attempt of a call and settles it.
func (m *Manager) handle(msg jetstream.Msg) {
	var env envelope
	if err := json.Unmarshal(msg.Data(), &env); err != nil {
		m.logger.Error("undecodable queued call dropped", "err", err)
		_ = msg.Term()
		return
	}
	md, err := msg.Metadata()
	if err != nil {
		_ = msg.Nak()
		return
	}
	req := &env.Request
	ns, fn := req.Namespace, req.Function
	attempt := int(md.NumDelivered)
	ctx, span := m.tracer.Start(context.Background(), "async.invoke", trace.WithSpanKind(trace.SpanKindConsumer),
		trace.WithAttributes(attribute.String("lantern.namespace", ns), attribute.String("lantern.function", fn),
			attribute.String("lantern.invocation", env.ID), attribute.Int("lantern.attempt", attempt)))
	defer span.End()
	id := httpx.IDFor(span.SpanContext())
	inv, err := m.getRecord(ctx, key(ns, fn, env.ID))
	if err != nil {
		now := time.Now().UTC()
		inv = &api.Invocation{ID: env.ID, Namespace: ns, Function: fn, Method: req.Method, Subpath: req.Subpath,
			MaxAttempts: env.MaxAttempts, CreatedAt: now, CallbackURL: req.CallbackURL, AcceptRequestID: req.RequestID}
	}
	inv.Status, inv.Attempts, inv.RequestID, inv.UpdatedAt = api.InvocationRunning, attempt, id, time.Now().UTC()
	m.savePut(ctx, inv)

	hdr := http.Header{}
	for k, v := range req.Header {
		hdr[k] = v
	}
	hdr.Set(client.RequestIDHeader, id)
	hdr.Set(api.InvocationIDHeader, env.ID)
	hdr.Set(AttemptHeader, strconv.Itoa(attempt))
	m.metrics.running(1)
	stop := delivery.KeepAlive(msg, m.cfg.AckWait/3)
	res, err := m.caller.Call(ctx, client.Call{Namespace: ns, Function: fn, Method: req.Method, Subpath: req.Subpath,
		Query: req.Query, Trigger: "async", Header: hdr, Body: req.Body})
	stop()
	m.metrics.running(-1)
	inv.UpdatedAt, inv.Duration = time.Now().UTC(), res.Duration
	switch {
	case err != nil:
		inv.Error, inv.ResponseStatus, inv.Response = "no answer: "+err.Error(), 0, ""
	default:
		inv.ResponseStatus, inv.Response, inv.Error = res.Status, truncate(res.Body), ""
		if res.Status >= 400 {
			inv.Error = "status " + strconv.Itoa(res.Status)
		}
	}
	switch {
	case inv.Error == "":
		// Metrics first, so that they count an outcome as soon as its
		// record shows it.
		m.metrics.finished(ns, fn, "succeeded")
		inv.Status = api.InvocationSucceeded
		m.savePut(ctx, inv)
		_ = msg.Ack()
		m.callback(inv)
	case attempt < env.MaxAttempts:
		m.metrics.retried(ns, fn)
		inv.Status = api.InvocationRetrying
		m.savePut(ctx, inv)
		_ = msg.NakWithDelay(m.backoff(attempt))
	default:
		inv.Status = api.InvocationFailed
		if _, err := m.dead.Put(ctx, key(ns, fn, env.ID), msg.Data()); err != nil {
			m.logger.Warn("keep a dead letter; the call will run again", "invocation", env.ID, "err", err)
			_ = msg.NakWithDelay(m.backoff(attempt))
			return
		}
		m.metrics.finished(ns, fn, "failed")
		m.savePut(ctx, inv)
		_ = msg.Ack()
		m.logger.Warn("asynchronous invocation failed after its last attempt; in the dead-letter list",
			"namespace", ns, "function", fn, "invocation", env.ID, "attempts", attempt, "request_id", id, "reason", inv.Error)
		m.callback(inv)
	}
}

func (m *Manager) savePut(ctx context.Context, inv *api.Invocation) {
	if err := m.putRecord(ctx, inv); err != nil {
		m.logger.Warn("record an invocation's state", "invocation", inv.ID, "err", err)
	}
}

func (m *Manager) backoff(attempt int) time.Duration {
	return delivery.Backoff(attempt, m.cfg.RetryDelay, m.cfg.MaxRetryDelay)
}

func truncate(b []byte) string {
	if len(b) > maxResponseBytes {
		return string(b[:maxResponseBytes]) + "..."
	}
	return string(b)
}

// callback POSTs the outcome to the invocation's callback URL, trying
// three times; it does not hold up the queue.
func (m *Manager) callback(inv *api.Invocation) {
	if inv.CallbackURL == "" {
		return
	}
	body, err := json.Marshal(inv)
	if err != nil {
		return
	}
	go func() {
		var last error
		for i := range 3 {
			if i > 0 {
				time.Sleep(time.Duration(i) * time.Second)
			}
			req, err := http.NewRequest(http.MethodPost, inv.CallbackURL, bytes.NewReader(body))
			if err != nil {
				last = err
				break
			}
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set(api.InvocationIDHeader, inv.ID)
			resp, err := m.hc.Do(req)
			if err == nil {
				resp.Body.Close()
				if resp.StatusCode < 300 {
					return
				}
				err = fmt.Errorf("status %d", resp.StatusCode)
			}
			last = err
		}
		m.logger.Warn("invocation callback failed", "invocation", inv.ID, "url", redact(inv.CallbackURL), "err", last)
	}()
}

// redact drops a URL's query, which may hold secrets.
func redact(u string) string {
	if i := strings.IndexByte(u, '?'); i >= 0 {
		return u[:i]
	}
	return u
}
