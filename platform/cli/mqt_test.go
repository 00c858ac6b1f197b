package cli

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/lantern-faas/lantern/platform/api"
)

func TestMQT_CreateUpdateList(t *testing.T) {
	srv := newFakeServer(t)
	res := mustRun(t, srv.URL, "mqt", "create", "--name", "orders", "--function", "process", "--mqtype", "nats", "--topic", "orders",
		"--resptopic", "orders.done", "--errortopic", "orders.failed", "--maxretries", "0", "--mqtkind", "keda")
	var sent api.MessageQueueTrigger
	if err := json.Unmarshal(srv.Last(t, "POST").Body, &sent); err != nil {
		t.Fatal(err)
	}
	zero := 0
	want := api.MessageQueueTriggerSpec{FunctionRef: api.FunctionRef{Type: "name", Name: "process"}, MessageQueueType: "nats",
		Topic: "orders", RespTopic: "orders.done", ErrorTopic: "orders.failed", MaxRetries: &zero, ContentType: "application/json"}
	if diff := cmp.Diff(want, sent.Spec); diff != "" {
		t.Errorf("sent spec (-want +got):\n%s", diff)
	}
	if !strings.Contains(res.stdout, "message queue trigger 'orders' created") {
		t.Errorf("stdout = %q", res.stdout)
	}
	mustRun(t, srv.URL, "mqtrigger", "update", "--name", "orders", "--maxretries", "5")
	if err := json.Unmarshal(srv.Last(t, "PUT").Body, &sent); err != nil {
		t.Fatal(err)
	}
	if sent.Spec.Retries() != 5 || sent.Spec.Topic != "orders" {
		t.Errorf("updated spec = %+v, want maxRetries 5 and the rest kept", sent.Spec)
	}
	out := mustRun(t, srv.URL, "mqt", "list").stdout
	if !strings.Contains(out, "orders.failed") || !strings.Contains(out, "process") {
		t.Errorf("list:\n%s", out)
	}
	get := mustRun(t, srv.URL, "mqt", "get", "--name", "orders").stdout
	if !strings.Contains(get, "Status") || !strings.Contains(get, "orders.done") {
		t.Errorf("get:\n%s", get)
	}
	bad := lantern(t, srv.URL, "mqt", "create", "--name", "x", "--function", "f", "--topic", "t", "--mqtype", "rabbitmq")
	if bad.code != 1 || !strings.Contains(bad.stderr, "nats, kafka") {
		t.Errorf("unknown mqtype: exit %d, stderr %q", bad.code, bad.stderr)
	}
}
