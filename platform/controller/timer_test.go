package controller_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/lantern-faas/lantern/platform/api"
	"github.com/lantern-faas/lantern/platform/controller"
)

func TestController_TimeTrigger(t *testing.T) {
	ts := newTestServer(t, controller.Config{})
	mustCreate(t, ts.Client, newEnv("default", "python"), newFn("default", "hello", "python", []byte("x")))
	const timers = "/v1/namespaces/default/timetriggers"
	timer := func(cron, fn, method string) string {
		return jsonOf(t, api.TimeTrigger{Metadata: api.Metadata{Name: "tick"},
			Spec: api.TimeTriggerSpec{Cron: cron, Method: method, FunctionRef: api.FunctionRef{Name: fn}}})
	}
	t.Run("Invalid", func(t *testing.T) {
		tests := []struct {
			name, body, wantField, wantMessage string
		}{
			{"BadCron", timer("*/5 * *", "hello", ""), "spec.cron", "expected 5 to 6 fields"},
			{"BadCronRange", timer("0 25 * * *", "hello", ""), "spec.cron", "above maximum"},
			{"BadDescriptor", timer("@fortnightly", "hello", ""), "spec.cron", "unrecognized descriptor"},
			{"NoCron", timer("", "hello", ""), "spec.cron", "set a cron expression"},
			{"BadMethod", timer("@hourly", "hello", "FETCH"), "spec.method", "unknown method"},
			{"UnknownFunction", timer("@hourly", "nope", ""), "spec.functionref.name", `function "nope" not found`},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				resp := ts.doString(t, http.MethodPost, timers, tt.body)
				if resp.Status != http.StatusBadRequest {
					t.Fatalf("status: got %d, want 400 (body %s)", resp.Status, resp.Body)
				}
				eb := resp.errorBody(t)
				if eb.Field != tt.wantField || !strings.Contains(eb.Message, tt.wantMessage) {
					t.Errorf("got field %q message %q, want field %q and a message containing %q", eb.Field, eb.Message, tt.wantField, tt.wantMessage)
				}
			})
		}
	})
	t.Run("CreateDefaultsAndInUse", func(t *testing.T) {
		tt := &api.TimeTrigger{Metadata: api.Metadata{Name: "tick"},
			Spec: api.TimeTriggerSpec{Cron: "@every 10s", FunctionRef: api.FunctionRef{Name: "hello"}}}
		mustCreate(t, ts.Client, tt)
		if tt.Spec.Method != "POST" || tt.Spec.Subpath != "/" || tt.Metadata.UID == "" {
			t.Errorf("created %+v, want method POST, subpath / and a UID", tt)
		}
		list, err := ts.Client.ListTimeTriggers(t.Context(), "")
		if err != nil || len(list) != 1 {
			t.Fatalf("ListTimeTriggers: %v %v, want one", list, err)
		}
		resp := ts.doString(t, http.MethodDelete, "/v1/namespaces/default/functions/hello", "")
		if resp.Status != http.StatusConflict || !strings.Contains(resp.errorBody(t).Message, "timer(s) tick") {
			t.Fatalf("deleting a function a timer uses: got %d %s, want 409 naming the timer", resp.Status, resp.Body)
		}
		if err := ts.Client.Delete(t.Context(), api.KindTimeTrigger, "default", "tick"); err != nil {
			t.Fatal(err)
		}
		if resp := ts.doString(t, http.MethodDelete, "/v1/namespaces/default/functions/hello", ""); resp.Status != http.StatusOK {
			t.Fatalf("deleting the function once the timer is gone: got %d %s", resp.Status, resp.Body)
		}
	})
}
