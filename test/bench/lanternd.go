package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httputil"
	neturl "net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/lantern-faas/lantern/test/testenv"
)

// proc is a child process the harness started.
type proc struct {
	cmd  *exec.Cmd
	done chan struct{}
	err  error
}

func startProc(cmd *exec.Cmd) (*proc, error) {
	// Die with the harness; own group so a signal reaches no one else.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &proc{cmd: cmd, done: make(chan struct{})}
	go func() { p.err = cmd.Wait(); close(p.done) }()
	return p, nil
}

func (p *proc) pid() int { return p.cmd.Process.Pid }

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// stop sends SIGTERM and SIGKILL after grace. It reports whether the process
// exited within grace.
func (p *proc) stop(grace time.Duration) bool {
	if p.exited() {
		return true
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		return true
	case <-time.After(grace):
		_ = p.cmd.Process.Kill()
		<-p.done
		return false
	}
}

// lanternd is a running `lanternd all`.
type lanternd struct {
	*proc
	apiURL, routerURL string
	natsURL           string // the embedded NATS server's
	dataDir           string
	log               *os.File
}

// startLanternd starts `lanternd all` on free loopback ports with a fresh
// data folder and waits until its API and router answer. Its output goes
// to logPath.
func startLanternd(ctx context.Context, bin, runtimesDir, logPath string, extra []string) (*lanternd, error) {
	apiAddr, err := testenv.FreeAddr()
	if err != nil {
		return nil, err
	}
	routerAddr, err := testenv.FreeAddr()
	if err != nil {
		return nil, err
	}
	natsAddr, err := testenv.FreeAddr()
	if err != nil {
		return nil, err
	}
	dataDir, err := os.MkdirTemp("", "lantern-bench-")
	if err != nil {
		return nil, err
	}
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	args := append([]string{"all", "--data-dir", dataDir, "--api-addr", apiAddr, "--router-addr", routerAddr,
		"--runtimes-dir", runtimesDir, "--log-format", "text", "--log-level", "warn", "--nats-addr", natsAddr}, extra...)
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	p, err := startProc(cmd)
	if err != nil {
		logf.Close()
		os.RemoveAll(dataDir)
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	l := &lanternd{proc: p, apiURL: "http://" + apiAddr, routerURL: "http://" + routerAddr, natsURL: "nats://" + natsAddr, dataDir: dataDir, log: logf}
	deadline := time.Now().Add(30 * time.Second)
	for _, u := range []string{l.apiURL + "/healthz", l.routerURL + "/router-healthz"} {
		for !answers(ctx, u) {
			switch {
			case p.exited():
				l.stop()
				return nil, fmt.Errorf("lanternd exited while starting (%v); see %s", p.err, logPath)
			case ctx.Err() != nil || time.Now().After(deadline):
				l.stop()
				return nil, fmt.Errorf("lanternd did not answer %s within 30s; see %s", u, logPath)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	return l, nil
}

// stop shuts lanternd down gracefully (it stops its instances) and removes
// its data.
func (l *lanternd) stop() error {
	graceful := l.proc.stop(15 * time.Second)
	l.log.Close()
	os.RemoveAll(l.dataDir)
	if !graceful {
		return errors.New("lanternd did not exit within 15s of SIGTERM and was killed")
	}
	return nil
}

func answers(ctx context.Context, url string) bool {
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// python is a Python runtime instance the harness runs itself, without
// Lantern: the direct baseline.
type python struct {
	*proc
	url    string
	stderr *bytes.Buffer
}

// startPython starts server.py on a free port and waits, polling every
// millisecond, until it accepts connections.
func startPython(ctx context.Context, serverPy, userfuncDir string) (*python, error) {
	addr, err := testenv.FreeAddr()
	if err != nil {
		return nil, err
	}
	_, port, _ := net.SplitHostPort(addr)
	cmd := exec.Command(testenv.SystemPython, serverPy)
	cmd.Env = append(os.Environ(), "PORT="+port, "USERFUNC_DIR="+userfuncDir, "PYTHONUNBUFFERED=1")
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stderr, &stderr
	p, err := startProc(cmd)
	if err != nil {
		return nil, err
	}
	py := &python{proc: p, url: "http://" + addr, stderr: &stderr}
	deadline := time.Now().Add(20 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, 100*time.Millisecond)
		if err == nil {
			c.Close()
			return py, nil
		}
		if p.exited() || ctx.Err() != nil || time.Now().After(deadline) {
			py.stop(time.Second)
			return nil, fmt.Errorf("python runtime did not listen on %s: %s", addr, strings.TrimSpace(stderr.String()))
		}
		time.Sleep(time.Millisecond)
	}
}

// specialize loads the function in file (module hello, function main).
func (p *python) specialize(ctx context.Context, file string) error {
	body := fmt.Sprintf(`{"filepath": %q, "functionName": "hello.main", "envVersion": 2}`, file)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.url+"/v2/specialize", strings.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("specialize: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		var b bytes.Buffer
		_, _ = b.ReadFrom(resp.Body)
		return fmt.Errorf("specialize: HTTP %d: %s", resp.StatusCode, firstLine(b.Bytes()))
	}
	return nil
}

// startProxy serves a bare httputil.ReverseProxy to target on a free port:
// the cost of one Go proxy hop, without Lantern's routing.
func startProxy(target string) (url string, stop func(), err error) {
	// A separate process, like lanternd: in the load generator's own process
	// the proxy would be spared the OS wake-ups every real hop pays.
	addr, err := testenv.FreeAddr()
	if err != nil {
		return "", nil, err
	}
	exe, err := os.Executable()
	if err != nil {
		return "", nil, err
	}
	cmd := exec.Command(exe)
	cmd.Env = append(os.Environ(), proxyTargetEnv+"="+target, proxyListenEnv+"="+addr)
	if err := cmd.Start(); err != nil {
		return "", nil, fmt.Errorf("start the baseline proxy: %w", err)
	}
	stop = func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }
	url = "http://" + addr
	for deadline := time.Now().Add(10 * time.Second); ; {
		if c, err := net.DialTimeout("tcp", addr, 100*time.Millisecond); err == nil {
			c.Close()
			return url, stop, nil
		}
		if time.Now().After(deadline) {
			stop()
			return "", nil, fmt.Errorf("the baseline proxy did not listen on %s", addr)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// The environment variables that make this binary the baseline proxy.
const (
	proxyTargetEnv = "LANTERN_BENCH_PROXY_TARGET"
	proxyListenEnv = "LANTERN_BENCH_PROXY_LISTEN"
)

// serveProxy runs a bare Go reverse proxy (httputil, a shared keep-alive
// transport) from listen to target until the process is killed.
func serveProxy(target, listen string) error {
	u, err := neturl.Parse(target)
	if err != nil {
		return err
	}
	rp := httputil.NewSingleHostReverseProxy(u)
	rp.Transport = &http.Transport{MaxIdleConnsPerHost: 1024, IdleConnTimeout: 90 * time.Second, DisableCompression: true}
	srv := &http.Server{Addr: listen, Handler: rp, ReadHeaderTimeout: 10 * time.Second}
	return srv.ListenAndServe()
}

// memSample is lanternd's memory at one point of the run. The Go figures
// come from its /metrics and are zero when it serves none.
type memSample struct {
	step                  string
	rss, peak             int64
	heapInuse, heapUnused int64 // unused: idle heap not yet returned to the OS
	goroutines            int64
	sockets               int // open sockets: listeners and connections
	// The step that ended here: how long it took and how many CPUs other
	// processes kept busy meanwhile.
	took    time.Duration
	foreign float64
}

func (l *lanternd) memory(ctx context.Context, step string) (memSample, error) {
	m := memSample{step: step, sockets: sockets(l.pid())}
	var err error
	if m.rss, m.peak, err = procStatus(l.pid()); err != nil {
		return m, err
	}
	text, err := l.metrics(ctx)
	if err != nil {
		return m, nil
	}
	v := map[string]int64{}
	for line := range strings.SplitSeq(text, "\n") {
		name, val, ok := strings.Cut(line, " ")
		if ok && !strings.HasPrefix(name, "#") {
			if f, err := strconv.ParseFloat(strings.TrimSpace(val), 64); err == nil {
				v[name] = int64(f)
			}
		}
	}
	m.heapInuse = v["go_memstats_heap_inuse_bytes"]
	m.heapUnused = v["go_memstats_heap_idle_bytes"] - v["go_memstats_heap_released_bytes"]
	m.goroutines = v["go_goroutines"]
	return m, nil
}

// metrics returns lanternd's /metrics in the text format.
func (l *lanternd) metrics(ctx context.Context) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, l.apiURL+"/metrics", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	if _, err := b.ReadFrom(resp.Body); err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("HTTP %d: %s", resp.StatusCode, firstLine(b.Bytes()))
	}
	return b.String(), nil
}

// histogramBuckets returns the cumulative bucket counts by upper bound of
// histogram name for function fn (any, when "") in metrics (text format),
// summed over its label sets.
func histogramBuckets(metrics, name, fn string) map[float64]float64 {
	out := map[float64]float64{}
	for line := range strings.SplitSeq(metrics, "\n") {
		rest, ok := strings.CutPrefix(line, name+"_bucket{")
		labels, val, ok2 := strings.Cut(rest, "} ")
		if !ok || !ok2 || (fn != "" && !strings.Contains(","+labels+",", `,function="`+fn+`",`)) {
			continue
		}
		_, le, _ := strings.Cut(labels, `le="`)
		le, _, _ = strings.Cut(le, `"`)
		bound, err := strconv.ParseFloat(le, 64) // "+Inf" too
		if f := strings.Fields(val); err == nil && len(f) > 0 {
			if n, err := strconv.ParseFloat(f[0], 64); err == nil {
				out[bound] += n
			}
		}
	}
	return out
}

// sockets counts a process's open socket descriptors.
func sockets(pid int) int {
	dir := fmt.Sprintf("/proc/%d/fd", pid)
	ents, _ := os.ReadDir(dir)
	n := 0
	for _, e := range ents {
		if t, err := os.Readlink(filepath.Join(dir, e.Name())); err == nil && strings.HasPrefix(t, "socket:") {
			n++
		}
	}
	return n
}

// procStatus returns VmRSS and VmHWM of a process in bytes.
func procStatus(pid int) (rss, hwm int64, err error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0, err
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok || (k != "VmRSS" && k != "VmHWM") {
			continue
		}
		kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		if err != nil {
			return 0, 0, fmt.Errorf("parse %s of %d: %w", k, pid, err)
		}
		if k == "VmRSS" {
			rss = kb << 10
		} else {
			hwm = kb << 10
		}
	}
	return rss, hwm, nil
}

// instancesOf counts lanternd's instances specialized with the function
// whose code carries tag (see helloCode): the code sits in the instance's
// working folder.
func instancesOf(lanterndPID int, tag string) int {
	n := 0
	for _, pid := range children(lanterndPID) {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cwd/deployarchive", pid))
		if err == nil && bytes.HasPrefix(b, []byte("# "+tag+"\n")) {
			n++
		}
	}
	return n
}

// quiet watches lanternd and its instances for d and reports whether they
// used less than 5 % of a CPU.
func quiet(lanterndPID int, d time.Duration) bool {
	cpu := func() time.Duration {
		var t time.Duration
		for _, pid := range descendants(lanterndPID) {
			t += cpuTime(pid, true)
		}
		return t
	}
	before := cpu()
	time.Sleep(d)
	return cpu()-before < d/20
}

// cpuTime returns a process's user and system time, with reaped set also
// that of the children it waited for.
func cpuTime(pid int, reaped bool) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// After "pid (comm) ": state is field 0, utime 11, stime 12, cutime
	// 13, cstime 14.
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
	if len(f) < 15 {
		return 0
	}
	last := 12
	if reaped {
		last = 14
	}
	var ticks int64
	for _, x := range f[11 : last+1] {
		n, _ := strconv.ParseInt(x, 10, 64)
		ticks += n
	}
	return time.Duration(ticks) * 10 * time.Millisecond // USER_HZ is 100
}

// descendants returns pid and every live process below it.
func descendants(pid int) []int {
	parent := map[int][]int{}
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		child, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if ppid := testenv.ParentPID(child); ppid > 0 {
			parent[ppid] = append(parent[ppid], child)
		}
	}
	out := []int{pid}
	for i := 0; i < len(out); i++ {
		out = append(out, parent[out[i]]...)
	}
	return out
}

// children returns the pids whose parent is pid: lanternd's instances.
func children(pid int) []int {
	var out []int
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		if child, err := strconv.Atoi(e.Name()); err == nil && testenv.ParentPID(child) == pid {
			out = append(out, child)
		}
	}
	return out
}

// cpuSnapshot is the machine's busy CPU time and the harness's own: itself
// and its descendants, live or reaped (lanternd, its instances, the direct
// Python instances).
type cpuSnapshot struct {
	at            time.Time
	machine, self time.Duration
}

func takeCPU() cpuSnapshot {
	s := cpuSnapshot{at: time.Now()}
	if b, err := os.ReadFile("/proc/stat"); err == nil {
		line, _, _ := strings.Cut(string(b), "\n")
		// cpu user nice system idle iowait irq softirq steal guest guest_nice;
		// guest time is already in user and nice.
		f := strings.Fields(line)
		var busy int64
		for i := 1; i < len(f) && i <= 8; i++ {
			if i == 4 || i == 5 {
				continue
			}
			n, _ := strconv.ParseInt(f[i], 10, 64)
			busy += n
		}
		s.machine = time.Duration(busy) * 10 * time.Millisecond // USER_HZ is 100
	}
	for _, pid := range descendants(os.Getpid()) {
		s.self += cpuTime(pid, true)
	}
	return s
}

// foreign returns how many CPUs other processes kept busy on average
// between a and b.
func (a cpuSnapshot) foreign(b cpuSnapshot) float64 {
	other := (b.machine - a.machine) - (b.self - a.self)
	return max(0, float64(other)/float64(b.at.Sub(a.at)))
}

// waitQuiet waits until other processes use less than 0.1 CPU over a
// second, for at most max. It returns how long it waited.
func waitQuiet(ctx context.Context, max time.Duration) time.Duration {
	start := time.Now()
	for ctx.Err() == nil && time.Since(start) < max {
		a := takeCPU()
		time.Sleep(time.Second)
		if a.foreign(takeCPU()) < 0.1 {
			break
		}
	}
	return time.Since(start)
}
