package e2e

import (
	"archive/zip"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lantern-faas/lantern/test/testenv"
)

// postBody is sent to every echo function: spaces, an ampersand, a newline
// and non-ASCII text must all come back unchanged.
const postBody = "hello from e2e & friends\nünïcödé ✓"

// TestRuntimesThroughRoutes deploys an echo function per built-in runtime
// and calls each through exact, {param} and prefix routes and through the
// /fn and /fission-function paths; and Python packages made of several
// files, as a directory and as a zip.
func TestRuntimesThroughRoutes(t *testing.T) {
	t.Parallel()
	l := startAll(t)
	for _, rt := range []string{"python", "nodejs", "binary"} {
		l.mustLantern(t, "env", "create", "--name", rt, "--runtime", rt, "--poolsize", "1")
	}
	l.mustLantern(t, "fn", "create", "--name", "py-echo", "--env", "python", "--code", fixture("python", "echo.py"))
	l.mustLantern(t, "fn", "create", "--name", "node-echo", "--env", "nodejs", "--code", fixture("nodejs", "echo.js"))
	l.mustLantern(t, "fn", "create", "--name", "bin-echo", "--env", "binary", "--code", fixture("binary", "echo.sh"))
	for _, p := range []struct{ prefix, fn string }{{"py", "py-echo"}, {"node", "node-echo"}, {"bin", "bin-echo"}} {
		l.mustLantern(t, "route", "create", "--name", p.prefix+"-echo", "--function", p.fn, "--url", "/"+p.prefix+"/echo", "--method", "GET", "--method", "POST")
		l.mustLantern(t, "route", "create", "--name", p.prefix+"-param", "--function", p.fn, "--url", "/"+p.prefix+"/users/{id}/profile")
		l.mustLantern(t, "route", "create", "--name", p.prefix+"-prefix", "--function", p.fn, "--prefix", "/"+p.prefix+"/api")
	}

	// echo checks a function whose answer is the echo JSON (python, nodejs).
	echo := func(t *testing.T, prefix, fn, runtime string) {
		d := decodeEcho(t, "POST", l.call(t, http.MethodPost, "/"+prefix+"/echo", postBody, "Content-Type: text/plain"))
		if d.Runtime != runtime || d.Method != "POST" || d.Body != postBody || d.Function != fn {
			t.Errorf("POST /%s/echo: got %+v, want runtime %s, method POST, body %q, function %s", prefix, d, runtime, postBody, fn)
		}
		d = decodeEcho(t, "GET", l.get(t, "/"+prefix+"/echo?a=1&b=two"))
		if d.Method != "GET" || d.Query != "a=1&b=two" || d.Body != "" {
			t.Errorf("GET /%s/echo?a=1&b=two: got %+v", prefix, d)
		}
		d = decodeEcho(t, "param route", l.get(t, "/"+prefix+"/users/u-42/profile"))
		if d.Params["id"] != "u-42" {
			t.Errorf("GET /%s/users/u-42/profile: params %v, want id=u-42 in header X-Fission-Params-Id", prefix, d.Params)
		}
		d = decodeEcho(t, "prefix route", l.get(t, "/"+prefix+"/api/v1/items/7?x=y"))
		if d.Path != "/v1/items/7" || d.Query != "x=y" {
			t.Errorf("GET /%s/api/v1/items/7?x=y: got path %q query %q, want /v1/items/7 and x=y", prefix, d.Path, d.Query)
		}
		d = decodeEcho(t, "prefix root", l.get(t, "/"+prefix+"/api"))
		if d.Path != "/" {
			t.Errorf("GET /%s/api: got path %q, want /", prefix, d.Path)
		}
		d = decodeEcho(t, "/fn path", l.call(t, http.MethodPut, "/fn/default/"+fn+"/deep/sub/path", "put-body", "Content-Type: text/plain"))
		if d.Method != "PUT" || d.Path != "/deep/sub/path" || d.Body != "put-body" {
			t.Errorf("PUT /fn/default/%s/deep/sub/path: got %+v", fn, d)
		}
		decodeEcho(t, "/fission-function path", l.get(t, "/fission-function/"+fn))
		// A method the route does not have is refused.
		wantResponse(t, "DELETE on a GET,POST route", l.call(t, http.MethodDelete, "/"+prefix+"/echo", ""), http.StatusMethodNotAllowed, "lantern: ")
	}

	t.Run("python", func(t *testing.T) {
		t.Parallel()
		echo(t, "py", "py-echo", "python")
		// fn test passes method, body, subpath and query.
		out := l.mustLantern(t, "fn", "test", "--name", "py-echo", "--method", "POST", "-b", "cli-body", "--subpath", "/x/y", "-q", "k=v",
			"-H", "Content-Type: text/plain")
		d := decodeEcho(t, "fn test", response{Status: http.StatusOK, Body: out})
		if d.Method != "POST" || d.Body != "cli-body" || d.Path != "/x/y" || d.Query != "k=v" {
			t.Errorf("lantern fn test: got %+v", d)
		}
	})
	t.Run("nodejs", func(t *testing.T) {
		t.Parallel()
		echo(t, "node", "node-echo", "nodejs")
	})
	t.Run("binary", func(t *testing.T) {
		t.Parallel()
		r := l.call(t, http.MethodPost, "/bin/echo", postBody, "Content-Type: text/plain")
		wantResponse(t, "POST /bin/echo", r, http.StatusOK, "runtime=binary method=POST path=/ ", "body="+postBody)
		r = l.get(t, "/bin/users/u-42/profile")
		wantResponse(t, "param route", r, http.StatusOK, "method=GET", "id=u-42 ")
		r = l.get(t, "/bin/api/v1/items/7?x=y")
		wantResponse(t, "prefix route", r, http.StatusOK, "path=/v1/items/7 ", "query=x=y ")
		r = l.call(t, http.MethodPost, "/fn/default/bin-echo/sub", "fn-body")
		wantResponse(t, "/fn path", r, http.StatusOK, "method=POST path=/sub ", "body=fn-body")
	})
	t.Run("package", func(t *testing.T) {
		t.Parallel()
		const want = "helper greets package | data=forty-two lines of nothing\n"
		// A directory: the CLI zips it.
		l.mustLantern(t, "fn", "create", "--name", "py-dir", "--env", "python", "--code", fixture("python", "multi"))
		if r := l.get(t, "/fn/default/py-dir"); r.Status != http.StatusOK || r.Body != want {
			t.Errorf("package from a directory: got %s, want 200 %q", r, want)
		}
		// A zip made here, with the modules in a subfolder and an
		// explicit entrypoint.
		zipPath := filepath.Join(t.TempDir(), "pkg.zip")
		writeZip(t, zipPath, map[string]string{
			"main.py":   mustRead(t, fixture("python", "multi", "main.py")),
			"helper.py": mustRead(t, fixture("python", "multi", "helper.py")),
			"data.txt":  mustRead(t, fixture("python", "multi", "data.txt")),
		})
		l.mustLantern(t, "fn", "create", "--name", "py-zip", "--env", "python", "--code", zipPath, "--entrypoint", "main.main")
		l.mustLantern(t, "route", "create", "--name", "py-zip", "--function", "py-zip", "--url", "/py/zip")
		if r := l.get(t, "/py/zip"); r.Status != http.StatusOK || r.Body != want {
			t.Errorf("package from a zip: got %s, want 200 %q", r, want)
		}
		out := l.mustLantern(t, "fn", "get", "--name", "py-zip")
		wantContains(t, "fn get of a zip function", out, "pkg.zip", "zip")
	})
}

func mustRead(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// writeZip writes a zip archive of name → content.
func writeZip(t *testing.T, path string, files map[string]string) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	zw := zip.NewWriter(f)
	for name, content := range files {
		w, err := zw.Create(name)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write([]byte(content)); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestCustomRuntimeCommand runs environments given as a command line: a tiny
// runtime written for this test with Python's standard library, and the
// built-in Python runtime started by hand.
func TestCustomRuntimeCommand(t *testing.T) {
	t.Parallel()
	l := startAll(t)
	tiny := testenv.SystemPython + " " + filepath.Join(fixtures, "runtimes", "tiny_runtime.py") + " --port $PORT"
	l.mustLantern(t, "env", "create", "--name", "tiny", "--command", tiny, "--poolsize", "1")
	out := l.mustLantern(t, "env", "list")
	wantContains(t, "env list", out, "tiny", "custom")
	l.mustLantern(t, "fn", "create", "--name", "greeting", "--env", "tiny", "--code", fixture("custom", "greeting.txt"))
	l.mustLantern(t, "route", "create", "--name", "greeting", "--function", "greeting", "--url", "/greeting", "--method", "POST")
	r := l.call(t, http.MethodPost, "/greeting", "ping")
	wantResponse(t, "POST /greeting (tiny runtime)", r, http.StatusOK,
		"tiny runtime: fn=greeting ", "method=POST body=ping text=a plain-text function for the tiny runtime")
	pid := pidOf(t, r)
	if ppid := testenv.ParentPID(pid); ppid != l.PID() {
		t.Errorf("the custom runtime's pid %d has parent %d, want lanternd (%d)", pid, ppid, l.PID())
	}

	builtin := testenv.SystemPython + " " + filepath.Join(runtimesDir, "python", "server.py")
	l.mustLantern(t, "env", "create", "--name", "handmade", "--command", builtin, "--poolsize", "1")
	l.mustLantern(t, "fn", "create", "--name", "hello", "--env", "handmade", "--code", fixture("python", "hello.py"))
	stdout, _, code := l.lantern(t, "fn", "test", "--name", "hello")
	if code != 0 || stdout != "Hello, world!\n" {
		t.Errorf("fn test on a --command python env: exit %d, stdout %q", code, stdout)
	}
}

// TestStreamingIsNotBuffered checks that chunks a function writes reach the
// client as they are written, not when the function ends.
func TestStreamingIsNotBuffered(t *testing.T) {
	t.Parallel()
	l := startAll(t)
	for _, rt := range []string{"python", "nodejs", "binary"} {
		l.mustLantern(t, "env", "create", "--name", rt, "--runtime", rt, "--poolsize", "1")
	}
	l.mustLantern(t, "fn", "create", "--name", "py-stream", "--env", "python", "--code", fixture("python", "stream.py"))
	l.mustLantern(t, "fn", "create", "--name", "node-stream", "--env", "nodejs", "--code", fixture("nodejs", "stream.js"))
	l.mustLantern(t, "fn", "create", "--name", "bin-stream", "--env", "binary", "--code", fixture("binary", "stream.sh"))
	for _, fn := range []string{"py-stream", "node-stream", "bin-stream"} {
		l.mustLantern(t, "route", "create", "--name", fn, "--function", fn, "--url", "/"+fn)
	}
	for _, fn := range []string{"py-stream", "node-stream", "bin-stream"} {
		t.Run(fn, func(t *testing.T) {
			t.Parallel()
			// Warm up, so that the timed call does not include a cold start.
			wantResponse(t, "warm-up", l.get(t, "/"+fn), http.StatusOK, "chunk 0\nchunk 1\nchunk 2\n")
			start := time.Now()
			resp, err := httpClient.Get(l.RouterURL + "/" + fn)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			lines, at, err := readLines(resp.Body, start)
			if err != nil {
				t.Fatalf("read the stream: %v (got %q)", err, lines)
			}
			if resp.StatusCode != http.StatusOK || strings.Join(lines, ",") != "chunk 0,chunk 1,chunk 2" {
				t.Fatalf("got %d %q, want 200 and three chunks", resp.StatusCode, lines)
			}
			t.Logf("chunks arrived at %v", at)
			// The function takes 600 ms between its first and last chunk.
			if gap := at[2] - at[0]; gap < 450*time.Millisecond {
				t.Errorf("the first chunk arrived only %v before the last (at %v): the router buffers the stream", gap, at)
			}
			if at[0] > 2*time.Second {
				t.Errorf("the first chunk took %v", at[0])
			}
		})
	}
}
