package kube

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lantern-faas/lantern/test/kubeenv"
	"github.com/lantern-faas/lantern/test/testenv"
)

// helm runs helm against the shared cluster with its state in a private
// folder.
func helm(t *testing.T, stdin string, args ...string) (string, error) {
	t.Helper()
	return helmAt(t, cluster.Kubeconfig, stdin, args...)
}

// helmAt runs helm against the cluster of a kubeconfig.
func helmAt(t *testing.T, kubeconfig, stdin string, args ...string) (string, error) {
	t.Helper()
	// Not t.Context(): helm also runs in cleanups, after it ends.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	home := filepath.Join(os.TempDir(), "lantern-kube-helm")
	cmd := exec.CommandContext(ctx, cluster.Tools.Helm, args...)
	cmd.Dir = root
	cmd.Env = append(testenv.CleanEnv(), "KUBECONFIG="+kubeconfig,
		"HELM_CACHE_HOME="+filepath.Join(home, "cache"), "HELM_CONFIG_HOME="+filepath.Join(home, "config"),
		"HELM_DATA_HOME="+filepath.Join(home, "data"))
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if err != nil {
		return stdout.String() + stderr.String(), fmt.Errorf("helm %s: %w\n%s%s", strings.Join(args, " "), err, stdout.String(), stderr.String())
	}
	return stdout.String(), nil
}

// TestHelmChart lints the chart, validates what it renders against the API
// server (schemas of every kind, RBAC objects), installs it, and runs the
// controller with the ServiceAccount token the chart's RBAC gives it: the
// rules are enough for the API's work, and the other roles get nothing.
func TestHelmChart(t *testing.T) {
	const ns = "lantern-helm"
	chart := filepath.Join("charts", "lantern")
	out, err := helm(t, "", "lint", chart)
	if err != nil || strings.Contains(out, "[WARNING]") || strings.Contains(out, "[ERROR]") {
		t.Fatalf("helm lint: got %v\n%s\nwant no warnings or errors", err, out)
	}
	if _, err := kubectl(t, "", "create", "namespace", ns); err != nil {
		t.Fatal(err)
	}
	caPEM, err := kubeenv.ServingCert(filepath.Join(t.TempDir(), "webhook"), "t-controller."+ns+".svc")
	if err != nil {
		t.Fatal(err)
	}
	caFile := filepath.Join(t.TempDir(), "ca.crt")
	if err := os.WriteFile(caFile, caPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	variants := [][]string{
		nil,
		{"--set", "influxdb.enabled=true,logger.kind=DaemonSet,router.service.type=NodePort,router.service.nodePort=30080,controller.service.type=LoadBalancer"},
		{"--set", "logger.enabled=false,dashboards.enabled=false,metrics.podAnnotations=false,controller.webhook.enabled=false"},
		{"--set", "poolmgr.instances=pods"},
		{"--set", "controller.webhook.failurePolicy=Ignore,controller.webhook.timeoutSeconds=2,controller.webhook.tls.secretName=my-tls,controller.webhook.namespaceSelector.matchLabels.team=a",
			"--set-file", "controller.webhook.tls.caBundle=" + caFile},
		{"--set", "poolmgr.instances=pods,fluentd.enabled=true,influxdb.enabled=true"},
		{"--set", "poolmgr.instances=pods,logger.podLogs.enabled=false,logger.kind=Deployment"},
	}
	for i, v := range variants {
		manifest, err := helm(t, "", append([]string{"template", "t", chart, "--include-crds", "--namespace", ns}, v...)...)
		if err != nil {
			t.Fatal(err)
		}
		if out, err := kubectl(t, manifest, "apply", "--dry-run=server", "-n", ns, "-f", "-"); err != nil {
			t.Fatalf("variant %d %v: kubectl apply --dry-run=server: %v\n%s", i, v, err, out)
		}
	}
	// Webhook values that cannot work fail the render, naming the value.
	for _, bad := range []struct{ set, want string }{
		{"controller.webhook.failurePolicy=Never", "controller.webhook.failurePolicy=\"Never\": use Fail or Ignore"},
		{"controller.webhook.timeoutSeconds=60", "controller.webhook.timeoutSeconds=60: the API server allows 1 to 30"},
		{"controller.webhook.tls.secretName=my-tls", "controller.webhook.tls.caBundle is required with controller.webhook.tls.secretName"},
	} {
		if out, err := helm(t, "", "template", "t", chart, "--namespace", ns, "--set", bad.set); err == nil || !strings.Contains(out, bad.want) {
			t.Errorf("helm template --set %s: got %v\n%s\nwant an error saying %q", bad.set, err, out, bad.want)
		}
	}
	// With pool pods, the logger is a DaemonSet reading each node's pod
	// logs; the Fluentd configuration forwards them to it.
	manifest, err := helm(t, "", "template", "t", chart, "--namespace", ns, "--set", "poolmgr.instances=pods,fluentd.enabled=true")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"kind: DaemonSet", "hostPath: {path: /var/log/pods, type: Directory}", "mountPath: /var/log/pods, readOnly: true",
		"fieldPath: spec.nodeName", "--pod-logs-dir=/var/log/pods", "--node-name=$(NODE_NAME)", "--pods-namespace=" + ns, "--pod-logs-forwarded",
		"name: t-fluentd", "path /var/log/pods/" + ns + "_lantern-*/runtime/*.log", "tag lantern.pod.*", "host t-logger." + ns + ".svc"} {
		if !strings.Contains(manifest, want) {
			t.Errorf("helm template with pool pods and Fluentd: want %q in the output", want)
		}
	}
	if manifest, err = helm(t, "", "template", "t", chart, "--namespace", ns, "--set", "poolmgr.instances=pods,logger.podLogs.enabled=false"); err != nil {
		t.Fatal(err)
	} else if strings.Contains(manifest, "kind: DaemonSet") || strings.Contains(manifest, "hostPath") {
		t.Error("helm template with logger.podLogs.enabled=false: want no DaemonSet and no hostPath")
	}
	// The optional Prometheus Operator objects render with the alert rules.
	manifest, err = helm(t, "", "template", "t", chart, "--namespace", ns, "--set", "metrics.serviceMonitor.enabled=true,metrics.prometheusRule.enabled=true")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"kind: ServiceMonitor", "kind: PrometheusRule", "alert: LanternFunctionHighErrorRatio", "jobLabel: lantern.dev/job", "grafana_dashboard: \"1\"", "lantern-overview.json"} {
		if !strings.Contains(manifest, want) {
			t.Errorf("helm template with monitoring: want %q in the output", want)
		}
	}

	if _, err := helm(t, "", "install", "t", chart, "--namespace", ns); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if _, err := helm(t, "", "uninstall", "t", "--namespace", ns); err != nil {
			t.Error(err)
		}
	})
	out, err = kubectl(t, "", "get", "deployments,services,serviceaccounts,configmaps,secrets,validatingwebhookconfigurations", "-n", ns, "-o", "name")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"deployment.apps/t-controller", "deployment.apps/t-poolmgr", "deployment.apps/t-router", "deployment.apps/t-logger",
		"service/t-router", "serviceaccount/t-controller", "configmap/t-dashboards", "secret/t-controller-webhook-tls",
		"validatingwebhookconfiguration.admissionregistration.k8s.io/t-webhook"} {
		if !strings.Contains(out, want) {
			t.Errorf("after helm install: want %s among\n%s", want, out)
		}
	}

	// Least privilege: what each role's ServiceAccount may do.
	sa := func(role string) string { return "system:serviceaccount:" + ns + ":t-" + role }
	type check struct {
		as, verb, resource string
		want               string
	}
	canI := func(checks []check) {
		t.Helper()
		for _, c := range checks {
			args := []string{"auth", "can-i", c.verb, c.resource, "-n", ns, "--as", c.as}
			if res, sub, ok := strings.Cut(c.resource, "/"); ok {
				args = []string{"auth", "can-i", c.verb, res, "--subresource", sub, "-n", ns, "--as", c.as}
			}
			if in, ok := strings.CutPrefix(c.verb, "default:"); ok { // asked in another namespace
				args[2], args[5] = in, "default"
			}
			out, _ := cluster.Kubectl(t.Context(), "", args...)
			lines := strings.Split(strings.TrimSpace(out), "\n") // the answer is last, after any warning
			if got := lines[len(lines)-1]; got != c.want {
				t.Errorf("can %s %s %s: got %q, want %q", c.as, c.verb, c.resource, got, c.want)
			}
		}
	}
	checks := []check{
		// resource/subresource: asked with --subresource.
		{sa("controller"), "create", "functions.lantern.dev", "yes"},
		{sa("controller"), "watch", "httptriggers.lantern.dev", "yes"},
		{sa("controller"), "create", "configmaps", "yes"},
		{sa("controller"), "list", "secrets", "no"},
		{sa("controller"), "create", "pods", "no"},
		{sa("router"), "list", "functions.lantern.dev", "no"},
		{sa("poolmgr"), "get", "configmaps", "no"},
		{sa("poolmgr"), "patch", "functions.lantern.dev/status", "yes"},
		{sa("poolmgr"), "patch", "environments.lantern.dev/status", "yes"},
		{sa("poolmgr"), "update", "functions.lantern.dev", "no"},
		{sa("poolmgr"), "create", "pods", "no"}, // instances: process
		{sa("router"), "patch", "functions.lantern.dev/status", "no"},
		{sa("logger"), "list", "pods", "no"},
	}
	canI(checks)

	checkChartWebhook(t, ns, chart)

	// The controller works with exactly the chart's RBAC.
	token, err := cluster.Kubectl(t.Context(), "", "create", "token", "t-controller", "-n", ns)
	if err != nil {
		t.Fatal(err)
	}
	kubeconfig := filepath.Join(t.TempDir(), "controller.kubeconfig")
	cfg := fmt.Sprintf("apiVersion: v1\nkind: Config\nclusters: [{name: c, cluster: {server: %s, certificate-authority: %s}}]\nusers: [{name: u, user: {token: %s}}]\ncontexts: [{name: c, context: {cluster: c, user: u}}]\ncurrent-context: c\n",
		cluster.URL, filepath.Join(cluster.Dir, "pki", "ca.crt"), strings.TrimSpace(token))
	if err := os.WriteFile(kubeconfig, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	p, addrs, err := testenv.Launch(1, 30*time.Second, 40, func(addrs []string, attempt int) (*testenv.Proc, []string, error) {
		p, err := testenv.StartProc("controller", filepath.Join(dir, fmt.Sprintf("controller-%d.log", attempt)), dir, testenv.CleanEnv(),
			filepath.Join(binDir, "lanternd"), "controller", "--backend", "kubernetes", "--kubeconfig", kubeconfig,
			"--kube-namespace", ns, "--api-addr", addrs[0], "--data-dir", filepath.Join(dir, "data"), "--log-format", "text")
		return p, []string{"http://" + addrs[0] + "/healthz"}, err
	})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Kill()
	api := "http://" + addrs[0]
	run := func(args ...string) {
		t.Helper()
		cmd := exec.CommandContext(t.Context(), filepath.Join(binDir, "lantern"), append([]string{"--server", api, "--namespace", "default"}, args...)...)
		cmd.Env = append(testenv.CleanEnv(), "GORACE=atexit_sleep_ms=0")
		out, err := cmd.CombinedOutput()
		t.Logf("$ lantern %s\n%s", strings.Join(args, " "), out)
		if err != nil {
			t.Fatalf("lantern %s as the chart's controller: %v\n%s\ncontroller log:\n%s", strings.Join(args, " "), err, out, p.Tail(30))
		}
	}
	run("env", "create", "--name", "rbac-env", "--runtime", "python", "--poolsize", "0")
	run("fn", "create", "--name", "rbac-fn", "--env", "rbac-env", "--code", fixture("python", "hello.py"))
	out, err = kubectl(t, "", "get", "configmaps", "-n", ns, "-l", "lantern.dev/package=true", "-o", "name")
	if err != nil || !strings.Contains(out, "lantern-pkg-") {
		t.Fatalf("the package ConfigMap in %s: got %q, %v", ns, out, err)
	}
	run("fn", "delete", "--name", "rbac-fn")
	run("env", "delete", "--name", "rbac-env")

	// With pool pods: the logger DaemonSet's account reads the pods of the
	// release namespace, and does nothing else.
	if _, err := helm(t, "", "upgrade", "t", chart, "--namespace", ns, "--set", "poolmgr.instances=pods,fluentd.enabled=true"); err != nil {
		t.Fatal(err)
	}
	out, err = kubectl(t, "", "get", "daemonsets,deployments,configmaps,roles", "-n", ns, "-o", "name")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"daemonset.apps/t-logger", "configmap/t-fluentd", "role.rbac.authorization.k8s.io/t-logger-pods"} {
		if !strings.Contains(out, want) {
			t.Errorf("after helm upgrade with pool pods: want %s among\n%s", want, out)
		}
	}
	if strings.Contains(out, "deployment.apps/t-logger") {
		t.Errorf("after helm upgrade with pool pods: the logger Deployment is still there:\n%s", out)
	}
	canI([]check{
		{sa("logger"), "get", "pods", "yes"},
		{sa("logger"), "list", "pods", "yes"},
		{sa("logger"), "watch", "pods", "yes"},
		{sa("logger"), "create", "pods", "no"},
		{sa("logger"), "delete", "pods", "no"},
		{sa("logger"), "patch", "pods", "no"},
		{sa("logger"), "get", "pods/log", "no"},
		{sa("logger"), "list", "secrets", "no"},
		{sa("logger"), "get", "configmaps", "no"},
		{sa("logger"), "list", "functions.lantern.dev", "no"},
		{sa("logger"), "list", "nodes", "no"},
		{sa("logger"), "default:list", "pods", "no"}, // only the release namespace
		{sa("poolmgr"), "create", "pods", "yes"},
		{sa("router"), "list", "pods", "no"},
	})
}

// checkChartWebhook checks the webhook the chart installed: its
// configuration trusts the CA of the generated Secret, an upgrade keeps
// that CA, the controller Service exposes the webhook port, and the API
// server asks it (here it fails closed, naming it: the test API server has
// no pods behind the Service). It then removes the configuration, so that
// the rest of the test can write Lantern's objects.
func checkChartWebhook(t *testing.T, ns, chart string) {
	t.Helper()
	get := func(args ...string) string {
		t.Helper()
		out, err := cluster.Kubectl(t.Context(), "", args...)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	ca := get("get", "secret", "t-controller-webhook-tls", "-n", ns, "-o", "jsonpath={.data.ca\\.crt}")
	bundle := get("get", "validatingwebhookconfiguration", "t-webhook", "-o", "jsonpath={.webhooks[0].clientConfig.caBundle}")
	if ca == "" || bundle != ca {
		t.Errorf("webhook caBundle: got %.40q..., want the generated Secret's ca.crt %.40q...", bundle, ca)
	}
	if got := get("get", "validatingwebhookconfiguration", "t-webhook", "-o",
		"jsonpath={.webhooks[0].failurePolicy} {.webhooks[0].sideEffects} {.webhooks[0].timeoutSeconds} {.webhooks[0].rules[0].apiGroups} {.webhooks[0].clientConfig.service.name}"); got != `Fail None 5 ["lantern.dev"] t-controller` {
		t.Errorf("webhook: got %q, want failurePolicy Fail, sideEffects None, timeoutSeconds 5, only lantern.dev, the controller Service", got)
	}
	if got := get("get", "service", "t-controller", "-n", ns, "-o", `jsonpath={.spec.ports[?(@.name=="webhook")].port}`); got != "443" {
		t.Errorf("controller Service webhook port: got %q, want 443", got)
	}
	if _, err := helm(t, "", "upgrade", "t", chart, "--namespace", ns); err != nil {
		t.Fatal(err)
	}
	if after := get("get", "secret", "t-controller-webhook-tls", "-n", ns, "-o", "jsonpath={.data.ca\\.crt}"); after != ca {
		t.Errorf("after helm upgrade the webhook CA changed: the running controller's certificate would no longer be trusted")
	}
	env := "apiVersion: lantern.dev/v1\nkind: Environment\nmetadata: {name: chart-webhook}\nspec: {runtime: python, poolsize: 0}\n"
	out, err := kubectl(t, env, "apply", "--dry-run=server", "-f", "-")
	// The test API server routes to a Service's endpoints
	// (kubeenv: --enable-aggregator-routing), so the call never leaves
	// the machine.
	if err == nil || !strings.Contains(out, `failed calling webhook "validate.lantern.dev"`) || !strings.Contains(out, `no endpoints available for service "t-controller"`) {
		t.Errorf("kubectl apply with the chart's webhook registered and no controller pod: got %v\n%s\nwant an error naming the webhook and its Service without endpoints", err, out)
	}
	get("delete", "validatingwebhookconfiguration", "t-webhook")
}
