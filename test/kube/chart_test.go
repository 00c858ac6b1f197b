package kube

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"k8s.io/client-go/kubernetes"

	"github.com/lantern-faas/lantern/platform/api"
	"github.com/lantern-faas/lantern/test/kubeenv"
	"github.com/lantern-faas/lantern/test/kubenode"
	"github.com/lantern-faas/lantern/test/testenv"
)

// TestChartRuns installs the chart with helm into a cluster of its own with
// kube-controller-manager and a test node that schedules pods, runs them
// with their ServiceAccount's token mounted, and proxies Services: the
// chart's Deployments run bin/lanternd as on a real cluster, each role with
// its in-cluster config and the chart's RBAC. An environment, a function
// and a route made with the lantern CLI through the controller's Service;
// the function answers through the router's Service; the chart's webhook
// refuses a bad object written with kubectl. Then a verb taken out
// of the controller's Role: the CLI shows the API server's denial. Then
// helm upgrade to poolmgr.instances=pods: a pool pod serves the function.
func TestChartRuns(t *testing.T) {
	const ns, image, pyImage = "lantern-chart", "lantern/lanternd:test", "lantern/python-env:test"
	chart := filepath.Join("charts", "lantern")
	dir := t.TempDir()
	// The chart's pods run as a user of their own (runAsUser 65532): their
	// folders under dir must be reachable.
	for _, d := range []string{filepath.Dir(dir), dir} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	c, err := kubeenv.Start(filepath.Join(dir, "cluster"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Stop)
	ctx := t.Context()
	began := time.Now()
	if err := c.StartControllerManager(ctx); err != nil {
		t.Fatal(err)
	}
	t.Logf("kube-controller-manager working %v after start", time.Since(began).Round(time.Millisecond))
	cs := kubernetes.NewForConfigOrDie(c.Config)
	nodeDir := filepath.Join(dir, "node")
	node, err := kubenode.Start(ctx, cs, kubenode.Options{Name: "chart-node", Dir: nodeDir, FirstIP: 3, PodNetwork: "10.77",
		Images: map[string][]string{
			image:   {filepath.Join(binDir, "lanternd")},
			pyImage: {testenv.SystemPython, filepath.Join(root, "platform", "environments", "python", "server.py")},
		},
		ImageEnv:  map[string][]string{image: {"LANTERN_RUNTIMES_DIR=" + filepath.Join(root, "platform", "environments"), "GORACE=atexit_sleep_ms=0"}},
		APIServer: strings.TrimPrefix(c.URL, "https://"), MountVolumes: true, Services: true, Schedule: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(node.Stop)
	t.Cleanup(func() {
		if t.Failed() {
			logs, _ := filepath.Glob(filepath.Join(nodeDir, "pods", "*", "*", "*.log"))
			for _, l := range logs {
				t.Logf("--- %s:\n%s", l, testenv.TailFile(l, 30))
			}
			t.Logf("%s", c.Logs(20))
		}
	})

	installed := time.Now()
	if _, err := helmAt(t, c.Kubeconfig, "", "install", "t", chart, "--namespace", ns, "--create-namespace",
		"--set", "image.repository=lantern/lanternd,image.tag=test,logFormat=text"); err != nil {
		t.Fatal(err)
	}
	out, err := c.Kubectl(ctx, "", "wait", "-n", ns, "--for=condition=Available", "--timeout=90s",
		"deployment/t-controller", "deployment/t-poolmgr", "deployment/t-router", "deployment/t-logger")
	if err != nil {
		pods, _ := c.Kubectl(ctx, "", "get", "pods,endpointslices", "-n", ns, "-o", "wide")
		t.Fatalf("the chart's Deployments: %v\n%s", err, pods)
	}
	t.Logf("helm install to every Deployment Available: %v\n%s", time.Since(installed).Round(time.Millisecond), out)

	// Each role reaches the API server as its own ServiceAccount, with the
	// token the node mounted where client-go's in-cluster config reads it.
	for _, role := range []string{"controller", "poolmgr"} {
		out, err := c.Kubectl(ctx, "", "get", "pods", "-n", ns, "-l", "app.kubernetes.io/component="+role,
			"-o", "jsonpath={.items[0].spec.serviceAccountName} {.items[0].spec.volumes[*].projected.sources[*].serviceAccountToken.path}")
		if err != nil || out != "t-"+role+" token" {
			t.Errorf("the %s pod: got %q, %v; want ServiceAccount t-%s and a projected token", role, out, err, role)
		}
	}

	// As the chart's securityContext says: not root.
	for _, role := range []string{"controller", "poolmgr", "router", "logger"} {
		out, err := c.Kubectl(ctx, "", "get", "pods", "-n", ns, "-l", "app.kubernetes.io/component="+role, "-o", "jsonpath={.items[0].metadata.name}")
		if err != nil {
			t.Fatal(err)
		}
		pid := node.PIDs(ns, out)[role]
		if st, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid)); err != nil || !strings.Contains(string(st), "\nUid:\t65532\t65532\t65532\t65532\n") {
			t.Errorf("the %s container (pid %d): want it running as uid 65532; /proc status: %v\n%s", role, pid, err, st)
		}
	}

	ctrl, router := node.ServiceIP(ns, "t-controller"), node.ServiceIP(ns, "t-router")
	if ctrl == "" || router == "" {
		t.Fatalf("service addresses: controller %q, router %q", ctrl, router)
	}
	apiURL := "http://" + ctrl + ":8889"
	lantern := func(args ...string) (string, error) {
		t.Helper()
		cmd := exec.CommandContext(ctx, filepath.Join(binDir, "lantern"), append([]string{"--server", apiURL}, args...)...)
		cmd.Env = append(testenv.CleanEnv(), "GORACE=atexit_sleep_ms=0")
		out, err := cmd.CombinedOutput()
		t.Logf("$ lantern %s\n%s", strings.Join(args, " "), out)
		return string(out), err
	}
	hello := filepath.Join(t.TempDir(), "hello.py")
	if err := os.WriteFile(hello, []byte("def main():\n    print('chart says hello', flush=True)\n    return 'Hello, world!\\n'\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"env", "create", "--name", "python", "--runtime", "python", "--poolsize", "1"},
		{"fn", "create", "--name", "hello", "--env", "python", "--code", hello},
		{"route", "create", "--name", "hello", "--function", "hello", "--url", "/hello"},
	} {
		if out, err := lantern(args...); err != nil {
			t.Fatalf("lantern %s through the controller's Service: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	called := time.Now()
	if got, want := getOK(t, "http://"+router+"/hello"), "Hello, world!\n"; got != want {
		t.Fatalf("GET /hello through the router's Service: got %q, want %q", got, want)
	}
	t.Logf("first call through the router's Service answered %v after the route was made", time.Since(called).Round(time.Millisecond))

	// The poolmgr writes the environment's status with its own token, and
	// the function's output reaches the logger through its forward
	// Service; the controller reads it back through the logger's Service.
	eventually(t, 30*time.Second, func() error {
		out, err := c.Kubectl(ctx, "", "get", "environments.lantern.dev", "python", "-o", "jsonpath={.status.readyInstances}")
		if err != nil || out != "1" {
			return fmt.Errorf("environment python's status.readyInstances, written by the poolmgr: got %q, %v; want 1", out, err)
		}
		return nil
	})
	eventually(t, 30*time.Second, func() error {
		out, err := lantern("fn", "logs", "--name", "hello")
		if err != nil || !strings.Contains(out, "chart says hello") {
			return fmt.Errorf("lantern fn logs --name hello: got %v\n%s\nwant the function's line", err, out)
		}
		return nil
	})

	// The chart's admission webhook, served by the controller pod and
	// reached by the API server through the Service's EndpointSlice.
	_, err = c.Kubectl(ctx, "apiVersion: lantern.dev/v1\nkind: Function\nmetadata: {name: orphan}\nspec: {environment: nope, package: {filename: f.py, literal: ZGVm}}\n",
		"apply", "-f", "-")
	if want := `spec.environment: environment "nope" not found in namespace "default"`; err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("kubectl apply of a function naming a missing environment: got %v; want the webhook's refusal with %q", err, want)
	}

	// Least privilege, for real: without create on ConfigMaps the
	// controller cannot keep a package, and says why.
	if _, err := c.Kubectl(ctx, "", "patch", "role", "t-controller-packages", "-n", ns, "--type=json",
		"-p", `[{"op": "replace", "path": "/rules/0/verbs", "value": ["get", "delete"]}]`); err != nil {
		t.Fatal(err)
	}
	code := filepath.Join(t.TempDir(), "denied.py")
	if err := os.WriteFile(code, []byte("def main():\n    return 'denied'\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err = lantern("fn", "create", "--name", "denied", "--env", "python", "--code", code)
	want := `configmaps is forbidden: User "system:serviceaccount:` + ns + `:t-controller" cannot create resource "configmaps"`
	if err == nil || !strings.Contains(out, want) {
		t.Fatalf("lantern fn create without create on configmaps: got %v\n%s\nwant an error with %q", err, out, want)
	}

	// poolmgr.instances=pods: helm upgrade rolls the poolmgr over; it makes
	// pool pods with its ServiceAccount and the chart's pods Role, the node
	// binds and runs them, their fetcher reaches the controller through
	// its Service, and one of them serves the function.
	upgraded := time.Now()
	if _, err := helmAt(t, c.Kubeconfig, "", "upgrade", "t", chart, "--namespace", ns, "--reuse-values",
		"--set", "poolmgr.instances=pods,poolmgr.runtimeImages.python="+pyImage); err != nil {
		t.Fatal(err)
	}
	if out, err := c.Kubectl(ctx, "", "rollout", "status", "deployment/t-poolmgr", "-n", ns, "--timeout=90s"); err != nil {
		t.Fatalf("the poolmgr's rollout to instances=pods: %v\n%s", err, out)
	}
	eventually(t, 60*time.Second, func() error {
		if got, want := getOK(t, "http://"+router+"/hello"), "Hello, world!\n"; got != want {
			return fmt.Errorf("GET /hello: got %q, want %q", got, want)
		}
		out, err := c.Kubectl(ctx, "", "get", "pods", "-n", ns, "-l", "lantern.dev/environment=python",
			"-o", `jsonpath={range .items[*]}{.metadata.annotations.lantern\.dev/function} {.status.phase} {.spec.nodeName}{"\n"}{end}`)
		if err != nil || !strings.Contains(out, "hello Running chart-node") {
			return fmt.Errorf("pool pods of python (function, phase, node): got %q, %v; want one serving hello on chart-node", out, err)
		}
		return nil
	})
	t.Logf("helm upgrade to instances=pods until a pool pod served /hello: %v", time.Since(upgraded).Round(time.Millisecond))

	// With pool pods the logger is a DaemonSet: its pod on chart-node reads
	// the node's /var/log/pods (hostPath), where the node keeps the pool
	// pods' output, and attributes the function's line to it. Its store is
	// new: the line can only have come from the pod's log file.
	eventually(t, 90*time.Second, func() error {
		out, err := c.Kubectl(ctx, "", "get", "daemonset/t-logger", "-n", ns, "-o", "jsonpath={.status.desiredNumberScheduled} {.status.numberReady}")
		if err != nil || out != "1 1" {
			node, _ := c.Kubectl(ctx, "", "get", "node", "chart-node", "-o", "jsonpath={.spec}")
			return fmt.Errorf("the logger DaemonSet's pods (desired, ready): got %q, %v; want 1 1 (node chart-node's spec: %s)", out, err, node)
		}
		return nil
	})
	eventually(t, 60*time.Second, func() error {
		if got := getOK(t, "http://"+router+"/hello"); got != "Hello, world!\n" {
			return fmt.Errorf("GET /hello: got %q", got)
		}
		out, err := lantern("fn", "logs", "--name", "hello", "-o", "json")
		if err != nil {
			return fmt.Errorf("lantern fn logs --name hello after the upgrade: %v\n%s", err, out)
		}
		var recs []api.LogRecord // one JSON object a line
		for dec := json.NewDecoder(strings.NewReader(out)); dec.More(); {
			var r api.LogRecord
			if err := dec.Decode(&r); err != nil {
				return fmt.Errorf("lantern fn logs -o json: %v\n%s", err, out)
			}
			recs = append(recs, r)
		}
		pods, err := c.Kubectl(ctx, "", "get", "pods", "-n", ns, "-l", "lantern.dev/environment=python", "-o", `jsonpath={.items[*].metadata.labels.lantern\.dev/instance}`)
		if err != nil {
			return err
		}
		for _, r := range recs {
			if r.Message == "chart says hello" && slices.Contains(strings.Fields(pods), r.Instance) {
				return nil
			}
		}
		return fmt.Errorf("lantern fn logs --name hello after the upgrade: got %+v, want the function's line from one of the pool pods %s", recs, pods)
	})
	t.Logf("helm upgrade to instances=pods until the logger DaemonSet had the pool pod's line: %v", time.Since(upgraded).Round(time.Millisecond))
}
