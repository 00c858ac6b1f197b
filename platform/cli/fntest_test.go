package cli

import (
	"net/http/httptest"
	"strings"
	"testing"
)

func TestFn_Test(t *testing.T) {
	tests := []struct {
		name       string
		args       []string
		wantCode   int
		wantStdout string
		wantStderr []string // lines
	}{
		{
			name:       "OK",
			args:       []string{"--name", "hello"},
			wantStdout: "GET /fn/default/hello body=",
		},
		{
			name: "RequestFlags",
			args: []string{"--name", "hello", "-n", "team-a", "--method", "post", "-b", `{"a":1}`,
				"--subpath", "users/42", "-q", "x=1", "--query", "y=a b"},
			wantStdout: `POST /fn/team-a/hello/users/42?x=1&y=a+b body={"a":1}`,
		},
		{
			name:       "ServerError",
			args:       []string{"--name", "fail"},
			wantCode:   1,
			wantStdout: "boom: division by zero\n",
			wantStderr: []string{"Error: function fail answered 500 Internal Server Error"},
		},
		{
			name:       "Timeout",
			args:       []string{"--name", "slow", "-t", "100ms"},
			wantCode:   1,
			wantStderr: []string{"Error: function slow did not answer within 100ms", "Try: raise -t/--timeout, or check the function's logs"},
		},
		{
			name:       "BadHeader",
			args:       []string{"--name", "hello", "-H", "nocolon"},
			wantCode:   2,
			wantStderr: []string{`Error: invalid header "nocolon": use -H key:value`, "Try: lantern fn test --help"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newFakeServer(t)
			res := lantern(t, srv.URL, append([]string{"fn", "test"}, tt.args...)...)
			if res.code != tt.wantCode {
				t.Errorf("exit %d, want %d (stderr %q)", res.code, tt.wantCode, res.stderr)
			}
			if res.stdout != tt.wantStdout {
				t.Errorf("stdout = %q, want %q", res.stdout, tt.wantStdout)
			}
			var gotErr []string
			if s := strings.TrimSpace(res.stderr); s != "" {
				gotErr = strings.Split(s, "\n")
			}
			if strings.Join(gotErr, "\n") != strings.Join(tt.wantStderr, "\n") {
				t.Errorf("stderr = %q, want %q", gotErr, tt.wantStderr)
			}
			if len(srv.Requests()) != 0 {
				t.Errorf("fn test called the controller API: %+v", srv.Requests())
			}
		})
	}
}

func TestFn_TestHeaders(t *testing.T) {
	srv := newFakeServer(t)
	mustRun(t, srv.URL, "fn", "test", "--name", "hello", "-H", "X-One: 1", "-H", "X-Two:a:b")
	calls := srv.Calls()
	if len(calls) != 1 {
		t.Fatalf("router got %d calls, want 1", len(calls))
	}
	h := calls[0].Header
	if h.Get("X-One") != "1" || h.Get("X-Two") != "a:b" {
		t.Errorf("headers = %v", h)
	}
}

func TestFn_TestRouterDown(t *testing.T) {
	down := httptest.NewServer(nil)
	down.Close()
	res := lantern(t, down.URL, "fn", "test", "--name", "hello")
	if res.code != 1 {
		t.Errorf("exit %d, want 1", res.code)
	}
	lines := strings.Split(strings.TrimSpace(res.stderr), "\n")
	if len(lines) != 2 ||
		!strings.HasPrefix(lines[0], "Error: cannot reach the router at "+down.URL) ||
		lines[1] != "Try: start it with 'make run' or set LANTERN_ROUTER_URL" {
		t.Errorf("stderr = %q", lines)
	}
}
