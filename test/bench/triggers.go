package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"sync/atomic"
	"time"

	natsgo "github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/lantern-faas/lantern/platform/api"
)

// Targets of the triggers' measurements.
const (
	targetMQTRate     = 5000 // messages/s into a warm function
	targetTimerJitter = 50 * time.Millisecond
	targetAsyncAccept = 5 * time.Millisecond
)

// triggerResults are the measurements of timers, queue triggers and
// asynchronous calls.
type triggerResults struct {
	mqtN        int
	mqtElapsed  time.Duration // first publish to the last message processed
	mqtRate     float64       // messages/s through the trigger
	natsRate    float64       // raw NATS publish → subscribe, messages/s
	jsRate      float64       // JetStream publish → pull consume with ack, no function
	jitter      map[float64]float64
	timerTicks  float64
	asyncAccept []time.Duration // POST /async/... → 202
	syncCall    []time.Duration // GET /fn/... → 200, the same function
	asyncErrs   errTally
}

// mqtThroughput publishes messages to a topic a warm function consumes
// through a message queue trigger and measures messages/s until the
// trigger has processed all of them; then the same count through raw NATS
// (publish → subscribe) and through JetStream without a function.
func (b *bench) mqtThroughput(ctx context.Context, d *lanternd) error {
	tr := &b.r.triggers
	n := b.p.mqtMessages
	spec := api.FunctionSpec{RequestsPerPod: 64, Concurrency: 2}
	if err := b.createFunction(ctx, "mqtecho", spec, helloCode("mqtecho")); err != nil {
		return err
	}
	if err := waitCallable(ctx, b.fnURL("mqtecho"), 30*time.Second); err != nil {
		return err
	}
	nc, err := natsgo.Connect(d.natsURL)
	if err != nil {
		return err
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	t := &api.MessageQueueTrigger{Metadata: api.Metadata{Name: "bench", Namespace: namespace},
		Spec: api.MessageQueueTriggerSpec{MessageQueueType: "nats", Topic: "bench.in", FunctionRef: api.FunctionRef{Name: "mqtecho"}}}
	if err := b.ctrl.Create(ctx, t); err != nil {
		return fmt.Errorf("create the queue trigger: %w", err)
	}
	processed := func() float64 {
		text, err := d.metrics(ctx)
		if err != nil {
			return -1
		}
		return metricValue(text, `lantern_mqt_messages_processed_total{namespace="default",trigger="bench"}`)
	}
	// Warm up: the trigger subscribes, the function gets its instances.
	deadline := time.Now().Add(30 * time.Second)
	for i := 0; processed() < 200; i++ {
		if time.Now().After(deadline) {
			return fmt.Errorf("the queue trigger processed no warm-up messages within 30s")
		}
		if i < 200 {
			if _, err := js.Publish(ctx, "bench.in", []byte(`{"warm":true}`)); err != nil && i > 20 {
				return err
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	base := processed()
	msg := []byte(`{"order":12345,"item":"lantern"}`)
	start := time.Now()
	for i := range n {
		if _, err := js.PublishAsync("bench.in", msg); err != nil {
			return fmt.Errorf("publish %d: %w", i, err)
		}
	}
	select {
	case <-js.PublishAsyncComplete():
	case <-time.After(60 * time.Second):
		return fmt.Errorf("publishing %d messages took over 60s", n)
	}
	published := time.Since(start)
	for processed()-base < float64(n) {
		if ctx.Err() != nil || time.Since(start) > 5*time.Minute {
			return fmt.Errorf("only %.0f of %d messages processed", processed()-base, n)
		}
		// Each look is a full /metrics scrape of lanternd: often enough to
		// time the end within 1-2 %, rarely enough not to slow what it times.
		time.Sleep(100 * time.Millisecond)
	}
	tr.mqtN, tr.mqtElapsed = n, time.Since(start)
	tr.mqtRate = float64(n) / tr.mqtElapsed.Seconds()
	progress("queue trigger: %d messages in %s (published in %s): %.0f msgs/s", n, tr.mqtElapsed.Round(time.Millisecond), published.Round(time.Millisecond), tr.mqtRate)

	tr.natsRate, err = natsPubSub(nc, n, msg)
	if err != nil {
		return err
	}
	tr.jsRate, err = jetStreamPubConsume(ctx, js, n, msg)
	if err != nil {
		return err
	}
	progress("baselines: raw NATS publish → subscribe %.0f msgs/s; JetStream publish → consume with ack %.0f msgs/s", tr.natsRate, tr.jsRate)
	return b.ctrl.Delete(ctx, api.KindMessageQueueTrigger, namespace, "bench")
}

// natsPubSub measures core NATS: one subscriber, n messages published.
func natsPubSub(nc *natsgo.Conn, n int, msg []byte) (float64, error) {
	var got atomic.Int64
	done := make(chan struct{})
	sub, err := nc.Subscribe("bench.raw", func(*natsgo.Msg) {
		if got.Add(1) == int64(n) {
			close(done)
		}
	})
	if err != nil {
		return 0, err
	}
	defer sub.Unsubscribe()
	_ = sub.SetPendingLimits(-1, -1)
	if err := nc.Flush(); err != nil {
		return 0, err
	}
	start := time.Now()
	for range n {
		if err := nc.Publish("bench.raw", msg); err != nil {
			return 0, err
		}
	}
	select {
	case <-done:
	case <-time.After(60 * time.Second):
		return 0, fmt.Errorf("raw NATS: %d of %d messages arrived", got.Load(), n)
	}
	return float64(n) / time.Since(start).Seconds(), nil
}

// jetStreamPubConsume measures JetStream alone: publish n messages to a
// stream and consume them with acknowledgements.
func jetStreamPubConsume(ctx context.Context, js jetstream.JetStream, n int, msg []byte) (float64, error) {
	s, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "BENCH_JS", Subjects: []string{"bench.js"}, Storage: jetstream.FileStorage})
	if err != nil {
		return 0, err
	}
	defer func() { _ = js.DeleteStream(context.Background(), "BENCH_JS") }()
	cons, err := s.CreateConsumer(ctx, jetstream.ConsumerConfig{Durable: "bench", AckPolicy: jetstream.AckExplicitPolicy, MaxAckPending: 1024})
	if err != nil {
		return 0, err
	}
	var got atomic.Int64
	done := make(chan struct{})
	start := time.Now()
	cc, err := cons.Consume(func(m jetstream.Msg) {
		_ = m.Ack()
		if got.Add(1) == int64(n) {
			close(done)
		}
	}, jetstream.PullMaxMessages(512))
	if err != nil {
		return 0, err
	}
	defer cc.Stop()
	for range n {
		if _, err := js.PublishAsync("bench.js", msg); err != nil {
			return 0, err
		}
	}
	select {
	case <-done:
	case <-time.After(60 * time.Second):
		return 0, fmt.Errorf("JetStream: %d of %d messages consumed", got.Load(), n)
	}
	return float64(n) / time.Since(start).Seconds(), nil
}

// timerJitter runs a timer every second on a warm function and reads how
// late its ticks fired from the timer's histogram.
func (b *bench) timerJitter(ctx context.Context, d *lanternd) error {
	if err := b.createFunction(ctx, "ticked", api.FunctionSpec{}, helloCode("ticked")); err != nil {
		return err
	}
	if err := waitCallable(ctx, b.fnURL("ticked"), 30*time.Second); err != nil {
		return err
	}
	t := &api.TimeTrigger{Metadata: api.Metadata{Name: "bench", Namespace: namespace},
		Spec: api.TimeTriggerSpec{Cron: "* * * * * *", FunctionRef: api.FunctionRef{Name: "ticked"}}}
	if err := b.ctrl.Create(ctx, t); err != nil {
		return fmt.Errorf("create the timer: %w", err)
	}
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(b.p.timerDur):
	}
	// Read before deleting: the timer's series go with it.
	text, err := d.metrics(ctx)
	if err != nil {
		return err
	}
	b.r.triggers.jitter = histogramBuckets(text, "lantern_timer_jitter_seconds", "")
	b.r.triggers.timerTicks = metricValue(text, `lantern_timer_fires_total{namespace="default",outcome="ok",timer="bench"}`)
	progress("timer: %.0f ticks fired in %s", b.r.triggers.timerTicks, b.p.timerDur)
	return b.ctrl.Delete(ctx, api.KindTimeTrigger, namespace, "bench")
}

// asyncAccept times asynchronous calls (POST /async/... until the 202)
// and, side by side, synchronous calls of the same function.
func (b *bench) asyncAccept(ctx context.Context) error {
	tr := &b.r.triggers
	if err := b.createFunction(ctx, "later", api.FunctionSpec{RequestsPerPod: 16}, helloCode("later")); err != nil {
		return err
	}
	if err := waitCallable(ctx, b.fnURL("later"), 30*time.Second); err != nil {
		return err
	}
	tr.asyncErrs = errTally{}
	c := newClient(1)
	defer c.CloseIdleConnections()
	asyncURL := b.routerURL + "/async/" + namespace + "/later"
	post := func() (time.Duration, error) {
		start := time.Now()
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, asyncURL, bytes.NewReader([]byte(`{"job":1}`)))
		resp, err := c.Do(req)
		if err != nil {
			return 0, err
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusAccepted {
			return 0, fmt.Errorf("HTTP %d", resp.StatusCode)
		}
		return time.Since(start), nil
	}
	for range 100 { // warm-up
		_, _ = post()
	}
	sequential(ctx, c, b.fnURL("later"), 100, tr.asyncErrs)
	for range b.p.asyncCalls / 100 {
		for range 100 {
			d, err := post()
			if err != nil {
				tr.asyncErrs.add(err)
				continue
			}
			tr.asyncAccept = append(tr.asyncAccept, d)
		}
		tr.syncCall = append(tr.syncCall, sequential(ctx, c, b.fnURL("later"), 100, tr.asyncErrs)...)
	}
	progress("async accept p50 %s p99 %s; sync call p50 %s p99 %s", us(pct(tr.asyncAccept, 50)), us(pct(tr.asyncAccept, 99)),
		us(pct(tr.syncCall, 50)), us(pct(tr.syncCall, 99)))
	return ctx.Err()
}

// metricValue returns the value of one series in the text format, or 0.
func metricValue(text, series string) float64 {
	re := regexp.MustCompile("(?m)^" + regexp.QuoteMeta(series) + ` (\S+)`)
	m := re.FindStringSubmatch(text)
	if m == nil {
		return 0
	}
	v, _ := strconv.ParseFloat(m[1], 64)
	return v
}

// triggerRows reports the triggers' measurements.
func triggerRows(r *results) []row {
	tr := r.triggers
	le := func(limit time.Duration) func(time.Duration) bool {
		return func(d time.Duration) bool { return d <= limit }
	}
	mqt := row{measurement: fmt.Sprintf("Queue trigger throughput, NATS, warm python function (%d messages)", tr.mqtN),
		value: "no data", target: fmt.Sprintf("≥ %d msgs/s", targetMQTRate), baseline: none, ratio: none, result: verdict(false)}
	if tr.mqtRate > 0 {
		mqt.value = fmt.Sprintf("%.0f msgs/s", tr.mqtRate)
		mqt.baseline = fmt.Sprintf("%.0f msgs/s (raw NATS pub→sub)", tr.natsRate)
		mqt.ratio = ratio(tr.mqtRate, tr.natsRate)
		mqt.result = verdict(tr.mqtRate >= targetMQTRate)
	}
	js := row{measurement: "JetStream publish → consume with ack, no function", value: "no data", target: none, baseline: none, ratio: none, result: none}
	if tr.jsRate > 0 {
		js.value = fmt.Sprintf("%.0f msgs/s", tr.jsRate)
		js.ratio = ratio(tr.mqtRate, tr.jsRate) + " (trigger vs this)"
	}
	rows := []row{mqt, js}
	for _, q := range []float64{0.5, 0.99} {
		jr := row{measurement: fmt.Sprintf("Timer jitter p%g (%.0f ticks, every second)", q*100, tr.timerTicks), value: "no data",
			target: none, baseline: none, ratio: none, result: none}
		if q == 0.99 {
			jr.target, jr.result = "< 50 ms", verdict(false)
		}
		if v, lo, hi, ok := histogramQuantile(q, tr.jitter); ok {
			jr.value = fmt.Sprintf("%.2f ms (bucket %.4g–%.4g ms)", v*1e3, lo*1e3, hi*1e3)
			if q == 0.99 {
				jr.result = verdict(time.Duration(v*float64(time.Second)) < targetTimerJitter)
			}
		}
		rows = append(rows, jr)
	}
	n := fmt.Sprintf("(n=%d, 1 keep-alive conn)", len(tr.asyncAccept))
	rows = append(rows,
		latencyRow("Async accept (POST /async/… → 202) p50 "+n, tr.asyncAccept, 50, us, "", nil, pct(tr.syncCall, 50), " (sync call p50)"),
		latencyRow("Async accept p99 "+n, tr.asyncAccept, 99, us, "< 5 ms", le(targetAsyncAccept), pct(tr.syncCall, 99), " (sync call p99)"),
		row{"Failed calls in the async measurement", fmt.Sprint(tr.asyncErrs.total()), "0", none, none, verdict(tr.asyncErrs.total() == 0)},
	)
	return rows
}
