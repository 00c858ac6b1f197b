package e2e

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/lantern-faas/lantern/platform/api"
	"github.com/lantern-faas/lantern/test/testenv"
)

// uids maps kind/name to UID for every object lanternd has.
func uids(t *testing.T, l *lanternd) map[string]string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out := map[string]string{}
	envs, err := l.Client.ListEnvironments(ctx, "")
	if err != nil {
		t.Fatalf("list environments: %v", err)
	}
	for _, o := range envs {
		out["env/"+o.Metadata.Namespace+"/"+o.Metadata.Name] = o.Metadata.UID
	}
	fns, err := l.Client.ListFunctions(ctx, "")
	if err != nil {
		t.Fatalf("list functions: %v", err)
	}
	for _, o := range fns {
		out["fn/"+o.Metadata.Namespace+"/"+o.Metadata.Name] = o.Metadata.UID + " package " + o.Spec.Package.Checksum
	}
	trs, err := l.Client.ListHTTPTriggers(ctx, "")
	if err != nil {
		t.Fatalf("list routes: %v", err)
	}
	for _, o := range trs {
		out["route/"+o.Metadata.Namespace+"/"+o.Metadata.Name] = o.Metadata.UID
	}
	return out
}

// TestRestartKeepsState stops lanternd and starts it again on the same data
// folder: every object is still there with the same UID, and the route
// still answers.
func TestRestartKeepsState(t *testing.T) {
	t.Parallel()
	l := startAll(t)
	l.mustLantern(t, "env", "create", "--name", "python", "--runtime", "python", "--poolsize", "1")
	l.mustLantern(t, "env", "create", "--name", "nodejs", "--runtime", "nodejs", "--poolsize", "1")
	l.mustLantern(t, "fn", "create", "--name", "hello", "--env", "python", "--code", fixture("python", "hello.py"))
	l.mustLantern(t, "fn", "create", "--name", "node-echo", "--env", "nodejs", "--code", fixture("nodejs", "echo.js"))
	l.mustLantern(t, "route", "create", "--name", "hello", "--function", "hello", "--url", "/hello")
	l.mustLantern(t, "route", "create", "--name", "node", "--function", "node-echo", "--prefix", "/node", "--method", "POST")
	// An object in another namespace too.
	l.mustLantern(t, "env", "create", "-n", "team-b", "--name", "python", "--runtime", "python", "--poolsize", "1")
	l.mustLantern(t, "fn", "create", "-n", "team-b", "--name", "hello-b", "--env", "python", "--code", fixture("python", "hello_v2.py"))

	wantResponse(t, "GET /hello before the restart", l.get(t, "/hello"), http.StatusOK, "Hello, world!")
	before := uids(t, l)
	if len(before) != 8 {
		t.Fatalf("got %d objects before the restart, want 8: %v", len(before), before)
	}

	l.Restart()

	after := uids(t, l)
	for k, v := range before {
		if after[k] != v {
			t.Errorf("after the restart %s is %q, want %q", k, after[k], v)
		}
	}
	if len(after) != len(before) {
		t.Errorf("after the restart there are %d objects, want %d: %v", len(after), len(before), after)
	}
	wantResponse(t, "GET /hello after the restart", l.get(t, "/hello"), http.StatusOK, "Hello, world!")
	d := decodeEcho(t, "POST /node/x after the restart", l.call(t, http.MethodPost, "/node/x", "after restart", "Content-Type: text/plain"))
	if d.Body != "after restart" || d.Path != "/x" {
		t.Errorf("POST /node/x after the restart: got %+v", d)
	}
	wantResponse(t, "team-b's function after the restart", l.get(t, "/fn/team-b/hello-b"), http.StatusOK, "version two")
	wantContains(t, "route list after the restart", l.mustLantern(t, "route", "list"), "/hello", "/node/*")
}

// TestIdleInstancesAreReaped checks that an instance unused for its idle
// timeout is stopped, not earlier, and that the next call starts a new one.
func TestIdleInstancesAreReaped(t *testing.T) {
	t.Parallel()
	l := startAll(t, "--reap-interval", "200ms")
	l.mustLantern(t, "env", "create", "--name", "python", "--runtime", "python", "--poolsize", "1")
	l.mustLantern(t, "fn", "create", "--name", "idle", "--env", "python", "--code", fixture("python", "pid.py"), "--idletimeout", "2")
	first := pidOf(t, l.get(t, "/fn/default/idle"))
	used := time.Now()
	if ppid := testenv.ParentPID(first); ppid != l.PID() {
		t.Fatalf("the instance's pid %d has parent %d, want lanternd (%d)", first, ppid, l.PID())
	}
	time.Sleep(time.Second)
	if st := testenv.PIDState(first); st == "" || st == "Z" {
		t.Fatalf("the instance (pid %d) is %s after 1 s, before its idle timeout of 2 s", first, describePID(first))
	}
	eventually(t, 9*time.Second, 100*time.Millisecond, "the idle instance is stopped", func() error {
		if testenv.PIDState(first) != "" {
			return fmt.Errorf("pid %d is %s %v after its last call", first, describePID(first), time.Since(used).Round(time.Millisecond))
		}
		return nil
	})
	t.Logf("the idle instance was gone %v after its last call", time.Since(used).Round(10*time.Millisecond))
	second := pidOf(t, l.get(t, "/fn/default/idle"))
	if second == first {
		t.Errorf("the call after reaping reports the reaped pid %d", first)
	}
}

// TestKilledInstanceIsReplaced kills instances with SIGKILL behind
// lanternd's back: the next call, GET or POST, still succeeds, on a new
// instance.
func TestKilledInstanceIsReplaced(t *testing.T) {
	t.Parallel()
	l := startAll(t)
	l.mustLantern(t, "env", "create", "--name", "python", "--runtime", "python", "--poolsize", "1")
	l.mustLantern(t, "fn", "create", "--name", "victim", "--env", "python", "--code", fixture("python", "echo.py"))
	l.mustLantern(t, "route", "create", "--name", "victim", "--function", "victim", "--url", "/victim", "--method", "GET", "--method", "POST")

	kill := func(t *testing.T, pid int) {
		t.Helper()
		// Only ever kill a child of our own lanternd.
		if ppid := testenv.ParentPID(pid); ppid != l.PID() {
			t.Fatalf("pid %d has parent %d, not lanternd (%d); not killing it", pid, ppid, l.PID())
		}
		if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
			t.Fatalf("kill -9 %d: %v", pid, err)
		}
	}
	rounds := []struct {
		name   string
		method string
		body   string
		wait   time.Duration // between the kill and the next call
	}{
		// Right after the kill the router may still hold a keep-alive
		// connection to the dead instance; each case is tried a few
		// times, as the outcome depends on timing.
		{"GET right after the kill #1", http.MethodGet, "", 0},
		{"GET right after the kill #2", http.MethodGet, "", 0},
		{"POST right after the kill #1", http.MethodPost, "a body to deliver", 0},
		{"POST right after the kill #2", http.MethodPost, "a body to deliver", 0},
		{"POST right after the kill #3", http.MethodPost, "a body to deliver", 0},
		{"GET once lanternd noticed", http.MethodGet, "", time.Second},
		{"POST once lanternd noticed", http.MethodPost, "a body to deliver", time.Second},
	}
	var killed []int
	for _, rd := range rounds {
		t.Run(rd.name, func(t *testing.T) {
			// A warm instance, with a keep-alive connection from the router.
			pid := decodeEcho(t, "warm-up", l.get(t, "/victim")).PID
			kill(t, pid)
			killed = append(killed, pid)
			time.Sleep(rd.wait)
			r := l.call(t, rd.method, "/victim", rd.body, "Content-Type: text/plain")
			if rd.method == http.MethodPost && rd.wait == 0 && r.Status == http.StatusBadGateway {
				// Only connection failures are retried: a POST written to a
				// connection that then broke may have reached the dead
				// instance, so it is not resent (never run twice). The
				// answer must say what happened.
				if !strings.Contains(r.Body, "failed before answering") {
					t.Errorf("POST right after kill -9: got %s, want a 502 naming the failure", r)
				}
				return
			}
			if r.Status != http.StatusOK {
				t.Errorf("%s /victim after kill -9 %d: got %s, want 200 from a new instance", rd.method, pid, r)
			} else if d := decodeEcho(t, rd.method+" after kill -9", r); d.PID == pid || d.Body != rd.body {
				t.Errorf("after kill -9 %d: got pid %d body %q, want a new pid and body %q", pid, d.PID, d.Body, rd.body)
			}
			eventually(t, 5*time.Second, 50*time.Millisecond, "the killed instance is reaped", func() error {
				if testenv.PIDState(pid) != "" {
					return fmt.Errorf("pid %d is %s", pid, describePID(pid))
				}
				return nil
			})
		})
	}
	// The instances listed are the live ones: the table shows the one
	// serving now, none of the killed.
	serving := decodeEcho(t, "after the rounds", l.get(t, "/victim")).PID
	out := l.mustLantern(t, "fn", "instances", "--name", "victim")
	if !strings.HasPrefix(out, "ID ") || !strings.Contains(out, fmt.Sprintf(" %d ", serving)) {
		t.Errorf("lantern fn instances --name victim: got\n%s\nwant a table with the serving instance's pid %d", out, serving)
	}
	for _, pid := range killed {
		if strings.Contains(out, fmt.Sprintf(" %d ", pid)) {
			t.Errorf("lantern fn instances --name victim lists the killed pid %d:\n%s", pid, out)
		}
	}
	if err := l.Alive(); err != nil {
		t.Fatal(err)
	}
}

// TestUpdatesTakeEffectAtOnce checks that once the API has answered a
// write, the very next call meets it: new code, a new route, a deleted
// route or function. (lanternd all answers a write once its router and
// poolmgr have it.)
func TestUpdatesTakeEffectAtOnce(t *testing.T) {
	t.Parallel()
	l := startAll(t)
	l.mustLantern(t, "env", "create", "--name", "python", "--runtime", "python", "--poolsize", "2")
	l.mustLantern(t, "fn", "create", "--name", "upd", "--env", "python", "--code", fixture("python", "hello.py"))
	l.mustLantern(t, "route", "create", "--name", "upd", "--function", "upd", "--url", "/upd")
	const v1, v2 = "Hello, world!\n", "Hello again, version two!\n"
	if r := l.get(t, "/upd"); r.Body != v1 {
		t.Fatalf("GET /upd: got %s, want %q", r, v1)
	}
	for i := range 7 {
		code, want := "hello_v2.py", v2
		if i%2 == 1 {
			code, want = "hello.py", v1
		}
		l.mustLantern(t, "fn", "update", "--name", "upd", "--code", fixture("python", code))
		if r := l.get(t, "/upd"); r.Status != http.StatusOK || r.Body != want {
			t.Errorf("update %d to %s: the next call got %s, want %q", i+1, code, r, want)
		}
	}
	// A settings-only update keeps the code.
	l.mustLantern(t, "fn", "update", "--name", "upd", "--fntimeout", "30")
	if r := l.get(t, "/upd"); r.Body != v2 {
		t.Errorf("after fn update --fntimeout: got %s, want %q", r, v2)
	}

	// A new route answers at once.
	l.mustLantern(t, "route", "create", "--name", "upd2", "--function", "upd", "--url", "/upd2")
	wantResponse(t, "GET /upd2 right after creating it", l.get(t, "/upd2"), http.StatusOK, "version two")

	// A deleted route stops answering at once; the function does not go
	// with it.
	l.mustLantern(t, "route", "delete", "--name", "upd")
	if r := l.get(t, "/upd"); r.Status != http.StatusNotFound {
		t.Errorf("GET /upd right after deleting the route: got %s, want 404", r)
	}
	wantResponse(t, "GET /upd2 after deleting /upd", l.get(t, "/upd2"), http.StatusOK, "version two")

	// The same through the API, with no CLI process between the answer
	// and the next call: routes called right after their creation and
	// right after their deletion.
	for i := range 20 {
		name := fmt.Sprintf("quick%d", i)
		tr := &api.HTTPTrigger{Metadata: api.Metadata{Name: name, Namespace: "default"},
			Spec: api.HTTPTriggerSpec{RelativeURL: "/" + name, FunctionRef: api.FunctionRef{Name: "upd"}}}
		if err := l.Client.Create(t.Context(), tr); err != nil {
			t.Fatalf("create route %s: %v", name, err)
		}
		wantResponse(t, "GET /"+name+" right after the API created it", l.get(t, "/"+name), http.StatusOK, "version two")
		if err := l.Client.Delete(t.Context(), api.KindHTTPTrigger, "default", name); err != nil {
			t.Fatalf("delete route %s: %v", name, err)
		}
		if r := l.get(t, "/"+name); r.Status != http.StatusNotFound {
			t.Errorf("GET /%s right after the API deleted it: got %s, want 404", name, r)
		}
	}

	// A deleted function stops answering at once, and its instances are
	// stopped.
	pidFn := "pids"
	l.mustLantern(t, "fn", "create", "--name", pidFn, "--env", "python", "--code", fixture("python", "pid.py"))
	pid := pidOf(t, l.get(t, "/fn/default/"+pidFn))
	l.mustLantern(t, "fn", "delete", "--name", pidFn)
	if r := l.get(t, "/fn/default/"+pidFn); r.Status != http.StatusNotFound {
		t.Errorf("GET /fn/default/%s right after deleting it: got %s, want 404", pidFn, r)
	}
	eventually(t, 10*time.Second, 100*time.Millisecond, "the deleted function's instance is stopped", func() error {
		if testenv.PIDState(pid) != "" {
			return fmt.Errorf("pid %d is %s", pid, describePID(pid))
		}
		return nil
	})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var fn api.Function
	if err := l.Client.Get(ctx, "default", "upd", &fn); err != nil || fn.Spec.FunctionTimeout != 30 {
		t.Errorf("function upd after the updates: %+v, %v", fn.Spec, err)
	}
}
