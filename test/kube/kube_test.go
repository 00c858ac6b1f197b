package kube

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lantern-faas/lantern/test/kubeenv"
	"github.com/lantern-faas/lantern/test/testenv"
)

// Set up once by TestMain.
var (
	cluster *kubeenv.Cluster
	binDir  string
	root    string
	lantern *lanternd
)

func TestMain(m *testing.M) { os.Exit(run(m)) }

func run(m *testing.M) int {
	fail := func(err error) int { fmt.Fprintln(os.Stderr, "test/kube setup:", err); return 1 }
	var err error
	if root, err = testenv.RepoRoot(); err != nil {
		return fail(err)
	}
	dir, err := os.MkdirTemp("", "lantern-kube-")
	if err != nil {
		return fail(err)
	}
	if os.Getenv("LANTERN_E2E_KEEP") == "" {
		defer os.RemoveAll(dir)
	}
	// The chart's pods run the binaries as a user of their own (65532).
	if err := os.Chmod(dir, 0o755); err != nil {
		return fail(err)
	}
	binDir = filepath.Join(dir, "bin")
	built := make(chan error, 1)
	go func() { built <- testenv.BuildBinaries(binDir, os.Getenv("LANTERN_E2E_RACE") != "0") }()
	began := time.Now()
	c, err := kubeenv.Start(filepath.Join(dir, "cluster"))
	if err != nil {
		<-built
		return fail(err)
	}
	defer c.Stop()
	fmt.Printf("etcd and kube-apiserver ready in %s\n", c.Started.Round(time.Millisecond))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := c.ApplyCRDs(ctx); err != nil {
		<-built
		return fail(fmt.Errorf("%w\n%s", err, c.Logs(20)))
	}
	fmt.Printf("CRDs established %s after start\n", time.Since(began).Round(time.Millisecond))
	if err := <-built; err != nil {
		return fail(err)
	}
	cluster = c
	l, err := startLanternd(c, filepath.Join(dir, "lanternd"))
	if err != nil {
		return fail(err)
	}
	defer l.stop()
	lantern = l
	code := m.Run()
	if code != 0 {
		fmt.Fprintf(os.Stderr, "lanternd log tail:\n%s\n%s", l.proc.Tail(60), c.Logs(20))
	}
	return code
}

// lanternd is `lanternd all --backend kubernetes`.
type lanternd struct {
	proc                *testenv.Proc
	apiURL, routerURL   string
	dir                 string
	api, router, reaper string
}

func startLanternd(c *kubeenv.Cluster, dir string, extra ...string) (*lanternd, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	l := &lanternd{dir: dir}
	p, addrs, err := testenv.Launch(3, 30*time.Second, 40, func(addrs []string, attempt int) (*testenv.Proc, []string, error) {
		p, err := testenv.StartProc("lanternd", filepath.Join(dir, fmt.Sprintf("lanternd-%d.log", attempt)), dir, testenv.CleanEnv(),
			filepath.Join(binDir, "lanternd"), append([]string{"all", "--backend", "kubernetes", "--kubeconfig", c.Kubeconfig,
				"--data-dir", filepath.Join(dir, "data"), "--api-addr", addrs[0], "--router-addr", addrs[1], "--metrics-addr", addrs[2],
				"--runtimes-dir", filepath.Join(root, "platform", "environments"), "--log-format", "text", "--nats-addr", "127.0.0.1:0"}, extra...)...)
		if err != nil {
			return nil, nil, err
		}
		return p, []string{"http://" + addrs[0] + "/healthz", "http://" + addrs[1] + "/router-healthz"}, nil
	})
	if err != nil {
		return nil, err
	}
	l.proc, l.apiURL, l.routerURL = p, "http://"+addrs[0], "http://"+addrs[1]
	return l, nil
}

func (l *lanternd) stop() {
	if _, err := l.proc.Terminate(15 * time.Second); err != nil {
		fmt.Fprintln(os.Stderr, err)
	}
}

// cli runs the lantern CLI against the shared lanternd.
func cli(t *testing.T, args ...string) (string, error) {
	t.Helper()
	return cliAt(t, lantern, args...)
}

// cliAt runs the lantern CLI against l.
func cliAt(t *testing.T, l *lanternd, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(binDir, "lantern"), args...)
	cmd.Env = append(testenv.CleanEnv(), "LANTERN_URL="+l.apiURL, "LANTERN_ROUTER_URL="+l.routerURL, "GORACE=atexit_sleep_ms=0")
	out, err := cmd.CombinedOutput()
	t.Logf("$ lantern %s\n%s", strings.Join(args, " "), out)
	if err != nil {
		return string(out), fmt.Errorf("lantern %s: %w\n%s", strings.Join(args, " "), err, out)
	}
	return string(out), nil
}

func mustCLI(t *testing.T, args ...string) string {
	t.Helper()
	out, err := cli(t, args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func kubectl(t *testing.T, stdin string, args ...string) (string, error) {
	t.Helper()
	out, err := cluster.Kubectl(t.Context(), stdin, args...)
	t.Logf("$ kubectl %s\n%s", strings.Join(args, " "), out)
	return out, err
}

// call GETs a path through the shared lanternd's router, retrying while
// the route is not there yet, and returns the body of the first 200.
func call(t *testing.T, path string) string {
	t.Helper()
	return callAt(t, lantern, path)
}

func callAt(t *testing.T, l *lanternd, path string) string {
	t.Helper()
	return getOK(t, l.routerURL+path)
}

// getOK GETs url until it answers 200, for up to 60s, and returns the body.
func getOK(t *testing.T, url string) string {
	t.Helper()
	hc := &http.Client{Timeout: 30 * time.Second}
	var last string
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		resp, err := hc.Get(url)
		if err != nil {
			last = err.Error()
			continue
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			return string(body)
		}
		last = fmt.Sprintf("%s: %s", resp.Status, body)
	}
	t.Fatalf("GET %s: got %s, want 200 within 60s", url, last)
	return ""
}

func fixture(parts ...string) string {
	return filepath.Join(append([]string{root, "test", "fixtures", "functions"}, parts...)...)
}

// TestCLI creates an environment, a function and a route with the lantern
// CLI, calls the function through the router, and sees the objects with
// kubectl.
func TestCLI(t *testing.T) {
	mustCLI(t, "env", "create", "--name", "python", "--runtime", "python", "--poolsize", "1")
	mustCLI(t, "fn", "create", "--name", "hello", "--env", "python", "--code", fixture("python", "hello.py"))
	mustCLI(t, "route", "create", "--name", "hello", "--function", "hello", "--url", "/hello")
	began := time.Now()
	if got, want := call(t, "/hello"), "Hello, world!\n"; got != want {
		t.Fatalf("GET /hello: got %q, want %q", got, want)
	}
	t.Logf("first call answered in %v", time.Since(began).Round(time.Millisecond))

	out, err := kubectl(t, "", "get", "functions.lantern.dev")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"NAME", "ENVIRONMENT", "ENTRYPOINT", "PACKAGE", "hello", "python", "hello.py"} {
		if !strings.Contains(out, want) {
			t.Errorf("kubectl get functions: got\n%s\nwant it to show %q", out, want)
		}
	}
	out, err = kubectl(t, "", "get", "httptriggers.lantern.dev", "hello", "-o", "jsonpath={.spec.relativeurl} {.spec.functionref.name} {.spec.methods}")
	if err != nil || !strings.Contains(out, "/hello hello") || !strings.Contains(out, "GET") {
		t.Fatalf("kubectl get httptrigger: got %q, %v; want /hello, hello and GET", out, err)
	}
	// The package is a ConfigMap in lanternd's namespace.
	out, err = kubectl(t, "", "get", "configmaps", "-l", "lantern.dev/package=true", "-o", "name")
	if err != nil || !strings.Contains(out, "configmap/lantern-pkg-") {
		t.Fatalf("package ConfigMaps: got %q, %v; want one", out, err)
	}

	// An update through the CLI is seen by kubectl and the router.
	mustCLI(t, "fn", "update", "--name", "hello", "--code", fixture("python", "hello_v2.py"))
	eventually(t, 20*time.Second, func() error {
		if got := call(t, "/hello"); got == "Hello, world!\n" {
			return errors.New("still the old code")
		}
		return nil
	})
}

// TestTriggers creates a timer and a message queue trigger with the CLI on
// the Kubernetes backend: both are custom resources kubectl shows, and the
// timer calls its function through the router.
func TestTriggers(t *testing.T) {
	mustCLI(t, "env", "create", "--name", "trpy", "--runtime", "python", "--poolsize", "1")
	mustCLI(t, "fn", "create", "--name", "ticked", "--env", "trpy", "--code", fixture("python", "hello.py"))
	mustCLI(t, "timer", "create", "--name", "every-second", "--function", "ticked", "--cron", "@every 1s")
	mustCLI(t, "mqt", "create", "--name", "orders", "--function", "ticked", "--mqtype", "nats", "--topic", "orders", "--maxretries", "2")

	out, err := kubectl(t, "", "get", "timetriggers.lantern.dev")
	if err != nil || !strings.Contains(out, "every-second") || !strings.Contains(out, "@every 1s") || !strings.Contains(out, "ticked") {
		t.Errorf("kubectl get timetriggers: got %q, %v; want every-second, @every 1s and ticked", out, err)
	}
	out, err = kubectl(t, "", "get", "messagequeuetriggers.lantern.dev", "orders", "-o", "jsonpath={.spec.messageQueueType} {.spec.topic} {.spec.maxRetries}")
	if err != nil || out != "nats orders 2" {
		t.Errorf("kubectl get messagequeuetrigger: got %q, %v; want \"nats orders 2\"", out, err)
	}
	if out := mustCLI(t, "timer", "list"); !strings.Contains(out, "every-second") {
		t.Errorf("lantern timer list:\n%s", out)
	}
	// The timer fires through the router: the function's calls counter
	// with trigger="timer" grows.
	eventually(t, 30*time.Second, func() error {
		text, err := metricsText(lantern)
		if err != nil {
			return err
		}
		if !strings.Contains(text, `lantern_function_calls_total{code="200",function="ticked",method="POST",namespace="default",trigger="timer"}`) {
			return errors.New("no timer call of ticked yet")
		}
		return nil
	})
	mustCLI(t, "timer", "delete", "--name", "every-second")
	mustCLI(t, "mqt", "delete", "--name", "orders")
	if out, err := kubectl(t, "", "get", "timetriggers.lantern.dev", "-o", "name"); err != nil || strings.Contains(out, "every-second") {
		t.Errorf("after delete, kubectl get timetriggers: %q, %v", out, err)
	}
}

// TestKubectl writes an environment, a function with its code as a literal
// and a route with kubectl; lantern lists them and the router serves it.
func TestKubectl(t *testing.T) {
	code := "def main():\n    return 'from kubectl\\n'\n"
	manifest := fmt.Sprintf(`apiVersion: lantern.dev/v1
kind: Environment
metadata: {name: kpy}
spec: {runtime: python, poolsize: 1}
---
apiVersion: lantern.dev/v1
kind: Function
metadata: {name: kfn}
spec:
  environment: kpy
  package: {filename: kfn.py, literal: %s}
---
apiVersion: lantern.dev/v1
kind: HTTPTrigger
metadata: {name: kfn}
spec:
  relativeurl: /kfn
  functionref: {name: kfn}
`, base64.StdEncoding.EncodeToString([]byte(code)))
	if _, err := kubectl(t, manifest, "apply", "-f", "-"); err != nil {
		t.Fatal(err)
	}
	if got, want := call(t, "/kfn"), "from kubectl\n"; got != want {
		t.Fatalf("GET /kfn: got %q, want %q", got, want)
	}
	eventually(t, 10*time.Second, func() error {
		out, err := cli(t, "fn", "list")
		if err != nil {
			return err
		}
		if !strings.Contains(out, "kfn") || !strings.Contains(out, "kpy") {
			return fmt.Errorf("lantern fn list: got\n%s\nwant kfn in environment kpy", out)
		}
		return nil
	})
	if out := mustCLI(t, "fn", "get", "--name", "kfn"); !strings.Contains(out, "kfn.py") {
		t.Errorf("lantern fn get: got %q, want the package kfn.py", out)
	}
	resp, err := http.Get(lantern.apiURL + "/v1/namespaces/default/functions/kfn/package")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || string(body) != code {
		t.Errorf("GET the package of kfn: got %s %q, want 200 %q", resp.Status, body, code)
	}
	// A route added with kubectl reaches the router through the informers:
	// how long from kubectl's answer to the router's first 200.
	if _, err := kubectl(t, "apiVersion: lantern.dev/v1\nkind: HTTPTrigger\nmetadata: {name: kfn2}\nspec: {relativeurl: /kfn2, functionref: {name: kfn}}\n", "apply", "-f", "-"); err != nil {
		t.Fatal(err)
	}
	applied := time.Now()
	eventually(t, 10*time.Second, func() error {
		resp, err := http.Get(lantern.routerURL + "/kfn2")
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("GET /kfn2: got %s, want 200", resp.Status)
		}
		return nil
	})
	visible := time.Since(applied)
	t.Logf("a route applied with kubectl served by the router after %v", visible.Round(time.Millisecond))
	if visible > 2*time.Second {
		t.Errorf("a route applied with kubectl took %v to reach the router, want ≤ 1 s (2 s with slack for a loaded machine)", visible)
	}
	if _, err := kubectl(t, "", "delete", "httptrigger.lantern.dev/kfn", "httptrigger.lantern.dev/kfn2"); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, func() error {
		resp, err := http.Get(lantern.routerURL + "/kfn")
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound {
			return fmt.Errorf("GET /kfn after kubectl delete: got %s, want 404", resp.Status)
		}
		return nil
	})
}

// TestRejected applies bad objects with kubectl: the API server refuses
// each with a message that names the field and what is allowed.
func TestRejected(t *testing.T) {
	tests := []struct {
		name     string
		manifest string
		want     []string
	}{
		{"negative concurrency", `apiVersion: lantern.dev/v1
kind: Function
metadata: {name: neg}
spec: {environment: python, concurrency: -1, package: {filename: a.py, literal: YQ==}}
`, []string{"spec.concurrency", "should be greater than or equal to 1"}},
		{"no environment", `apiVersion: lantern.dev/v1
kind: Function
metadata: {name: noenv}
spec: {package: {filename: a.py, literal: YQ==}}
`, []string{"spec.environment", "Required value"}},
		{"no code", `apiVersion: lantern.dev/v1
kind: Function
metadata: {name: nocode}
spec: {environment: python, package: {filename: a.py}}
`, []string{"spec.package.literal: Invalid value", "set spec.package.literal"}},
		{"dotted name", `apiVersion: lantern.dev/v1
kind: Function
metadata: {name: a.b}
spec: {environment: python, package: {filename: a.py, literal: YQ==}}
`, []string{"metadata.name must be a DNS-1123 label"}},
		{"unknown runtime", `apiVersion: lantern.dev/v1
kind: Environment
metadata: {name: ruby}
spec: {runtime: ruby}
`, []string{"spec.runtime", `Unsupported value: "ruby"`, `"python"`}},
		{"runtime and command", `apiVersion: lantern.dev/v1
kind: Environment
metadata: {name: both}
spec: {runtime: python, command: ./run}
`, []string{"spec.command: Invalid value", "either spec.runtime or spec.command"}},
		{"negative poolsize", `apiVersion: lantern.dev/v1
kind: Environment
metadata: {name: negpool}
spec: {runtime: python, poolsize: -3}
`, []string{"spec.poolsize", "greater than or equal to 0"}},
		{"url and prefix", `apiVersion: lantern.dev/v1
kind: HTTPTrigger
metadata: {name: both}
spec: {relativeurl: /a, prefix: /b, functionref: {name: hello}}
`, []string{"spec.prefix: Invalid value", "exactly one of spec.relativeurl"}},
		{"bad method", `apiVersion: lantern.dev/v1
kind: HTTPTrigger
metadata: {name: badmethod}
spec: {relativeurl: /a, methods: [FETCH], functionref: {name: hello}}
`, []string{"spec.methods[0]", "FETCH"}},
		{"relative url", `apiVersion: lantern.dev/v1
kind: HTTPTrigger
metadata: {name: rel}
spec: {relativeurl: a/b, functionref: {name: hello}}
`, []string{"spec.relativeurl", "should match"}},
		{"bad schedule", `apiVersion: lantern.dev/v1
kind: TimeTrigger
metadata: {name: badcron}
spec: {cron: "every minute", functionref: {name: hello}}
`, []string{"spec.cron", "should match"}},
		{"unknown queue type", `apiVersion: lantern.dev/v1
kind: MessageQueueTrigger
metadata: {name: rabbit}
spec: {messageQueueType: rabbitmq, topic: orders, functionref: {name: hello}}
`, []string{"spec.messageQueueType", `Unsupported value: "rabbitmq"`, `"nats"`}},
		{"negative retries", `apiVersion: lantern.dev/v1
kind: MessageQueueTrigger
metadata: {name: negretry}
spec: {messageQueueType: nats, topic: orders, maxRetries: -1, functionref: {name: hello}}
`, []string{"spec.maxRetries", "greater than or equal to 0"}},
		{"wildcard topic", `apiVersion: lantern.dev/v1
kind: MessageQueueTrigger
metadata: {name: wild}
spec: {messageQueueType: nats, topic: "orders.*", functionref: {name: hello}}
`, []string{"spec.topic", "should match"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { wantRefused(t, tt.manifest, tt.want) })
	}
}

// TestCodeTooLarge: the CLI gets the Kubernetes backend's package limit as
// a clear error.
func TestCodeTooLarge(t *testing.T) {
	mustCLI(t, "env", "create", "--name", "bigenv", "--runtime", "python", "--poolsize", "0")
	big := filepath.Join(t.TempDir(), "big.py")
	if err := os.WriteFile(big, bytes.Repeat([]byte("# padding\n"), 120_000), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := cli(t, "fn", "create", "--name", "big", "--env", "bigenv", "--code", big)
	if err == nil || !strings.Contains(out, "limit") {
		t.Fatalf("lantern fn create with 1.2 MB of code: got %v\n%s\nwant an error naming the limit", err, out)
	}
}

func eventually(t *testing.T, timeout time.Duration, f func() error) {
	t.Helper()
	eventuallyEvery(t, timeout, 10*time.Millisecond, f)
}

// eventuallyEvery is eventually, trying every interval: for checks that
// cost a query each.
func eventuallyEvery(t *testing.T, timeout, interval time.Duration, f func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal(err)
		}
		time.Sleep(interval)
	}
}

// TestStatus: the Function's status subresource tells the truth: ready
// instances after a call and after idle reaping, the last cold start, and
// the error of a function that fails to load.
func TestStatus(t *testing.T) {
	mustCLI(t, "env", "create", "--name", "stenv", "--runtime", "python", "--poolsize", "1")
	mustCLI(t, "fn", "create", "--name", "brief", "--env", "stenv", "--code", fixture("python", "hello.py"), "--idletimeout", "2")
	mustCLI(t, "route", "create", "--name", "brief", "--function", "brief", "--url", "/brief")
	call(t, "/brief")
	status := func(name string) string {
		out, err := cluster.Kubectl(t.Context(), "", "get", "functions.lantern.dev", name, "-o",
			`jsonpath={.status.readyInstances}|{.status.lastColdStart}|{.status.lastError}`)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	eventually(t, 10*time.Second, func() error {
		if got := status("brief"); !strings.HasPrefix(got, "1|20") || !strings.HasSuffix(got, "|") {
			return fmt.Errorf("status of brief after a call: got %q, want 1 ready instance, a cold start time and no error", got)
		}
		return nil
	})
	eventually(t, 20*time.Second, func() error {
		if got := status("brief"); !strings.HasPrefix(got, "0|20") {
			return fmt.Errorf("status of brief after its idle timeout: got %q, want 0 ready instances", got)
		}
		return nil
	})

	envStatus := func(name string) string {
		out, err := cluster.Kubectl(t.Context(), "", "get", "environments.lantern.dev", name, "-o", `jsonpath={.status.readyInstances}|{.status.lastError}`)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	eventually(t, 10*time.Second, func() error {
		if got := envStatus("stenv"); got != "1|" {
			return fmt.Errorf("status of environment stenv (poolsize 1): got %q, want 1 ready instance and no error", got)
		}
		return nil
	})
	mustCLI(t, "env", "create", "--name", "badenv", "--command", "exit 3", "--poolsize", "1")
	eventually(t, 15*time.Second, func() error {
		if got := envStatus("badenv"); !strings.HasPrefix(got, "0|") || len(got) < 5 {
			return fmt.Errorf("status of environment badenv (its command exits): got %q, want 0 ready instances and the start error", got)
		}
		return nil
	})
	t.Logf("badenv status: %s", envStatus("badenv"))

	mustCLI(t, "fn", "create", "--name", "broken", "--env", "stenv", "--code", fixture("python", "syntaxerror.py"))
	mustCLI(t, "route", "create", "--name", "broken", "--function", "broken", "--url", "/broken")
	eventually(t, 30*time.Second, func() error {
		resp, err := http.Get(lantern.routerURL + "/broken")
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadGateway {
			return fmt.Errorf("GET /broken: got %s, want 502", resp.Status)
		}
		return nil
	})
	eventually(t, 10*time.Second, func() error {
		if got := status("broken"); !strings.HasPrefix(got, "0||") || !strings.Contains(got, "failed to load") {
			return fmt.Errorf("status of broken: got %q, want 0 ready, no cold start and the load error", got)
		}
		return nil
	})
}

// metricsText returns lanternd's /metrics (on the API address in all).
func metricsText(l *lanternd) (string, error) {
	resp, err := http.Get(l.apiURL + "/metrics")
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return string(body), err
}

// wantRefused applies manifest with kubectl and wants it refused with a
// message saying each of want.
func wantRefused(t *testing.T, manifest string, want []string) {
	t.Helper()
	out, err := kubectl(t, manifest, "apply", "-f", "-")
	if err == nil {
		t.Fatalf("kubectl apply: got success, want a refusal\n%s", out)
	}
	for _, w := range want {
		if !strings.Contains(out, w) {
			t.Errorf("kubectl apply: got\n%s\nwant it to say %q", out, w)
		}
	}
}
