package cli

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/lantern-faas/lantern/platform/api"
)

func TestTimer_CreateUpdateList(t *testing.T) {
	srv := newFakeServer(t)
	res := mustRun(t, srv.URL, "tt", "create", "--name", "nightly", "--function", "report", "--cron", "0 3 * * *", "--subpath", "run")
	var sent api.TimeTrigger
	if err := json.Unmarshal(srv.Last(t, "POST").Body, &sent); err != nil {
		t.Fatal(err)
	}
	want := api.TimeTriggerSpec{Cron: "0 3 * * *", Method: "POST", Subpath: "/run", FunctionRef: api.FunctionRef{Type: "name", Name: "report"}}
	if diff := cmp.Diff(want, sent.Spec); diff != "" {
		t.Errorf("sent spec (-want +got):\n%s", diff)
	}
	if !strings.Contains(res.stdout, "timer 'nightly' created") {
		t.Errorf("stdout = %q", res.stdout)
	}
	mustRun(t, srv.URL, "timer", "update", "--name", "nightly", "--cron", "@every 1m")
	if err := json.Unmarshal(srv.Last(t, "PUT").Body, &sent); err != nil {
		t.Fatal(err)
	}
	want.Cron = "@every 1m"
	if diff := cmp.Diff(want, sent.Spec); diff != "" {
		t.Errorf("updated spec (-want +got):\n%s", diff)
	}
	out := mustRun(t, srv.URL, "timer", "list").stdout
	if !strings.Contains(out, "nightly") || !strings.Contains(out, "@every 1m") {
		t.Errorf("list:\n%s", out)
	}
	get := mustRun(t, srv.URL, "timer", "get", "--name", "nightly").stdout
	if !strings.Contains(get, "Next run") {
		t.Errorf("get:\n%s", get)
	}
}

func TestTimer_ShowSchedule(t *testing.T) {
	res := mustRun(t, "http://127.0.0.1:1", "timer", "showschedule", "--cron", "@every 10s", "--round", "2")
	if lines := strings.Split(strings.TrimSpace(res.stdout), "\n"); len(lines) != 3 {
		t.Errorf("showschedule printed %q, want a header and 2 runs", res.stdout)
	}
	bad := lantern(t, "http://127.0.0.1:1", "timer", "showschedule", "--cron", "* * *")
	if bad.code != 1 || !strings.Contains(bad.stderr, "expected 5 to 6 fields") || !strings.Contains(bad.stderr, "Try:") {
		t.Errorf("bad cron: exit %d, stderr %q", bad.code, bad.stderr)
	}
}
