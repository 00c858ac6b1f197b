package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/lantern-faas/lantern/platform/api"
	"github.com/lantern-faas/lantern/test/testenv"
)

// quickstart runs the README's first steps with the real CLI, exactly as a
// user types them, and checks every answer.
func quickstart(t *testing.T, l *lanternd) {
	t.Helper()
	out := l.mustLantern(t, "env", "create", "--name", "python", "--runtime", "python")
	wantContains(t, "env create", out, "environment 'python' created")
	out = l.mustLantern(t, "fn", "create", "--name", "hello", "--env", "python", "--code", fixture("python", "hello.py"))
	wantContains(t, "fn create", out, "function 'hello' created")
	out = l.mustLantern(t, "route", "create", "--method", "GET", "--url", "/hello", "--function", "hello")
	wantContains(t, "route create", out, "GET /hello -> function 'hello'")

	// A user runs curl right after "route create" returns. The router
	// learns about the route through the controller's watch, so it may
	// take a moment, but not more than a second (see also
	// TestUpdatesTakeEffectAtOnce).
	created := time.Now()
	var first response
	for {
		first = l.get(t, "/hello")
		if first.Status != http.StatusNotFound || time.Since(created) > time.Second {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Logf("the new route answered %d after %v", first.Status, time.Since(created).Round(time.Millisecond))
	wantResponse(t, "GET /hello through the router", first, http.StatusOK, "Hello, world!")
	if r := l.get(t, "/hello"); r.Body != "Hello, world!\n" {
		t.Errorf("GET /hello (warm): got %s, want exactly %q", r, "Hello, world!\n")
	}

	stdout, stderr, code := l.lantern(t, "fn", "test", "--name", "hello")
	if code != 0 || stdout != "Hello, world!\n" {
		t.Errorf("lantern fn test --name hello: exit %d, stdout %q, stderr %q; want exit 0 and %q", code, stdout, stderr, "Hello, world!\n")
	}

	wantContains(t, "env list", l.mustLantern(t, "env", "list"), "python")
	wantContains(t, "fn list", l.mustLantern(t, "fn", "list"), "hello")
	wantContains(t, "route list", l.mustLantern(t, "route", "list"), "/hello")
}

func wantContains(t *testing.T, what, got string, want ...string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(got, w) {
			t.Errorf("%s: output %q does not contain %q", what, got, w)
		}
	}
}

// TestQuickstartCLI is the quickstart against "lanternd all".
func TestQuickstartCLI(t *testing.T) {
	t.Parallel()
	l := startAll(t)
	quickstart(t, l)

	// -o json gives the stored objects.
	var fns []api.Function
	if err := json.Unmarshal([]byte(l.mustLantern(t, "fn", "list", "-o", "json")), &fns); err != nil {
		t.Fatalf("fn list -o json: %v", err)
	}
	if len(fns) != 1 || fns[0].Metadata.Name != "hello" || fns[0].Spec.Environment != "python" || fns[0].Metadata.UID == "" {
		t.Errorf("fn list -o json: got %+v, want the one function hello in env python with a UID", fns)
	}
	if err := l.Alive(); err != nil {
		t.Error(err)
	}
}

// TestSeparateRoles runs the controller, the poolmgr and the router as three
// processes talking over HTTP, and the quickstart through them.
func TestSeparateRoles(t *testing.T) {
	t.Parallel()
	l := startRoles(t)
	quickstart(t, l)

	// The poolmgr's API shows the specialized instance, a child of the
	// poolmgr process.
	r := do(t, http.MethodGet, l.PoolmgrURL+"/v1/instances", nil)
	var insts []api.Instance
	if err := json.Unmarshal([]byte(r.Body), &insts); r.Status != http.StatusOK || err != nil {
		t.Fatalf("GET poolmgr /v1/instances: %s (%v)", r, err)
	}
	found := false
	for _, in := range insts {
		if in.Function == "hello" && in.State == api.StateReady {
			found = true
			if ppid := testenv.ParentPID(in.PID); ppid != l.PID() {
				t.Errorf("instance %s has pid %d whose parent is %d, want the poolmgr (%d)", in.ID, in.PID, ppid, l.PID())
			}
		}
	}
	if !found {
		t.Errorf("poolmgr lists no ready instance of hello: %+v", insts)
	}
	// The controller shows them too, asking the poolmgr over HTTP, and an
	// instance's address answers as the function.
	var listed []api.Instance
	if out := l.mustLantern(t, "fn", "instances", "--name", "hello", "-o", "json"); json.Unmarshal([]byte(out), &listed) != nil || len(listed) != 1 {
		t.Fatalf("lantern fn instances --name hello -o json: got %q, want the one instance", out)
	}
	if in := listed[0]; in.Function != "hello" || in.State != api.StateReady || testenv.ParentPID(in.PID) != l.PID() {
		t.Errorf("lantern fn instances: got %+v, want hello's ready instance, a child of the poolmgr (%d)", in, l.PID())
	}
	wantResponse(t, "GET the listed instance's address", do(t, http.MethodGet, "http://"+listed[0].Address+"/", nil), http.StatusOK, "Hello, world!")
	// The router also serves /fn/<ns>/<name>.
	wantResponse(t, "GET /fn/default/hello", l.get(t, "/fn/default/hello"), http.StatusOK, "Hello, world!")

	// A restarted controller keeps its state, and the router and poolmgr
	// watch it again: a function created afterwards is served.
	l.RestartRole("controller")
	wantResponse(t, "GET /hello after the controller restarted", l.get(t, "/hello"), http.StatusOK, "Hello, world!")
	l.mustLantern(t, "fn", "create", "--name", "later", "--env", "python", "--code", fixture("python", "hello_v2.py"))
	l.mustLantern(t, "route", "create", "--name", "later", "--function", "later", "--url", "/later")
	eventually(t, 10*time.Second, 100*time.Millisecond, "a function created after the controller restarted answers", func() error {
		if r := l.get(t, "/later"); r.Status != http.StatusOK || !strings.Contains(r.Body, "version two") {
			return fmt.Errorf("GET /later: %s", r)
		}
		return nil
	})
	// A restarted router finds the functions and instances again.
	l.RestartRole("router")
	wantResponse(t, "GET /hello after the router restarted", l.get(t, "/hello"), http.StatusOK, "Hello, world!")
	if err := l.Alive(); err != nil {
		t.Error(err)
	}
}
