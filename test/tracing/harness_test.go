package tracing_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/lantern-faas/lantern/platform/api"
	"github.com/lantern-faas/lantern/platform/client"
	"github.com/lantern-faas/lantern/test/testenv"
)

// What TestMain sets up once for every test.
var (
	repoRoot    string // the module root
	runtimesDir string // platform/environments
	binDir      string // where lanternd and lantern were built
	jaeger      *jaegerProc
	jaegerErr   error // why Jaeger is not running; the tests that need it fail with it
	setupErr    error // why lanternd cannot run; every test fails with it
)

const (
	jaegerVersion = "1.76.0"
	jaegerHint    = "run: bash test/tools/jaeger.sh (builds Jaeger v" + jaegerVersion + " into .tools/, about 5 minutes)"

	readyTimeout = 20 * time.Second
	stopTimeout  = 15 * time.Second
	traceTimeout = 15 * time.Second // how long a trace may take to show in Jaeger
	logTailLines = 60
)

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	root, err := testenv.RepoRoot()
	if err != nil {
		fmt.Fprintln(os.Stderr, "tracing:", err)
		return 1
	}
	repoRoot = root
	runtimesDir = filepath.Join(repoRoot, "platform", "environments")
	tmp, err := os.MkdirTemp("", "lantern-tracing-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "tracing:", err)
		return 1
	}
	keep := os.Getenv("LANTERN_TRACING_KEEP") != ""
	if keep {
		fmt.Fprintln(os.Stderr, "tracing: keeping", tmp)
	} else {
		defer os.RemoveAll(tmp)
	}
	binDir = filepath.Join(tmp, "bin")

	// Jaeger and the build run side by side: both take a while.
	var wg sync.WaitGroup
	var buildErr error
	wg.Add(2)
	go func() { defer wg.Done(); buildErr = testenv.BuildBinaries(binDir, false) }()
	go func() { defer wg.Done(); jaeger, jaegerErr = startJaeger(filepath.Join(tmp, "jaeger")) }()
	wg.Wait()
	setupErr = errors.Join(buildErr, checkPython())
	if err := errors.Join(jaegerErr, setupErr); err != nil {
		fmt.Fprintln(os.Stderr, "tracing setup failed:", err)
	}
	code := m.Run()
	if jaeger != nil {
		if err := jaeger.stop(); err != nil {
			fmt.Fprintln(os.Stderr, "tracing:", err)
			if code == 0 {
				code = 1
			}
		}
		if code != 0 {
			fmt.Fprintf(os.Stderr, "last %d lines of the Jaeger log %s:\n%s\n", logTailLines, jaeger.LogPath, jaeger.Tail(logTailLines))
		}
	}
	return code
}

func checkPython() error {
	if err := testenv.CheckPython(); err != nil {
		return err
	}
	return nil
}

// requireSetup fails (never skips) the test when lanternd cannot run.
func requireSetup(t *testing.T) {
	t.Helper()
	if setupErr != nil {
		t.Fatalf("tracing setup failed: %v", setupErr)
	}
}

// requireJaeger fails (never skips) the test when Jaeger is not running.
func requireJaeger(t *testing.T) {
	t.Helper()
	requireSetup(t)
	if jaegerErr != nil {
		t.Fatalf("Jaeger is not running: %v", jaegerErr)
	}
}

func mustFreePort(t *testing.T) string {
	t.Helper()
	addr, err := testenv.FreeAddr()
	if err != nil {
		t.Fatalf("pick a free port: %v", err)
	}
	return addr
}

// ---------------------------------------------------------------------------
// Jaeger

// jaegerProc is the Jaeger all-in-one shared by every test.
type jaegerProc struct {
	*testenv.Proc
	OTLPGRPC, OTLPHTTP, QueryHTTP, QueryGRPC, Health string // host:port
	QueryURL                                         string
}

// jaegerBinary is the binary test/tools/jaeger.sh builds, or
// $LANTERN_JAEGER_BIN.
func jaegerBinary() string {
	if p := os.Getenv("LANTERN_JAEGER_BIN"); p != "" {
		return p
	}
	return filepath.Join(repoRoot, ".tools", "jaeger-"+jaegerVersion, "jaeger")
}

// startJaeger renders test/tools/jaeger.yaml with free loopback ports into
// dir and starts Jaeger with it, retrying when a port was taken meanwhile.
func startJaeger(dir string) (*jaegerProc, error) {
	bin := jaegerBinary()
	if st, err := os.Stat(bin); err != nil || st.IsDir() || st.Mode()&0o111 == 0 {
		return nil, fmt.Errorf("no Jaeger binary at %s: %s", bin, jaegerHint)
	}
	tmpl, err := os.ReadFile(filepath.Join(repoRoot, "test", "tools", "jaeger.yaml"))
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	var lastErr error
	for attempt := 1; attempt <= 3; attempt++ {
		j, err := launchJaeger(bin, dir, string(tmpl), attempt)
		if err == nil {
			return j, nil
		}
		lastErr = err
		if !testenv.IsPortClash(err) {
			break
		}
	}
	return nil, lastErr
}

func launchJaeger(bin, dir, tmpl string, attempt int) (*jaegerProc, error) {
	j := &jaegerProc{}
	vars := map[string]*string{
		"LANTERN_JAEGER_OTLP_GRPC":  &j.OTLPGRPC,
		"LANTERN_JAEGER_OTLP_HTTP":  &j.OTLPHTTP,
		"LANTERN_JAEGER_QUERY_HTTP": &j.QueryHTTP,
		"LANTERN_JAEGER_QUERY_GRPC": &j.QueryGRPC,
		"LANTERN_JAEGER_HEALTH":     &j.Health,
	}
	values := map[string]string{}
	for name, p := range vars {
		addr, err := testenv.FreeAddr()
		if err != nil {
			return nil, err
		}
		*p, values[name] = addr, addr
	}
	cfg, err := renderConfig(tmpl, values)
	if err != nil {
		return nil, err
	}
	cfgPath := filepath.Join(dir, fmt.Sprintf("jaeger-%d.yaml", attempt))
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		return nil, err
	}
	logPath := filepath.Join(dir, fmt.Sprintf("jaeger-%d.log", attempt))
	p, err := testenv.StartProc("jaeger", logPath, dir, testenv.CleanEnv(), bin, "--config", cfgPath)
	if err != nil {
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	j.Proc = p
	j.QueryURL = "http://" + j.QueryHTTP
	// Ready once the health check says OK and the query API answers.
	if err := testenv.WaitReady(p, 10*time.Second, logTailLines, "http://"+j.Health+"/status", j.QueryURL+"/api/services"); err != nil {
		p.Kill()
		return nil, err
	}
	return j, nil
}

var envRef = regexp.MustCompile(`\$\{env:([A-Za-z_][A-Za-z0-9_]*)(:-[^}]*)?\}`)

// renderConfig replaces each ${env:NAME:-default} of the template with
// values[NAME], or its default. Every value the test sets must be used.
func renderConfig(tmpl string, values map[string]string) (string, error) {
	used := map[string]bool{}
	out := envRef.ReplaceAllStringFunc(tmpl, func(ref string) string {
		m := envRef.FindStringSubmatch(ref)
		if v, ok := values[m[1]]; ok {
			used[m[1]] = true
			return v
		}
		return strings.TrimPrefix(m[2], ":-")
	})
	for name := range values {
		if !used[name] {
			return "", fmt.Errorf("test/tools/jaeger.yaml has no ${env:%s...}: the tests cannot choose that port", name)
		}
	}
	return out, nil
}

func (j *jaegerProc) stop() error {
	_, err := j.Terminate(10 * time.Second)
	return err
}

// Jaeger's query API (/api/traces/<id>) in its JSON form.
type jTraceResponse struct {
	Data   []jTrace `json:"data"`
	Errors []struct {
		Code int    `json:"code"`
		Msg  string `json:"msg"`
	} `json:"errors"`
}

type jTrace struct {
	TraceID   string              `json:"traceID"`
	Spans     []jSpan             `json:"spans"`
	Processes map[string]jProcess `json:"processes"`
}

type jSpan struct {
	TraceID       string `json:"traceID"`
	SpanID        string `json:"spanID"`
	OperationName string `json:"operationName"`
	References    []struct {
		RefType string `json:"refType"`
		TraceID string `json:"traceID"`
		SpanID  string `json:"spanID"`
	} `json:"references"`
	StartTime int64  `json:"startTime"` // µs since the epoch
	Duration  int64  `json:"duration"`  // µs
	Tags      []jTag `json:"tags"`
	ProcessID string `json:"processID"`
}

type jTag struct {
	Key   string `json:"key"`
	Type  string `json:"type"`
	Value any    `json:"value"`
}

type jProcess struct {
	ServiceName string `json:"serviceName"`
	Tags        []jTag `json:"tags"`
}

// tag returns a span's tag as a string ("" when absent).
func (s jSpan) tag(key string) string {
	for _, t := range s.Tags {
		if t.Key == key {
			return fmt.Sprint(t.Value)
		}
	}
	return ""
}

// parent returns the span's CHILD_OF parent span ID, or "".
func (s jSpan) parent() string {
	for _, r := range s.References {
		if r.RefType == "CHILD_OF" {
			return r.SpanID
		}
	}
	return ""
}

func (s jSpan) String() string {
	return fmt.Sprintf("%s(span %s, parent %q)", s.OperationName, s.SpanID, s.parent())
}

// getTrace fetches a trace; found is false while Jaeger does not know it.
func (j *jaegerProc) getTrace(ctx context.Context, traceID string) (tr jTrace, found bool, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, j.QueryURL+"/api/traces/"+traceID, nil)
	if err != nil {
		return tr, false, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return tr, false, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return tr, false, err
	}
	if resp.StatusCode == http.StatusNotFound {
		return tr, false, nil
	}
	if resp.StatusCode != http.StatusOK {
		return tr, false, fmt.Errorf("GET /api/traces/%s: %d %s", traceID, resp.StatusCode, body)
	}
	var r jTraceResponse
	if err := json.Unmarshal(body, &r); err != nil {
		return tr, false, fmt.Errorf("GET /api/traces/%s: %v: %s", traceID, err, body)
	}
	if len(r.Data) == 0 {
		return tr, false, nil
	}
	return r.Data[0], true, nil
}

// pollTrace polls Jaeger until the trace holds a span of every one of the
// operations (spans are exported in batches, so a trace may show up in
// parts), for up to timeout. Its error lists what did show up.
func pollTrace(traceID string, ops []string, timeout time.Duration) (jTrace, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var last jTrace
	var lastErr error
	found := false
	for {
		tr, ok, err := jaeger.getTrace(ctx, traceID)
		if err == nil && ok {
			last, found = tr, true
			if len(missingOps(tr, ops)) == 0 {
				return tr, nil
			}
		}
		if err != nil && ctx.Err() == nil {
			lastErr = err
		}
		select {
		case <-ctx.Done():
			if !found {
				return last, fmt.Errorf("trace %s did not appear in Jaeger within %s (last error: %v)", traceID, timeout, lastErr)
			}
			return last, fmt.Errorf("trace %s in Jaeger lacks span(s) %q after %s; it has: %s", traceID, missingOps(last, ops), timeout, describeTrace(last))
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// waitTrace is pollTrace for up to traceTimeout, failing the test when the
// spans do not all show up.
func waitTrace(t *testing.T, traceID string, ops ...string) jTrace {
	t.Helper()
	start := time.Now()
	tr, err := pollTrace(traceID, ops, traceTimeout)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("trace %s in Jaeger after %s: %s", traceID, time.Since(start).Round(time.Millisecond), describeTrace(tr))
	return tr
}

func missingOps(tr jTrace, ops []string) []string {
	var missing []string
	for _, op := range ops {
		if len(tr.spansNamed(op)) == 0 {
			missing = append(missing, op)
		}
	}
	return missing
}

func (tr jTrace) spansNamed(op string) []jSpan {
	var out []jSpan
	for _, s := range tr.Spans {
		if s.OperationName == op {
			out = append(out, s)
		}
	}
	return out
}

// span returns the one span named op, failing the test when there is not
// exactly one.
func (tr jTrace) span(t *testing.T, op string) jSpan {
	t.Helper()
	spans := tr.spansNamed(op)
	if len(spans) != 1 {
		t.Fatalf("trace %s has %d %q spans, want 1: %s", tr.TraceID, len(spans), op, describeTrace(tr))
	}
	return spans[0]
}

func (tr jTrace) byID(id string) (jSpan, bool) {
	for _, s := range tr.Spans {
		if s.SpanID == id {
			return s, true
		}
	}
	return jSpan{}, false
}

func describeTrace(tr jTrace) string {
	var parts []string
	for _, s := range tr.Spans {
		desc := s.String()
		if p := s.parent(); p != "" {
			if ps, ok := tr.byID(p); ok {
				desc = fmt.Sprintf("%s(span %s, under %s)", s.OperationName, s.SpanID, ps.OperationName)
			}
		}
		parts = append(parts, desc)
	}
	return "[" + strings.Join(parts, ", ") + "]"
}

// ---------------------------------------------------------------------------
// lanternd

// lanternd is one "lanternd all" process of a test.
type lanternd struct {
	t                 *testing.T
	proc              *testenv.Proc
	dataDir           string
	APIURL, RouterURL string
	Client            *client.Controller
	stopped           bool
	// StopTook is how long the SIGTERM exit took, once stopped.
	StopTook time.Duration
}

// startLanternd starts "lanternd all" with the OTEL_* variables in otelEnv
// ("KEY=VALUE") and waits until the API and the router answer. It is
// stopped, and checked for a clean exit, when the test ends.
func startLanternd(t *testing.T, otelEnv ...string) *lanternd {
	t.Helper()
	requireSetup(t)
	base := t.TempDir()
	l := &lanternd{t: t, dataDir: filepath.Join(base, "data")}
	var lastErr error
	for attempt := 1; attempt <= 3; attempt++ {
		apiAddr, routerAddr := mustFreePort(t), mustFreePort(t)
		l.APIURL, l.RouterURL = "http://"+apiAddr, "http://"+routerAddr
		args := []string{"all", "--data-dir", l.dataDir, "--api-addr", apiAddr, "--router-addr", routerAddr,
			"--runtimes-dir", runtimesDir, "--log-format", "text", "--nats-addr", "127.0.0.1:0"}
		logPath := filepath.Join(base, fmt.Sprintf("lanternd-%d.log", attempt))
		env := append(testenv.CleanEnv(), otelEnv...)
		p, err := testenv.StartProc("lanternd", logPath, base, env, filepath.Join(binDir, "lanternd"), args...)
		if err != nil {
			t.Fatalf("start lanternd: %v", err)
		}
		l.proc = p
		if lastErr = testenv.WaitReady(p, readyTimeout, logTailLines, l.APIURL+"/healthz", l.RouterURL+"/router-healthz"); lastErr == nil {
			break
		}
		p.Kill()
		if !testenv.IsPortClash(lastErr) {
			break
		}
		t.Logf("port clash, retrying with new ports: %v", lastErr)
	}
	if lastErr != nil {
		t.Fatalf("lanternd did not start: %v", lastErr)
	}
	t.Logf("lanternd (pid %d) up: api %s, router %s, env %q", l.proc.Pid(), l.APIURL, l.RouterURL, otelEnv)
	l.Client = client.NewController(l.APIURL, nil)
	t.Cleanup(l.cleanup)
	return l
}

// Healthy checks that lanternd runs and both of its health checks answer.
func (l *lanternd) Healthy() error {
	if !l.proc.Alive() {
		return fmt.Errorf("lanternd (pid %d) exited: %v; its log:\n%s", l.proc.Pid(), l.proc.Err(), l.proc.Tail(logTailLines))
	}
	hc := &http.Client{Timeout: 2 * time.Second}
	for _, u := range []string{l.APIURL + "/healthz", l.RouterURL + "/router-healthz"} {
		resp, err := hc.Get(u)
		if err != nil {
			return fmt.Errorf("GET %s: %v", u, err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("GET %s: status %d", u, resp.StatusCode)
		}
	}
	return nil
}

// Stop sends SIGTERM and fails the test unless lanternd exits cleanly
// within stopTimeout.
func (l *lanternd) Stop() {
	l.t.Helper()
	if l.stopped {
		return
	}
	l.stopped = true
	took, err := l.proc.Terminate(stopTimeout)
	l.StopTook = took
	if err != nil {
		l.t.Error(err)
	}
}

func (l *lanternd) cleanup() {
	t := l.t
	l.Stop()
	// Instance processes run in folders under the data folder; they get
	// SIGKILL when lanternd exits, which may take a moment to land.
	left := testenv.ProcessesUnder(l.dataDir)
	for deadline := time.Now().Add(5 * time.Second); len(left) > 0 && time.Now().Before(deadline); left = testenv.ProcessesUnder(l.dataDir) {
		time.Sleep(100 * time.Millisecond)
	}
	if len(left) > 0 {
		for _, pid := range left {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
		t.Errorf("instance processes %v outlived lanternd (killed now)", left)
	}
	data, _ := os.ReadFile(l.proc.LogPath)
	for _, bad := range []string{"panic: ", "fatal error: "} {
		if i := bytes.Index(data, []byte(bad)); i >= 0 {
			t.Errorf("the lanternd log shows %q:\n%s", bad, string(data[i:min(len(data), i+4000)]))
		}
	}
	if t.Failed() {
		t.Logf("last %d lines of %s:\n%s", logTailLines, l.proc.LogPath, l.proc.Tail(logTailLines))
	}
}

// traceEchoPy answers with what the function received of the trace
// context, as JSON.
const traceEchoPy = `import json

import flask


def main():
    h = flask.request.headers
    doc = {
        "traceparent": h.get("traceparent"),
        "tracestate": h.get("tracestate"),
        "requestId": h.get("X-Lantern-Request-Id"),
    }
    return json.dumps(doc), 200, {"Content-Type": "application/json"}
`

// deploy creates the python environment (one warm instance) and a function
// running traceEchoPy, through the API client.
func (l *lanternd) deploy(t *testing.T, fnName string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	env := &api.Environment{Metadata: api.Metadata{Name: "python"}, Spec: api.EnvironmentSpec{Runtime: "python", Poolsize: 1}}
	if err := l.Client.Create(ctx, env); err != nil {
		t.Fatalf("create environment python: %v", err)
	}
	fn := &api.Function{
		Metadata: api.Metadata{Name: fnName},
		Spec:     api.FunctionSpec{Environment: "python"},
		Code:     &api.Code{Filename: "f.py", Data: []byte(traceEchoPy)},
	}
	if err := l.Client.Create(ctx, fn); err != nil {
		t.Fatalf("create function %s: %v", fnName, err)
	}
}

// fnURL is where the router serves the function.
func (l *lanternd) fnURL(name string) string {
	return l.RouterURL + "/fn/default/" + name
}

// callResult is one function call as the test saw it.
type callResult struct {
	Status    int
	Body      string
	RequestID string // X-Lantern-Request-Id of the response
	Took      time.Duration
	Echo      echoDoc // what the function saw, when it answered 200
}

// echoDoc is what traceEchoPy answers.
type echoDoc struct {
	Traceparent *string `json:"traceparent"`
	Tracestate  *string `json:"tracestate"`
	RequestID   *string `json:"requestId"`
}

var callClient = &http.Client{Timeout: 60 * time.Second}

// call sends GET to the function with the headers ("Key: value").
func (l *lanternd) call(name string, headers ...string) (callResult, error) {
	req, err := http.NewRequest(http.MethodGet, l.fnURL(name), nil)
	if err != nil {
		return callResult{}, err
	}
	for _, h := range headers {
		k, v, _ := strings.Cut(h, ":")
		req.Header.Set(strings.TrimSpace(k), strings.TrimSpace(v))
	}
	start := time.Now()
	resp, err := callClient.Do(req)
	if err != nil {
		return callResult{}, err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	took := time.Since(start)
	if err != nil {
		return callResult{}, err
	}
	r := callResult{Status: resp.StatusCode, Body: string(body), RequestID: resp.Header.Get("X-Lantern-Request-Id"), Took: took}
	if r.Status == http.StatusOK {
		if err := json.Unmarshal(body, &r.Echo); err != nil {
			return r, fmt.Errorf("the function answered 200 with a body that is not its JSON: %v: %q", err, body)
		}
	}
	return r, nil
}

// mustCall calls the function and fails the test unless it answers 200.
func (l *lanternd) mustCall(t *testing.T, name string, headers ...string) callResult {
	t.Helper()
	r, err := l.call(name, headers...)
	if err != nil {
		t.Fatalf("GET %s: %v", l.fnURL(name), err)
	}
	if r.Status != http.StatusOK {
		t.Fatalf("GET %s: got %d %q, want 200", l.fnURL(name), r.Status, r.Body)
	}
	return r
}

// firstCall makes the function's first successful call: it retries while
// the router does not know the function yet (404 right after create).
func (l *lanternd) firstCall(t *testing.T, name string) callResult {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		r, err := l.call(name)
		if err != nil {
			t.Fatalf("GET %s: %v", l.fnURL(name), err)
		}
		if r.Status == http.StatusOK {
			return r
		}
		if r.Status != http.StatusNotFound || time.Now().After(deadline) {
			t.Fatalf("GET %s (first call): got %d %q, want 200", l.fnURL(name), r.Status, r.Body)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// coldStarts reads GET <api>/v1/namespaces/default/functions/<name>/coldstarts.
func (l *lanternd) coldStarts(t *testing.T, name string) []api.ColdStart {
	t.Helper()
	u := l.APIURL + "/v1/namespaces/default/functions/" + name + "/coldstarts"
	resp, err := http.Get(u)
	if err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %s", u, resp.StatusCode, body)
	}
	var out []api.ColdStart
	if err := json.Unmarshal(body, &out); err != nil {
		t.Fatalf("GET %s: %v: %s", u, err, body)
	}
	return out
}
