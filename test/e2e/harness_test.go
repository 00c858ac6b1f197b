package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/lantern-faas/lantern/platform/api"
	"github.com/lantern-faas/lantern/platform/client"
	"github.com/lantern-faas/lantern/test/testenv"
)

// Paths and the outcome of the one-time setup done by TestMain.
var (
	repoRoot    string // the module root
	runtimesDir string // platform/environments
	fixtures    string // test/fixtures
	binDir      string // where lanternd and lantern were built
	setupErr    error  // why the binaries or runtimes are unusable
)

const (
	readyTimeout = 20 * time.Second
	stopTimeout  = 15 * time.Second
	logTailLines = 50
)

func TestMain(m *testing.M) {
	flag.Parse()
	// The tests mostly wait on processes and sleeps, not on the CPU: let
	// more of them run side by side than go test's default of GOMAXPROCS,
	// unless -parallel was given.
	parallelSet := false
	flag.Visit(func(f *flag.Flag) { parallelSet = parallelSet || f.Name == "test.parallel" })
	if !parallelSet {
		_ = flag.Set("test.parallel", "6")
	}
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	root, err := testenv.RepoRoot()
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	repoRoot = root
	runtimesDir = filepath.Join(repoRoot, "platform", "environments")
	fixtures = filepath.Join(repoRoot, "test", "fixtures")
	dir, err := os.MkdirTemp("", "lantern-e2e-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	if os.Getenv("LANTERN_E2E_KEEP") == "" {
		defer os.RemoveAll(dir)
	}
	binDir = dir
	setupErr = errors.Join(testenv.BuildBinaries(dir, os.Getenv("LANTERN_E2E_RACE") != "0"), checkRuntimes())
	if setupErr != nil {
		// Every test fails with this message; say it once up front too.
		fmt.Fprintln(os.Stderr, "e2e setup failed:", setupErr)
	}
	return m.Run()
}

// checkRuntimes makes sure the python and nodejs runtimes can start.
func checkRuntimes() error {
	var errs []error
	if err := testenv.CheckPython(); err != nil {
		errs = append(errs, err)
	}
	if _, err := exec.LookPath("node"); err != nil {
		errs = append(errs, fmt.Errorf("the nodejs runtime needs node in PATH (%s): %v", testenv.SetupHint, err))
	}
	if _, err := os.Stat(filepath.Join(runtimesDir, "nodejs", "node_modules", "express", "package.json")); err != nil {
		errs = append(errs, fmt.Errorf("the nodejs runtime needs its npm packages (%s): %v", testenv.SetupHint, err))
	}
	return errors.Join(errs...)
}

// requireSetup fails the test when the binaries or runtimes are unusable.
func requireSetup(t *testing.T) {
	t.Helper()
	if setupErr != nil {
		t.Fatalf("e2e setup failed: %v", setupErr)
	}
}

// fixture returns the path of a file under test/fixtures/functions.
func fixture(parts ...string) string {
	return filepath.Join(append([]string{fixtures, "functions"}, parts...)...)
}

// ---------------------------------------------------------------------------
// Processes

// proc is one lanternd process whose output goes to a log file.
type proc struct {
	*testenv.Proc
	args    []string
	health  []string // URLs that answer 200 once it is ready
	stopped bool
}

func startProc(name, logPath string, args ...string) (*proc, error) {
	env := append(withoutLanternEnv(), "GORACE=halt_on_error=0")
	p, err := testenv.StartProc(name, logPath, filepath.Dir(logPath), env, filepath.Join(binDir, "lanternd"), args...)
	if err != nil {
		return nil, err
	}
	return &proc{Proc: p, args: args}, nil
}

// stop sends SIGTERM and waits; a process that does not exit in time, or
// exits with an error, fails the test.
func (p *proc) stop(t *testing.T) {
	t.Helper()
	if p.stopped {
		return
	}
	p.stopped = true
	if _, err := p.Terminate(stopTimeout); err != nil {
		t.Error(err)
	}
}

// withoutLanternEnv is the test's environment without LANTERN_* (OTEL_*
// variables are passed on).
func withoutLanternEnv() []string { return testenv.EnvWithout("LANTERN_") }

// freeAddr returns a loopback address nobody listens on right now.
func freeAddr(t *testing.T) string {
	t.Helper()
	addr, err := testenv.FreeAddr()
	if err != nil {
		t.Fatal(err)
	}
	return addr
}

// ---------------------------------------------------------------------------
// lanternd

// lanternd is a running Lantern: one "lanternd all" process, or the
// controller, poolmgr and router as three processes.
type lanternd struct {
	t       *testing.T
	roles   bool     // separate processes
	dataDir string   // --data-dir (of the controller and the poolmgr)
	extra   []string // extra flags given to every process
	gen     int      // how many times it was started, for log names

	apiAddr, routerAddr, poolmgrAddr string
	metricsAddr                      string // the router role's /metrics
	APIURL, RouterURL, PoolmgrURL    string

	procs   []*proc // in start order
	allLogs []string
	Client  *client.Controller
}

// startAll starts "lanternd all" with the extra flags and waits until the
// API and the router answer. It is stopped when the test ends.
func startAll(t *testing.T, extra ...string) *lanternd {
	return start(t, false, extra)
}

// startRoles starts the controller, the poolmgr and the router as three
// processes talking over HTTP.
func startRoles(t *testing.T, extra ...string) *lanternd {
	return start(t, true, extra)
}

func start(t *testing.T, roles bool, extra []string) *lanternd {
	t.Helper()
	requireSetup(t)
	l := &lanternd{t: t, roles: roles, dataDir: filepath.Join(t.TempDir(), "data"), extra: extra}
	t.Cleanup(l.cleanup)
	l.launch(true)
	return l
}

// launch starts the processes; newPorts picks fresh ports (a restart keeps
// the old ones, as a user's would). A port taken meanwhile by someone else
// is retried with new ports.
func (l *lanternd) launch(newPorts bool) {
	t := l.t
	t.Helper()
	var lastErr error
	for attempt := 0; attempt < 4; attempt++ {
		if newPorts || attempt > 0 {
			l.apiAddr, l.routerAddr, l.poolmgrAddr, l.metricsAddr = freeAddr(t), freeAddr(t), freeAddr(t), freeAddr(t)
		}
		l.APIURL, l.RouterURL, l.PoolmgrURL = "http://"+l.apiAddr, "http://"+l.routerAddr, "http://"+l.poolmgrAddr
		l.Client = client.NewController(l.APIURL, nil)
		l.gen++
		err := l.startProcs()
		if err == nil {
			return
		}
		lastErr = err
		l.killProcs()
		if !testenv.IsPortClash(err) {
			break
		}
		t.Logf("port clash, retrying with new ports: %v", err)
	}
	t.Fatalf("lanternd did not start: %v", lastErr)
}

func (l *lanternd) startProcs() error {
	common := []string{"--log-format", "text", "--runtimes-dir", runtimesDir}
	dir := filepath.Dir(l.dataDir)
	var specs []struct {
		name   string
		args   []string
		health string
	}
	add := func(name, health string, args ...string) {
		specs = append(specs, struct {
			name   string
			args   []string
			health string
		}{name, append(append(args, common...), l.extra...), health})
	}
	if l.roles {
		add("controller", l.APIURL+"/healthz", "controller", "--api-addr", l.apiAddr, "--data-dir", filepath.Join(l.dataDir, "controller"),
			"--poolmgr-url", l.PoolmgrURL)
		add("poolmgr", l.PoolmgrURL+"/healthz", "poolmgr", "--poolmgr-addr", l.poolmgrAddr, "--controller-url", l.APIURL,
			"--data-dir", filepath.Join(l.dataDir, "poolmgr"))
		// Its /metrics gets a free port too: roles tests run side by side.
		add("router", l.RouterURL+"/router-healthz", "router", "--router-addr", l.routerAddr, "--controller-url", l.APIURL,
			"--poolmgr-url", l.PoolmgrURL, "--metrics-addr", l.metricsAddr)
	} else {
		add("lanternd", "", "all", "--data-dir", l.dataDir, "--api-addr", l.apiAddr, "--router-addr", l.routerAddr, "--nats-addr", "127.0.0.1:0")
	}
	for _, s := range specs {
		logPath := filepath.Join(dir, fmt.Sprintf("%s-%d.log", s.name, l.gen))
		l.allLogs = append(l.allLogs, logPath)
		p, err := startProc(s.name, logPath, s.args...)
		if err != nil {
			return err
		}
		l.procs = append(l.procs, p)
		p.health = []string{s.health}
		if s.health == "" {
			p.health = []string{l.APIURL + "/healthz", l.RouterURL + "/router-healthz"}
		}
		if err := waitHealthy(p, p.health); err != nil {
			return err
		}
	}
	return nil
}

// RestartRole stops one of the separate processes (controller, poolmgr or
// router) with SIGTERM and starts it again with the same flags.
func (l *lanternd) RestartRole(name string) {
	t := l.t
	t.Helper()
	for i, p := range l.procs {
		if p.Name != name {
			continue
		}
		p.stop(t)
		l.gen++
		logPath := filepath.Join(filepath.Dir(l.dataDir), fmt.Sprintf("%s-%d.log", name, l.gen))
		l.allLogs = append(l.allLogs, logPath)
		np, err := startProc(name, logPath, p.args...)
		if err != nil {
			t.Fatalf("restart %s: %v", name, err)
		}
		np.health = p.health
		l.procs[i] = np
		began := time.Now()
		if err := waitHealthy(np, np.health); err != nil {
			t.Fatalf("restart %s: %v", name, err)
		}
		t.Logf("%s restarted, ready in %v", name, time.Since(began).Round(time.Millisecond))
		return
	}
	t.Fatalf("no %s process to restart", name)
}

// waitHealthy polls the URLs until they answer 200 from p, for up to
// readyTimeout.
func waitHealthy(p *proc, urls []string) error {
	return testenv.WaitReady(p.Proc, readyTimeout, logTailLines, urls...)
}

// stopProcs stops the processes in reverse start order.
func (l *lanternd) stopProcs(t *testing.T) {
	t.Helper()
	for i := len(l.procs) - 1; i >= 0; i-- {
		l.procs[i].stop(t)
	}
	l.procs = nil
}

// killProcs kills what a failed launch left running.
func (l *lanternd) killProcs() {
	for _, p := range l.procs {
		p.stopped = true
		p.Kill()
	}
	l.procs = nil
}

// Stop stops lanternd with SIGTERM and checks that it exits cleanly and
// leaves no instance behind.
func (l *lanternd) Stop() {
	l.t.Helper()
	l.stopProcs(l.t)
	l.checkNoLeftovers()
}

// Restart stops lanternd and starts it again on the same data folder and
// ports.
func (l *lanternd) Restart() {
	l.t.Helper()
	l.Stop()
	l.launch(false)
}

// Alive reports whether every lanternd process is still running.
func (l *lanternd) Alive() error {
	for _, p := range l.procs {
		if !p.Alive() {
			return fmt.Errorf("%s (pid %d) exited: %v; its log:\n%s", p.Name, p.Pid(), p.Err(), p.Tail(logTailLines))
		}
	}
	return nil
}

// PID is the pid of the process that runs instances (lanternd all, or the
// poolmgr).
func (l *lanternd) PID() int {
	for _, p := range l.procs {
		if p.Name == "lanternd" || p.Name == "poolmgr" {
			return p.Pid()
		}
	}
	l.t.Fatal("no lanternd process runs instances")
	return 0
}

func (l *lanternd) cleanup() {
	t := l.t
	l.stopProcs(t)
	l.checkNoLeftovers()
	for _, path := range l.allLogs {
		data, err := os.ReadFile(path)
		if err != nil {
			continue
		}
		for _, bad := range []string{"WARNING: DATA RACE", "panic: ", "fatal error: "} {
			if i := bytes.Index(data, []byte(bad)); i >= 0 {
				t.Errorf("%s shows %q:\n%s", filepath.Base(path), bad, excerpt(data, i, 60))
			}
		}
	}
	if t.Failed() {
		for _, path := range l.allLogs {
			t.Logf("last %d lines of %s:\n%s", logTailLines, filepath.Base(path), testenv.TailFile(path, logTailLines))
		}
	}
}

// excerpt returns up to n lines of data from offset i on.
func excerpt(data []byte, i, n int) string {
	lines := strings.SplitN(string(data[i:]), "\n", n+1)
	if len(lines) > n {
		lines = lines[:n]
	}
	return strings.Join(lines, "\n")
}

// checkNoLeftovers fails the test if an instance process (whose working
// folder is under the data folder) outlives lanternd, and kills it.
func (l *lanternd) checkNoLeftovers() {
	t := l.t
	t.Helper()
	var left []int
	deadline := time.Now().Add(5 * time.Second)
	for {
		left = testenv.ProcessesUnder(l.dataDir)
		if len(left) == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if len(left) > 0 {
		var desc []string
		for _, pid := range left {
			cmdline, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
			desc = append(desc, fmt.Sprintf("pid %d: %s", pid, bytes.ReplaceAll(bytes.TrimRight(cmdline, "\x00"), []byte{0}, []byte{' '})))
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
		t.Errorf("instance processes outlived lanternd (killed now):\n%s", strings.Join(desc, "\n"))
	}
}

// describePID says whether a process exists, for messages.
func describePID(pid int) string {
	switch st := testenv.PIDState(pid); st {
	case "":
		return "gone"
	case "Z":
		return "a zombie (exited but not reaped by lanternd)"
	default:
		return "running (state " + st + ")"
	}
}

// ---------------------------------------------------------------------------
// The CLI

// lantern runs the lantern CLI against this lanternd (LANTERN_URL and
// LANTERN_ROUTER_URL set) and returns its output and exit code.
func (l *lanternd) lantern(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(binDir, "lantern"), args...)
	// atexit_sleep_ms=0: a race-enabled binary otherwise sleeps 1 s at exit.
	cmd.Env = append(withoutLanternEnv(), "LANTERN_URL="+l.APIURL, "LANTERN_ROUTER_URL="+l.RouterURL, "GORACE=atexit_sleep_ms=0")
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	began := time.Now()
	err := cmd.Run()
	took := time.Since(began)
	code = 0
	if err != nil {
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			t.Fatalf("run lantern %s: %v", strings.Join(args, " "), err)
		}
		code = ee.ExitCode()
	}
	t.Logf("$ lantern %s  → exit %d in %v\n%s%s", strings.Join(args, " "), code, took.Round(time.Millisecond), indent(out.String()), indent(errOut.String()))
	return out.String(), errOut.String(), code
}

// mustLantern runs the CLI and fails the test unless it exits 0.
func (l *lanternd) mustLantern(t *testing.T, args ...string) string {
	t.Helper()
	stdout, stderr, code := l.lantern(t, args...)
	if code != 0 {
		t.Fatalf("lantern %s exited %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), code, stdout, stderr)
	}
	return stdout
}

func indent(s string) string {
	if s == "" {
		return ""
	}
	return "    " + strings.ReplaceAll(strings.TrimRight(s, "\n"), "\n", "\n    ") + "\n"
}

// ---------------------------------------------------------------------------
// HTTP

var httpClient = &http.Client{Timeout: 90 * time.Second}

// response is a complete HTTP answer.
type response struct {
	Status int
	Body   string
	Header http.Header
}

func (r response) String() string {
	b := r.Body
	if len(b) > 2000 {
		b = b[:2000] + "..."
	}
	return fmt.Sprintf("%d %q", r.Status, b)
}

// do sends a request to base+path; headers are "Key: value" strings.
func do(t *testing.T, method, url string, body io.Reader, headers ...string) response {
	t.Helper()
	r, err := tryDo(method, url, body, headers...)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	return r
}

func tryDo(method, url string, body io.Reader, headers ...string) (response, error) {
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		return response{}, err
	}
	for _, h := range headers {
		k, v, _ := strings.Cut(h, ":")
		req.Header.Set(strings.TrimSpace(k), strings.TrimSpace(v))
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		return response{}, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return response{}, fmt.Errorf("read the body: %w", err)
	}
	return response{Status: resp.StatusCode, Body: string(data), Header: resp.Header}, nil
}

// call sends a request through the router.
func (l *lanternd) call(t *testing.T, method, path, body string, headers ...string) response {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	return do(t, method, l.RouterURL+path, rd, headers...)
}

// get is a GET through the router.
func (l *lanternd) get(t *testing.T, path string) response {
	t.Helper()
	return l.call(t, http.MethodGet, path, "")
}

// apiError is a decoded API error answer.
type apiError struct {
	Status int
	api.ErrorBody
	Raw string
}

// apiRaw sends a raw JSON body to the controller API.
func (l *lanternd) apiRaw(t *testing.T, method, path, body string) apiError {
	t.Helper()
	r := do(t, method, l.APIURL+path, strings.NewReader(body), "Content-Type: application/json")
	e := apiError{Status: r.Status, Raw: r.Body}
	if r.Status >= 400 {
		if err := json.Unmarshal([]byte(r.Body), &e.ErrorBody); err != nil {
			t.Errorf("%s %s answered %d with a body that is not the JSON error envelope: %q", method, path, r.Status, r.Body)
		}
	}
	return e
}

// ---------------------------------------------------------------------------
// Assertions

// eventually calls f every interval until it returns nil, and fails the
// test with its last error after timeout.
func eventually(t *testing.T, timeout, interval time.Duration, what string, f func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not true within %s: %v", what, timeout, err)
		}
		time.Sleep(interval)
	}
}

// wantResponse fails unless r has the status and its body contains every
// one of the substrings.
func wantResponse(t *testing.T, what string, r response, status int, contains ...string) {
	t.Helper()
	if r.Status != status {
		t.Errorf("%s: got %s, want status %d", what, r, status)
		return
	}
	for _, c := range contains {
		if !strings.Contains(r.Body, c) {
			t.Errorf("%s: body %q does not contain %q", what, r.Body, c)
		}
	}
}

var pidRE = regexp.MustCompile(`pid=(\d+)`)

// pidOf extracts "pid=N" from a function's answer.
func pidOf(t *testing.T, r response) int {
	t.Helper()
	if r.Status != http.StatusOK {
		t.Fatalf("want 200 with a pid, got %s", r)
	}
	m := pidRE.FindStringSubmatch(r.Body)
	if m == nil {
		t.Fatalf("no pid=N in %q", r.Body)
	}
	pid, _ := strconv.Atoi(m[1])
	return pid
}

// echoDoc is what the echo fixtures answer.
type echoDoc struct {
	Runtime  string            `json:"runtime"`
	Method   string            `json:"method"`
	Path     string            `json:"path"`
	Query    string            `json:"query"`
	Body     string            `json:"body"`
	Params   map[string]string `json:"params"`
	Function string            `json:"function"`
	PID      int               `json:"pid"`
}

func decodeEcho(t *testing.T, what string, r response) echoDoc {
	t.Helper()
	var d echoDoc
	if r.Status != http.StatusOK {
		t.Fatalf("%s: got %s, want 200", what, r)
	}
	if err := json.Unmarshal([]byte(r.Body), &d); err != nil {
		t.Fatalf("%s: body is not the echo JSON: %v: %q", what, err, r.Body)
	}
	return d
}

// readLines reads a streamed body line by line, noting when each arrived
// relative to start.
func readLines(body io.Reader, start time.Time) (lines []string, at []time.Duration, err error) {
	br := bufio.NewReader(body)
	for {
		line, err := br.ReadString('\n')
		if line != "" {
			lines = append(lines, strings.TrimRight(line, "\n"))
			at = append(at, time.Since(start))
		}
		if err == io.EOF {
			return lines, at, nil
		}
		if err != nil {
			return lines, at, err
		}
	}
}
