package kafka_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/lantern-faas/lantern/platform/api"
	"github.com/lantern-faas/lantern/platform/client"
	"github.com/lantern-faas/lantern/platform/mqtrigger"
	"github.com/lantern-faas/lantern/platform/mqtrigger/kafka"
)

// caller fails the first fail[body] calls of a body with 500.
type caller struct {
	mu    sync.Mutex
	calls map[string]int
	fail  map[string]int
}

func (c *caller) Call(_ context.Context, call client.Call) (client.Result, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	body := string(call.Body)
	c.calls[body]++
	if f := c.fail[body]; f < 0 || c.calls[body] <= f {
		return client.Result{Status: 500, Body: []byte("boom")}, nil
	}
	return client.Result{Status: 200, Header: http.Header{}, Body: []byte("done " + body)}, nil
}

func (c *caller) count(body string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.calls[body]
}

type objects struct{ ts []*api.MessageQueueTrigger }

func (o objects) MessageQueueTriggers() []*api.MessageQueueTrigger { return o.ts }
func (o objects) Synced() <-chan struct{} {
	c := make(chan struct{})
	close(c)
	return c
}

// readAll reads what topic holds, as "value|error header" strings.
func readAll(t *testing.T, brokers []string, topic string, want int) []string {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var out []string
	deadline := time.Now().Add(15 * time.Second)
	for len(out) < want && time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		cl.PollFetches(ctx).EachRecord(func(r *kgo.Record) {
			v := string(r.Value)
			for _, h := range r.Headers {
				if h.Key == mqtrigger.ErrorHeader {
					v += "|" + string(h.Value)
				}
			}
			out = append(out, v)
		})
		cancel()
	}
	return out
}

// TestKafka_TriggerSemantics runs the message queue trigger manager on
// the Kafka broker against franz-go's in-process cluster (no Kafka broker
// can be had here): answers reach the response topic, a message failing
// twice is retried and answered once, one always failing lands on the
// error topic after maxRetries, with the reason.
func TestKafka_TriggerSemantics(t *testing.T) {
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.AllowAutoTopicCreation())
	if err != nil {
		t.Fatal(err)
	}
	defer cluster.Close()
	brokers := cluster.ListenAddrs()
	b, err := kafka.New(kafka.Config{Brokers: brokers}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	retries := 2
	tr := &api.MessageQueueTrigger{Metadata: api.Metadata{Name: "orders", Namespace: "default", UID: "u1"},
		Spec: api.MessageQueueTriggerSpec{FunctionRef: api.FunctionRef{Name: "fn"}, MessageQueueType: api.MQTypeKafka,
			Topic: "orders", RespTopic: "orders.done", ErrorTopic: "orders.failed", MaxRetries: &retries}}
	tr.SetDefaults()
	c := &caller{calls: map[string]int{}, fail: map[string]int{"flaky": 2, "bad": -1}}
	m := mqtrigger.New(mqtrigger.Config{RetryDelay: 10 * time.Millisecond, LagInterval: 100 * time.Millisecond},
		map[string]mqtrigger.Broker{api.MQTypeKafka: b}, objects{[]*api.MessageQueueTrigger{tr}}, c, nil,
		mqtrigger.WithRegisterer(prometheus.NewRegistry()))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = m.Run(ctx)
	}()
	defer func() {
		cancel()
		<-done
	}()
	deadline := time.Now().Add(15 * time.Second)
	for st := m.Statuses(); len(st) == 0 || !st[0].Ready; st = m.Statuses() {
		if time.Now().After(deadline) {
			t.Fatalf("trigger not ready: %+v", st)
		}
		time.Sleep(20 * time.Millisecond)
	}
	for _, body := range []string{"ok", "flaky", "bad"} {
		if err := b.Publish(ctx, "orders", mqtrigger.Outgoing{Data: []byte(body)}); err != nil {
			t.Fatal(err)
		}
	}
	answers := readAll(t, brokers, "orders.done", 2)
	if len(answers) != 2 || !contains(answers, "done ok") || !contains(answers, "done flaky") {
		t.Errorf("answers = %q, want ok and flaky answered once each", answers)
	}
	failed := readAll(t, brokers, "orders.failed", 1)
	if len(failed) != 1 || !strings.HasPrefix(failed[0], "bad|status 500") {
		t.Errorf("error topic = %q, want bad with its reason", failed)
	}
	if c.count("ok") != 1 || c.count("flaky") != 3 || c.count("bad") != 3 {
		t.Errorf("calls ok %d, flaky %d, bad %d; want 1, 3, 3", c.count("ok"), c.count("flaky"), c.count("bad"))
	}
}

// TestKafka_Restart checks offsets are committed only once messages are
// done: a new consumer with the same trigger resumes after them.
func TestKafka_Restart(t *testing.T) {
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.AllowAutoTopicCreation())
	if err != nil {
		t.Fatal(err)
	}
	defer cluster.Close()
	b, err := kafka.New(kafka.Config{Brokers: cluster.ListenAddrs()}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	ctx := context.Background()
	var mu sync.Mutex
	seen := map[string]int{}
	sub := mqtrigger.Subscription{ID: "lantern-u2", Topic: "jobs", MaxInFlight: 8, AckWait: time.Second}
	consume := func() mqtrigger.Consumer {
		cons, err := b.Subscribe(ctx, sub, func(msg mqtrigger.Message) {
			mu.Lock()
			seen[string(msg.Data())]++
			mu.Unlock()
			_ = msg.Ack()
		})
		if err != nil {
			t.Fatal(err)
		}
		return cons
	}
	wait := func(n int) {
		t.Helper()
		deadline := time.Now().Add(15 * time.Second)
		for {
			mu.Lock()
			got := len(seen)
			mu.Unlock()
			if got >= n {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("saw %d distinct messages, want %d", got, n)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	cons := consume()
	for i := range 5 {
		if err := b.Publish(ctx, "jobs", mqtrigger.Outgoing{Data: fmt.Appendf(nil, "a%d", i)}); err != nil {
			t.Fatal(err)
		}
	}
	wait(5)
	cons.Stop()
	for i := range 5 {
		if err := b.Publish(ctx, "jobs", mqtrigger.Outgoing{Data: fmt.Appendf(nil, "b%d", i)}); err != nil {
			t.Fatal(err)
		}
	}
	cons = consume()
	defer cons.Stop()
	wait(10)
	time.Sleep(300 * time.Millisecond)
	mu.Lock()
	defer mu.Unlock()
	for k, n := range seen {
		if n != 1 {
			t.Errorf("message %s handled %d times after the restart, want once", k, n)
		}
	}
}

func TestKafka_Unreachable(t *testing.T) {
	b, err := kafka.New(kafka.Config{Brokers: []string{"127.0.0.1:1"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if _, err := b.Subscribe(ctx, mqtrigger.Subscription{ID: "x", Topic: "t", MaxInFlight: 1}, func(mqtrigger.Message) {}); err == nil ||
		!strings.Contains(err.Error(), "reach Kafka") {
		t.Fatalf("Subscribe to an unreachable broker: %v", err)
	}
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
