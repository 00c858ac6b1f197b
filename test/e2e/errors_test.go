package e2e

import (
	"archive/zip"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lantern-faas/lantern/platform/api"
	"github.com/lantern-faas/lantern/test/testenv"
)

// TestBadInput feeds lanternd invalid objects, broken requests and
// misbehaving functions. Each case checks the status (or exit code) and
// that the message names the problem; at the end lanternd must still be
// running and still know every object.
func TestBadInput(t *testing.T) {
	t.Parallel()
	l := startAll(t, "--max-body-bytes", "1024")
	l.mustLantern(t, "env", "create", "--name", "python", "--runtime", "python", "--poolsize", "2")
	l.mustLantern(t, "fn", "create", "--name", "healthy", "--env", "python", "--code", fixture("python", "pid.py"))
	l.mustLantern(t, "fn", "create", "--name", "echo", "--env", "python", "--code", fixture("python", "echo.py"))
	l.mustLantern(t, "route", "create", "--name", "echo", "--function", "echo", "--url", "/echo", "--method", "POST")
	wantFns := []string{"healthy", "echo"}

	t.Run("api", func(t *testing.T) {
		t.Run("invalid name", func(t *testing.T) {
			_, stderr, code := l.lantern(t, "env", "create", "--name", "Bad_Name", "--runtime", "python")
			if code != 1 || !strings.Contains(stderr, "metadata.name") || !strings.Contains(stderr, "Bad_Name") {
				t.Errorf("env create --name Bad_Name: exit %d, stderr %q; want exit 1 naming metadata.name and Bad_Name", code, stderr)
			}
			_, stderr, code = l.lantern(t, "fn", "create", "--name", "Bad_Name", "--env", "python", "--code", fixture("python", "hello.py"))
			if code != 1 || !strings.Contains(stderr, "metadata.name") {
				t.Errorf("fn create --name Bad_Name: exit %d, stderr %q; want exit 1 naming metadata.name", code, stderr)
			}
			_, stderr, code = l.lantern(t, "route", "create", "--name", "Bad_Name", "--function", "healthy", "--url", "/bad")
			if code != 1 || !strings.Contains(stderr, "metadata.name") {
				t.Errorf("route create --name Bad_Name: exit %d, stderr %q; want exit 1 naming metadata.name", code, stderr)
			}
			e := l.apiRaw(t, http.MethodPost, "/v1/namespaces/default/environments",
				`{"metadata":{"name":"Bad_Name"},"spec":{"runtime":"python"}}`)
			wantAPIError(t, "POST an environment named Bad_Name", e, http.StatusBadRequest, "metadata.name", "Bad_Name")
			e = l.apiRaw(t, http.MethodPost, "/v1/namespaces/Bad_NS/environments", `{"metadata":{"name":"ok"},"spec":{"runtime":"python"}}`)
			wantAPIError(t, "POST into namespace Bad_NS", e, http.StatusBadRequest, "metadata.namespace", "Bad_NS")
		})
		t.Run("unknown environment", func(t *testing.T) {
			_, stderr, code := l.lantern(t, "fn", "create", "--name", "orphan", "--env", "nosuchenv", "--code", fixture("python", "hello.py"))
			if code != 1 || !strings.Contains(stderr, "spec.environment") || !strings.Contains(stderr, "nosuchenv") {
				t.Errorf("fn create --env nosuchenv: exit %d, stderr %q; want exit 1 naming spec.environment and nosuchenv", code, stderr)
			}
			body, _ := json.Marshal(api.Function{Metadata: api.Metadata{Name: "orphan"}, Spec: api.FunctionSpec{Environment: "nosuchenv"},
				Code: &api.Code{Filename: "hello.py", Data: []byte("def main():\n    return 'x'\n")}})
			e := l.apiRaw(t, http.MethodPost, "/v1/namespaces/default/functions", string(body))
			wantAPIError(t, "POST a function of environment nosuchenv", e, http.StatusBadRequest, "spec.environment", "nosuchenv")
		})
		t.Run("unknown runtime", func(t *testing.T) {
			_, stderr, code := l.lantern(t, "env", "create", "--name", "cobol", "--runtime", "cobol")
			if code != 1 || !strings.Contains(stderr, "spec.runtime") || !strings.Contains(stderr, "cobol") {
				t.Errorf("env create --runtime cobol: exit %d, stderr %q; want exit 1 naming spec.runtime", code, stderr)
			}
		})
		t.Run("route to a missing function", func(t *testing.T) {
			e := l.apiRaw(t, http.MethodPost, "/v1/namespaces/default/httptriggers",
				`{"metadata":{"name":"dangling"},"spec":{"relativeurl":"/dangling","functionref":{"name":"ghost"}}}`)
			wantAPIError(t, "POST a route to function ghost", e, http.StatusBadRequest, "spec.functionref.name", "ghost")
		})
		t.Run("missing code file", func(t *testing.T) {
			missing := filepath.Join(t.TempDir(), "missing-handler.py")
			_, stderr, code := l.lantern(t, "fn", "create", "--name", "nocode", "--env", "python", "--code", missing)
			if code != 1 || !strings.Contains(stderr, missing) || !strings.Contains(stderr, "no such file") {
				t.Errorf("fn create --code %s: exit %d, stderr %q; want exit 1 naming the file", missing, code, stderr)
			}
			if _, _, code := l.lantern(t, "fn", "get", "--name", "nocode"); code == 0 {
				t.Errorf("fn get --name nocode: exit 0, but a function whose code was missing must not exist")
			}
		})
		t.Run("zip with ../ entry", func(t *testing.T) {
			var buf bytes.Buffer
			zw := zip.NewWriter(&buf)
			for _, name := range []string{"main.py", "../evil.py"} {
				w, err := zw.Create(name)
				if err != nil {
					t.Fatal(err)
				}
				_, _ = w.Write([]byte("def main():\n    return 'pwned'\n"))
			}
			if err := zw.Close(); err != nil {
				t.Fatal(err)
			}
			body, _ := json.Marshal(api.Function{Metadata: api.Metadata{Name: "zipslip"}, Spec: api.FunctionSpec{Environment: "python"},
				Code: &api.Code{Filename: "evil.zip", Data: buf.Bytes()}})
			e := l.apiRaw(t, http.MethodPost, "/v1/namespaces/default/functions", string(body))
			wantAPIError(t, "POST a zip with ../evil.py", e, http.StatusBadRequest, "code.data", "../evil.py")

			zipPath := filepath.Join(t.TempDir(), "evil.zip")
			if err := os.WriteFile(zipPath, buf.Bytes(), 0o644); err != nil {
				t.Fatal(err)
			}
			_, stderr, code := l.lantern(t, "fn", "create", "--name", "zipslip", "--env", "python", "--code", zipPath)
			if code != 1 || !strings.Contains(stderr, "../evil.py") {
				t.Errorf("fn create --code evil.zip: exit %d, stderr %q; want exit 1 naming ../evil.py", code, stderr)
			}
		})
		t.Run("malformed JSON", func(t *testing.T) {
			for _, body := range []string{`{"metadata": {"name": "x"`, `{not json}`, `[1, 2]`} {
				e := l.apiRaw(t, http.MethodPost, "/v1/namespaces/default/environments", body)
				wantAPIError(t, "POST "+body, e, http.StatusBadRequest, "", "JSON")
			}
			e := l.apiRaw(t, http.MethodPost, "/v1/namespaces/default/environments", "")
			wantAPIError(t, "POST an empty body", e, http.StatusBadRequest, "", "empty")
		})
		t.Run("unknown JSON field", func(t *testing.T) {
			e := l.apiRaw(t, http.MethodPost, "/v1/namespaces/default/environments",
				`{"metadata":{"name":"typo"},"spec":{"runtime":"python","poolsiez":2}}`)
			wantAPIError(t, "POST with spec.poolsiez", e, http.StatusBadRequest, "", "poolsiez")
		})
		t.Run("wrong JSON type", func(t *testing.T) {
			e := l.apiRaw(t, http.MethodPost, "/v1/namespaces/default/environments",
				`{"metadata":{"name":"typed"},"spec":{"runtime":"python","poolsize":"three"}}`)
			wantAPIError(t, "POST with a string poolsize", e, http.StatusBadRequest, "spec.poolsize", "poolsize")
		})
		t.Run("not found", func(t *testing.T) {
			e := l.apiRaw(t, http.MethodGet, "/v1/namespaces/default/functions/ghost", "")
			wantAPIError(t, "GET function ghost", e, http.StatusNotFound, "", "ghost")
			_, stderr, code := l.lantern(t, "fn", "get", "--name", "ghost")
			if code != 1 || !strings.Contains(stderr, "ghost") {
				t.Errorf("fn get --name ghost: exit %d, stderr %q", code, stderr)
			}
		})
		t.Run("environment in use", func(t *testing.T) {
			e := l.apiRaw(t, http.MethodDelete, "/v1/namespaces/default/environments/python", "")
			wantAPIError(t, "DELETE environment python", e, http.StatusConflict, "", "healthy")
			_, stderr, code := l.lantern(t, "env", "delete", "--name", "python")
			if code != 1 || !strings.Contains(stderr, "used by") || !strings.Contains(stderr, "echo") {
				t.Errorf("env delete --name python: exit %d, stderr %q; want exit 1 naming the functions", code, stderr)
			}
		})
		t.Run("function in use", func(t *testing.T) {
			e := l.apiRaw(t, http.MethodDelete, "/v1/namespaces/default/functions/echo", "")
			wantAPIError(t, "DELETE function echo", e, http.StatusConflict, "", "echo")
		})
	})

	l.mustLantern(t, "fn", "create", "--name", "broken", "--env", "python", "--code", fixture("python", "syntaxerror.py"))
	l.mustLantern(t, "fn", "create", "--name", "raises", "--env", "python", "--code", fixture("python", "modes.py"))
	// The function timeout also bounds the wait for an instance (as in
	// Fission), so the function that hangs gets an environment whose warm
	// pool no other function drains: its calls need no process start.
	l.mustLantern(t, "env", "create", "--name", "python-hangs", "--runtime", "python", "--poolsize", "2")
	l.mustLantern(t, "fn", "create", "--name", "hangs", "--env", "python-hangs", "--code", fixture("python", "modes.py"), "--fntimeout", "2")
	l.mustLantern(t, "fn", "create", "--name", "crashes", "--env", "python", "--code", fixture("python", "modes.py"))
	l.mustLantern(t, "fn", "create", "--name", "no-entry", "--env", "python", "--code", fixture("python", "hello.py"), "--entrypoint", "main.nosuch")
	l.mustLantern(t, "env", "create", "--name", "nodejs", "--runtime", "nodejs", "--poolsize", "1")
	l.mustLantern(t, "fn", "create", "--name", "node-throws", "--env", "nodejs", "--code", fixture("nodejs", "throws.js"))
	l.mustLantern(t, "env", "create", "--name", "binary", "--runtime", "binary", "--poolsize", "1")
	l.mustLantern(t, "fn", "create", "--name", "bin-fails", "--env", "binary", "--code", fixture("binary", "fail.sh"))
	l.mustLantern(t, "env", "create", "--name", "no-runtime", "--command", "/nonexistent/e2e-runtime --port $PORT", "--poolsize", "1")
	l.mustLantern(t, "fn", "create", "--name", "no-runtime", "--env", "no-runtime", "--code", fixture("python", "hello.py"))
	wantFns = append(wantFns, "broken", "raises", "hangs", "crashes", "no-entry", "node-throws", "bin-fails", "no-runtime")

	t.Run("calls", func(t *testing.T) {
		t.Run("syntax error", func(t *testing.T) {
			t.Parallel()
			r := l.get(t, "/fn/default/broken")
			if r.Status < 500 || !strings.Contains(r.Body, "SyntaxError") {
				t.Errorf("GET broken: got %s, want a 5xx that mentions SyntaxError", r)
			}
			stdout, stderr, code := l.lantern(t, "fn", "test", "--name", "broken")
			if code != 1 || !strings.Contains(stdout+stderr, "SyntaxError") {
				t.Errorf("fn test --name broken: exit %d, stdout %q, stderr %q; want exit 1 showing the SyntaxError", code, stdout, stderr)
			}
			// Other functions of the same environment are not affected.
			pidOf(t, l.get(t, "/fn/default/healthy"))
			d := decodeEcho(t, "echo after the broken function", l.call(t, http.MethodPost, "/echo", "still here"))
			if d.Body != "still here" {
				t.Errorf("echo after the broken function: got %+v", d)
			}
		})
		t.Run("missing entrypoint", func(t *testing.T) {
			t.Parallel()
			r := l.get(t, "/fn/default/no-entry")
			if r.Status < 500 || !strings.Contains(r.Body, "nosuch") {
				t.Errorf("GET no-entry (--entrypoint main.nosuch): got %s, want a 5xx naming nosuch", r)
			}
		})
		t.Run("nodejs exception", func(t *testing.T) {
			t.Parallel()
			r := l.get(t, "/fn/default/node-throws")
			wantResponse(t, "GET node-throws", r, http.StatusInternalServerError, "TypeError", "node e2e failure")
		})
		t.Run("binary exits non-zero", func(t *testing.T) {
			t.Parallel()
			r := l.call(t, http.MethodPost, "/fn/default/bin-fails", "input")
			wantResponse(t, "POST bin-fails", r, http.StatusInternalServerError, "3", "e2e binary failure: no database")
		})
		t.Run("runtime command that does not start", func(t *testing.T) {
			t.Parallel()
			r := l.get(t, "/fn/default/no-runtime")
			if r.Status < 500 || !strings.Contains(r.Body, "/nonexistent/e2e-runtime") {
				t.Errorf("GET no-runtime: got %s, want a 5xx naming the command that failed", r)
			}
		})
		t.Run("update with a missing code file", func(t *testing.T) {
			t.Parallel()
			missing := filepath.Join(t.TempDir(), "gone.py")
			_, stderr, code := l.lantern(t, "fn", "update", "--name", "healthy", "--code", missing)
			if code != 1 || !strings.Contains(stderr, missing) {
				t.Errorf("fn update --code %s: exit %d, stderr %q; want exit 1 naming the file", missing, code, stderr)
			}
			pidOf(t, l.get(t, "/fn/default/healthy"))
		})
		t.Run("exception", func(t *testing.T) {
			t.Parallel()
			r := l.get(t, "/fn/default/raises?mode=raise")
			wantResponse(t, "GET raises?mode=raise", r, http.StatusInternalServerError, "E2EFailure", "the e2e test asked this function to fail")
			// The instance survives its function's exception.
			pidOf(t, l.get(t, "/fn/default/raises"))
		})
		t.Run("timeout", func(t *testing.T) {
			t.Parallel()
			// The first call may wait for the pool's processes to start.
			var before int
			eventually(t, 30*time.Second, 100*time.Millisecond, "a first call to hangs", func() error {
				r := l.get(t, "/fn/default/hangs")
				if r.Status != http.StatusOK {
					return fmt.Errorf("got %s", r)
				}
				before = pidOf(t, r)
				return nil
			})
			// Three times: the call right after a timeout races with the
			// removal of the stuck instance.
			for round := 1; round <= 3; round++ {
				start := time.Now()
				r := l.get(t, "/fn/default/hangs?mode=hang")
				took := time.Since(start)
				wantResponse(t, "GET hangs?mode=hang with --fntimeout 2", r, http.StatusGatewayTimeout, "hangs", "timeout")
				if took < 1900*time.Millisecond || took > 10*time.Second {
					t.Errorf("the 504 came after %v, want about the function's 2 s timeout", took)
				}
				r = l.get(t, "/fn/default/hangs")
				if r.Status != http.StatusOK {
					t.Fatalf("round %d: the call right after the 504 got %s, want 200 from a new instance", round, r)
				}
				after := pidOf(t, r)
				if after == before {
					t.Errorf("round %d: the call after the timeout was served by the stuck instance (pid %d); want a new instance", round, before)
				}
				stuck := before
				eventually(t, 10*time.Second, 100*time.Millisecond, "the stuck instance is stopped", func() error {
					if st := testenv.PIDState(stuck); st != "" {
						return fmt.Errorf("pid %d is %s", stuck, describePID(stuck))
					}
					return nil
				})
				before = after
			}
		})
		t.Run("exit mid-request", func(t *testing.T) {
			t.Parallel()
			before := pidOf(t, l.get(t, "/fn/default/crashes"))
			r := l.get(t, "/fn/default/crashes?mode=exit")
			wantResponse(t, "GET crashes?mode=exit", r, http.StatusBadGateway, "lantern: ", `"crashes"`)
			after := pidOf(t, l.get(t, "/fn/default/crashes"))
			if after == before {
				t.Errorf("the call after the crash reports the dead instance's pid %d", before)
			}
			if st := testenv.PIDState(before); st != "" {
				t.Errorf("the crashed instance (pid %d) is %s", before, describePID(before))
			}
		})
		t.Run("body too large", func(t *testing.T) {
			t.Parallel()
			d := decodeEcho(t, "a body under the limit", l.call(t, http.MethodPost, "/echo", strings.Repeat("a", 1000)))
			if len(d.Body) != 1000 {
				t.Errorf("a 1000-byte body came back as %d bytes", len(d.Body))
			}
			r := l.call(t, http.MethodPost, "/echo", strings.Repeat("b", 2048))
			wantResponse(t, "POST 2048 bytes with --max-body-bytes 1024", r, http.StatusRequestEntityTooLarge, "lantern: ", "1024")
			// Without a Content-Length the limit holds while streaming.
			r = do(t, http.MethodPost, l.RouterURL+"/echo", io.MultiReader(strings.NewReader(strings.Repeat("c", 1500)), strings.NewReader(strings.Repeat("d", 1500))))
			wantResponse(t, "POST 3000 chunked bytes with --max-body-bytes 1024", r, http.StatusRequestEntityTooLarge, "1024")
			// The function still works.
			decodeEcho(t, "echo after 413", l.call(t, http.MethodPost, "/echo", "small"))
		})
		t.Run("router errors", func(t *testing.T) {
			t.Parallel()
			r := l.get(t, "/no/such/route")
			wantResponse(t, "GET /no/such/route", r, http.StatusNotFound, "lantern: no route", "/no/such/route")
			r = l.call(t, http.MethodGet, "/no/such/route", "", "Accept: application/json")
			var eb api.ErrorBody
			if err := json.Unmarshal([]byte(r.Body), &eb); r.Status != http.StatusNotFound || err != nil || eb.Code != "not_found" {
				t.Errorf("GET /no/such/route with Accept: application/json: got %s, want 404 and the JSON envelope with code not_found", r)
			}
			wantResponse(t, "GET /echo (a POST route)", l.get(t, "/echo"), http.StatusMethodNotAllowed, "lantern: ", "GET")
			wantResponse(t, "GET /fn/default/ghost", l.get(t, "/fn/default/ghost"), http.StatusNotFound, "lantern: ", "ghost")
		})
	})

	// Nothing above brought lanternd down, and it still knows everything.
	if err := l.Alive(); err != nil {
		t.Fatal(err)
	}
	out := l.mustLantern(t, "fn", "list")
	for _, fn := range wantFns {
		if !strings.Contains(out, fn) {
			t.Errorf("fn list does not list %s:\n%s", fn, out)
		}
	}
	for _, fn := range []string{"orphan", "nocode", "zipslip", "Bad_Name"} {
		if strings.Contains(out, fn+" ") {
			t.Errorf("fn list lists %s, which was refused:\n%s", fn, out)
		}
	}
	wantContains(t, "env list", l.mustLantern(t, "env", "list"), "python", "python-hangs", "nodejs", "binary", "no-runtime")
	wantContains(t, "route list", l.mustLantern(t, "route", "list"), "/echo")
	pidOf(t, l.get(t, "/fn/default/healthy"))
	if err := l.Alive(); err != nil {
		t.Fatal(err)
	}
}

// wantAPIError checks an API error answer: its status, its field (when
// field is not empty) and that its message contains every substring.
func wantAPIError(t *testing.T, what string, e apiError, status int, field string, contains ...string) {
	t.Helper()
	if e.Status != status {
		t.Errorf("%s: got status %d (%s), want %d", what, e.Status, e.Raw, status)
		return
	}
	if field != "" && e.Field != field {
		t.Errorf("%s: got field %q (%s), want %q", what, e.Field, e.Raw, field)
	}
	for _, c := range contains {
		if !strings.Contains(e.Message, c) {
			t.Errorf("%s: message %q does not contain %q", what, e.Message, c)
		}
	}
}
