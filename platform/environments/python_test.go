package environments_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	lanternlogs "github.com/lantern-faas/lantern/logs"
)

func TestPython_Load(t *testing.T) {
	t.Parallel()
	notLoaded := call{path: "/", status: http.StatusInternalServerError, bodyHas: []string{"no function loaded"}}
	runLoadCases(t, startPython, []loadCase{
		{
			name: "String",
			code: code{"python/hello.py", ""},
			calls: []call{{path: "/", status: 200, bodyHas: []string{"Hello, world!"},
				headerIs: map[string]string{"Content-Type": "text/html; charset=utf-8"}}},
		},
		{
			// A single file is the module whatever the entrypoint calls it.
			name:  "SingleFileOtherModuleName",
			code:  code{"python/hello.py", "handler.main"},
			calls: []call{{path: "/", status: 200, bodyHas: []string{"Hello, world!"}}},
		},
		{
			name:  "StatusCode",
			code:  code{"python/statuscode.py", "statuscode.main"},
			calls: []call{{path: "/", status: 201, bodyHas: []string{"created"}}},
		},
		{
			name: "TupleWithHeaders",
			code: code{"python/echo.py", "echo.main"},
			calls: []call{{method: http.MethodPatch, path: "/e", body: "b", status: 200, bodyHas: []string{"PATCH /e b"},
				headerIs: map[string]string{"X-Method": "PATCH"}}},
		},
		{
			name: "ResponseObject",
			code: code{"python/response.py", "main"},
			calls: []call{{path: "/?name=lantern", status: 202, bodyHas: []string{"name=lantern"},
				headerIs: map[string]string{"X-Test": "response", "Content-Type": "text/plain; charset=utf-8"}}},
		},
		{
			name: "Raises",
			code: code{"python/raises.py", "raises.main"},
			calls: []call{
				{path: "/", status: 500, bodyHas: []string{"function raised ValueError: boom", "Traceback", "raises.py"}},
				{path: "/?ok=1", status: 200, bodyHas: []string{"still serving"}},
			},
			logsHave: []string{"Traceback", "ValueError: boom"},
		},
		{
			name:       "SyntaxError",
			code:       code{"python/syntaxerror.py", "syntaxerror.main"},
			specStatus: 500,
			specHas:    []string{"SyntaxError", "syntaxerror.py", "line 1"},
			calls:      []call{notLoaded},
		},
		{
			name:       "MissingFunction",
			code:       code{"python/nofunc.py", "nofunc.main"},
			specStatus: 500,
			specHas:    []string{"function 'main' not found"},
			calls:      []call{notLoaded},
		},
		{
			name:       "MissingModule",
			code:       code{"python/multi", "nosuch.func"},
			specStatus: 500,
			specHas:    []string{"module 'nosuch' not found", "helper.py", "pkg"},
		},
		{
			// An extracted zip: a package, a top-level module and a data file.
			name: "Directory",
			code: code{"python/multi", "pkg.mod.func"},
			calls: []call{{path: "/", status: 200,
				bodyHas:  []string{`"greeting":"Hello, lantern!"`, `"shout":"LANTERN!"`},
				headerIs: map[string]string{"Content-Type": "application/json"}}},
		},
	})
}

// TestPython_Werkzeug checks the fallback server when gevent is not used.
func TestPython_Werkzeug(t *testing.T) {
	t.Parallel()
	userfunc, path := fixture(t, "python/stream_logs.py")
	inst := startPython(t, userfunc, withEnv("WSGI_FRAMEWORK=werkzeug"))
	inst.mustSpecialize(t, path, "")
	lines, at := inst.chunkTimes(t, "/x")
	if len(lines) != 3 || at[2]-at[0] < 450*time.Millisecond {
		t.Errorf("streamed %q at %v, want 3 chunks 600ms apart", lines, at)
	}
	if r := inst.do(t, http.MethodPatch, "/specialize", "x"); r.status != 200 {
		t.Errorf("PATCH /specialize = %d, want 200 (the function)", r.status)
	}
	logs := inst.logs.String()
	checkBody(t, "logs", logs, []string{"(werkzeug)"})
	// Past startup only the function's own lines: no access log.
	var extra []string
	for _, l := range strings.Split(strings.TrimSpace(logs), "\n")[1:] {
		if !strings.HasPrefix(l, "sending chunk") && !strings.HasPrefix(l, lanternlogs.MarkerPrefix) {
			extra = append(extra, l)
		}
	}
	if n := len(extra); n > 0 {
		t.Errorf("werkzeug printed %d lines past startup, want none (no access log):\n%s", n, logs)
	}
	// Markers: the end follows the streamed body.
	if r := inst.do(t, http.MethodGet, "/", "", requestIDHeader, "wz1"); r.status != 200 || r.body != "chunk 0\nchunk 1\nchunk 2\n" {
		t.Errorf("GET / = %d %q, want 200 and 3 chunks", r.status, r.body)
	}
	waitOutput(t, inst.logs, lanternlogs.ReqEndMarker("wz1")+"\n")
	start, end := lanternlogs.ReqStartMarker("wz1", ""), lanternlogs.ReqEndMarker("wz1")
	want := []string{start, end} // framed on stdout, the stream the function printed on
	if got := markerLines(inst.logs.String()); !slices.Equal(got, want) {
		t.Errorf("marker lines = %q, want %q", got, want)
	}
}

// TestPython_RequestHeaders sends header blocks by hand: the runtime's own
// header parser must give the function what pywsgi's default gave, and
// refuse what HTTP forbids with 400.
func TestPython_RequestHeaders(t *testing.T) {
	t.Parallel()
	userfunc, path := fixture(t, "python/headers.py")
	inst := startPython(t, userfunc)
	inst.mustSpecialize(t, path, "")
	addr := strings.TrimPrefix(inst.base, "http://")

	// raw sends head in the pieces given (a pause between them, so that
	// the runtime reads them apart) and returns the answer.
	raw := func(head string, more ...string) (int, string) {
		t.Helper()
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(10 * time.Second))
		for i, piece := range append([]string{head}, more...) {
			if i > 0 {
				time.Sleep(50 * time.Millisecond)
			}
			if _, err := io.WriteString(c, piece); err != nil {
				t.Fatal(err)
			}
		}
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatalf("reading the answer to %q: %v", head, err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}

	// The same headers, read in one piece, line by line (the block comes
	// in two sends), and with bare LF line ends.
	const head = "POST /x HTTP/1.1\r\nHost: fn\r\nX-Fission-Function-Name: hello\r\nX-Tight:v\r\n" +
		"X-Folded: a\r\n  b\r\nX-Dup: 1\r\nX-Under_Score: sneaky\r\nx-dup: 2\r\n" +
		"Content-Type: text/plain\r\nContent-Length: 2\r\nConnection: close\r\n\r\nhi"
	want := map[string]string{
		"HTTP_HOST": "fn", "HTTP_X_FISSION_FUNCTION_NAME": "hello", "HTTP_X_TIGHT": "v",
		"HTTP_X_FOLDED": "a\r\n  b", "HTTP_X_DUP": "1,2", "CONTENT_TYPE": "text/plain", "CONTENT_LENGTH": "2", "HTTP_CONNECTION": "close",
	}
	split := strings.Index(head, "X-Dup")
	for name, pieces := range map[string][]string{
		"one piece":   {head},
		"two pieces":  {head[:split], head[split:]},
		"LF line end": {strings.ReplaceAll(head, "\r\n", "\n")},
	} {
		status, body := raw(pieces[0], pieces[1:]...)
		if status != http.StatusOK {
			t.Fatalf("%s: status %d, body %s", name, status, body)
		}
		var got map[string]string
		if err := json.Unmarshal([]byte(body), &got); err != nil {
			t.Fatalf("%s: %v: %s", name, err, body)
		}
		if !maps.Equal(got, want) {
			t.Errorf("%s: the function saw\n%v\nwant\n%v", name, got, want)
		}
	}

	many := strings.Builder{}
	for i := range 101 {
		fmt.Fprintf(&many, "X-H%d: v\r\n", i)
	}
	for name, head := range map[string]string{
		"no colon":         "GET / HTTP/1.1\r\nHost: fn\r\nNoColon\r\n\r\n",
		"space before ':'": "GET / HTTP/1.1\r\nHost: fn\r\nX-A : v\r\n\r\n",
		"101 headers":      "GET / HTTP/1.1\r\n" + many.String() + "\r\n",
		"line too long":    "GET / HTTP/1.1\r\nX-Long: " + strings.Repeat("a", 70000) + "\r\n\r\n",
	} {
		if status, body := raw(head); status != http.StatusBadRequest {
			t.Errorf("%s: status %d, want 400; body %q", name, status, body)
		}
	}
}

// TestPython_ShortAnswerInOneSend checks that a short answer's head and body
// leave together: a reader that wakes for the head must not wait again for
// the body. Each first read after a request must hold the whole answer;
// with a send for each, most of them would hold the head alone. Long
// answers, sent apart, still arrive whole.
func TestPython_ShortAnswerInOneSend(t *testing.T) {
	t.Parallel()
	userfunc, path := fixture(t, "python/echo.py")
	inst := startPython(t, userfunc)
	inst.mustSpecialize(t, path, "echo.main")

	c, err := net.Dial("tcp", strings.TrimPrefix(inst.base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(20 * time.Second))
	buf := make([]byte, 64<<10)
	const want = "\r\n\r\nGET /one "
	for i := range 30 {
		if _, err := io.WriteString(c, "GET /one HTTP/1.1\r\nHost: fn\r\n\r\n"); err != nil {
			t.Fatal(err)
		}
		n, err := c.Read(buf)
		if err != nil {
			t.Fatal(err)
		}
		if got := string(buf[:n]); !strings.HasPrefix(got, "HTTP/1.1 200 ") || !strings.HasSuffix(got, want) {
			t.Fatalf("call %d: the first read holds %q, want the whole answer ending in %q", i, got, want)
		}
	}

	long := strings.Repeat("x", 20<<10) // above the coalescing limit
	if r := inst.do(t, http.MethodPost, "/long", long); r.status != http.StatusOK || r.body != "POST /long "+long {
		t.Errorf("long answer: status %d, %d bytes, want 200 and %d bytes", r.status, len(r.body), len("POST /long ")+len(long))
	}
}
