package nats_test

import (
	"context"
	"path/filepath"
	"sync"
	"testing"
	"time"

	natsgo "github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/lantern-faas/lantern/platform/mqtrigger"
	mqnats "github.com/lantern-faas/lantern/platform/mqtrigger/nats"
	"github.com/lantern-faas/lantern/platform/natsd"
)

// startServer runs the embedded NATS server with its store in dir.
func startServer(t *testing.T, dir string) *natsd.Server {
	t.Helper()
	srv, err := natsd.Start(natsd.Config{Dir: dir, Addr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	return srv
}

func connect(t *testing.T, url string) *mqnats.Broker {
	t.Helper()
	b, err := mqnats.Connect(mqnats.Config{URL: url}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	return b
}

func TestBroker_SubscribeRetryAckPublish(t *testing.T) {
	srv := startServer(t, filepath.Join(t.TempDir(), "nats"))
	t.Cleanup(srv.Shutdown)
	b := connect(t, srv.ClientURL())
	ctx := context.Background()

	// Published before the trigger subscribes: kept by the stream.
	if err := b.Publish(ctx, "jobs", mqtrigger.Outgoing{Data: []byte("early")}); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	attempts := map[string][]int{}
	got := make(chan string, 10)
	cons, err := b.Subscribe(ctx, mqtrigger.Subscription{ID: "t1", Topic: "jobs", MaxInFlight: 8, AckWait: 5 * time.Second},
		func(m mqtrigger.Message) {
			mu.Lock()
			attempts[string(m.Data())] = append(attempts[string(m.Data())], m.Attempt())
			n := len(attempts[string(m.Data())])
			mu.Unlock()
			if string(m.Data()) == "flaky" && n == 1 {
				_ = m.Retry(10 * time.Millisecond)
				return
			}
			_ = m.Ack()
			got <- string(m.Data())
		})
	if err != nil {
		t.Fatal(err)
	}
	defer cons.Stop()
	if err := b.Publish(ctx, "jobs", mqtrigger.Outgoing{Data: []byte("flaky"), Headers: map[string]string{"K": "v"}}); err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for len(seen) < 2 {
		select {
		case d := <-got:
			seen[d] = true
		case <-time.After(10 * time.Second):
			t.Fatalf("got %v, want early and flaky", seen)
		}
	}
	mu.Lock()
	if a := attempts["flaky"]; len(a) != 2 || a[0] != 1 || a[1] != 2 {
		t.Errorf("attempts of the retried message = %v, want [1 2]", a)
	}
	mu.Unlock()
	lag, err := cons.Lag(ctx)
	if err != nil || lag != 0 {
		t.Errorf("Lag = %d, %v; want 0", lag, err)
	}

	// Publishing with the same ID twice stores one copy.
	for range 2 {
		if err := b.Publish(ctx, "answers", mqtrigger.Outgoing{Data: []byte("a"), ID: "same"}); err != nil {
			t.Fatal(err)
		}
	}
	nc, err := natsgo.Connect(srv.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	st, err := js.Stream(ctx, mqnats.StreamName("answers"))
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.State.Msgs != 1 {
		t.Errorf("stream of answers holds %d messages, want 1", info.State.Msgs)
	}
}

func TestBroker_SubscribeUnreachable(t *testing.T) {
	b := connect(t, "nats://127.0.0.1:1")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	_, err := b.Subscribe(ctx, mqtrigger.Subscription{ID: "x", Topic: "jobs", MaxInFlight: 1, AckWait: time.Second}, func(mqtrigger.Message) {})
	if err == nil {
		t.Fatal("Subscribe to an unreachable server succeeded")
	}
}
