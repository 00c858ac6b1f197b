package mqtrigger

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/lantern-faas/lantern/platform/api"
	"github.com/lantern-faas/lantern/platform/client"
	"github.com/lantern-faas/lantern/platform/internal/delivery"
	"github.com/lantern-faas/lantern/platform/internal/httpx"
)

// Headers of a trigger's call (Fission's) and of the messages it publishes.
const (
	TopicHeader      = "X-Fission-MQTrigger-Topic"
	RespTopicHeader  = "X-Fission-MQTrigger-RespTopic"
	ErrorTopicHeader = "X-Fission-MQTrigger-ErrorTopic"
	AttemptHeader    = api.AttemptHeader
	// ErrorHeader, on a message of the error topic, says why the function
	// failed on it; SourceHeader names the topic it came from, and
	// AttemptsHeader how often it was tried.
	ErrorHeader    = "Lantern-Error"
	SourceHeader   = "Lantern-Source-Topic"
	AttemptsHeader = "Lantern-Attempts"
	StatusHeader   = "Lantern-Status"
)

// handler handles the messages of one trigger.
type handler struct {
	m      *Manager
	t      *api.MessageQueueTrigger
	broker Broker
	log    *slog.Logger
	gate   *delivery.Gate
	tm     *triggerMetrics
}

// handle runs a message in its own goroutine once a slot is free; it is
// called from the broker's delivery goroutine, which the wait slows down.
// Messages that arrive after stop are left to be delivered again.
func (h *handler) handle(msg Message) { h.gate.Go(func() { h.process(msg) }) }

// stop waits for the messages being handled; later ones are not.
func (h *handler) stop() { h.gate.Stop() }

// process calls the function for one message and settles the message.
// The call is not cut short when the trigger stops: a message either
// finishes or, unacknowledged, is delivered again.
func (h *handler) process(msg Message) {
	t, m := h.t, h.m
	ns, name, fn := t.Metadata.Namespace, t.Metadata.Name, t.Spec.FunctionRef.Name
	attempt := msg.Attempt()
	ctx, span := m.tracer.Start(context.Background(), "mqt.message", trace.WithSpanKind(trace.SpanKindConsumer),
		trace.WithAttributes(attribute.String("lantern.namespace", ns), attribute.String("lantern.trigger", name),
			attribute.String("messaging.destination.name", t.Spec.Topic), attribute.Int("lantern.attempt", attempt)))
	defer span.End()
	id := httpx.IDFor(span.SpanContext())
	h.tm.started()
	defer h.tm.finished()
	stop := delivery.KeepAlive(msg, h.m.cfg.AckWait/3)
	defer stop()
	res, err := m.caller.Call(ctx, client.Call{Namespace: ns, Function: fn, Method: http.MethodPost, Trigger: "mqt",
		Header: h.callHeader(id, attempt), Body: msg.Data()})
	reason := ""
	switch {
	case err != nil:
		reason = "no answer: " + err.Error()
	case res.Status >= 400:
		reason = fmt.Sprintf("status %d: %s", res.Status, shortReason(string(res.Body)))
	}
	if reason == "" {
		if t.Spec.RespTopic != "" {
			out := Outgoing{Data: res.Body, ID: t.Metadata.UID + "/" + msg.ID() + "/resp", Headers: map[string]string{
				"Content-Type": res.Header.Get("Content-Type"), client.RequestIDHeader: id, SourceHeader: t.Spec.Topic,
				StatusHeader: strconv.Itoa(res.Status)}}
			if err := h.publish(t.Spec.RespTopic, out); err != nil {
				h.log.Warn("publish the answer; the message will be delivered again", "request_id", id, "err", err)
				_ = msg.Retry(m.cfg.RetryDelay)
				return
			}
		}
		h.tm.messageProcessed()
		if err := msg.Ack(); err != nil {
			h.log.Warn("acknowledge a message", "request_id", id, "err", err)
		}
		return
	}
	if attempt <= t.Spec.Retries() {
		h.tm.messageRetried()
		h.log.Debug("function failed on a message; retrying", "request_id", id, "attempt", attempt, "reason", reason)
		_ = msg.Retry(h.backoff(attempt))
		return
	}
	h.deadLetter(msg, id, attempt, reason)
}

// deadLetter publishes a message the function failed on for good to the
// error topic, then acknowledges it.
func (h *handler) deadLetter(msg Message, id string, attempt int, reason string) {
	t, m := h.t, h.m
	if t.Spec.ErrorTopic != "" {
		hdr := map[string]string{ErrorHeader: reason, SourceHeader: t.Spec.Topic, AttemptsHeader: strconv.Itoa(attempt),
			client.RequestIDHeader: id}
		for k, v := range msg.Headers() {
			if _, taken := hdr[k]; !taken {
				hdr[k] = v
			}
		}
		if err := h.publish(t.Spec.ErrorTopic, Outgoing{Data: msg.Data(), Headers: hdr, ID: t.Metadata.UID + "/" + msg.ID() + "/error"}); err != nil {
			h.log.Warn("publish to the error topic; the message will be delivered again", "request_id", id, "err", err)
			_ = msg.Retry(m.cfg.RetryDelay)
			return
		}
	} else {
		h.log.Error("function failed on a message after every retry, and the trigger has no error topic; message dropped",
			"request_id", id, "attempts", attempt, "reason", reason, "message_id", msg.ID())
	}
	h.tm.messageFailed()
	if err := msg.Ack(); err != nil {
		h.log.Warn("acknowledge a message", "request_id", id, "err", err)
	}
}

func (h *handler) callHeader(id string, attempt int) http.Header {
	s := &h.t.Spec
	hdr := http.Header{}
	hdr.Set("Content-Type", s.ContentType)
	hdr.Set(client.RequestIDHeader, id)
	hdr.Set(TopicHeader, s.Topic)
	if s.RespTopic != "" {
		hdr.Set(RespTopicHeader, s.RespTopic)
	}
	if s.ErrorTopic != "" {
		hdr.Set(ErrorTopicHeader, s.ErrorTopic)
	}
	hdr.Set(AttemptHeader, strconv.Itoa(attempt))
	return hdr
}

// publish publishes out, trying again for up to AckWait while the broker
// does not take it (it may be restarting), so that the function is not
// called again for a message it already answered.
func (h *handler) publish(topic string, out Outgoing) error {
	deadline := time.Now().Add(h.m.cfg.AckWait)
	delay := 100 * time.Millisecond
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err := h.broker.Publish(ctx, topic, out)
		cancel()
		if err == nil || time.Now().Add(delay).After(deadline) {
			return err
		}
		time.Sleep(delay)
		delay = min(2*delay, 2*time.Second)
	}
}

// backoff is the delay before the retry that follows attempt.
func (h *handler) backoff(attempt int) time.Duration {
	return delivery.Backoff(attempt, h.m.cfg.RetryDelay, h.m.cfg.MaxRetryDelay)
}
