package controller_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/lantern-faas/lantern/platform/api"
	"github.com/lantern-faas/lantern/platform/controller"
)

func TestController_MessageQueueTrigger(t *testing.T) {
	ts := newTestServer(t, controller.Config{})
	mustCreate(t, ts.Client, newEnv("default", "python"), newFn("default", "hello", "python", []byte("x")))
	const mqts = "/v1/namespaces/default/messagequeuetriggers"
	mqt := func(mqtype, topic, resp, fn string, retries int) string {
		return jsonOf(t, api.MessageQueueTrigger{Metadata: api.Metadata{Name: "m"},
			Spec: api.MessageQueueTriggerSpec{MessageQueueType: mqtype, Topic: topic, RespTopic: resp, MaxRetries: &retries,
				FunctionRef: api.FunctionRef{Name: fn}}})
	}
	tests := []struct {
		name, body, wantField, wantMessage string
	}{
		{"UnknownType", mqt("rabbitmq", "orders", "", "hello", 1), "spec.messageQueueType", "use one of nats, kafka"},
		{"NoTopic", mqt("nats", "", "", "hello", 1), "spec.topic", "must not be empty"},
		{"Wildcard", mqt("nats", "orders.*", "", "hello", 1), "spec.topic", "no wildcards"},
		{"RespIsTopic", mqt("nats", "orders", "orders", "hello", 1), "spec.respTopic", "must differ"},
		{"NegativeRetries", mqt("nats", "orders", "", "hello", -1), "spec.maxRetries", "between 0 and 100"},
		{"UnknownFunction", mqt("nats", "orders", "", "nope", 1), "spec.functionref.name", `function "nope" not found`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := ts.doString(t, http.MethodPost, mqts, tt.body)
			if resp.Status != http.StatusBadRequest {
				t.Fatalf("status: got %d, want 400 (body %s)", resp.Status, resp.Body)
			}
			eb := resp.errorBody(t)
			if eb.Field != tt.wantField || !strings.Contains(eb.Message, tt.wantMessage) {
				t.Errorf("got field %q message %q, want field %q and a message containing %q", eb.Field, eb.Message, tt.wantField, tt.wantMessage)
			}
		})
	}
	t.Run("CreateDefaultsAndInUse", func(t *testing.T) {
		m := &api.MessageQueueTrigger{Metadata: api.Metadata{Name: "orders"},
			Spec: api.MessageQueueTriggerSpec{MessageQueueType: "NATS", Topic: "orders", FunctionRef: api.FunctionRef{Name: "hello"}}}
		mustCreate(t, ts.Client, m)
		if m.Spec.MessageQueueType != "nats" || m.Spec.Retries() != 3 || m.Spec.ContentType != "application/json" {
			t.Errorf("created %+v, want type nats, 3 retries, application/json", m.Spec)
		}
		resp := ts.doString(t, http.MethodDelete, "/v1/namespaces/default/functions/hello", "")
		if resp.Status != http.StatusConflict || !strings.Contains(resp.errorBody(t).Message, "message queue trigger(s) orders") {
			t.Fatalf("deleting a function a trigger uses: got %d %s, want 409 naming the trigger", resp.Status, resp.Body)
		}
	})
}
