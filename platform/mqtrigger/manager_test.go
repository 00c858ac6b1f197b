package mqtrigger

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/lantern-faas/lantern/platform/api"
	"github.com/lantern-faas/lantern/platform/client"
)

// fakeBroker keeps published messages in memory and redelivers retried
// ones; failSubscribe and failPublish make the next calls fail.
type fakeBroker struct {
	mu            sync.Mutex
	handle        func(Message)
	published     map[string][]Outgoing
	failSubscribe int
	failPublish   int
	subscribed    chan struct{}
}

var _ Broker = (*fakeBroker)(nil)

func newFakeBroker() *fakeBroker {
	return &fakeBroker{published: map[string][]Outgoing{}, subscribed: make(chan struct{}, 10)}
}

func (b *fakeBroker) Subscribe(_ context.Context, _ Subscription, handle func(Message)) (Consumer, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.failSubscribe > 0 {
		b.failSubscribe--
		return nil, errors.New("connection refused")
	}
	b.handle = handle
	b.subscribed <- struct{}{}
	return fakeConsumer{}, nil
}

func (b *fakeBroker) Publish(_ context.Context, topic string, m Outgoing) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.failPublish > 0 {
		b.failPublish--
		return errors.New("no responders")
	}
	b.published[topic] = append(b.published[topic], m)
	return nil
}

func (b *fakeBroker) topic(name string) []Outgoing {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]Outgoing(nil), b.published[name]...)
}

// deliver hands a message to the subscriber.
func (b *fakeBroker) deliver(m *fakeMessage) {
	b.mu.Lock()
	h := b.handle
	b.mu.Unlock()
	m.b = b
	h(m)
}

type fakeConsumer struct{}

func (fakeConsumer) Stop()                              {}
func (fakeConsumer) Lag(context.Context) (int64, error) { return 0, nil }

// fakeMessage counts its acknowledgements; Retry delivers it again.
type fakeMessage struct {
	b       *fakeBroker
	id      string
	data    []byte
	attempt int
	mu      sync.Mutex
	acks    int
	retries []time.Duration
	acked   chan struct{}
}

func newMessage(id, data string) *fakeMessage {
	return &fakeMessage{id: id, data: []byte(data), attempt: 1, acked: make(chan struct{}, 10)}
}

func (m *fakeMessage) Data() []byte               { return m.data }
func (m *fakeMessage) Headers() map[string]string { return map[string]string{"Trace": "t1"} }
func (m *fakeMessage) ID() string                 { return m.id }
func (m *fakeMessage) InProgress() error          { return nil }

func (m *fakeMessage) Attempt() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.attempt
}

func (m *fakeMessage) Ack() error {
	m.mu.Lock()
	m.acks++
	m.mu.Unlock()
	m.acked <- struct{}{}
	return nil
}

func (m *fakeMessage) Retry(d time.Duration) error {
	m.mu.Lock()
	m.retries = append(m.retries, d)
	m.attempt++
	m.mu.Unlock()
	go func() {
		time.Sleep(d)
		m.b.deliver(m)
	}()
	return nil
}

// fakeCaller answers with the status its script gives for a call.
type fakeCaller struct {
	mu     sync.Mutex
	calls  []client.Call
	status func(n int, c client.Call) int
}

func (c *fakeCaller) Call(_ context.Context, call client.Call) (client.Result, error) {
	c.mu.Lock()
	c.calls = append(c.calls, call)
	n := len(c.calls)
	c.mu.Unlock()
	st := c.status(n, call)
	return client.Result{Status: st, Header: http.Header{"Content-Type": {"text/plain"}},
		Body: fmt.Appendf(nil, "answer %d to %s", n, call.Body)}, nil
}

func (c *fakeCaller) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.calls)
}

type fakeObjects struct {
	ts     []*api.MessageQueueTrigger
	synced chan struct{}
}

func (o *fakeObjects) MessageQueueTriggers() []*api.MessageQueueTrigger { return o.ts }
func (o *fakeObjects) Synced() <-chan struct{}                          { return o.synced }

func newTrigger(mqtype string, retries int) *api.MessageQueueTrigger {
	t := &api.MessageQueueTrigger{Metadata: api.Metadata{Name: "orders", Namespace: "default", UID: "u1"},
		Spec: api.MessageQueueTriggerSpec{FunctionRef: api.FunctionRef{Name: "fn"}, MessageQueueType: mqtype,
			Topic: "orders", RespTopic: "orders.done", ErrorTopic: "orders.failed", MaxRetries: &retries}}
	t.SetDefaults()
	return t
}

func startManager(t *testing.T, tr *api.MessageQueueTrigger, b Broker, c Caller) *Manager {
	t.Helper()
	objs := &fakeObjects{ts: []*api.MessageQueueTrigger{tr}, synced: make(chan struct{})}
	close(objs.synced)
	brokers := map[string]Broker{}
	if b != nil {
		brokers[api.MQTypeNATS] = b
	}
	m := New(Config{RetryDelay: time.Millisecond, LagInterval: 50 * time.Millisecond}, brokers, objs, c, nil,
		WithRegisterer(prometheus.NewRegistry()))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = m.Run(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	return m
}

func waitAck(t *testing.T, m *fakeMessage) {
	t.Helper()
	select {
	case <-m.acked:
	case <-time.After(5 * time.Second):
		t.Fatalf("message %s not acknowledged", m.id)
	}
}

func waitSubscribed(t *testing.T, b *fakeBroker) {
	t.Helper()
	select {
	case <-b.subscribed:
	case <-time.After(5 * time.Second):
		t.Fatal("not subscribed")
	}
}

func TestManager_Success(t *testing.T) {
	b := newFakeBroker()
	c := &fakeCaller{status: func(int, client.Call) int { return 200 }}
	m := startManager(t, newTrigger("nats", 3), b, c)
	waitSubscribed(t, b)
	msg := newMessage("1", `{"n":1}`)
	b.deliver(msg)
	waitAck(t, msg)
	call := c.calls[0]
	if call.Trigger != "mqt" || call.Method != "POST" || string(call.Body) != `{"n":1}` ||
		call.Header.Get(TopicHeader) != "orders" || call.Header.Get("Content-Type") != "application/json" || call.Header.Get(AttemptHeader) != "1" {
		t.Errorf("call = %+v", call)
	}
	resp := b.topic("orders.done")
	if len(resp) != 1 || string(resp[0].Data) != `answer 1 to {"n":1}` || resp[0].ID != "u1/1/resp" {
		t.Fatalf("response topic = %+v, want the answer once", resp)
	}
	if got := testutil.ToFloat64(m.metrics.processed.WithLabelValues("default", "orders")); got != 1 {
		t.Errorf("processed = %v, want 1", got)
	}
}

func TestManager_RetriesThenSucceeds(t *testing.T) {
	b := newFakeBroker()
	c := &fakeCaller{status: func(n int, _ client.Call) int {
		if n <= 2 {
			return 500
		}
		return 200
	}}
	m := startManager(t, newTrigger("nats", 3), b, c)
	waitSubscribed(t, b)
	msg := newMessage("7", "x")
	b.deliver(msg)
	waitAck(t, msg)
	time.Sleep(50 * time.Millisecond)
	if c.count() != 3 || msg.acks != 1 || len(msg.retries) != 2 {
		t.Fatalf("calls %d, acks %d, retries %v; want 3 calls, 1 ack, 2 retries", c.count(), msg.acks, msg.retries)
	}
	if msg.retries[1] != 2*msg.retries[0] {
		t.Errorf("retry delays %v, want doubling", msg.retries)
	}
	if len(b.topic("orders.done")) != 1 || len(b.topic("orders.failed")) != 0 {
		t.Errorf("responses %v, errors %v", b.topic("orders.done"), b.topic("orders.failed"))
	}
	if got := testutil.ToFloat64(m.metrics.retried.WithLabelValues("default", "orders")); got != 2 {
		t.Errorf("retries metric = %v, want 2", got)
	}
}

func TestManager_ErrorTopicAfterMaxRetries(t *testing.T) {
	b := newFakeBroker()
	c := &fakeCaller{status: func(int, client.Call) int { return 502 }}
	m := startManager(t, newTrigger("nats", 2), b, c)
	waitSubscribed(t, b)
	msg := newMessage("9", "payload")
	b.deliver(msg)
	waitAck(t, msg)
	if c.count() != 3 {
		t.Fatalf("%d calls, want 3 (maxRetries 2)", c.count())
	}
	errs := b.topic("orders.failed")
	if len(errs) != 1 || string(errs[0].Data) != "payload" || !strings.Contains(errs[0].Headers[ErrorHeader], "status 502") ||
		errs[0].Headers[AttemptsHeader] != "3" || errs[0].Headers[SourceHeader] != "orders" || errs[0].Headers["Trace"] != "t1" {
		t.Fatalf("error topic = %+v", errs)
	}
	if len(b.topic("orders.done")) != 0 {
		t.Error("a failed message got a response")
	}
	if got := testutil.ToFloat64(m.metrics.failed.WithLabelValues("default", "orders")); got != 1 {
		t.Errorf("failed = %v, want 1", got)
	}
}

func TestManager_PublishFailure(t *testing.T) {
	t.Run("RetriedWithoutCallingAgain", func(t *testing.T) {
		b := newFakeBroker()
		b.failPublish = 2
		c := &fakeCaller{status: func(int, client.Call) int { return 200 }}
		_ = startManager(t, newTrigger("nats", 0), b, c)
		waitSubscribed(t, b)
		msg := newMessage("3", "x")
		b.deliver(msg)
		waitAck(t, msg)
		if c.count() != 1 || msg.acks != 1 || len(b.topic("orders.done")) != 1 {
			t.Fatalf("calls %d, acks %d, responses %d; want one call whose answer is published on a later try", c.count(), msg.acks, len(b.topic("orders.done")))
		}
	})
	t.Run("RedeliveredWhenTheBrokerStaysAway", func(t *testing.T) {
		b := newFakeBroker()
		b.failPublish = 1000
		c := &fakeCaller{status: func(int, client.Call) int { return 200 }}
		objs := &fakeObjects{ts: []*api.MessageQueueTrigger{newTrigger("nats", 0)}, synced: make(chan struct{})}
		close(objs.synced)
		m := New(Config{RetryDelay: time.Millisecond, AckWait: 300 * time.Millisecond}, map[string]Broker{"nats": b}, objs, c, nil)
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		go func() { _ = m.Run(ctx) }()
		waitSubscribed(t, b)
		msg := newMessage("4", "x")
		b.deliver(msg)
		deadline := time.Now().Add(5 * time.Second)
		for c.count() < 2 && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		msg.mu.Lock()
		defer msg.mu.Unlock()
		if c.count() < 2 || msg.acks != 0 {
			t.Fatalf("calls %d, acks %d; want the message delivered again, never acknowledged", c.count(), msg.acks)
		}
	})
}

func TestManager_Status(t *testing.T) {
	t.Run("NoBroker", func(t *testing.T) {
		m := startManager(t, newTrigger("kafka", 1), nil, &fakeCaller{})
		waitStatus(t, m, func(s Status) bool { return !s.Ready && strings.Contains(s.Message, "--kafka-brokers") })
	})
	t.Run("SubscribeFailsThenWorks", func(t *testing.T) {
		b := newFakeBroker()
		b.failSubscribe = 1
		m := startManager(t, newTrigger("nats", 1), b, &fakeCaller{})
		waitStatus(t, m, func(s Status) bool { return !s.Ready && strings.Contains(s.Message, "connection refused") })
		waitSubscribed(t, b)
		waitStatus(t, m, func(s Status) bool { return s.Ready })
	})
}

func waitStatus(t *testing.T, m *Manager, ok func(Status) bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if st := m.Statuses(); len(st) == 1 && ok(st[0]) {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("status = %+v", m.Statuses())
}
