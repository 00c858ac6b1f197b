package environments_test

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/lantern-faas/lantern/logs"
	"github.com/lantern-faas/lantern/platform/api/runtime"
)

// code names a fixture under testdata/ and the entrypoint that loads it.
type code struct {
	rel, entrypoint string
}

// runtimeUnderTest is one runtime and the fixtures the shared contract
// cases need from it.
type runtimeUnderTest struct {
	name  string
	start starter
	// hello answers 200 with a body containing helloWant.
	hello     code
	helloWant string
	// echo answers 200 with "<METHOD> <path> <body>" in its body.
	echo code
	// stream writes "chunk 0".."chunk 2", 300 ms apart.
	stream code
	// logs prints "function stdout line <request ID>" on stdout and
	// "function stderr line <request ID>" on stderr.
	logs code
	// stdoutIsBody: the function's stdout is the response body, not log.
	stdoutIsBody bool
	// streamLogs is stream, printing "sending chunk N" on stdout before each
	// chunk; empty means stream already frames every call.
	streamLogs code
	// lazyFraming: a call's markers appear only on the streams it printed on.
	lazyFraming bool
}

func runtimes() []runtimeUnderTest {
	return []runtimeUnderTest{
		{
			name: "python", start: startPython,
			hello: code{"python/hello.py", "hello.main"}, helloWant: "Hello, world!",
			echo:       code{"python/echo.py", "echo.main"},
			stream:     code{"python/stream.py", ""},
			logs:       code{"python/logs.py", ""},
			streamLogs: code{"python/stream_logs.py", ""}, lazyFraming: true,
		},
		{
			name: "nodejs", start: startNode,
			hello: code{"nodejs/hello.js", "hello"}, helloWant: "Hello, world!",
			echo:   code{"nodejs/echo.js", ""},
			stream: code{"nodejs/stream.js", "stream"},
			logs:   code{"nodejs/logs.js", ""},
		},
		{
			name: "binary", start: startBinary,
			hello: code{"binary/echo.sh", ""}, helloWant: "x-test=",
			echo:   code{"binary/echo.sh", ""},
			stream: code{"binary/stream.sh", ""},
			logs:   code{"binary/logs.sh", ""}, stdoutIsBody: true,
		},
	}
}

// TestContract runs the cases every runtime must pass.
func TestContract(t *testing.T) {
	t.Parallel()
	for _, rt := range runtimes() {
		t.Run(rt.name, func(t *testing.T) {
			t.Parallel()
			t.Run("NotSpecialized", func(t *testing.T) { t.Parallel(); testNotSpecialized(t, rt) })
			t.Run("Hello", func(t *testing.T) { t.Parallel(); testHello(t, rt) })
			t.Run("SpecializeV1", func(t *testing.T) { t.Parallel(); testSpecializeV1(t, rt) })
			t.Run("EveryMethod", func(t *testing.T) { t.Parallel(); testEveryMethod(t, rt) })
			t.Run("Streaming", func(t *testing.T) { t.Parallel(); testStreaming(t, rt) })
			t.Run("Markers", func(t *testing.T) { t.Parallel(); testMarkers(t, rt) })
			t.Run("MarkersOnStderr", func(t *testing.T) { t.Parallel(); testMarkersOnStderr(t, rt) })
			t.Run("MarkersStreaming", func(t *testing.T) { t.Parallel(); testMarkersStreaming(t, rt) })
		})
	}
}

func testNotSpecialized(t *testing.T, rt runtimeUnderTest) {
	inst := rt.start(t, t.TempDir())
	if r := inst.do(t, http.MethodGet, runtime.PathHealthz, ""); r.status != http.StatusOK {
		t.Errorf("GET /healthz = %d, want 200", r.status)
	}
	for _, method := range []string{http.MethodGet, http.MethodPost} {
		r := inst.do(t, method, "/some/path", "x")
		if r.status != http.StatusInternalServerError || !strings.Contains(r.body, "generic container: no function loaded") {
			t.Errorf("%s before specialization = %d %q, want 500 generic container: no function loaded", method, r.status, r.body)
		}
	}
	// A failed load leaves the instance generic.
	missing := filepath.Join(inst.userfunc, "missing")
	if r := inst.specialize(t, missing, ""); r.status != http.StatusInternalServerError || !strings.Contains(r.body, missing) {
		t.Errorf("specialize missing file = %d %q, want 500 naming %s", r.status, r.body, missing)
	}
	if r := inst.do(t, http.MethodGet, "/", ""); r.status != http.StatusInternalServerError {
		t.Errorf("GET after a failed load = %d, want 500", r.status)
	}
}

func testHello(t *testing.T, rt runtimeUnderTest) {
	userfunc, path := fixture(t, rt.hello.rel)
	inst := rt.start(t, userfunc)
	inst.mustSpecialize(t, path, rt.hello.entrypoint)
	for i := 0; i < 5; i++ {
		r := inst.do(t, http.MethodGet, "/", "")
		if r.status != http.StatusOK || !strings.Contains(r.body, rt.helloWant) {
			t.Fatalf("GET / = %d %q, want 200 containing %q", r.status, r.body, rt.helloWant)
		}
	}
	if r := inst.do(t, http.MethodGet, runtime.PathHealthz, ""); r.status != http.StatusOK {
		t.Errorf("GET /healthz after specialization = %d, want 200", r.status)
	}
	again := map[string]response{
		runtime.PathSpecializeV2: inst.specialize(t, path, rt.hello.entrypoint),
		runtime.PathSpecializeV1: inst.do(t, http.MethodPost, runtime.PathSpecializeV1, ""),
	}
	for p, r := range again {
		if r.status != http.StatusBadRequest || !strings.Contains(r.body, "Not a generic container") {
			t.Errorf("POST %s again = %d %q, want 400 Not a generic container", p, r.status, r.body)
		}
	}
	// Nothing per request: at most the startup or specialization line.
	if lines := strings.Split(strings.TrimSpace(inst.logs.String()), "\n"); len(lines) > 1 {
		t.Errorf("instance printed %d lines, want at most 1:\n%s", len(lines), inst.logs.String())
	}
}

func testSpecializeV1(t *testing.T, rt runtimeUnderTest) {
	userfunc := t.TempDir()
	copyTree(t, filepath.Join("testdata", rt.hello.rel), filepath.Join(userfunc, "user"))
	inst := rt.start(t, userfunc)
	if r := inst.do(t, http.MethodPost, runtime.PathSpecializeV1, ""); r.status >= 300 {
		t.Fatalf("POST /specialize = %d, want < 300; body:\n%s", r.status, r.body)
	}
	if r := inst.do(t, http.MethodGet, "/", ""); r.status != http.StatusOK || !strings.Contains(r.body, rt.helloWant) {
		t.Errorf("GET / = %d %q, want 200 containing %q", r.status, r.body, rt.helloWant)
	}
}

func testEveryMethod(t *testing.T, rt runtimeUnderTest) {
	userfunc, path := fixture(t, rt.echo.rel)
	inst := rt.start(t, userfunc)
	inst.mustSpecialize(t, path, rt.echo.entrypoint)
	methods := []string{
		http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions, http.MethodHead,
	}
	for _, method := range methods {
		// Reserved paths are the function's too, except with their own method.
		for _, p := range []string{"/", "/a/b?q=1", "/specialize", "/healthz"} {
			if method == http.MethodPost && p == "/specialize" ||
				(method == http.MethodGet || method == http.MethodHead) && p == "/healthz" {
				continue
			}
			body := "payload"
			if method == http.MethodHead {
				body = "" // gevent's pywsgi rejects a HEAD with a body, rightly
			}
			r := inst.do(t, method, p, body, "Content-Type", "text/plain")
			if r.status != http.StatusOK {
				t.Errorf("%s %s = %d %q, want 200", method, p, r.status, r.body)
				continue
			}
			if method == http.MethodHead {
				if r.body != "" {
					t.Errorf("HEAD %s body = %q, want none", p, r.body)
				}
				continue
			}
			want := method + " " + p + " payload"
			if !strings.Contains(r.body, want) {
				t.Errorf("%s %s body = %q, want it to contain %q", method, p, r.body, want)
			}
		}
	}
}

func testStreaming(t *testing.T, rt runtimeUnderTest) {
	userfunc, path := fixture(t, rt.stream.rel)
	inst := rt.start(t, userfunc)
	inst.mustSpecialize(t, path, rt.stream.entrypoint)
	lines, at := inst.chunkTimes(t, "/")
	if got, want := strings.Join(lines, ","), "chunk 0,chunk 1,chunk 2"; got != want {
		t.Fatalf("streamed lines = %q, want %q", got, want)
	}
	// The function sleeps 2 x 300 ms between chunks: a buffered body would
	// deliver them all at once.
	if gap := at[2] - at[0]; gap < 450*time.Millisecond {
		t.Errorf("first chunk at %v, last at %v: want the first >= 450ms before the last (body is buffered)", at[0], at[2])
	}
}

const (
	requestIDHeader = "X-Lantern-Request-Id"
	testTraceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	testTraceID     = "4bf92f3577b34da6a3ce929d0e0e4736"
)

// markerLines are the lines of output that hold a marker.
func markerLines(output string) []string {
	var ms []string
	for _, l := range strings.Split(output, "\n") {
		if strings.Contains(l, logs.MarkerPrefix) {
			ms = append(ms, l)
		}
	}
	return ms
}

// waitOutput waits until buf holds want.
func waitOutput(t *testing.T, buf *logBuffer, want string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(buf.String(), want) {
		if time.Now().After(deadline) {
			t.Fatalf("output lacks %q after 5s:\n%q", want, buf.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// testMarkers checks that function calls with a request ID, and only they,
// are framed by whole marker lines around everything the function printed,
// in the order written (stdout and stderr share one pipe here).
func testMarkers(t *testing.T, rt runtimeUnderTest) {
	userfunc, path := fixture(t, rt.logs.rel)
	// The platform sets PYTHONUNBUFFERED=1; the runtime must not need it.
	inst := rt.start(t, userfunc, withEnv("PYTHONUNBUFFERED="))
	// Not function calls: no markers.
	if r := inst.do(t, http.MethodGet, "/", "", requestIDHeader, "generic1"); r.status != http.StatusInternalServerError {
		t.Errorf("GET / before specialization = %d, want 500", r.status)
	}
	if r := inst.specialize(t, path, rt.logs.entrypoint, requestIDHeader, "spec1"); r.status >= 300 {
		t.Fatalf("specialize = %d, want < 300; body:\n%s", r.status, r.body)
	}
	if r := inst.do(t, http.MethodGet, runtime.PathHealthz, "", requestIDHeader, "health1"); r.status != http.StatusOK {
		t.Errorf("GET /healthz = %d, want 200", r.status)
	}
	calls := []struct {
		header []string
		id     string // "": no markers
		trace  string
	}{
		{[]string{requestIDHeader, "abc123", "Traceparent", testTraceparent}, "abc123", testTraceID},
		{[]string{requestIDHeader, "def456"}, "def456", ""},
		// Not a valid traceparent (version ff): no trace ID.
		{[]string{requestIDHeader, "ghi789", "Traceparent", "ff" + testTraceparent[2:]}, "ghi789", ""},
		{nil, "", ""},
		// Would not fit in a marker line.
		{[]string{requestIDHeader, "two words"}, "", ""},
		{[]string{requestIDHeader, "last0"}, "last0", ""},
	}
	var want []string
	for _, c := range calls {
		r := inst.do(t, http.MethodGet, "/?x=1", "", c.header...)
		if r.status != http.StatusOK {
			t.Fatalf("GET / (%q) = %d, want 200; body:\n%s", c.header, r.status, r.body)
		}
		if rt.stdoutIsBody && !strings.Contains(r.body, "function stdout line") {
			t.Errorf("GET / body = %q, want the function's stdout", r.body)
		}
		if c.id != "" {
			want = append(want, framing(rt, logs.ReqStartMarker(c.id, c.trace), logs.ReqEndMarker(c.id))...)
		}
	}
	waitOutput(t, inst.logs, logs.ReqEndMarker("last0")+"\n")
	// The other stream's copy of the last marker may still be on its way.
	out := inst.logs.String()
	for deadline := time.Now().Add(2 * time.Second); !slices.Equal(markerLines(out), want) && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
		out = inst.logs.String()
	}
	if got := markerLines(out); !slices.Equal(got, want) {
		t.Fatalf("marker lines:\n%q\nwant (each a whole line):\n%q", got, want)
	}
	lines := strings.Split(out, "\n")
	for _, c := range calls {
		if c.id == "" {
			continue
		}
		start := slices.Index(lines, logs.ReqStartMarker(c.id, c.trace))
		end := len(lines) - 1 - slices.Index(reversed(lines), logs.ReqEndMarker(c.id))
		inside := []string{"function stdout line " + c.id, "function stderr line " + c.id}
		if rt.stdoutIsBody {
			inside = inside[1:]
		}
		if got := withoutMarkers(lines[start+1 : end]); !slices.Equal(got, inside) {
			t.Errorf("request %s: lines between its markers = %q, want %q", c.id, got, inside)
		}
	}
}

// testMarkersOnStderr checks that the markers go to stderr, not stdout.
func testMarkersOnStderr(t *testing.T, rt runtimeUnderTest) {
	userfunc, path := fixture(t, rt.logs.rel)
	inst := rt.start(t, userfunc, splitStderr)
	inst.mustSpecialize(t, path, rt.logs.entrypoint)
	if r := inst.do(t, http.MethodGet, "/", "", requestIDHeader, "abc123", "traceparent", testTraceparent); r.status != http.StatusOK {
		t.Fatalf("GET / = %d, want 200; body:\n%s", r.status, r.body)
	}
	end := logs.ReqEndMarker("abc123")
	waitOutput(t, inst.stderr, end+"\n")
	want := []string{logs.ReqStartMarker("abc123", testTraceID), "function stderr line abc123", end, ""}
	if got := strings.Split(inst.stderr.String(), "\n"); len(got) < len(want) || !slices.Equal(got[len(got)-len(want):], want) {
		t.Errorf("stderr = %q, want it to end with the lines %q", inst.stderr.String(), want)
	}
	if !rt.stdoutIsBody {
		waitOutput(t, inst.logs, "function stdout line abc123\n")
	}
	out := inst.logs.String()
	if rt.stdoutIsBody {
		if strings.Contains(out, logs.MarkerPrefix) {
			t.Errorf("stdout holds a marker:\n%q", out)
		}
		return
	}
	// stdout is read apart from stderr: it carries its own framing.
	waitOutput(t, inst.logs, end+"\n")
	want = []string{logs.ReqStartMarker("abc123", testTraceID), "function stdout line abc123", end, ""}
	if got := strings.Split(inst.logs.String(), "\n"); len(got) < len(want) || !slices.Equal(got[len(got)-len(want):], want) {
		t.Errorf("stdout = %q, want it to end with the lines %q", inst.logs.String(), want)
	}
}

// framing is the marker lines a call prints on a pipe both streams share:
// runtimes whose stdout is a log print them on both streams.
func framing(rt runtimeUnderTest, start, end string) []string {
	if rt.stdoutIsBody {
		return []string{start, end}
	}
	return []string{start, start, end, end}
}

func withoutMarkers(lines []string) []string {
	var out []string
	for _, l := range lines {
		if !strings.HasPrefix(l, logs.MarkerPrefix) {
			out = append(out, l)
		}
	}
	return out
}

func reversed(s []string) []string {
	r := slices.Clone(s)
	slices.Reverse(r)
	return r
}

// testMarkersStreaming checks that a streamed response's end marker
// follows its last chunk.
func testMarkersStreaming(t *testing.T, rt runtimeUnderTest) {
	fn := rt.stream
	if rt.streamLogs.rel != "" {
		fn = rt.streamLogs
	}
	userfunc, path := fixture(t, fn.rel)
	inst := rt.start(t, userfunc)
	inst.mustSpecialize(t, path, fn.entrypoint)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, inst.base+"/", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set(requestIDHeader, "stream1")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET /: %v", err)
	}
	defer resp.Body.Close()
	rd := bufio.NewReader(resp.Body)
	if line, err := rd.ReadString('\n'); err != nil || line != "chunk 0\n" {
		t.Fatalf("first line = %q, %v; want chunk 0", line, err)
	}
	start, end := logs.ReqStartMarker("stream1", "")+"\n", logs.ReqEndMarker("stream1")+"\n"
	waitOutput(t, inst.logs, start)
	if strings.Contains(inst.logs.String(), end) {
		t.Errorf("end marker printed before the last chunk:\n%q", inst.logs.String())
	}
	if rest, err := io.ReadAll(rd); err != nil || string(rest) != "chunk 1\nchunk 2\n" {
		t.Fatalf("rest of the body = %q, %v; want chunk 1, chunk 2", rest, err)
	}
	waitOutput(t, inst.logs, end)
	want := framing(rt, start[:len(start)-1], end[:len(end)-1])
	if rt.lazyFraming {
		want = []string{start[:len(start)-1], end[:len(end)-1]} // it prints on stdout only
	}
	for deadline := time.Now().Add(2 * time.Second); !slices.Equal(markerLines(inst.logs.String()), want) && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond) // the other stream's copy may still be on its way
	}
	if got := markerLines(inst.logs.String()); !slices.Equal(got, want) {
		t.Errorf("marker lines = %q, want %q", got, want)
	}
}

// call is one request and what its response must hold.
type call struct {
	method, path, body string
	header             []string // name, value, ...
	status             int
	bodyHas            []string
	headerIs           map[string]string
}

// loadCase specializes a fresh instance with some code and calls it.
type loadCase struct {
	name string
	code code
	// specStatus is the specialize status wanted; 0 means any success.
	specStatus int
	specHas    []string
	calls      []call
	// logsHave must appear in the instance's stdout/stderr in the end.
	logsHave []string
}

func runLoadCases(t *testing.T, start starter, tests []loadCase) {
	t.Helper()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			userfunc, path := fixture(t, tt.code.rel)
			inst := start(t, userfunc)
			r := inst.specialize(t, path, tt.code.entrypoint)
			if tt.specStatus == 0 && r.status >= 300 || tt.specStatus != 0 && r.status != tt.specStatus {
				t.Fatalf("specialize %s (%q) = %d, want %d (0: any success); body:\n%s",
					tt.code.rel, tt.code.entrypoint, r.status, tt.specStatus, r.body)
			}
			checkBody(t, "specialize", r.body, tt.specHas)
			for _, c := range tt.calls {
				method := c.method
				if method == "" {
					method = http.MethodGet
				}
				r := inst.do(t, method, c.path, c.body, c.header...)
				what := method + " " + c.path
				if r.status != c.status {
					t.Errorf("%s = %d, want %d; body:\n%s", what, r.status, c.status, r.body)
				}
				checkBody(t, what, r.body, c.bodyHas)
				for k, v := range c.headerIs {
					if got := r.header.Get(k); got != v {
						t.Errorf("%s header %s = %q, want %q", what, k, got, v)
					}
				}
			}
			checkBody(t, "logs", inst.logs.String(), tt.logsHave)
		})
	}
}

func checkBody(t *testing.T, what, body string, has []string) {
	t.Helper()
	for _, s := range has {
		if !strings.Contains(body, s) {
			t.Errorf("%s body does not contain %q:\n%s", what, s, body)
		}
	}
}
