package kube

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/lantern-faas/lantern/platform/client"
	"github.com/lantern-faas/lantern/test/kubeenv"
	"github.com/lantern-faas/lantern/test/kubenode"
	"github.com/lantern-faas/lantern/test/testenv"
)

// TestPoolmgrRestart runs the controller, the poolmgr and the router as
// separate processes, as the chart does, with instances in pods, keeps
// calls going to two functions through the router, and restarts the
// poolmgr under them three times: killed (SIGKILL, a crash), stopped
// (SIGTERM, a rolling update), and killed again while the controller is
// paused, so that the new poolmgr is healthy before it has seen the
// controller's objects. The pods outlive it: no pod is deleted, replaced or has
// its processes restarted, the new poolmgr adopts the warm and the
// specialized ones (the same pods, same UIDs, serve the same functions, with
// no new cold start), and no call fails: not those in flight at the stop,
// not those made while no poolmgr runs (the router serves warm functions
// from its cache of instances), not those after.
func TestPoolmgrRestart(t *testing.T) {
	dir := t.TempDir()
	c, cs, node := podCluster(t, dir, kubenode.Options{Name: "restart-node", FirstIP: 40})
	roles := startRoles(t, c, dir)

	must := func(args ...string) {
		t.Helper()
		if _, err := cliAt(t, roles.lanternd, args...); err != nil {
			t.Fatal(err)
		}
	}
	const env = "pyr"
	functions := []string{"who1", "who2"}
	must("env", "create", "--name", env, "--runtime", "python", "--poolsize", "2")
	for _, fn := range functions {
		must("fn", "create", "--name", fn, "--env", env, "--code", whoami(t), "--idletimeout", "300")
		must("route", "create", "--name", fn, "--function", fn, "--url", "/"+fn)
	}
	servedBy := map[string]string{} // function → the pod that serves it
	for _, fn := range functions {
		servedBy[fn] = callAt(t, roles.lanternd, "/"+fn)
		if !strings.HasPrefix(servedBy[fn], "lantern-"+env+"-") {
			t.Fatalf("GET /%s: got %q, want the name of a pod of %s", fn, servedBy[fn], env)
		}
	}
	if servedBy["who1"] == servedBy["who2"] {
		t.Fatalf("who1 and who2 are both served by %s, want a pod each", servedBy["who1"])
	}
	// The pool is full again and each specialized pod carries its function
	// (written in the background), which is what a new poolmgr adopts by.
	eventually(t, 30*time.Second, func() error {
		pods := envPods(t, cs, env)
		idle := 0
		for _, p := range pods {
			fn := p.Annotations["lantern.dev/function"]
			if fn == "" {
				idle++
			} else if servedBy[fn] != p.Name {
				return fmt.Errorf("pod %s is annotated with function %q, which %s serves", p.Name, fn, servedBy[fn])
			}
		}
		if idle != 2 || len(pods) != 4 {
			return fmt.Errorf("pods of %s: got %d, %d of them not specialized; want 4 running, the 2 warm ones and one per function", env, len(pods), idle)
		}
		return nil
	})
	before := podSnapshot(t, cs, node, env)

	traffic := startTraffic(roles.lanternd.routerURL, functions)
	t.Cleanup(traffic.stop)
	time.Sleep(time.Second)

	cases := []struct {
		name string
		sig  syscall.Signal
		// The controller is stopped (SIGSTOP) from before the new poolmgr
		// starts until this long after it is healthy: the new poolmgr must
		// not answer for functions it has not seen yet.
		pauseController time.Duration
	}{
		{"killed", syscall.SIGKILL, 0},
		{"terminated", syscall.SIGTERM, 0},
		{"killed, the controller paused", syscall.SIGKILL, time.Second},
	}
	for _, tc := range cases {
		stopped := roles.stopPoolmgr(t, tc.sig)
		if got := podSnapshot(t, cs, node, env); !slices.Equal(got, before) {
			t.Fatalf("pods of %s with the poolmgr %s: got\n%s\nwant them kept\n%s", env, tc.name, strings.Join(got, "\n"), strings.Join(before, "\n"))
		}
		time.Sleep(300 * time.Millisecond) // a restart takes a moment: calls meet no poolmgr
		if tc.pauseController > 0 {
			roles.pauseController(t)
		}
		started := time.Now()
		roles.startPoolmgr(t)
		ready := roles.waitPoolmgrHealthy(t)
		if tc.pauseController > 0 {
			time.Sleep(tc.pauseController)
			roles.resumeController(t)
		}
		time.Sleep(3 * time.Second) // calls against the new poolmgr
		w := traffic.window(stopped, ready, time.Now())
		t.Logf("poolmgr %s: started again %v after the stop, healthy %v after its start; calls: %d in flight at the stop (%d failed), %d while down or starting (%d failed: %s), %d after it was healthy (%d failed, the slowest %v)",
			tc.name, started.Sub(stopped).Round(time.Millisecond), ready.Sub(started).Round(time.Millisecond),
			w.inFlight, w.inFlightFailed, w.down, w.downFailed, w.downErrors(), w.after, w.afterFailed, w.afterMax.Round(time.Millisecond))
		if w.after == 0 {
			t.Fatalf("poolmgr %s: no call ran after the new poolmgr was healthy", tc.name)
		}
		if w.inFlightFailed+w.downFailed > 0 {
			t.Errorf("poolmgr %s: %d of %d calls in flight at the stop and %d of %d made while it was away failed: %s",
				tc.name, w.inFlightFailed, w.inFlight, w.downFailed, w.down, w.downErrors())
		}
		if w.afterFailed > 0 {
			t.Errorf("poolmgr %s: %d of %d calls started after the new poolmgr was healthy failed: %s", tc.name, w.afterFailed, w.after, w.afterErrors())
		}
		// The same pods serve, nothing new was started, nothing stopped.
		if got := podSnapshot(t, cs, node, env); !slices.Equal(got, before) {
			t.Errorf("pods of %s after the poolmgr's restart (%s): got\n%s\nwant the same\n%s", env, tc.name, strings.Join(got, "\n"), strings.Join(before, "\n"))
		}
		for fn, pods := range traffic.servedBy() {
			if want := []string{servedBy[fn]}; !slices.Equal(pods, want) {
				t.Errorf("poolmgr %s: %s was served by %v, want only %v, the pod adopted", tc.name, fn, pods, want)
			}
		}
		roles.checkAdopted(t, env, functions)
		if t.Failed() {
			t.Logf("poolmgr log:\n%s", roles.poolmgr.Tail(40))
			t.Logf("router log:\n%s", roles.router.Tail(20))
			return
		}
	}
}

// roles are the controller, poolmgr and router of TestPoolmgrRestart.
type roles struct {
	*lanternd   // the controller's API and the router's address
	kubeconfig  string
	dir         string
	poolmgrAddr string
	forwardAddr string // nobody listens: pods' output is not shipped
	poolmgr     *testenv.Proc
	router      *testenv.Proc
	controller  *testenv.Proc
	restarts    int
}

func startRoles(t *testing.T, c *kubeenv.Cluster, dir string) *roles {
	t.Helper()
	addrs, err := testenv.FreeAddrs(2)
	if err != nil {
		t.Fatal(err)
	}
	r := &roles{lanternd: &lanternd{dir: dir}, kubeconfig: c.Kubeconfig, dir: dir, poolmgrAddr: addrs[0], forwardAddr: addrs[1]}
	lanterndBin := filepath.Join(binDir, "lanternd")
	ctrl, caddrs, err := testenv.Launch(1, 30*time.Second, 40, func(addrs []string, attempt int) (*testenv.Proc, []string, error) {
		p, err := testenv.StartProc("controller", filepath.Join(dir, fmt.Sprintf("controller-%d.log", attempt)), dir, testenv.CleanEnv(), lanterndBin,
			"controller", "--backend", "kubernetes", "--kubeconfig", c.Kubeconfig, "--api-addr", addrs[0], "--poolmgr-url", "http://"+r.poolmgrAddr,
			"--logger-url", "http://"+r.forwardAddr, "--data-dir", filepath.Join(dir, "controller"), "--log-format", "text")
		return p, []string{"http://" + addrs[0] + "/healthz"}, err
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = ctrl.Cmd.Process.Signal(syscall.SIGCONT)
		_, _ = ctrl.Terminate(15 * time.Second)
	})
	r.controller = ctrl
	r.apiURL = "http://" + caddrs[0]
	r.startPoolmgr(t)
	r.waitPoolmgrHealthy(t)
	t.Cleanup(func() {
		if r.poolmgr.Alive() {
			_, _ = r.poolmgr.Terminate(15 * time.Second)
		}
	})
	rt, raddrs, err := testenv.Launch(2, 30*time.Second, 40, func(addrs []string, attempt int) (*testenv.Proc, []string, error) {
		p, err := testenv.StartProc("router", filepath.Join(dir, fmt.Sprintf("router-%d.log", attempt)), dir, testenv.CleanEnv(), lanterndBin,
			"router", "--controller-url", r.apiURL, "--poolmgr-url", "http://"+r.poolmgrAddr, "--router-addr", addrs[0], "--metrics-addr", addrs[1],
			"--data-dir", filepath.Join(dir, "router"), "--log-format", "text")
		return p, []string{"http://" + addrs[0] + "/router-healthz"}, err
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = rt.Terminate(15 * time.Second) })
	r.router, r.routerURL = rt, "http://"+raddrs[0]
	return r
}

// startPoolmgr starts a poolmgr on the fixed address the controller and the
// router know.
func (r *roles) startPoolmgr(t *testing.T) {
	t.Helper()
	r.restarts++
	p, err := testenv.StartProc("poolmgr", filepath.Join(r.dir, fmt.Sprintf("poolmgr-%d.log", r.restarts)), r.dir, testenv.CleanEnv(),
		filepath.Join(binDir, "lanternd"), "poolmgr", "--backend", "kubernetes", "--kubeconfig", r.kubeconfig,
		"--controller-url", r.apiURL, "--poolmgr-addr", r.poolmgrAddr, "--logs-forward-addr", r.forwardAddr,
		"--instances", "pods", "--pods-namespace", "default", "--pod-image", "python=lantern/python-env",
		"--fetcher-image", "lantern/lanternd", "--pod-node", "restart-node",
		"--data-dir", filepath.Join(r.dir, "poolmgr"), "--log-format", "text")
	if err != nil {
		t.Fatal(err)
	}
	r.poolmgr = p
}

// waitPoolmgrHealthy polls the poolmgr's /healthz every 5 ms and returns
// when it first answered 200.
func (r *roles) waitPoolmgrHealthy(t *testing.T) time.Time {
	t.Helper()
	hc := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := hc.Get("http://" + r.poolmgrAddr + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				if !testenv.ListensOn(r.poolmgr.Pid(), r.poolmgrAddr) {
					t.Fatalf("%s is answered by another process than the poolmgr", r.poolmgrAddr)
				}
				return time.Now()
			}
		}
		if !r.poolmgr.Alive() || time.Now().After(deadline) {
			t.Fatalf("the poolmgr did not become healthy (alive %v); its log:\n%s", r.poolmgr.Alive(), r.poolmgr.Tail(40))
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// stopPoolmgr stops the poolmgr with sig and returns when the signal was
// sent. SIGTERM must end it cleanly.
func (r *roles) stopPoolmgr(t *testing.T, sig syscall.Signal) time.Time {
	t.Helper()
	at := time.Now()
	if sig == syscall.SIGTERM {
		if _, err := r.poolmgr.Terminate(15 * time.Second); err != nil {
			t.Fatal(err)
		}
		return at
	}
	if err := r.poolmgr.Cmd.Process.Signal(sig); err != nil {
		t.Fatal(err)
	}
	<-r.poolmgr.Done()
	return at
}

// pauseController stops the controller process (SIGSTOP): it neither
// answers nor sends watch events until resumeController.
func (r *roles) pauseController(t *testing.T) {
	t.Helper()
	if err := r.controller.Cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
}

func (r *roles) resumeController(t *testing.T) {
	t.Helper()
	if err := r.controller.Cmd.Process.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
}

// checkAdopted asks the poolmgr what it holds: the environment's whole pool
// idle, one ready instance per function, and no cold start since it
// started.
func (r *roles) checkAdopted(t *testing.T, env string, functions []string) {
	t.Helper()
	resp, err := http.Get("http://" + r.poolmgrAddr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	text := string(body)
	want := []string{fmt.Sprintf(`lantern_pool_instances{environment=%q,namespace="default",state="idle"} 2`, env)}
	for _, fn := range functions {
		want = append(want, fmt.Sprintf(`lantern_function_instances{environment=%q,function=%q,namespace="default",state="ready"} 1`, env, fn))
	}
	for _, w := range want {
		if !strings.Contains(text, w+"\n") {
			t.Errorf("the restarted poolmgr's /metrics: want %s", w)
		}
	}
	for _, fn := range functions {
		list, err := client.NewController(r.apiURL, nil).ColdStarts(t.Context(), "default", fn)
		if err != nil || len(list) != 0 {
			t.Errorf("cold starts of %s since the poolmgr restarted: got %+v, %v; want none", fn, list, err)
		}
	}
}

// envPods returns the pods of an environment.
func envPods(t *testing.T, cs kubernetes.Interface, env string) []corev1.Pod {
	t.Helper()
	list, err := cs.CoreV1().Pods("default").List(t.Context(), metav1.ListOptions{LabelSelector: "lantern.dev/environment=" + env})
	if err != nil {
		t.Fatal(err)
	}
	return list.Items
}

// podSnapshot describes each pod of env by name, UID, phase, deletion,
// function annotation and the process IDs of its containers, sorted.
func podSnapshot(t *testing.T, cs kubernetes.Interface, node *kubenode.Node, env string) []string {
	t.Helper()
	var out []string
	for _, p := range envPods(t, cs, env) {
		pids := node.PIDs(p.Namespace, p.Name)
		out = append(out, fmt.Sprintf("%s uid=%s %s deleting=%v function=%q runtime=%d fetcher=%d", p.Name, p.UID, p.Status.Phase,
			p.DeletionTimestamp != nil, p.Annotations["lantern.dev/function"], pids["runtime"], pids["fetcher"]))
	}
	slices.Sort(out)
	return out
}

// traffic calls each function in a loop, one call at a time, through the
// router.
type traffic struct {
	cancel context.CancelFunc
	wg     sync.WaitGroup
	mu     sync.Mutex
	calls  []routerCall
}

type routerCall struct {
	fn         string
	start, end time.Time
	pod        string // the body of a 200: the pod's name
	err        error
}

func startTraffic(routerURL string, functions []string) *traffic {
	ctx, cancel := context.WithCancel(context.Background())
	tr := &traffic{cancel: cancel}
	for _, fn := range functions {
		tr.wg.Go(func() {
			hc := &http.Client{Timeout: 10 * time.Second}
			for ctx.Err() == nil {
				c := routerCall{fn: fn, start: time.Now()}
				resp, err := hc.Get(routerURL + "/" + fn)
				if err == nil {
					body, rerr := io.ReadAll(resp.Body)
					resp.Body.Close()
					switch {
					case rerr != nil:
						err = rerr
					case resp.StatusCode != http.StatusOK:
						err = fmt.Errorf("%s: %s", resp.Status, strings.TrimSpace(string(body)))
					default:
						c.pod = string(body)
					}
				}
				c.end, c.err = time.Now(), err
				tr.mu.Lock()
				tr.calls = append(tr.calls, c)
				tr.mu.Unlock()
				time.Sleep(5 * time.Millisecond)
			}
		})
	}
	return tr
}

func (tr *traffic) stop() {
	tr.cancel()
	tr.wg.Wait()
}

// servedBy returns, by function, the pods that answered its calls so far.
func (tr *traffic) servedBy() map[string][]string {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	out := map[string][]string{}
	for _, c := range tr.calls {
		if c.err == nil && !slices.Contains(out[c.fn], c.pod) {
			out[c.fn] = append(out[c.fn], c.pod)
		}
	}
	return out
}

// restartWindow counts the calls around one restart.
type restartWindow struct {
	inFlight, inFlightFailed int // started before the stop, ended after it
	down, downFailed         int // started while no healthy poolmgr ran
	after, afterFailed       int // started once the new one was healthy
	afterMax                 time.Duration
	downErrs, afterErrs      []string
}

func (w restartWindow) downErrors() string  { return summarize(w.downErrs) }
func (w restartWindow) afterErrors() string { return summarize(w.afterErrs) }

// window sorts the calls that ended after stopped and started before end.
func (tr *traffic) window(stopped, ready, end time.Time) restartWindow {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	var w restartWindow
	for _, c := range tr.calls {
		switch {
		case c.end.Before(stopped) || !c.start.Before(end):
		case c.start.Before(stopped):
			w.inFlight++
			if c.err != nil {
				w.inFlightFailed++
				w.downErrs = append(w.downErrs, c.err.Error())
			}
		case c.start.Before(ready):
			w.down++
			if c.err != nil {
				w.downFailed++
				w.downErrs = append(w.downErrs, c.err.Error())
			}
		default:
			w.after++
			w.afterMax = max(w.afterMax, c.end.Sub(c.start))
			if c.err != nil {
				w.afterFailed++
				w.afterErrs = append(w.afterErrs, c.err.Error())
			}
		}
	}
	return w
}

// summarize counts distinct messages, the most frequent first.
func summarize(msgs []string) string {
	if len(msgs) == 0 {
		return "none"
	}
	count := map[string]int{}
	for _, m := range msgs {
		count[m]++
	}
	keys := make([]string, 0, len(count))
	for k := range count {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b string) int { return count[b] - count[a] })
	var parts []string
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%d× %s", count[k], k))
	}
	return strings.Join(parts, "; ")
}
