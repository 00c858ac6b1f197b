package controller_test

import (
	"errors"
	"net/http"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/lantern-faas/lantern/platform/api"
	"github.com/lantern-faas/lantern/platform/controller"
	"github.com/lantern-faas/lantern/platform/internal/httpx"
)

// TestController_Review: a write or delete reviewed for the admission
// webhook is refused exactly as the REST API refuses it (same status,
// field, message and hint), and a good one passes.
func TestController_Review(t *testing.T) {
	ts := newTestServer(t, controller.Config{})
	mustCreate(t, ts.Client, newEnv("default", "python"), newFn("default", "hello", "python", []byte("x")),
		newTrigger("default", "hello", "hello", "/hello"))
	fnNoEnv := newFn("default", "orphan", "nope", []byte("x"))
	routeNoFn := newTrigger("default", "ghost", "ghost", "/ghost")
	timerNoFn := &api.TimeTrigger{Metadata: api.Metadata{Namespace: "default", Name: "tick"},
		Spec: api.TimeTriggerSpec{Cron: "@hourly", FunctionRef: api.FunctionRef{Name: "ghost"}}}
	badCron := &api.TimeTrigger{Metadata: api.Metadata{Namespace: "default", Name: "tick"},
		Spec: api.TimeTriggerSpec{Cron: "61 * * * *", FunctionRef: api.FunctionRef{Name: "hello"}}}
	mqtNoFn := &api.MessageQueueTrigger{Metadata: api.Metadata{Namespace: "default", Name: "orders"},
		Spec: api.MessageQueueTriggerSpec{MessageQueueType: "nats", Topic: "orders", FunctionRef: api.FunctionRef{Name: "ghost"}}}
	reserved := newTrigger("default", "reserved", "hello", "/fn/x")
	tests := []struct {
		name         string
		kind         string
		obj          api.Object
		method, path string // the REST request refused the same way
		delete       bool
		wantStatus   int
	}{
		{"FunctionWithoutEnvironment", api.KindFunction, fnNoEnv, http.MethodPost, "/v1/namespaces/default/functions", false, 400},
		{"RouteWithoutFunction", api.KindHTTPTrigger, routeNoFn, http.MethodPost, "/v1/namespaces/default/httptriggers", false, 400},
		{"TimerWithoutFunction", api.KindTimeTrigger, timerNoFn, http.MethodPost, "/v1/namespaces/default/timetriggers", false, 400},
		{"TimerBadCron", api.KindTimeTrigger, badCron, http.MethodPost, "/v1/namespaces/default/timetriggers", false, 400},
		{"MQTWithoutFunction", api.KindMessageQueueTrigger, mqtNoFn, http.MethodPost, "/v1/namespaces/default/messagequeuetriggers", false, 400},
		{"ReservedURL", api.KindHTTPTrigger, reserved, http.MethodPost, "/v1/namespaces/default/httptriggers", false, 400},
		{"DeleteEnvironmentInUse", api.KindEnvironment, newEnv("default", "python"), http.MethodDelete, "/v1/namespaces/default/environments/python", true, 409},
		{"DeleteFunctionInUse", api.KindFunction, newFn("default", "hello", "python", nil), http.MethodDelete, "/v1/namespaces/default/functions/hello", true, 409},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			value := jsonOf(t, tt.obj)
			var err error
			if tt.delete {
				err = ts.ctrl.ReviewDelete(t.Context(), tt.kind, []byte(value))
			} else {
				err = ts.ctrl.ReviewWrite(t.Context(), tt.kind, []byte(value))
			}
			if err == nil {
				t.Fatalf("review: got nil, want the REST API's %d", tt.wantStatus)
			}
			status, body := httpx.Classify(err)
			body.RequestID = ""
			reqBody := ""
			if !tt.delete {
				reqBody = value
			}
			resp := ts.doString(t, tt.method, tt.path, reqBody)
			rest := resp.errorBody(t)
			rest.RequestID = ""
			if status != tt.wantStatus || resp.Status != status {
				t.Errorf("status: review %d, REST %d; want both %d", status, resp.Status, tt.wantStatus)
			}
			if diff := cmp.Diff(rest, body); diff != "" {
				t.Errorf("review's error differs from the REST API's (-REST +review):\n%s", diff)
			}
		})
	}
	t.Run("OK", func(t *testing.T) {
		for _, c := range []struct {
			kind string
			obj  api.Object
		}{
			{api.KindEnvironment, newEnv("default", "node")},
			{api.KindFunction, newFn("default", "other", "python", nil)}, // code is not the webhook's business
			{api.KindHTTPTrigger, newTrigger("default", "again", "hello", "/again")},
		} {
			if err := ts.ctrl.ReviewWrite(t.Context(), c.kind, []byte(jsonOf(t, c.obj))); err != nil {
				t.Errorf("ReviewWrite %s: got %v, want nil", c.kind, err)
			}
		}
		if err := ts.ctrl.ReviewDelete(t.Context(), api.KindHTTPTrigger, []byte(jsonOf(t, newTrigger("default", "hello", "hello", "/hello")))); err != nil {
			t.Errorf("ReviewDelete of a route: got %v, want nil", err)
		}
	})
	t.Run("ErrNoRules", func(t *testing.T) {
		if err := ts.ctrl.ReviewWrite(t.Context(), "Pod", []byte(`{}`)); !errors.Is(err, controller.ErrNoRules) {
			t.Errorf("ReviewWrite of a Pod: got %v, want ErrNoRules", err)
		}
	})
}
