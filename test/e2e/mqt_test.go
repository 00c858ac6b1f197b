package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	natsgo "github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/lantern-faas/lantern/test/testenv"
)

// natsServer is a real nats-server (Debian's) with JetStream.
type natsServer struct {
	t        *testing.T
	addr     string
	dir      string
	URL      string
	proc     *testenv.Proc
	restarts int
}

// startNATS starts nats-server on a free port; it is stopped when the
// test ends. A missing nats-server fails the test with the install hint.
func startNATS(t *testing.T) *natsServer {
	t.Helper()
	if _, err := testenv.NATSServer(); err != nil {
		t.Fatal(err)
	}
	n := &natsServer{t: t, dir: filepath.Join(t.TempDir(), "nats")}
	var err error
	for attempt := 0; attempt < 4; attempt++ {
		n.addr = freeAddr(t)
		if err = n.start(); err == nil {
			break
		}
		if !testenv.IsPortClash(err) {
			break
		}
	}
	if err != nil {
		t.Fatal(err)
	}
	n.URL = "nats://" + n.addr
	t.Cleanup(func() {
		if n.proc != nil {
			n.proc.Kill()
		}
	})
	return n
}

func (n *natsServer) start() error {
	if err := os.MkdirAll(n.dir, 0o755); err != nil {
		return err
	}
	p, err := testenv.StartNATS(n.addr, n.dir, filepath.Join(filepath.Dir(n.dir), fmt.Sprintf("nats-%d.log", n.restarts)))
	n.proc = p
	return err
}

// Restart stops nats-server with SIGTERM (it exits with status 1 then),
// waits down, and starts it again on the same port and store.
func (n *natsServer) Restart(down time.Duration) {
	n.t.Helper()
	_ = n.proc.Cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-n.proc.Done():
	case <-time.After(15 * time.Second):
		n.t.Errorf("nats-server did not exit within 15s of SIGTERM")
		n.proc.Kill()
	}
	time.Sleep(down)
	n.restarts++
	if err := n.start(); err != nil {
		n.t.Fatalf("restart nats-server: %v", err)
	}
}

// natsClient is a user of NATS: it publishes and reads the answers.
type natsClient struct {
	nc *natsgo.Conn
	js jetstream.JetStream
}

func connectNATS(t *testing.T, url string) *natsClient {
	t.Helper()
	nc, err := natsgo.Connect(url, natsgo.MaxReconnects(-1), natsgo.ReconnectWait(100*time.Millisecond))
	if err != nil {
		t.Fatalf("connect to %s: %v", url, err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return &natsClient{nc: nc, js: js}
}

// outStream creates the stream that keeps the answers and failures, as a
// user would, before the trigger exists.
func (c *natsClient) outStream(t *testing.T, subjects ...string) jetstream.Stream {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := c.js.CreateStream(ctx, jetstream.StreamConfig{Name: "E2E_OUT", Subjects: subjects, Storage: jetstream.FileStorage})
	if err != nil {
		t.Fatalf("create the answers stream: %v", err)
	}
	return s
}

// publish publishes to subject through JetStream, retrying until the
// server stores it (it may be restarting).
func (c *natsClient) publish(subject string, data []byte) error {
	deadline := time.Now().Add(60 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_, err := c.js.Publish(ctx, subject, data)
		cancel()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("publish to %s: %w", subject, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// outMsg is one message of the answers stream.
type outMsg struct {
	Subject string
	Data    string
	Header  natsgo.Header
	ID      string // the id of the message it answers
}

// messages reads every message the stream holds.
func messages(t *testing.T, s jetstream.Stream) []outMsg {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	info, err := s.Info(ctx)
	if err != nil {
		t.Fatalf("stream info: %v", err)
	}
	var out []outMsg
	for seq := info.State.FirstSeq; seq > 0 && seq <= info.State.LastSeq; seq++ {
		m, err := s.GetMsg(ctx, seq)
		if err != nil {
			continue // deleted
		}
		o := outMsg{Subject: m.Subject, Data: string(m.Data), Header: m.Header}
		var doc struct {
			ID string `json:"id"`
		}
		if json.Unmarshal(m.Data, &doc) == nil {
			o.ID = doc.ID
		}
		out = append(out, o)
	}
	return out
}

// bySubject counts the messages per subject and id.
func bySubject(msgs []outMsg) map[string]map[string]int {
	out := map[string]map[string]int{}
	for _, m := range msgs {
		if out[m.Subject] == nil {
			out[m.Subject] = map[string]int{}
		}
		out[m.Subject][m.ID]++
	}
	return out
}

// attempts counts record.py's calls per message id.
func attempts(t *testing.T, path string) map[string]int {
	t.Helper()
	out := map[string]int{}
	for _, r := range readRecords(t, path) {
		var doc struct {
			ID string `json:"id"`
		}
		if json.Unmarshal([]byte(r.Body), &doc) == nil && doc.ID != "" {
			out[doc.ID]++
		}
	}
	return out
}

// waitMQTReady waits until 'lantern mqt get' says the trigger consumes.
func waitMQTReady(t *testing.T, l *lanternd, name string) {
	t.Helper()
	eventually(t, 30*time.Second, 200*time.Millisecond, "trigger "+name+" ready", func() error {
		out, _, _ := l.lantern(t, "mqt", "get", "--name", name)
		if !strings.Contains(out, "Status            ready") && !strings.Contains(out, "ready\n") {
			return fmt.Errorf("mqt get:\n%s", out)
		}
		return nil
	})
}

// TestMQT_NATS sends messages through a real nats-server: answers reach
// the response topic, a message that fails twice is retried and answered
// once, one that always fails lands on the error topic after maxretries
// with the reason; metrics count them.
func TestMQT_NATS(t *testing.T) {
	t.Parallel()
	ns := startNATS(t)
	l := startAll(t, "--nats-url", ns.URL, "--mqt-retry-delay", "50ms")
	calls := recordFunction(t, l)
	nc := connectNATS(t, ns.URL)
	out := nc.outStream(t, "orders.done", "orders.failed")

	_, stderr, code := l.lantern(t, "mqt", "create", "--name", "x", "--function", "record", "--topic", "orders", "--mqtype", "rabbitmq")
	if code != 1 || !strings.Contains(stderr, "spec.messageQueueType") || !strings.Contains(stderr, "nats, kafka") {
		t.Errorf("unknown mqtype: exit %d, stderr %q", code, stderr)
	}
	l.mustLantern(t, "mqt", "create", "--name", "orders", "--function", "record", "--mqtype", "nats", "--topic", "orders",
		"--resptopic", "orders.done", "--errortopic", "orders.failed", "--maxretries", "2")
	waitMQTReady(t, l, "orders")

	for _, m := range []string{`{"id":"ok1"}`, `{"id":"flaky","fail":2}`, `{"id":"bad","fail":-1}`, `{"id":"ok2"}`} {
		if err := nc.publish("orders", []byte(m)); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, 60*time.Second, 200*time.Millisecond, "answers and failures", func() error {
		got := bySubject(messages(t, out))
		if got["orders.done"]["ok1"] != 1 || got["orders.done"]["ok2"] != 1 || got["orders.done"]["flaky"] != 1 || got["orders.failed"]["bad"] != 1 {
			return fmt.Errorf("got %v", got)
		}
		return nil
	})
	time.Sleep(time.Second) // would-be redeliveries
	got := bySubject(messages(t, out))
	if len(got["orders.done"]) != 3 || got["orders.done"]["flaky"] != 1 || got["orders.done"]["bad"] != 0 {
		t.Errorf("answers %v, want ok1, ok2 and flaky once each", got["orders.done"])
	}
	if a := attempts(t, calls); a["ok1"] != 1 || a["flaky"] != 3 || a["bad"] != 3 {
		t.Errorf("calls per message %v, want ok1 once, flaky 3 times (2 failures), bad 3 times (maxretries 2)", a)
	}
	for _, m := range messages(t, out) {
		switch m.Subject {
		case "orders.failed":
			if m.Data != `{"id":"bad","fail":-1}` || !strings.Contains(m.Header.Get("Lantern-Error"), "status 500") ||
				m.Header.Get("Lantern-Attempts") != "3" || m.Header.Get("Lantern-Source-Topic") != "orders" {
				t.Errorf("error topic message = %+v, want the original with the reason", m)
			}
		case "orders.done":
			if m.Header.Get("X-Lantern-Request-Id") == "" {
				t.Errorf("answer without a request ID: %+v", m)
			}
		}
	}
	for _, r := range readRecords(t, calls) {
		if r.Headers["X-Lantern-Trigger"] != "mqt" || r.Headers["X-Fission-Mqtrigger-Topic"] != "orders" || r.Headers["Content-Type"] != "application/json" {
			t.Errorf("call headers %v", r.Headers)
			break
		}
	}
	metrics := do(t, http.MethodGet, l.APIURL+"/metrics", nil).Body
	for _, want := range []string{
		`lantern_mqt_messages_processed_total{namespace="default",trigger="orders"} 3`,
		`lantern_mqt_messages_failed_total{namespace="default",trigger="orders"} 1`,
		`lantern_mqt_message_retries_total{namespace="default",trigger="orders"} 4`,
		`lantern_mqt_trigger_ready{namespace="default",trigger="orders"} 1`,
		`trigger="mqt"`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	// The function cannot go while the trigger uses it.
	if _, stderr, code := l.lantern(t, "fn", "delete", "--name", "record"); code != 1 || !strings.Contains(stderr, "message queue trigger(s) orders") {
		t.Errorf("fn delete: exit %d, %q", code, stderr)
	}
}

// TestMQT_Unreachable shows an unreachable broker as the trigger's status.
func TestMQT_Unreachable(t *testing.T) {
	t.Parallel()
	l := startAll(t, "--nats-url", "nats://"+freeAddr(t))
	recordFunction(t, l)
	l.mustLantern(t, "mqt", "create", "--name", "orders", "--function", "record", "--topic", "orders")
	eventually(t, 20*time.Second, 200*time.Millisecond, "a not-ready status", func() error {
		out, _, _ := l.lantern(t, "mqt", "get", "--name", "orders")
		if !strings.Contains(out, "not ready: subscribe: not connected to NATS") {
			return fmt.Errorf("mqt get:\n%s", out)
		}
		return nil
	})
	if err := l.Alive(); err != nil {
		t.Fatal(err)
	}
}

// TestMQT_RestartsLoseNothing publishes a stream of messages while first
// nats-server, then lanternd restart: every message is answered.
func TestMQT_RestartsLoseNothing(t *testing.T) {
	t.Parallel()
	ns := startNATS(t)
	l := startAll(t, "--nats-url", ns.URL, "--mqt-retry-delay", "50ms", "--mqt-ack-wait", "3s")
	calls := recordFunction(t, l)
	nc := connectNATS(t, ns.URL)
	out := nc.outStream(t, "jobs.done")
	l.mustLantern(t, "mqt", "create", "--name", "jobs", "--function", "record", "--topic", "jobs", "--resptopic", "jobs.done")
	waitMQTReady(t, l, "jobs")

	const total = 300
	var wg sync.WaitGroup
	pubErr := make(chan error, 1)
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := range total {
			if err := nc.publish("jobs", fmt.Appendf(nil, `{"id":"m%03d"}`, i)); err != nil {
				pubErr <- err
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
	}()
	time.Sleep(700 * time.Millisecond)
	ns.Restart(500 * time.Millisecond)
	time.Sleep(700 * time.Millisecond)
	l.Restart()
	wg.Wait()
	select {
	case err := <-pubErr:
		t.Fatal(err)
	default:
	}
	eventually(t, 90*time.Second, 500*time.Millisecond, "every message answered", func() error {
		got := bySubject(messages(t, out))["jobs.done"]
		var missing []string
		for i := range total {
			if got[fmt.Sprintf("m%03d", i)] == 0 {
				missing = append(missing, fmt.Sprintf("m%03d", i))
			}
		}
		if len(missing) > 0 {
			return fmt.Errorf("%d of %d unanswered: %v", len(missing), total, missing[:min(len(missing), 10)])
		}
		return nil
	})
	a := attempts(t, calls)
	redelivered := 0
	for _, n := range a {
		if n > 1 {
			redelivered++
		}
	}
	t.Logf("%d messages, %d calls of the function for %d of them more than once (at least once)", total, len(readRecords(t, calls)), redelivered)
}

// TestMQT_EmbeddedNATS uses lanternd's embedded NATS server (no
// --nats-url): users publish to it on --nats-addr, and its streams and the
// trigger's consumer survive a lanternd restart (store under --data-dir),
// with no message handled twice.
func TestMQT_EmbeddedNATS(t *testing.T) {
	t.Parallel()
	natsAddr := freeAddr(t)
	l := startAll(t, "--nats-addr", natsAddr)
	calls := recordFunction(t, l)
	l.mustLantern(t, "mqt", "create", "--name", "emb", "--function", "record", "--topic", "emb", "--resptopic", "emb.done")
	waitMQTReady(t, l, "emb")
	nc := connectNATS(t, "nats://"+natsAddr)
	if err := nc.publish("emb", []byte(`{"id":"before"}`)); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, 200*time.Millisecond, "the first message handled", func() error {
		if attempts(t, calls)["before"] != 1 {
			return fmt.Errorf("calls %v", attempts(t, calls))
		}
		return nil
	})
	l.Restart()
	if err := nc.publish("emb", []byte(`{"id":"after"}`)); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, 200*time.Millisecond, "the second message handled", func() error {
		if a := attempts(t, calls); a["after"] != 1 || a["before"] != 1 {
			return fmt.Errorf("calls %v, want before and after once each", a)
		}
		return nil
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st, err := nc.js.StreamNameBySubject(ctx, "emb.done")
	if err != nil {
		t.Fatalf("no stream keeps the answers: %v", err)
	}
	s, err := nc.js.Stream(ctx, st)
	if err != nil {
		t.Fatal(err)
	}
	// The function records a call before its answer is published.
	eventually(t, 10*time.Second, 100*time.Millisecond, "the answers published", func() error {
		if got := bySubject(messages(t, s))["emb.done"]; got["before"] != 1 || got["after"] != 1 {
			return fmt.Errorf("answers %v, want before and after once each", got)
		}
		return nil
	})
}
