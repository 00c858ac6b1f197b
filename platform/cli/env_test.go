package cli

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/lantern-faas/lantern/platform/api"
)

func TestEnv_Create(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want api.EnvironmentSpec
	}{
		{
			name: "Runtime",
			args: []string{"env", "create", "--name", "python", "--runtime", "python"},
			want: api.EnvironmentSpec{Runtime: "python", Poolsize: 3, Version: 2},
		},
		{
			name: "CustomCommand",
			args: []string{"environment", "create", "--name", "custom", "--command", "./server --port $PORT",
				"--image", "ghcr.io/x/y:1", "--poolsize", "1", "--version", "1", "--keeparchive",
				"--env", "A=1", "--env", "B=x,y"},
			want: api.EnvironmentSpec{Command: "./server --port $PORT", Image: "ghcr.io/x/y:1",
				Poolsize: 1, Version: 1, KeepArchive: true, Env: []string{"A=1", "B=x,y"}},
		},
		{
			name: "RuntimeEnvAlias",
			args: []string{"env", "create", "--name", "node", "--runtime", "nodejs", "--runtime-env", "DEBUG=1"},
			want: api.EnvironmentSpec{Runtime: "nodejs", Poolsize: 3, Version: 2, Env: []string{"DEBUG=1"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newFakeServer(t)
			res := mustRun(t, srv.URL, tt.args...)
			if !strings.Contains(res.stdout, "created") {
				t.Errorf("stdout = %q, want a created message", res.stdout)
			}
			post := srv.Last(t, "POST")
			if post.Path != "/v1/namespaces/default/environments" {
				t.Errorf("path = %s", post.Path)
			}
			var sent api.Environment
			if err := json.Unmarshal(post.Body, &sent); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, sent.Spec); diff != "" {
				t.Errorf("sent spec (-want +got):\n%s", diff)
			}
		})
	}
}

func TestEnv_Update(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want api.EnvironmentSpec
	}{
		{
			name: "Poolsize",
			args: []string{"--poolsize", "5"},
			want: api.EnvironmentSpec{Runtime: "python", Poolsize: 5, Version: 2, Env: []string{"A=1"}},
		},
		{
			name: "EnvReplaced",
			args: []string{"--env", "B=2"},
			want: api.EnvironmentSpec{Runtime: "python", Poolsize: 3, Version: 2, Env: []string{"B=2"}},
		},
		{
			name: "CommandReplacesRuntime",
			args: []string{"--command", "./run"},
			want: api.EnvironmentSpec{Command: "./run", Poolsize: 3, Version: 2, Env: []string{"A=1"}},
		},
		{
			name: "ZeroPoolsize",
			args: []string{"--poolsize", "0", "--keeparchive"},
			want: api.EnvironmentSpec{Runtime: "python", Poolsize: 0, Version: 2, KeepArchive: true, Env: []string{"A=1"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newFakeServer(t)
			mustRun(t, srv.URL, "env", "create", "--name", "py", "--runtime", "python", "--env", "A=1")
			mustRun(t, srv.URL, append([]string{"env", "update", "--name", "py"}, tt.args...)...)
			put := srv.Last(t, "PUT")
			if put.Path != "/v1/namespaces/default/environments/py" {
				t.Errorf("path = %s", put.Path)
			}
			var sent api.Environment
			if err := json.Unmarshal(put.Body, &sent); err != nil {
				t.Fatal(err)
			}
			if sent.Metadata.ResourceVersion == "" {
				t.Error("update sent no resourceVersion: it is not conditional")
			}
			if diff := cmp.Diff(tt.want, sent.Spec); diff != "" {
				t.Errorf("sent spec (-want +got):\n%s", diff)
			}
		})
	}
}

func TestEnv_GetListDelete(t *testing.T) {
	srv := newFakeServer(t)
	mustRun(t, srv.URL, "env", "create", "--name", "python", "--runtime", "python")
	mustRun(t, srv.URL, "env", "create", "--name", "custom", "--command", "./run", "--poolsize", "1")

	t.Run("ListTable", func(t *testing.T) {
		res := mustRun(t, srv.URL, "env", "list")
		lines := strings.Split(strings.TrimSpace(res.stdout), "\n")
		if len(lines) != 3 {
			t.Fatalf("got %d lines, want a header and 2 rows:\n%s", len(lines), res.stdout)
		}
		if got := strings.Fields(lines[0]); !cmp.Equal(got, []string{"NAME", "RUNTIME", "POOLSIZE", "VERSION", "AGE"}) {
			t.Errorf("header = %q", got)
		}
		rows := map[string][]string{}
		for _, l := range lines[1:] {
			f := strings.Fields(l)
			rows[f[0]] = f
		}
		if want := []string{"python", "python", "3", "2", "3m"}; !cmp.Equal(rows["python"], want) {
			t.Errorf("python row = %q, want %q", rows["python"], want)
		}
		if want := []string{"custom", "custom", "1", "2", "3m"}; !cmp.Equal(rows["custom"], want) {
			t.Errorf("custom row = %q, want %q", rows["custom"], want)
		}
	})
	t.Run("ListJSON", func(t *testing.T) {
		res := mustRun(t, srv.URL, "env", "list", "-o", "json")
		var envs []api.Environment
		if err := json.Unmarshal([]byte(res.stdout), &envs); err != nil {
			t.Fatalf("output is not a JSON array: %v\n%s", err, res.stdout)
		}
		if len(envs) != 2 {
			t.Errorf("got %d environments, want 2", len(envs))
		}
	})
	t.Run("GetDetails", func(t *testing.T) {
		res := mustRun(t, srv.URL, "env", "get", "--name", "custom")
		for _, want := range []string{"Name:", "custom", "Command:", "./run", "Poolsize:"} {
			if !strings.Contains(res.stdout, want) {
				t.Errorf("output lacks %q:\n%s", want, res.stdout)
			}
		}
	})
	t.Run("Delete", func(t *testing.T) {
		mustRun(t, srv.URL, "env", "delete", "--name", "custom")
		if srv.Object("environments", "default", "custom", &api.Environment{}) {
			t.Error("environment still exists")
		}
		res := lantern(t, srv.URL, "env", "delete", "--name", "custom")
		if res.code != 1 || !strings.Contains(res.stderr, "Try: list them with 'lantern env list -n default'") {
			t.Errorf("deleting a missing env: exit %d, stderr %q", res.code, res.stderr)
		}
	})
}
