package cli

import (
	"archive/zip"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"sigs.k8s.io/yaml"

	"github.com/lantern-faas/lantern/platform/api"
)

// withEnv returns a fake server holding the environment "python".
func withEnv(t *testing.T) *fakeServer {
	t.Helper()
	srv := newFakeServer(t)
	mustRun(t, srv.URL, "env", "create", "--name", "python", "--runtime", "python")
	return srv
}

func writeFile(t *testing.T, path, content string, mode os.FileMode) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
}

func TestFn_Create(t *testing.T) {
	dir := t.TempDir()
	code := filepath.Join(dir, "hello.py")
	writeFile(t, code, "def main():\n    return 'hi'\n", 0o644)

	tests := []struct {
		name     string
		args     []string
		wantSpec map[string]any // JSON fields of spec that must be sent
	}{
		{
			name: "Defaults",
			args: nil,
			wantSpec: map[string]any{"environment": "python", "concurrency": 500.0, "requestsPerPod": 1.0,
				"idletimeout": 120.0, "functionTimeout": 60.0, "specializationTimeout": 120.0},
		},
		{
			name: "Limits",
			args: []string{"--concurrency", "7", "--requestsperpod", "2", "--idletimeout", "30",
				"--fntimeout", "10", "--specializationtimeout", "20", "--entrypoint", "hello.main"},
			wantSpec: map[string]any{"environment": "python", "entrypoint": "hello.main", "concurrency": 7.0,
				"requestsPerPod": 2.0, "idletimeout": 30.0, "functionTimeout": 10.0, "specializationTimeout": 20.0},
		},
		{
			name:     "EntryAlias",
			args:     []string{"--entry", "hello.other"},
			wantSpec: map[string]any{"entrypoint": "hello.other"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := withEnv(t)
			args := append([]string{"fn", "create", "--name", "hello", "--env", "python", "--code", code}, tt.args...)
			res := mustRun(t, srv.URL, args...)
			if want := "function 'hello' created\n"; res.stdout != want {
				t.Errorf("stdout = %q, want %q", res.stdout, want)
			}
			post := srv.Last(t, "POST")
			if post.Path != "/v1/namespaces/default/functions" {
				t.Errorf("path = %s", post.Path)
			}
			var sent struct {
				Spec map[string]any `json:"spec"`
				Code map[string]any `json:"code"`
			}
			if err := json.Unmarshal(post.Body, &sent); err != nil {
				t.Fatal(err)
			}
			for k, want := range tt.wantSpec {
				if got := sent.Spec[k]; got != want {
					t.Errorf("spec.%s = %v, want %v", k, got, want)
				}
			}
			if got := sent.Code["filename"]; got != "hello.py" {
				t.Errorf("code.filename = %v, want hello.py", got)
			}
			data, _ := base64.StdEncoding.DecodeString(sent.Code["data"].(string))
			if string(data) != "def main():\n    return 'hi'\n" {
				t.Errorf("code.data = %q", data)
			}
		})
	}
}

func TestFn_CreateDirectoryIsZipped(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "myfn")
	files := map[string]string{"main.py": "import lib.util\n", "lib/util.py": "X = 1\n", "run.sh": "#!/bin/sh\necho hi\n"}
	for name, content := range files {
		mode := os.FileMode(0o644)
		if strings.HasSuffix(name, ".sh") {
			mode = 0o755
		}
		writeFile(t, filepath.Join(dir, name), content, mode)
	}
	srv := withEnv(t)
	mustRun(t, srv.URL, "fn", "create", "--name", "hello", "--env", "python", "--code", dir)

	code := srv.Code("default", "hello")
	if code == nil {
		t.Fatal("server got no code")
	}
	if code.Filename != "myfn.zip" {
		t.Errorf("filename = %q, want myfn.zip", code.Filename)
	}
	zr, err := zip.NewReader(bytes.NewReader(code.Data), int64(len(code.Data)))
	if err != nil {
		t.Fatalf("code is not a zip: %v", err)
	}
	got := map[string]string{}
	for _, f := range zr.File {
		if f.FileInfo().IsDir() {
			continue
		}
		rc, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(rc)
		rc.Close()
		got[f.Name] = string(b)
		if f.Name == "run.sh" && f.Mode()&0o111 == 0 {
			t.Errorf("run.sh lost its executable bit: %v", f.Mode())
		}
	}
	if diff := cmp.Diff(files, got); diff != "" {
		t.Errorf("zip content (-want +got):\n%s", diff)
	}
	var fn api.Function
	srv.Object("functions", "default", "hello", &fn)
	if !fn.Spec.Package.Archive {
		t.Errorf("package = %+v, want an archive", fn.Spec.Package)
	}
}

func TestFn_CreateBadCode(t *testing.T) {
	empty := t.TempDir()
	tests := []struct {
		name, code, want string
	}{
		{"Missing", filepath.Join(t.TempDir(), "nope.py"), "nope.py"},
		{"EmptyDir", empty, "holds no files"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newFakeServer(t)
			res := lantern(t, srv.URL, "fn", "create", "--name", "hello", "--env", "python", "--code", tt.code)
			if res.code != 1 {
				t.Errorf("exit %d, want 1", res.code)
			}
			if !strings.HasPrefix(res.stderr, "Error: ") || !strings.Contains(res.stderr, tt.want) {
				t.Errorf("stderr = %q, want an Error line with %q", res.stderr, tt.want)
			}
			if !strings.Contains(res.stderr, tt.code) {
				t.Errorf("stderr = %q does not name the path %s", res.stderr, tt.code)
			}
			if reqs := srv.Requests(); len(reqs) != 0 {
				t.Errorf("%d API requests were made, want none: %+v", len(reqs), reqs[0])
			}
		})
	}
}

func TestFn_CreateMissingEnv(t *testing.T) {
	srv := newFakeServer(t)
	code := filepath.Join(t.TempDir(), "hello.py")
	writeFile(t, code, "x", 0o644)
	res := lantern(t, srv.URL, "fn", "create", "--name", "hello", "--env", "nope", "--code", code)
	if res.code != 1 {
		t.Errorf("exit %d, want 1", res.code)
	}
	lines := strings.Split(strings.TrimSpace(res.stderr), "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[0], "Error: ") || !strings.Contains(lines[1], "lantern env list") {
		t.Errorf("stderr = %q, want Error and a Try line suggesting lantern env list", res.stderr)
	}
}

func TestFn_Update(t *testing.T) {
	dir := t.TempDir()
	v1, v2 := filepath.Join(dir, "v1.py"), filepath.Join(dir, "v2.py")
	writeFile(t, v1, "v1", 0o644)
	writeFile(t, v2, "version 2", 0o644)

	tests := []struct {
		name     string
		args     []string
		wantSpec func(s *api.FunctionSpec)
		wantCode string // "" when no code must be sent
	}{
		{
			name:     "Timeout",
			args:     []string{"--fntimeout", "99"},
			wantSpec: func(s *api.FunctionSpec) { s.FunctionTimeout = 99 },
		},
		{
			name:     "EnvAndEntrypoint",
			args:     []string{"--env", "other", "--entry", "v1.handler"},
			wantSpec: func(s *api.FunctionSpec) { s.Environment, s.Entrypoint = "other", "v1.handler" },
		},
		{
			name: "Code",
			args: []string{"--code", v2},
			wantSpec: func(s *api.FunctionSpec) {
				s.Package = api.Package{}
			},
			wantCode: "version 2",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := withEnv(t)
			mustRun(t, srv.URL, "env", "create", "--name", "other", "--runtime", "python")
			mustRun(t, srv.URL, "fn", "create", "--name", "hello", "--env", "python", "--code", v1,
				"--concurrency", "7", "--requestsperpod", "3")
			var before api.Function
			srv.Object("functions", "default", "hello", &before)

			mustRun(t, srv.URL, append([]string{"fn", "update", "--name", "hello"}, tt.args...)...)
			put := srv.Last(t, "PUT")
			var sent api.Function
			if err := json.Unmarshal(put.Body, &sent); err != nil {
				t.Fatal(err)
			}
			want := before.Spec
			tt.wantSpec(&want)
			got := sent.Spec
			if tt.wantCode != "" {
				got.Package = api.Package{} // the server fills it from the code
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("sent spec (-want +got):\n%s", diff)
			}
			switch {
			case tt.wantCode == "" && sent.Code != nil:
				t.Errorf("update sent code %q, want none", sent.Code.Filename)
			case tt.wantCode != "" && (sent.Code == nil || string(sent.Code.Data) != tt.wantCode):
				t.Errorf("update sent code %+v, want %q", sent.Code, tt.wantCode)
			}
		})
	}
}

func TestFn_GetAndList(t *testing.T) {
	srv := withEnv(t)
	code := filepath.Join(t.TempDir(), "hello.py")
	writeFile(t, code, "x", 0o644)
	mustRun(t, srv.URL, "fn", "create", "--name", "hello", "--env", "python", "--code", code,
		"--entrypoint", "hello.main", "--fntimeout", "10")
	mustRun(t, srv.URL, "fn", "create", "--name", "other", "--env", "python", "--code", code)

	t.Run("ListTable", func(t *testing.T) {
		res := mustRun(t, srv.URL, "fn", "list")
		lines := strings.Split(strings.TrimSpace(res.stdout), "\n")
		if len(lines) != 3 {
			t.Fatalf("got %d lines, want 3:\n%s", len(lines), res.stdout)
		}
		wantHeader := []string{"NAME", "ENV", "ENTRYPOINT", "CONCURRENCY", "RPP", "IDLE", "TIMEOUT", "AGE"}
		if got := strings.Fields(lines[0]); !cmp.Equal(got, wantHeader) {
			t.Errorf("header = %q, want %q", got, wantHeader)
		}
		rows := map[string][]string{}
		for _, l := range lines[1:] {
			rows[strings.Fields(l)[0]] = strings.Fields(l)
		}
		if want := []string{"hello", "python", "hello.main", "500", "1", "120s", "10s", "3m"}; !cmp.Equal(rows["hello"], want) {
			t.Errorf("hello row = %q, want %q", rows["hello"], want)
		}
		if want := []string{"other", "python", "-", "500", "1", "120s", "60s", "3m"}; !cmp.Equal(rows["other"], want) {
			t.Errorf("other row = %q, want %q", rows["other"], want)
		}
	})
	t.Run("ListJSON", func(t *testing.T) {
		res := mustRun(t, srv.URL, "fn", "list", "-o", "json")
		var fns []api.Function
		if err := json.Unmarshal([]byte(res.stdout), &fns); err != nil {
			t.Fatalf("not a JSON array: %v\n%s", err, res.stdout)
		}
		if len(fns) != 2 {
			t.Errorf("got %d functions, want 2", len(fns))
		}
	})
	t.Run("ListEmptyJSON", func(t *testing.T) {
		res := mustRun(t, srv.URL, "fn", "list", "-n", "empty", "-o", "json")
		if strings.TrimSpace(res.stdout) != "[]" {
			t.Errorf("stdout = %q, want []", res.stdout)
		}
	})
	t.Run("GetTable", func(t *testing.T) {
		res := mustRun(t, srv.URL, "fn", "get", "--name", "hello")
		for _, want := range []string{"Name:", "hello", "Environment:", "python", "Entrypoint:", "hello.main",
			"Function timeout:", "10s", "Package:", "hello.py (1 bytes"} {
			if !strings.Contains(res.stdout, want) {
				t.Errorf("output lacks %q:\n%s", want, res.stdout)
			}
		}
	})
	for _, format := range []string{"json", "yaml"} {
		t.Run("Get"+strings.ToUpper(format), func(t *testing.T) {
			res := mustRun(t, srv.URL, "fn", "get", "--name", "hello", "-o", format)
			var fn api.Function
			if err := yaml.Unmarshal([]byte(res.stdout), &fn); err != nil {
				t.Fatalf("cannot parse %s: %v\n%s", format, err, res.stdout)
			}
			if fn.Metadata.Name != "hello" || fn.Spec.FunctionTimeout != 10 || fn.Spec.Package.Filename != "hello.py" {
				t.Errorf("parsed %+v", fn)
			}
		})
	}
	t.Run("CreateJSON", func(t *testing.T) {
		res := mustRun(t, srv.URL, "fn", "create", "--name", "third", "--env", "python", "--code", code, "-o", "json")
		var fn api.Function
		if err := json.Unmarshal([]byte(res.stdout), &fn); err != nil {
			t.Fatalf("not JSON: %v\n%s", err, res.stdout)
		}
		if fn.Metadata.ResourceVersion == "" || fn.Code != nil {
			t.Errorf("printed %+v, want the stored object without code", fn)
		}
	})
	t.Run("DeleteAndNotFound", func(t *testing.T) {
		mustRun(t, srv.URL, "fn", "delete", "--name", "other")
		res := lantern(t, srv.URL, "fn", "get", "--name", "other")
		if res.code != 1 || !strings.HasPrefix(res.stderr, "Error: ") || !strings.Contains(res.stderr, "Try: list them with 'lantern fn list -n default'") {
			t.Errorf("exit %d, stderr %q", res.code, res.stderr)
		}
	})
}

func TestNamespaceFlag(t *testing.T) {
	srv := newFakeServer(t)
	code := filepath.Join(t.TempDir(), "hello.py")
	writeFile(t, code, "x", 0o644)
	mustRun(t, srv.URL, "-n", "team-a", "env", "create", "--name", "python", "--runtime", "python")
	mustRun(t, srv.URL, "fn", "create", "--namespace", "team-a", "--name", "hello", "--env", "python", "--code", code)
	mustRun(t, srv.URL, "route", "create", "-n", "team-a", "--function", "hello", "--url", "/hello", "--name", "r")
	mustRun(t, srv.URL, "fn", "update", "-n", "team-a", "--name", "hello", "--fntimeout", "5")

	for _, r := range srv.Requests() {
		if !strings.HasPrefix(r.Path, "/v1/namespaces/team-a/") {
			t.Errorf("%s %s is not in namespace team-a", r.Method, r.Path)
		}
	}
	if res := mustRun(t, srv.URL, "fn", "list"); strings.Contains(res.stdout, "hello") {
		t.Errorf("default namespace lists hello:\n%s", res.stdout)
	}
	res := mustRun(t, srv.URL, "fn", "list", "-A")
	if !strings.Contains(res.stdout, "NAMESPACE") || !strings.Contains(res.stdout, "team-a") {
		t.Errorf("-A output lacks the namespace:\n%s", res.stdout)
	}
}
