package e2e

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lantern-faas/lantern/platform/api"
	"github.com/lantern-faas/lantern/platform/client"
)

// startTriggerRole starts "lanternd <role>" with args and waits until
// health answers; it is stopped (and must exit cleanly) when the test
// ends.
func startTriggerRole(t *testing.T, role, health string, args ...string) {
	t.Helper()
	dir := t.TempDir()
	args = append([]string{role, "--log-format", "text", "--data-dir", filepath.Join(dir, "data")}, args...)
	p, err := startProc(role, filepath.Join(dir, role+".log"), args...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		p.stop(t)
		if t.Failed() {
			t.Logf("last lines of %s:\n%s", role, p.Tail(logTailLines))
		}
	})
	if err := waitHealthy(p, []string{health}); err != nil {
		t.Fatalf("%s did not start: %v", role, err)
	}
}

// TestRoles_Triggers runs the timer, the message queue triggers and the
// async queue as their own processes beside the controller, poolmgr and
// router, talking to them over HTTP only.
func TestRoles_Triggers(t *testing.T) {
	t.Parallel()
	ns := startNATS(t)
	asyncAddr := freeAddr(t)
	l := startRoles(t, "--async-url", "http://"+asyncAddr)
	common := []string{"--controller-url", l.APIURL, "--router-url", l.RouterURL}
	timerAddr, mqtAddr := freeAddr(t), freeAddr(t)
	startTriggerRole(t, "timer", "http://"+timerAddr+"/healthz", append(common, "--metrics-addr", timerAddr)...)
	startTriggerRole(t, "mqtrigger", "http://"+mqtAddr+"/healthz", append(common, "--metrics-addr", mqtAddr, "--nats-url", ns.URL)...)
	startTriggerRole(t, "async", "http://"+asyncAddr+"/healthz", append(common, "--async-addr", asyncAddr, "--nats-url", ns.URL, "--async-retry-delay", "100ms")...)

	calls := recordFunction(t, l)
	l.mustLantern(t, "timer", "create", "--name", "tick", "--function", "record", "--cron", "* * * * * *")
	l.mustLantern(t, "mqt", "create", "--name", "orders", "--function", "record", "--topic", "orders")
	nc := connectNATS(t, ns.URL)
	// The trigger may not consume yet; the stream keeps what comes before.
	eventually(t, 30*time.Second, 200*time.Millisecond, "the mqtrigger role's stream", func() error {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_, err := nc.js.StreamNameBySubject(ctx, "orders")
		return err
	})
	if err := nc.publish("orders", []byte(`{"id":"m1"}`)); err != nil {
		t.Fatal(err)
	}
	id := l.accept(t, "/async/default/record", `{"id":"a1"}`)

	eventually(t, 30*time.Second, 200*time.Millisecond, "calls from the three roles", func() error {
		kinds := map[string]int{}
		for _, r := range readRecords(t, calls) {
			kinds[r.Headers["X-Lantern-Trigger"]]++
		}
		if kinds["timer"] < 2 || kinds["mqt"] != 1 || kinds["async"] != 1 {
			return fmt.Errorf("calls by trigger %v", kinds)
		}
		return nil
	})
	inv, err := client.NewAsync("http://"+asyncAddr, nil).Invocation(context.Background(), id)
	if err != nil || inv.Status != api.InvocationSucceeded {
		t.Errorf("invocation from the async role: %+v, %v", inv, err)
	}
	metrics := do(t, "GET", "http://"+mqtAddr+"/metrics", nil).Body
	if want := `lantern_mqt_messages_processed_total{namespace="default",trigger="orders"} 1`; !strings.Contains(metrics, want) {
		t.Errorf("the mqtrigger role's /metrics lacks %s", want)
	}
}
