package observability_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lantern-faas/lantern/test/testenv"
)

const (
	prometheusBin = "/usr/bin/prometheus"
	installHint   = "install it with: apt-get install -y prometheus (make does it)"

	// The live test's budget, counted from the start of the load: every
	// metric name is exported within warmupTimeout, and every dashboard
	// query returns data within queryTimeout (the load keeps going
	// meanwhile). A normal run needs about 10 s of load.
	warmupTimeout = 20 * time.Second
	queryTimeout  = 45 * time.Second

	// The function the function dashboard is checked with: it answers,
	// fails on ?fail=1, and with an idle timeout of one second it is
	// cold-started and reaped again and again.
	testNamespace = "default"
	testFunction  = "mixed"
)

var repoRoot string

func TestMain(m *testing.M) {
	root, err := testenv.RepoRoot()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	repoRoot = root
	code := m.Run()
	if live != nil {
		live.stop()
	}
	os.Exit(code)
}

// ---------------------------------------------------------------------------
// The live platform: lanternd all + Prometheus + load, started once by the
// first test that needs it and stopped after all tests.

type platform struct {
	dir        string // temporary folder: binaries, data, logs
	bin        string // folder with lanternd and lantern
	apiURL     string
	routerURL  string
	promURL    string
	started    time.Time // when the load began; the deadlines count from it
	lanternd   *testenv.Proc
	prometheus *testenv.Proc
	stopLoad   context.CancelFunc
	loadDone   chan struct{}
	loadErrs   *errorLog
	loadCalls  atomic.Int64
}

var (
	live     *platform
	liveErr  error
	liveOnce sync.Once
)

// requireLive returns the running platform, starting it on first use.
func requireLive(t *testing.T) *platform {
	t.Helper()
	liveOnce.Do(func() {
		live, liveErr = startPlatform()
	})
	if liveErr != nil {
		t.Fatalf("live platform: %v", liveErr)
	}
	return live
}

func startPlatform() (p *platform, err error) {
	if _, err := os.Stat(prometheusBin); err != nil {
		return nil, fmt.Errorf("%s not found: %s", prometheusBin, installHint)
	}
	if err := testenv.CheckPython(); err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "lantern-observability-")
	if err != nil {
		return nil, err
	}
	p = &platform{dir: dir, bin: filepath.Join(dir, "bin"), loadErrs: &errorLog{}}
	defer func() {
		if err != nil {
			p.stop()
		}
	}()
	if err := testenv.BuildBinaries(p.bin, false); err != nil {
		return p, err
	}
	// lanternd all. A short reap interval lets idle instances go within
	// the test's time.
	var apiAddr string
	p.lanternd, _, err = testenv.Launch(2, readyTimeout, logTail, func(addrs []string, attempt int) (*testenv.Proc, []string, error) {
		apiAddr = addrs[0]
		p.apiURL, p.routerURL = "http://"+addrs[0], "http://"+addrs[1]
		pr, err := startProc("lanternd", filepath.Join(dir, fmt.Sprintf("lanternd-%d.log", attempt)), filepath.Join(p.bin, "lanternd"),
			"all", "--data-dir", filepath.Join(dir, "data"), "--api-addr", addrs[0], "--router-addr", addrs[1],
			"--runtimes-dir", filepath.Join(repoRoot, "platform", "environments"), "--log-format", "text",
			"--reap-interval", "200ms", "--nats-addr", "127.0.0.1:0")
		return pr, []string{p.apiURL + "/healthz", p.routerURL + "/router-healthz"}, err
	})
	if err != nil {
		return p, err
	}

	// Prometheus scrapes it every second and evaluates the alert rules.
	cfg := filepath.Join(dir, "prometheus.yml")
	rules := filepath.Join(repoRoot, rulesFile)
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf(`global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
rule_files:
  - %q
scrape_configs:
  - job_name: lantern
    static_configs:
      - targets: [%q]
`, rules, apiAddr)), 0o644); err != nil {
		return p, err
	}
	p.prometheus, _, err = testenv.Launch(1, readyTimeout, logTail, func(addrs []string, attempt int) (*testenv.Proc, []string, error) {
		p.promURL = "http://" + addrs[0]
		pr, err := startProc("prometheus", filepath.Join(dir, fmt.Sprintf("prometheus-%d.log", attempt)), prometheusBin,
			"--config.file="+cfg, "--storage.tsdb.path="+filepath.Join(dir, "tsdb"), "--web.listen-address="+addrs[0])
		return pr, []string{p.promURL + "/-/ready"}, err
	})
	if err != nil {
		return p, err
	}

	// Functions, then load in the background until the tests end.
	if err := p.deploy(); err != nil {
		return p, err
	}
	p.started = time.Now()
	ctx, cancel := context.WithCancel(context.Background())
	p.stopLoad, p.loadDone = cancel, make(chan struct{})
	go func() {
		defer close(p.loadDone)
		p.load(ctx)
	}()
	return p, nil
}

func (p *platform) stop() {
	if p.stopLoad != nil {
		p.stopLoad()
		<-p.loadDone
	}
	for _, pr := range []*testenv.Proc{p.prometheus, p.lanternd} {
		if pr != nil && pr.Alive() {
			// SIGTERM, and SIGKILL after 15 s.
			_, _ = pr.Terminate(15 * time.Second)
		}
	}
	if os.Getenv("LANTERN_OBSERVABILITY_KEEP") == "" {
		_ = os.RemoveAll(p.dir)
	} else {
		fmt.Fprintln(os.Stderr, "observability: kept", p.dir)
	}
}

// logs returns the tails of lanternd's and Prometheus's logs, for failures.
func (p *platform) logs() string {
	var b strings.Builder
	for _, pr := range []*testenv.Proc{p.lanternd, p.prometheus} {
		if pr != nil {
			fmt.Fprintf(&b, "--- %s log (last lines of %s):\n%s\n", pr.Name, pr.LogPath, pr.Tail(30))
		}
	}
	if errs := p.loadErrs.list(); len(errs) > 0 {
		fmt.Fprintf(&b, "--- load errors (%d, first ones):\n%s\n", len(errs), strings.Join(errs[:min(len(errs), 10)], "\n"))
	}
	return b.String()
}

// lantern runs the CLI against the platform.
func (p *platform) lantern(args ...string) error {
	cmd := exec.Command(filepath.Join(p.bin, "lantern"), args...)
	cmd.Env = append(testenv.CleanEnv(), "LANTERN_URL="+p.apiURL, "LANTERN_ROUTER_URL="+p.routerURL)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("lantern %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

// Function code deployed by the test.
const (
	helloPy = "def main():\n    return \"hi\\n\"\n"
	mixedPy = `from flask import request


def main():
    if request.args.get("fail"):
        return "failing on purpose\n", 500
    return "ok " * 100 + "\n"
`
	brokenPy = "def main()\n    return \"this never loads\\n\"\n"
	chattyPy = `from flask import request


def main():
    n = int(request.args.get("lines", "1"))
    for i in range(n):
        print(f"chatty line {i + 1} of {n}")
    return f"printed {n} lines\n"
`
)

// chattyBurst is how many lines chatty prints in its first call: more
// than the capture's per-function burst (5000 lines, refilled at 1000
// lines/s), so that lantern_logs_dropped_total{reason="rate_limited"}
// counts real drops.
const chattyBurst = 8000

// deploy creates the environment and the functions:
//   - hello answers; called steadily through /fn/ and through an HTTP route;
//   - mixed answers, or 500 on ?fail=1; idle timeout 1 s, called in bursts;
//   - broken has a syntax error: every call is a failed cold start;
//   - doomed is called once and deleted;
//   - chatty prints the number of lines asked for: once past the log
//     capture's rate limit, then a few lines per call.
func (p *platform) deploy() error {
	code := filepath.Join(p.dir, "code")
	if err := os.MkdirAll(code, 0o755); err != nil {
		return err
	}
	for name, src := range map[string]string{"hello.py": helloPy, "mixed.py": mixedPy, "broken.py": brokenPy, "chatty.py": chattyPy} {
		if err := os.WriteFile(filepath.Join(code, name), []byte(src), 0o644); err != nil {
			return err
		}
	}
	steps := [][]string{
		{"env", "create", "--name", "python", "--runtime", "python"},
		{"fn", "create", "--name", "hello", "--env", "python", "--code", filepath.Join(code, "hello.py")},
		{"route", "create", "--name", "hello", "--function", "hello", "--url", "/hello"},
		{"fn", "create", "--name", testFunction, "--env", "python", "--code", filepath.Join(code, "mixed.py"), "--idletimeout", "1"},
		{"fn", "create", "--name", "broken", "--env", "python", "--code", filepath.Join(code, "broken.py")},
		{"fn", "create", "--name", "doomed", "--env", "python", "--code", filepath.Join(code, "hello.py")},
		{"fn", "create", "--name", "chatty", "--env", "python", "--code", filepath.Join(code, "chatty.py")},
		// Triggers beyond HTTP, so that their series exist.
		{"timer", "create", "--name", "tick", "--function", "hello", "--cron", "@every 1s"},
		{"mqt", "create", "--name", "orders", "--function", "hello", "--topic", "obs.orders"},
	}
	for _, s := range steps {
		if err := p.lantern(s...); err != nil {
			return err
		}
	}
	return nil
}

// load calls the functions until ctx ends: hello steadily (two workers,
// both triggers), mixed in bursts of four workers with one call in five
// failing, then quiet long enough for its instances to be reaped; broken
// once a second; doomed once, then it is deleted; chatty prints
// chattyBurst lines once (so the log capture drops some) and then two
// lines four times a second (so the log pipeline ships steadily); and the
// controller's API lists the functions four times a second.
func (p *platform) load(ctx context.Context) {
	hc := &http.Client{Timeout: 10 * time.Second}
	// call returns the status, and the start of the body when it is not
	// the one expected.
	call := func(path string) (int, string) {
		p.loadCalls.Add(1)
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, p.routerURL+path, nil)
		resp, err := hc.Do(req)
		if err != nil {
			if ctx.Err() == nil {
				p.loadErrs.add(fmt.Sprintf("%s GET %s: %v", time.Now().Format("15:04:05.000"), path, err))
			}
			return 0, ""
		}
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 300))
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode, strings.TrimSpace(string(body))
	}
	expect := func(path string, want int) {
		if got, body := call(path); got != want && ctx.Err() == nil {
			p.loadErrs.add(fmt.Sprintf("%s GET %s: status %d, want %d: %s", time.Now().Format("15:04:05.000"), path, got, want, body))
		}
	}
	sleep := func(d time.Duration) bool {
		select {
		case <-ctx.Done():
			return false
		case <-time.After(d):
			return true
		}
	}
	var wg sync.WaitGroup
	worker := func(f func()) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			f()
		}()
	}
	for _, path := range []string{"/fn/default/hello", "/hello"} {
		worker(func() {
			for sleep(40 * time.Millisecond) {
				expect(path, http.StatusOK)
			}
		})
	}
	worker(func() { // the controller API, as the CLI and CI would use it
		for sleep(250 * time.Millisecond) {
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, p.apiURL+"/v1/namespaces/default/functions", nil)
			resp, err := hc.Do(req)
			if err != nil {
				if ctx.Err() == nil {
					p.loadErrs.add(fmt.Sprintf("list functions: %v", err))
				}
				continue
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				p.loadErrs.add(fmt.Sprintf("list functions: %s", resp.Status))
			}
		}
	})
	worker(func() { // asynchronous calls of the function the dashboards test
		for sleep(500 * time.Millisecond) {
			p.loadCalls.Add(1)
			req, _ := http.NewRequestWithContext(ctx, http.MethodPost, p.routerURL+"/async/default/"+testFunction, nil)
			resp, err := hc.Do(req)
			if err != nil {
				if ctx.Err() == nil {
					p.loadErrs.add(fmt.Sprintf("async call: %v", err))
				}
				continue
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusAccepted {
				p.loadErrs.add(fmt.Sprintf("async call: %s, want 202", resp.Status))
			}
		}
	})
	worker(func() { // broken
		for sleep(time.Second) {
			if got, _ := call("/fn/default/broken"); got < 500 && ctx.Err() == nil {
				p.loadErrs.add(fmt.Sprintf("broken answered %d, want a 5xx", got))
			}
		}
	})
	worker(func() { // doomed
		expect("/fn/default/doomed", http.StatusOK)
		if sleep(2 * time.Second) {
			if err := p.lantern("fn", "delete", "--name", "doomed"); err != nil {
				p.loadErrs.add(err.Error())
			}
		}
	})
	worker(func() { // chatty: the function-log pipeline
		// The burst waits until Prometheus has scraped the drop counter
		// (its first scrape comes a few seconds after it starts), so that
		// it sees the counter go up rather than start above zero.
		burst := false
		for sleep(250 * time.Millisecond) {
			if !burst && p.scraped(`lantern_logs_dropped_total{reason="rate_limited"}`) {
				burst = true
				expect(fmt.Sprintf("/fn/default/chatty?lines=%d", chattyBurst), http.StatusOK)
				continue
			}
			expect("/fn/default/chatty?lines=2", http.StatusOK)
		}
	})
	worker(func() { // mixed: bursts and pauses
		for ctx.Err() == nil {
			burstEnd := time.Now().Add(1500 * time.Millisecond)
			var bw sync.WaitGroup
			for w := 0; w < 4; w++ {
				bw.Add(1)
				go func() {
					defer bw.Done()
					for i := 0; time.Now().Before(burstEnd) && ctx.Err() == nil; i++ {
						if (i+w)%5 == 0 {
							expect("/fn/default/"+testFunction+"?fail=1", http.StatusInternalServerError)
						} else {
							expect("/fn/default/"+testFunction, http.StatusOK)
						}
					}
				}()
			}
			bw.Wait()
			// Idle timeout (1 s) + reap interval + retirement (~1.4 s).
			if !sleep(3500 * time.Millisecond) {
				return
			}
		}
	})
	wg.Wait()
}

// scraped says whether Prometheus has a sample of the series yet.
func (p *platform) scraped(series string) bool {
	r, err := promQuery(p.promURL, series)
	if err != nil || r.Status != "success" {
		return false
	}
	vals, _, err := r.samples()
	return err == nil && len(vals) > 0
}

// ---------------------------------------------------------------------------
// Processes

// startProc starts bin with args in the folder of logPath, its output
// going to logPath.
func startProc(name, logPath, bin string, args ...string) (*testenv.Proc, error) {
	p, err := testenv.StartProc(name, logPath, filepath.Dir(logPath), testenv.CleanEnv(), bin, args...)
	if err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	return p, nil
}

// How long a process may take to answer its health checks, and how much
// of its log a failure shows.
const (
	readyTimeout = 20 * time.Second
	logTail      = 30
)

// errorLog collects the load's unexpected answers.
type errorLog struct {
	mu   sync.Mutex
	errs []string
}

func (e *errorLog) add(s string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.errs = append(e.errs, s)
}

func (e *errorLog) list() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]string(nil), e.errs...)
}
