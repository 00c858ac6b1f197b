package kube

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/fluent/fluent-logger-golang/fluent"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/lantern-faas/lantern/logs/cri"
	"github.com/lantern-faas/lantern/logs/influxdtest"
	"github.com/lantern-faas/lantern/platform/api"
	"github.com/lantern-faas/lantern/platform/client"
	"github.com/lantern-faas/lantern/test/kubeenv"
	"github.com/lantern-faas/lantern/test/kubenode"
	"github.com/lantern-faas/lantern/test/testenv"
)

// TestPodLogs collects the output of pool pods as a node's log agent: the
// test node writes each container's output in the CRI format under its
// /var/log/pods, `lanternd logger --pod-logs-dir --node-name` reads it into
// a real InfluxDB, and `lanternd all --instances pods` (same InfluxDB)
// answers the logs API and `lantern fn logs`. Lines carry the function the
// pod was specialized for, and what the pod printed before is not the
// function's; lines printed while the logger is stopped or killed arrive
// once; a deleted pod's last lines arrive.
func TestPodLogs(t *testing.T) {
	dir := t.TempDir()
	nodeDir, podLogs := filepath.Join(dir, "node"), filepath.Join(dir, "var-log-pods")
	c, cs, node := podCluster(t, dir, kubenode.Options{Name: "logs-node", Dir: nodeDir, PodLogsDir: podLogs, FirstIP: 3})
	ctx := t.Context()
	db := influxdtest.Start(t, influxdtest.Options{})
	influx := []string{"--influxdb-url", db.URL, "--influxdb-bucket", "lantern", "--influxdb-database", "lantern"}
	l, err := startLanternd(c, filepath.Join(dir, "lanternd"), append([]string{"--instances", "pods", "--pods-namespace", "default",
		"--pod-image", "python=lantern/python-env", "--fetcher-image", "lantern/lanternd", "--pod-node", "logs-node"}, influx...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(l.stop)
	lg := &nodeLogger{t: t, c: c, dir: filepath.Join(dir, "logger"), args: append([]string{"--pod-logs-dir", podLogs, "--node-name", "logs-node",
		"--pods-namespace", "default"}, influx...)}
	lg.start()
	t.Cleanup(func() {
		lg.stop()
		if t.Failed() {
			t.Logf("logger log:\n%s\nlanternd log:\n%s", lg.log(), l.proc.Tail(40))
		}
	})
	must := func(args ...string) {
		t.Helper()
		if _, err := cliAt(t, l, args...); err != nil {
			t.Fatal(err)
		}
	}
	podOf := func(fn string) *corev1.Pod {
		t.Helper()
		list, err := cs.CoreV1().Pods("default").List(ctx, metav1.ListOptions{LabelSelector: "lantern.dev/environment=pyl"})
		if err != nil {
			t.Fatal(err)
		}
		for i, p := range list.Items {
			if p.Annotations["lantern.dev/function"] == fn && p.DeletionTimestamp == nil {
				return &list.Items[i]
			}
		}
		return nil
	}

	// A function's lines, with the function's identity.
	must("env", "create", "--name", "pyl", "--runtime", "python", "--poolsize", "1")
	var pool *corev1.Pod
	eventuallyEvery(t, 30*time.Second, 100*time.Millisecond, func() error {
		if pool = podOf(""); pool == nil || pool.Status.Phase != corev1.PodRunning {
			return fmt.Errorf("no running pool pod of pyl")
		}
		return nil
	})
	instance := pool.Labels["lantern.dev/instance"]
	// The pool pod has printed its runtime's start line before it is
	// given a function.
	eventuallyEvery(t, 10*time.Second, 100*time.Millisecond, func() error {
		if out, err := c.Kubectl(ctx, "", "logs", pool.Name, "-c", "runtime"); err != nil || !strings.Contains(out, "lantern python runtime listening") {
			return fmt.Errorf("kubectl logs %s: got %q, %v; want the runtime's start line", pool.Name, out, err)
		}
		return nil
	})
	must("fn", "create", "--name", "numbered", "--env", "pyl", "--code", fixture("python", "numbered.py"), "--idletimeout", "600")
	began := time.Now()
	reqID := getID(t, l, "/fn/default/numbered?call=0&lines=3")
	recs := waitLogs(t, l, "numbered", 6)
	t.Logf("the function's 6 lines in InfluxDB %v after the call began", time.Since(began).Round(time.Millisecond))
	if got := podOf("numbered"); got == nil || got.Name != pool.Name {
		t.Fatalf("the pod serving numbered: got %v, want the pool pod %s", got, pool.Name)
	}
	for _, r := range recs {
		if r.Namespace != "default" || r.Function != "numbered" || r.Environment != "pyl" || r.Instance != instance || r.RequestID != reqID ||
			!strings.Contains(r.Message, " "+r.Stream+" ") {
			t.Errorf("record %+v: want namespace default, function numbered, environment pyl, instance %s, request %s, its own stream", r, instance, reqID)
		}
	}
	out, err := cliAt(t, l, "fn", "logs", "--name", "numbered", "--detail")
	if err != nil || !strings.Contains(out, "call 0 stdout line 2") || !strings.Contains(out, "call 0 stderr line 0") {
		t.Fatalf("lantern fn logs: got %v\n%s\nwant the function's lines", err, out)
	}

	// What the pod printed before it was specialized is its environment's:
	// not among the function's lines, in InfluxDB without a function.
	for _, r := range recs {
		if strings.Contains(r.Message, "runtime listening") {
			t.Errorf("the pool's start line is among the function's lines: %+v", r)
		}
	}
	eventuallyEvery(t, 20*time.Second, 100*time.Millisecond, func() error {
		got := influxQuery(t, db.URL, "lantern", fmt.Sprintf(`SELECT "message" FROM "function_log" WHERE "instance" = '%s' AND "function" = '' AND "environment" = 'pyl'`, instance))
		if len(got) != 1 || !strings.Contains(got[0], "lantern python runtime listening") {
			return fmt.Errorf("the pool pod's own lines in InfluxDB: got %q, want its start line once", got)
		}
		return nil
	})

	// The same file forwarded by a node agent, as the chart's Fluentd
	// configuration sends it (tag lantern.pod.<path>, the CRI fields), to a
	// logger that attributes forwarded lines, into a database of its own.
	fwd := &nodeLogger{t: t, c: c, dir: filepath.Join(dir, "fwd-logger"), args: []string{"--pod-logs-forwarded", "--pods-namespace", "default",
		"--influxdb-url", db.URL, "--influxdb-bucket", "fwd", "--influxdb-database", "fwd"}}
	fwd.start()
	defer fwd.stop()
	forwardLog(t, fwd.forwardAddr, filepath.Join(kubenode.PodLogDir(podLogs, "default", pool.Name, string(pool.UID)), "runtime", "0.log"))
	eventuallyEvery(t, 20*time.Second, 100*time.Millisecond, func() error {
		fn := influxQuery(t, db.URL, "fwd", fmt.Sprintf(`SELECT "message" FROM "function_log" WHERE "instance" = '%s' AND "function" = 'numbered'`, instance))
		env := influxQuery(t, db.URL, "fwd", fmt.Sprintf(`SELECT "message" FROM "function_log" WHERE "instance" = '%s' AND "function" = ''`, instance))
		if len(fn) != 6 || len(env) != 1 || !strings.Contains(env[0], "runtime listening") {
			return fmt.Errorf("forwarded lines: got %q as the function's and %q as the environment's, want 6 and the start line", fn, env)
		}
		return nil
	})
	fwd.stop()

	// Lines printed while the logger is stopped arrive once it is back,
	// none twice; so do those of a logger killed as it read them.
	lg.stop()
	getID(t, l, "/fn/default/numbered?call=1&lines=3")
	getID(t, l, "/fn/default/numbered?call=2&lines=3")
	lg.start()
	waitLogs(t, l, "numbered", 18)
	getID(t, l, "/fn/default/numbered?call=3&lines=50")
	time.Sleep(150 * time.Millisecond)
	lg.kill()
	lg.start()
	getID(t, l, "/fn/default/numbered?call=4&lines=3")
	recs = waitLogs(t, l, "numbered", 18+100+6)
	checkOnce(t, recs, func(c int) int { return map[int]int{0: 3, 1: 3, 2: 3, 3: 50, 4: 3}[c] })

	// A deleted pod's last lines arrive: a function prints a line every few
	// milliseconds until it is killed, and ignores SIGTERM. Its pod is
	// deleted by force: it leaves the API at once, and the node stops it
	// with the pod's grace period (2 s) after, as a kubelet does; what it
	// prints meanwhile is read all the same.
	must("fn", "create", "--name", "ticker", "--env", "pyl", "--code", ticker(t), "--idletimeout", "600")
	getID(t, l, "/fn/default/ticker")
	waitLogs(t, l, "ticker", 20)
	victim := podOf("ticker")
	if victim == nil {
		t.Fatal("no pod serves ticker")
	}
	deleted := time.Now()
	deletePod(t, cs, victim.Name, 0)
	eventuallyEvery(t, 10*time.Second, 100*time.Millisecond, func() error {
		if pids := node.PIDs("default", victim.Name); len(pids) > 0 {
			return fmt.Errorf("processes of the deleted pod %s still run: %v", victim.Name, pids)
		}
		return nil
	})
	data, err := os.ReadFile(filepath.Join(nodeDir, "default_"+victim.Name, "volumes", "code", "last-tick"))
	if err != nil {
		t.Fatal(err)
	}
	last, err := strconv.Atoi(string(data))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("the ticker's pod stopped %v after its deletion", time.Since(deleted).Round(time.Millisecond))
	recs = waitLogs(t, l, "ticker", last+1)
	checkTicks(t, recs, last)
	t.Logf("ticker printed up to tick %d before its pod was killed: all stored", last)

	// A pod deleted while the logger is stopped is read to its end when it
	// is back.
	lg.stop()
	getID(t, l, "/fn/default/numbered?call=5&lines=3")
	deletePod(t, cs, pool.Name, 2)
	lg.start()
	recs = waitLogs(t, l, "numbered", 124+6)
	checkOnce(t, recs, func(c int) int { return map[int]int{0: 3, 1: 3, 2: 3, 3: 50, 4: 3, 5: 3}[c] })
}

// nodeLogger is `lanternd logger` reading a node's pod logs.
type nodeLogger struct {
	t       *testing.T
	c       *kubeenv.Cluster
	dir     string
	args    []string
	proc    *testenv.Proc
	starts  int
	logPath string
	// forwardAddr is where it takes the forward protocol.
	forwardAddr string
}

func (n *nodeLogger) start() {
	n.t.Helper()
	n.starts++
	p, addrs, err := testenv.Launch(2, 30*time.Second, 40, func(addrs []string, attempt int) (*testenv.Proc, []string, error) {
		n.logPath = filepath.Join(n.dir, fmt.Sprintf("logger-%d-%d.log", n.starts, attempt))
		if err := os.MkdirAll(n.dir, 0o755); err != nil {
			return nil, nil, err
		}
		p, err := testenv.StartProc("logger", n.logPath, n.dir, testenv.CleanEnv(), filepath.Join(binDir, "lanternd"),
			append([]string{"logger", "--backend", "kubernetes", "--kubeconfig", n.c.Kubeconfig, "--data-dir", filepath.Join(n.dir, "data"),
				"--logger-addr", addrs[0], "--logs-forward-addr", addrs[1], "--log-format", "text", "--log-level", "debug"}, n.args...)...)
		return p, []string{"http://" + addrs[0] + "/healthz"}, err
	})
	if err != nil {
		n.t.Fatal(err)
	}
	n.proc, n.forwardAddr = p, addrs[1]
}

func (n *nodeLogger) stop() {
	if n.proc != nil {
		if _, err := n.proc.Terminate(15 * time.Second); err != nil {
			n.t.Error(err)
		}
		n.proc = nil
	}
}

func (n *nodeLogger) kill() {
	n.proc.Kill()
	<-n.proc.Done()
	n.proc = nil
}

func (n *nodeLogger) log() string { return testenv.TailFile(n.logPath, 40) }

// forwardLog sends a CRI log file's entries to a forward-protocol address
// as Fluentd's in_tail with the regexp parser of the chart's configuration
// does: tag lantern.pod.<path with dots>, the entry's time, its stream,
// tag and message.
func forwardLog(t *testing.T, addr, path string) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	host, port, _ := net.SplitHostPort(addr)
	p, _ := strconv.Atoi(port)
	f, err := fluent.New(fluent.Config{FluentHost: host, FluentPort: p, RequestAck: true, SubSecondPrecision: true})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tag := "lantern.pod." + strings.ReplaceAll(strings.TrimPrefix(path, "/"), "/", ".")
	for _, line := range strings.Split(strings.TrimSuffix(string(data), "\n"), "\n") {
		e, err := cri.Parse([]byte(line))
		if err != nil {
			t.Fatal(err)
		}
		logtag := "F"
		if e.Partial {
			logtag = "P"
		}
		if err := f.PostWithTime(tag, e.Time, map[string]string{"stream": e.Stream, "logtag": logtag, "message": string(e.Message)}); err != nil {
			t.Fatal(err)
		}
	}
}

// getID calls a path through the router and returns the request ID.
func getID(t *testing.T, l *lanternd, path string) string {
	t.Helper()
	resp, err := http.Get(l.routerURL + path)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s %s", path, resp.Status, body)
	}
	return resp.Header.Get(api.RequestIDHeader)
}

// waitLogs waits until the logs API returns at least n lines of fn, and
// returns them.
func waitLogs(t *testing.T, l *lanternd, fn string, n int) []api.LogRecord {
	t.Helper()
	var recs []api.LogRecord
	eventuallyEvery(t, 30*time.Second, 100*time.Millisecond, func() error {
		var err error
		if recs, err = client.NewController(l.apiURL, nil).Logs(t.Context(), "default", fn, url.Values{"limit": {"10000"}}); err != nil {
			return err
		}
		if len(recs) < n {
			return fmt.Errorf("logs of %s: got %d lines, want %d", fn, len(recs), n)
		}
		return nil
	})
	return recs
}

// checkOnce checks that the numbered function's lines of each call are
// there once each: want(call) lines on each stream.
func checkOnce(t *testing.T, recs []api.LogRecord, want func(call int) int) {
	t.Helper()
	seen := map[string]int{}
	perCall := map[int]int{}
	for _, r := range recs {
		seen[r.Message]++
		var call, line int
		var stream string
		if _, err := fmt.Sscanf(r.Message, "call %d %s line %d", &call, &stream, &line); err != nil {
			t.Errorf("a line the function did not print: %+v", r)
			continue
		}
		perCall[call]++
	}
	for msg, n := range seen {
		if n > 1 {
			t.Errorf("stored %d times: %q", n, msg)
		}
	}
	for call, n := range perCall {
		if n != 2*want(call) {
			t.Errorf("call %d: got %d lines, want %d", call, n, 2*want(call))
		}
	}
}

// checkTicks checks that ticks 0 to at least last are there once each.
func checkTicks(t *testing.T, recs []api.LogRecord, last int) {
	t.Helper()
	seen := map[int]int{}
	for _, r := range recs {
		var n int
		if _, err := fmt.Sscanf(r.Message, "tick %d", &n); err != nil {
			t.Errorf("a line the function did not print: %+v", r)
			continue
		}
		seen[n]++
	}
	for i := 0; i <= last; i++ {
		if seen[i] != 1 {
			t.Errorf("tick %d: stored %d times, want once (the last tick printed is %d or after)", i, seen[i], last)
		}
	}
}

// ticker writes a function that, once called, prints "tick N" every few
// milliseconds and keeps the last N it printed in a file of its code
// folder, and makes its process ignore SIGTERM (as a program that takes
// its grace period to stop).
func ticker(t *testing.T) string {
	path := filepath.Join(t.TempDir(), "ticker.py")
	code := `import ctypes
import os
import signal
import threading
import time


def _tick():
    path = os.path.join(os.environ.get("USERFUNC_DIR", "."), "last-tick")
    i = 0
    while True:
        print("tick %d" % i, flush=True)
        with open(path + ".tmp", "w") as f:
            f.write(str(i))
        os.replace(path + ".tmp", path)
        i += 1
        time.sleep(0.005)


def main():
    if not any(t.name == "ticker" for t in threading.enumerate()):
        # signal.signal works in the main thread only; libc's in any.
        ctypes.CDLL(None).signal(int(signal.SIGTERM), ctypes.c_void_p(1))  # SIG_IGN
        threading.Thread(target=_tick, name="ticker", daemon=True).start()
    return "ticking\n"
`
	if err := os.WriteFile(path, []byte(code), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// deletePod deletes a pod with a grace period (0: by force) and waits
// until it is gone from the API.
func deletePod(t *testing.T, cs kubernetes.Interface, name string, grace int64) {
	t.Helper()
	if err := cs.CoreV1().Pods("default").Delete(t.Context(), name, metav1.DeleteOptions{GracePeriodSeconds: &grace}); err != nil {
		t.Fatal(err)
	}
	eventuallyEvery(t, 30*time.Second, 100*time.Millisecond, func() error {
		if _, err := cs.CoreV1().Pods("default").Get(t.Context(), name, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			return fmt.Errorf("pod %s still there (%v)", name, err)
		}
		return nil
	})
}

// influxQuery runs an InfluxQL query and returns the first column of
// values after the time.
func influxQuery(t *testing.T, base, db, q string) []string {
	t.Helper()
	resp, err := http.Get(base + "/query?" + url.Values{"db": {db}, "q": {q}}.Encode())
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		Results []struct {
			Series []struct {
				Values [][]any `json:"values"`
			} `json:"series"`
			Error string `json:"error"`
		} `json:"results"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatal(err)
	}
	var vals []string
	for _, r := range out.Results {
		if r.Error != "" {
			t.Fatalf("InfluxDB %s: %s", q, r.Error)
		}
		for _, s := range r.Series {
			for _, v := range s.Values {
				if len(v) > 1 {
					vals = append(vals, fmt.Sprint(v[1]))
				}
			}
		}
	}
	return vals
}
