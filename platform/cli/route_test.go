package cli

import (
	"bytes"
	"encoding/json"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/lantern-faas/lantern/platform/api"
)

func TestRoute_Create(t *testing.T) {
	tests := []struct {
		name     string
		args     []string
		wantName string // a regexp
		want     api.HTTPTriggerSpec
	}{
		{
			name:     "GeneratedName",
			args:     []string{"route", "create", "--function", "hello", "--url", "/hello"},
			wantName: `^hello-[a-z0-9]{6}$`,
			want: api.HTTPTriggerSpec{RelativeURL: "/hello", Methods: []string{"GET"},
				FunctionRef: api.FunctionRef{Type: "name", Name: "hello"}},
		},
		{
			name:     "ParamsAndMethods",
			args:     []string{"httptrigger", "create", "--name", "users", "--function", "users", "--url", "users/{id}", "--method", "get", "--method", "DELETE"},
			wantName: `^users$`,
			want: api.HTTPTriggerSpec{RelativeURL: "/users/{id}", Methods: []string{"GET", "DELETE"},
				FunctionRef: api.FunctionRef{Type: "name", Name: "users"}},
		},
		{
			name:     "Prefix",
			args:     []string{"ht", "create", "--name", "api", "--function", "api", "--prefix", "/api", "--keepprefix", "--method", "POST,PUT"},
			wantName: `^api$`,
			want: api.HTTPTriggerSpec{Prefix: "/api", KeepPrefix: true, Methods: []string{"POST", "PUT"},
				FunctionRef: api.FunctionRef{Type: "name", Name: "api"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newFakeServer(t)
			res := mustRun(t, srv.URL, tt.args...)
			var sent api.HTTPTrigger
			if err := json.Unmarshal(srv.Last(t, "POST").Body, &sent); err != nil {
				t.Fatal(err)
			}
			if !regexp.MustCompile(tt.wantName).MatchString(sent.Metadata.Name) {
				t.Errorf("name = %q, want it to match %s", sent.Metadata.Name, tt.wantName)
			}
			if diff := cmp.Diff(tt.want, sent.Spec); diff != "" {
				t.Errorf("sent spec (-want +got):\n%s", diff)
			}
			if !strings.Contains(res.stdout, "route '"+sent.Metadata.Name+"' created") {
				t.Errorf("stdout = %q", res.stdout)
			}
		})
	}
}

func TestRoute_UpdateListGet(t *testing.T) {
	srv := newFakeServer(t)
	mustRun(t, srv.URL, "route", "create", "--name", "hello", "--function", "hello", "--url", "/hello", "--method", "POST")
	mustRun(t, srv.URL, "route", "create", "--name", "api", "--function", "api", "--prefix", "/api/")

	t.Run("UpdatePrefixReplacesURL", func(t *testing.T) {
		mustRun(t, srv.URL, "route", "update", "--name", "hello", "--prefix", "/hi")
		var sent api.HTTPTrigger
		if err := json.Unmarshal(srv.Last(t, "PUT").Body, &sent); err != nil {
			t.Fatal(err)
		}
		want := api.HTTPTriggerSpec{Prefix: "/hi", Methods: []string{"POST"}, FunctionRef: api.FunctionRef{Type: "name", Name: "hello"}}
		if diff := cmp.Diff(want, sent.Spec); diff != "" {
			t.Errorf("sent spec (-want +got):\n%s", diff)
		}
	})
	t.Run("ListTable", func(t *testing.T) {
		res := mustRun(t, srv.URL, "route", "list")
		lines := strings.Split(strings.TrimSpace(res.stdout), "\n")
		if len(lines) != 3 {
			t.Fatalf("got %d lines, want 3:\n%s", len(lines), res.stdout)
		}
		if got, want := strings.Fields(lines[0]), []string{"NAME", "METHODS", "URL", "FUNCTION", "AGE"}; !cmp.Equal(got, want) {
			t.Errorf("header = %q, want %q", got, want)
		}
		rows := map[string][]string{}
		for _, l := range lines[1:] {
			rows[strings.Fields(l)[0]] = strings.Fields(l)
		}
		if want := []string{"api", "GET", "/api/*", "api", "3m"}; !cmp.Equal(rows["api"], want) {
			t.Errorf("api row = %q, want %q", rows["api"], want)
		}
		if want := []string{"hello", "POST", "/hi/*", "hello", "3m"}; !cmp.Equal(rows["hello"], want) {
			t.Errorf("hello row = %q, want %q", rows["hello"], want)
		}
	})
	t.Run("GetJSON", func(t *testing.T) {
		res := mustRun(t, srv.URL, "route", "get", "--name", "api", "-o", "json")
		var tr api.HTTPTrigger
		if err := json.Unmarshal([]byte(res.stdout), &tr); err != nil {
			t.Fatalf("not JSON: %v\n%s", err, res.stdout)
		}
		if tr.Spec.Prefix != "/api/" || tr.Spec.FunctionRef.Name != "api" {
			t.Errorf("got %+v", tr.Spec)
		}
	})
	t.Run("Delete", func(t *testing.T) {
		mustRun(t, srv.URL, "route", "delete", "--name", "api")
		if srv.Object("httptriggers", "default", "api", &api.HTTPTrigger{}) {
			t.Error("route still exists")
		}
	})
}

// TestListCommands_ServerFlag runs each kind's list with the server given
// by --server only: a client made before the flags were parsed would ask
// the default address instead.
func TestListCommands_ServerFlag(t *testing.T) {
	srv := newFakeServer(t)
	mustRun(t, srv.URL, "route", "create", "--name", "r1", "--url", "/r1", "--function", "hello")
	mustRun(t, srv.URL, "timer", "create", "--name", "t1", "--function", "hello", "--cron", "@every 1m")
	mustRun(t, srv.URL, "mqt", "create", "--name", "m1", "--function", "hello", "--topic", "in")
	for _, kind := range []string{"route", "timer", "mqt"} {
		var stdout, stderr bytes.Buffer
		code := Main(t.Context(), []string{kind, "list", "--server", srv.URL}, strings.NewReader(""), &stdout, &stderr,
			func(string) string { return "" })
		if code != 0 || !strings.Contains(stdout.String(), kind[:1]+"1") {
			t.Errorf("%s list --server %s: exit %d\nstdout: %s\nstderr: %s", kind, srv.URL, code, stdout.String(), stderr.String())
		}
	}
}
