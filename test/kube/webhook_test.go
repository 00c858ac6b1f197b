package kube

import (
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lantern-faas/lantern/test/kubeenv"
	"github.com/lantern-faas/lantern/test/testenv"
)

// webhookConfig is a ValidatingWebhookConfiguration named name whose one
// webhook (hook) sends the writes of Lantern's resources in the namespaces
// labelled lantern.dev/webhook-test=<ns> to url.
func webhookConfig(name, hook, url string, caPEM []byte, ns string, timeoutSeconds int) string {
	return fmt.Sprintf(`apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingWebhookConfiguration
metadata: {name: %s}
webhooks:
  - name: %s
    admissionReviewVersions: [v1]
    sideEffects: None
    failurePolicy: Fail
    timeoutSeconds: %d
    clientConfig: {url: %q, caBundle: %s}
    namespaceSelector: {matchLabels: {lantern.dev/webhook-test: %s}}
    rules:
      - apiGroups: [lantern.dev]
        apiVersions: [v1]
        operations: [CREATE, UPDATE, DELETE]
        resources: [environments, functions, httptriggers, timetriggers, messagequeuetriggers]
        scope: Namespaced
`, name, hook, timeoutSeconds, url, base64.StdEncoding.EncodeToString(caPEM), ns)
}

// webhookNamespace creates ns with the label the test configurations select.
func webhookNamespace(t *testing.T, ns string) {
	t.Helper()
	if _, err := kubectl(t, fmt.Sprintf("apiVersion: v1\nkind: Namespace\nmetadata: {name: %s, labels: {lantern.dev/webhook-test: %s}}\n", ns, ns), "apply", "-f", "-"); err != nil {
		t.Fatal(err)
	}
}

// registerWebhook applies a configuration and deletes it when the test
// ends.
func registerWebhook(t *testing.T, name, manifest string) {
	t.Helper()
	if _, err := kubectl(t, manifest, "apply", "-f", "-"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		// Not t.Context(): it has ended when cleanups run.
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if out, err := cluster.Kubectl(ctx, "", "delete", "validatingwebhookconfiguration", name, "--ignore-not-found"); err != nil {
			t.Errorf("delete the webhook configuration: %v\n%s", err, out)
		}
	})
}

// waitWebhook waits until the API server asks the webhook (its
// configurations reach admission a moment after they are written): a
// server-side dry run of manifest is refused with want.
func waitWebhook(t *testing.T, manifest, want string) {
	t.Helper()
	eventually(t, 30*time.Second, func() error {
		out, _ := cluster.Kubectl(t.Context(), manifest, "apply", "--dry-run=server", "-f", "-")
		if !strings.Contains(out, want) {
			return fmt.Errorf("the webhook is not asked yet: a dry run said %q, want %q", out, want)
		}
		return nil
	})
}

// TestWebhook runs `lanternd controller --webhook-addr` on loopback with
// a certificate of a test CA, registers it with the API server (url
// clientConfig, caBundle), and uses kubectl as a user would: objects the
// REST API refuses are refused with its messages, good ones are accepted,
// deletes the REST API refuses with 409 are refused, and with the webhook
// down kubectl fails at once naming it instead of hanging.
func TestWebhook(t *testing.T) {
	const ns = "wh"
	dir := t.TempDir()
	certDir := filepath.Join(dir, "certs")
	caPEM, err := kubeenv.ServingCert(certDir, "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	p, addrs, err := testenv.Launch(2, 30*time.Second, 40, func(addrs []string, attempt int) (*testenv.Proc, []string, error) {
		p, err := testenv.StartProc("controller", filepath.Join(dir, fmt.Sprintf("controller-%d.log", attempt)), dir, testenv.CleanEnv(),
			filepath.Join(binDir, "lanternd"), "controller", "--backend", "kubernetes", "--kubeconfig", cluster.Kubeconfig,
			"--api-addr", addrs[0], "--webhook-addr", addrs[1], "--webhook-cert-dir", certDir,
			"--data-dir", filepath.Join(dir, "data"), "--log-format", "text")
		return p, []string{"http://" + addrs[0] + "/healthz"}, err
	})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Kill()
	defer func() {
		if t.Failed() {
			t.Logf("controller log:\n%s", p.Tail(40))
		}
	}()
	webhookNamespace(t, ns)
	registerWebhook(t, "lantern-test", webhookConfig("lantern-test", "validate.lantern.dev", "https://"+addrs[1]+"/validate", caPEM, ns, 2))

	fn := func(name, env string) string {
		return fmt.Sprintf("apiVersion: lantern.dev/v1\nkind: Function\nmetadata: {name: %s, namespace: %s}\nspec: {environment: %s, package: {filename: a.py, literal: YQ==}}\n", name, ns, env)
	}
	const denied = `admission webhook "validate.lantern.dev" denied the request: `
	waitWebhook(t, fn("probe", "nope"), denied)

	t.Run("Rejected", func(t *testing.T) {
		tests := []struct {
			name, manifest string
			want           []string
		}{
			{"function without environment", fn("orphan", "nope"), []string{"Error from server (BadRequest)", denied +
				`spec.environment: environment "nope" not found in namespace "wh"; create it with 'lantern env create --name nope --runtime python', or see 'lantern env list'`}},
			{"route without function", `apiVersion: lantern.dev/v1
kind: HTTPTrigger
metadata: {name: ghost, namespace: wh}
spec: {relativeurl: /ghost, functionref: {name: ghost}}
`, []string{denied + `spec.functionref.name: function "ghost" not found in namespace "wh"; create it first with 'lantern fn create', or see 'lantern fn list'`}},
			{"timer without function", `apiVersion: lantern.dev/v1
kind: TimeTrigger
metadata: {name: ghost, namespace: wh}
spec: {cron: "0 3 * * *", functionref: {name: ghost}}
`, []string{denied + `spec.functionref.name: function "ghost" not found in namespace "wh"`}},
			{"message queue trigger without function", `apiVersion: lantern.dev/v1
kind: MessageQueueTrigger
metadata: {name: ghost, namespace: wh}
spec: {messageQueueType: nats, topic: orders, functionref: {name: ghost}}
`, []string{denied + `spec.functionref.name: function "ghost" not found in namespace "wh"`}},
			// The CRD's pattern lets these through; the controller's rules do not.
			{"timer with hour 25", `apiVersion: lantern.dev/v1
kind: TimeTrigger
metadata: {name: late, namespace: wh}
spec: {cron: "0 25 * * *", functionref: {name: ghost}}
`, []string{denied + "spec.cron: ", "above maximum"}},
			{"route on a reserved path", `apiVersion: lantern.dev/v1
kind: HTTPTrigger
metadata: {name: reserved, namespace: wh}
spec: {relativeurl: /fn/x, functionref: {name: ghost}}
`, []string{denied + `spec.relativeurl: "/fn/x" is reserved by the router`}},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) { wantRefused(t, tt.manifest, tt.want) })
		}
	})

	// Objects that refer to each other, applied in one go: each is
	// checked as soon as the one before it is created.
	good := fmt.Sprintf(`apiVersion: lantern.dev/v1
kind: Environment
metadata: {name: wh-env, namespace: wh}
spec: {runtime: python, poolsize: 0}
---
%s---
apiVersion: lantern.dev/v1
kind: HTTPTrigger
metadata: {name: wh-route, namespace: wh}
spec: {relativeurl: /wh, functionref: {name: wh-fn}}
---
apiVersion: lantern.dev/v1
kind: TimeTrigger
metadata: {name: wh-timer, namespace: wh}
spec: {cron: "0 3 * * *", functionref: {name: wh-fn}}
---
apiVersion: lantern.dev/v1
kind: MessageQueueTrigger
metadata: {name: wh-mqt, namespace: wh}
spec: {messageQueueType: nats, topic: wh, functionref: {name: wh-fn}}
`, fn("wh-fn", "wh-env"))
	if _, err := kubectl(t, good, "apply", "-f", "-"); err != nil {
		t.Fatalf("kubectl apply of an environment, a function and its triggers: %v", err)
	}

	t.Run("UpdateToMissingEnvironment", func(t *testing.T) {
		out, err := kubectl(t, fn("wh-fn", "gone"), "apply", "-f", "-")
		if err == nil || !strings.Contains(out, denied+`spec.environment: environment "gone" not found in namespace "wh"`) {
			t.Fatalf("kubectl apply of wh-fn naming a missing environment: got %v\n%s\nwant the webhook's refusal", err, out)
		}
	})
	t.Run("DeleteInUse", func(t *testing.T) {
		out, err := kubectl(t, "", "delete", "-n", ns, "environment.lantern.dev/wh-env")
		if err == nil || !strings.Contains(out, "Error from server (Conflict)") ||
			!strings.Contains(out, denied+`environment "wh-env" is used by function(s) wh-fn; delete those functions first`) {
			t.Errorf("kubectl delete of an environment a function uses: got %v\n%s\nwant a conflict naming the function", err, out)
		}
		out, err = kubectl(t, "", "delete", "-n", ns, "function.lantern.dev/wh-fn")
		want := denied + `function "wh-fn" is used by route(s) wh-route and timer(s) wh-timer and message queue trigger(s) wh-mqt; delete those triggers first`
		if err == nil || !strings.Contains(out, want) {
			t.Errorf("kubectl delete of a function triggers call: got %v\n%s\nwant %q", err, out, want)
		}
		if out, err := kubectl(t, "", "get", "-n", ns, "environments.lantern.dev,functions.lantern.dev", "-o", "name"); err != nil ||
			!strings.Contains(out, "wh-env") || !strings.Contains(out, "wh-fn") {
			t.Errorf("after the refused deletes: got %q, %v; want wh-env and wh-fn still there", out, err)
		}
	})
	t.Run("DeleteInOrder", func(t *testing.T) {
		for _, obj := range []string{"httptrigger.lantern.dev/wh-route", "timetrigger.lantern.dev/wh-timer",
			"messagequeuetrigger.lantern.dev/wh-mqt", "function.lantern.dev/wh-fn", "environment.lantern.dev/wh-env"} {
			if _, err := kubectl(t, "", "delete", "-n", ns, obj); err != nil {
				t.Fatalf("kubectl delete %s once nothing uses it: %v", obj, err)
			}
		}
	})
	t.Run("Metrics", func(t *testing.T) {
		resp, err := http.Get("http://" + addrs[0] + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		for _, want := range []string{
			`lantern_controller_admission_requests_total{allowed="false",kind="Function",operation="CREATE"}`,
			`lantern_controller_admission_requests_total{allowed="true",kind="Function",operation="CREATE"}`,
			`lantern_controller_admission_requests_total{allowed="false",kind="Environment",operation="DELETE"} 1`,
			`lantern_controller_admission_requests_total{allowed="true",kind="Environment",operation="DELETE"} 1`,
			`lantern_controller_admission_duration_seconds_count{kind="HTTPTrigger",operation="CREATE"}`,
		} {
			if !strings.Contains(string(body), want) {
				t.Errorf("controller /metrics: want %s", want)
			}
		}
	})

	// A webhook that accepts connections and never answers: with
	// failurePolicy Fail, kubectl fails after timeoutSeconds, naming it.
	t.Run("Unresponsive", func(t *testing.T) {
		const hole = "wh-hole"
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		var (
			mu    sync.Mutex
			conns []net.Conn
		)
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				mu.Lock()
				conns = append(conns, c)
				mu.Unlock()
			}
		}()
		t.Cleanup(func() {
			ln.Close()
			mu.Lock()
			defer mu.Unlock()
			for _, c := range conns {
				c.Close()
			}
		})
		webhookNamespace(t, hole)
		registerWebhook(t, "lantern-test-hole", webhookConfig("lantern-test-hole", "hole.lantern.dev", "https://"+ln.Addr().String()+"/validate", caPEM, hole, 1))
		env := "apiVersion: lantern.dev/v1\nkind: Environment\nmetadata: {name: e, namespace: wh-hole}\nspec: {runtime: python, poolsize: 0}\n"
		waitWebhook(t, env, `failed calling webhook "hole.lantern.dev"`)
		began := time.Now()
		out, err := kubectl(t, env, "apply", "-f", "-")
		took := time.Since(began)
		if err == nil || !strings.Contains(out, `failed calling webhook "hole.lantern.dev"`) || !strings.Contains(out, "deadline exceeded") {
			t.Errorf("kubectl apply with the webhook not answering: got %v\n%s\nwant an error naming the webhook and its timeout", err, out)
		}
		if took > 15*time.Second {
			t.Errorf("kubectl apply with the webhook not answering took %v, want about its timeoutSeconds (1s)", took.Round(time.Millisecond))
		}
	})

	// The controller stops: kubectl fails at once, naming the webhook.
	t.Run("Down", func(t *testing.T) {
		if _, err := p.Terminate(15 * time.Second); err != nil {
			t.Fatal(err)
		}
		env := "apiVersion: lantern.dev/v1\nkind: Environment\nmetadata: {name: e, namespace: wh}\nspec: {runtime: python, poolsize: 0}\n"
		began := time.Now()
		out, err := kubectl(t, env, "apply", "-f", "-")
		took := time.Since(began)
		if err == nil || !strings.Contains(out, `failed calling webhook "validate.lantern.dev"`) || !strings.Contains(out, "connection refused") {
			t.Errorf("kubectl apply with the webhook down: got %v\n%s\nwant an error naming the webhook and the refused connection", err, out)
		}
		if took > 15*time.Second {
			t.Errorf("kubectl apply with the webhook down took %v, want well under its timeoutSeconds (2s)", took.Round(time.Millisecond))
		}
	})
}
