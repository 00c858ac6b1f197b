package cli

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/lantern-faas/lantern/platform/api"
)

func TestErrors_API(t *testing.T) {
	tests := []struct {
		name    string
		handler http.HandlerFunc // nil: the fake server
		args    []string
		want    []string // stderr lines; a trailing "..." matches a prefix
	}{
		{
			name: "InvalidName",
			args: []string{"env", "create", "--name", "Bad_Name", "--runtime", "python"},
			want: []string{`Error: metadata.name: "Bad_Name" is not a valid name: ...`},
		},
		{
			name: "InvalidRuntime",
			args: []string{"env", "create", "--name", "x", "--runtime", "cobol"},
			want: []string{`Error: spec.runtime: unknown runtime "cobol": ...`},
		},
		{
			name: "ServerHint",
			handler: func(w http.ResponseWriter, _ *http.Request) {
				writeErr(w, http.StatusServiceUnavailable, api.ErrorBody{Code: "unavailable", Message: "store is read-only", Hint: "wait for the leader"})
			},
			args: []string{"fn", "get", "--name", "x"},
			want: []string{"Error: store is read-only", "Try: wait for the leader"},
		},
		{
			name: "ConflictOnCreate",
			handler: func(w http.ResponseWriter, _ *http.Request) {
				writeErr(w, http.StatusConflict, api.ErrorBody{Code: "conflict", Message: `Environment "py" exists`})
			},
			args: []string{"env", "create", "--name", "py", "--runtime", "python"},
			want: []string{`Error: Environment "py" exists`, "Try: change it with 'lantern env update -n default --name py'"},
		},
		{
			name: "PlainTextBody",
			handler: func(w http.ResponseWriter, _ *http.Request) {
				http.Error(w, "bad gateway", http.StatusBadGateway)
			},
			args: []string{"route", "list"},
			want: []string{"Error: bad gateway"},
		},
		{
			name: "Timeout",
			handler: func(w http.ResponseWriter, r *http.Request) {
				select {
				case <-r.Context().Done():
				case <-time.After(5 * time.Second):
				}
			},
			args: []string{"env", "list", "--timeout", "100ms"},
			want: []string{"Error: the server at ... did not answer within 100ms", "Try: raise --timeout, or check the server's logs"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			url := ""
			if tt.handler == nil {
				url = newFakeServer(t).URL
			} else {
				srv := httptest.NewServer(tt.handler)
				t.Cleanup(srv.Close)
				url = srv.URL
			}
			res := lantern(t, url, tt.args...)
			if res.code != 1 {
				t.Errorf("exit %d, want 1", res.code)
			}
			if res.stdout != "" {
				t.Errorf("stdout = %q, want nothing", res.stdout)
			}
			checkLines(t, res.stderr, tt.want)
		})
	}
}

// checkLines compares output lines with want; "..." in a wanted line
// matches anything.
func checkLines(t *testing.T, out string, want []string) {
	t.Helper()
	got := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(got) != len(want) {
		t.Errorf("got %d lines %q, want %q", len(got), got, want)
		return
	}
	for i := range want {
		parts := strings.Split(want[i], "...")
		line := got[i]
		ok := strings.HasPrefix(line, parts[0]) && strings.HasSuffix(line, parts[len(parts)-1])
		for _, p := range parts {
			idx := strings.Index(line, p)
			if idx < 0 {
				ok = false
				break
			}
			line = line[idx+len(p):]
		}
		if !ok {
			t.Errorf("line %d = %q, want %q", i, got[i], want[i])
		}
	}
}

func TestErrors_Connect(t *testing.T) {
	down := httptest.NewServer(nil)
	down.Close()
	for _, args := range [][]string{
		{"env", "list"},
		{"fn", "get", "--name", "x"},
		{"route", "delete", "--name", "x"},
	} {
		t.Run(strings.Join(args, "_"), func(t *testing.T) {
			res := lantern(t, down.URL, args...)
			if res.code != 1 {
				t.Errorf("exit %d, want 1", res.code)
			}
			checkLines(t, res.stderr, []string{
				"Error: cannot reach the server at " + down.URL + ": ...",
				"Try: start the server with 'make run' or set --server/LANTERN_URL",
			})
		})
	}
}

func TestErrors_Usage(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want []string
	}{
		{"UnknownFlag", []string{"fn", "create", "--nope"},
			[]string{"Error: unknown flag: --nope", "Try: lantern fn create --help"}},
		{"MissingName", []string{"env", "create", "--runtime", "python"},
			[]string{`Error: required flag(s) "name" not set`, "Try: lantern env create --help"}},
		{"MissingCode", []string{"fn", "create", "--name", "x", "--env", "python"},
			[]string{`Error: required flag(s) "code" not set`, "Try: lantern fn create --help"}},
		{"BadInt", []string{"env", "create", "--name", "x", "--poolsize", "many"},
			[]string{`Error: invalid argument "many" for "--poolsize" flag: ...`, "Try: lantern env create --help"}},
		{"Positional", []string{"fn", "get", "hello"},
			[]string{`Error: unexpected argument "hello": give the name with --name`, "Try: lantern fn get --help"}},
		{"UnknownCommand", []string{"fn", "explode"},
			[]string{`Error: unknown command "explode" for "lantern fn"`, "Try: lantern fn --help"}},
		{"UnknownTopCommand", []string{"evn"},
			[]string{`Error: unknown command "evn" for "lantern"`, "Try: did you mean 'lantern env' or 'lantern fn'?"}},
		{"BadOutput", []string{"env", "list", "-o", "xml"},
			[]string{`Error: invalid output format "xml" for -o: use table, json or yaml`, "Try: lantern env list --help"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newFakeServer(t)
			res := lantern(t, srv.URL, tt.args...)
			if res.code != 2 {
				t.Errorf("exit %d, want 2", res.code)
			}
			checkLines(t, res.stderr, tt.want)
			if strings.Contains(res.stderr+res.stdout, "Usage:") {
				t.Errorf("usage was dumped:\n%s%s", res.stdout, res.stderr)
			}
			if n := len(srv.Requests()); n != 0 {
				t.Errorf("%d API requests were made, want none", n)
			}
		})
	}
}

func TestHelp(t *testing.T) {
	srv := newFakeServer(t)
	res := mustRun(t, srv.URL, "fn", "--help")
	for _, sub := range []string{"create", "get", "list", "update", "delete", "test"} {
		if !strings.Contains(res.stdout, sub) {
			t.Errorf("fn --help lacks %q", sub)
		}
	}
	var v any
	if json.Unmarshal([]byte(res.stdout), &v) == nil {
		t.Error("help is JSON?")
	}
}
