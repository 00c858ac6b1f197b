// Package kubeenv starts a real Kubernetes API for tests: etcd and
// kube-apiserver built from the Go module proxy by test/tools/kube.sh
// (make tools), on loopback ports, with certificates made by openssl, and
// Lantern's CRDs (charts/lantern/crds) applied. kube-controller-manager is
// opt-in (Cluster.StartControllerManager); there is no kubelet or
// scheduler (test/kubenode stands in for both).
package kubeenv

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/lantern-faas/lantern/test/testenv"
)

// Versions of the binaries test/tools/kube.sh builds.
const (
	KubeVersion = "1.37.2"
	EtcdVersion = "3.6.16"
	HelmVersion = "3.22.0"
)

// Tools are the paths of the binaries.
type Tools struct {
	APIServer, Kubectl, Etcd, Helm string
}

// FindTools returns the binaries under .tools, or an error that names the
// make target building them.
func FindTools() (Tools, error) {
	var t Tools
	for _, b := range []struct {
		path      *string
		dir, name string
	}{
		{&t.APIServer, "kube-" + KubeVersion, "kube-apiserver"},
		{&t.Kubectl, "kube-" + KubeVersion, "kubectl"},
		{&t.Etcd, "etcd-" + EtcdVersion, "etcd"},
		{&t.Helm, "helm-" + HelmVersion, "helm"},
	} {
		p, err := tool(b.dir, b.name)
		if err != nil {
			return Tools{}, err
		}
		*b.path = p
	}
	return t, nil
}

// tool returns the path of a binary test/tools/kube.sh built into
// .tools/dir, or an error that names the make target building it.
func tool(dir, name string) (string, error) {
	root, err := testenv.RepoRoot()
	if err != nil {
		return "", err
	}
	p := filepath.Join(root, ".tools", dir, name)
	if fi, err := os.Stat(p); err != nil || fi.Mode()&0o111 == 0 {
		return "", fmt.Errorf("%s is missing: build it with 'make tools' (bash test/tools/kube.sh, ~10 minutes the first time)", p)
	}
	return p, nil
}

// Cluster is a running etcd and kube-apiserver.
type Cluster struct {
	Tools Tools
	// Dir holds certificates, data, logs and the kubeconfig.
	Dir string
	// URL is the API server's https URL.
	URL string
	// Kubeconfig is the path of an admin kubeconfig (system:masters).
	Kubeconfig string
	// Config is the admin REST config.
	Config *rest.Config
	// Started is how long etcd and the API server took to become ready.
	Started time.Duration

	etcd, apiserver, controllerManager *testenv.Proc
	etcdURL                            string
}

// Start starts etcd and kube-apiserver with their state in dir.
func Start(dir string) (*Cluster, error) {
	tools, err := FindTools()
	if err != nil {
		return nil, err
	}
	if _, err := exec.LookPath("openssl"); err != nil {
		return nil, errors.New("openssl is not on PATH: apt-get install openssl")
	}
	begin := time.Now()
	c := &Cluster{Tools: tools, Dir: dir}
	if err := makeCerts(filepath.Join(dir, "pki")); err != nil {
		return nil, err
	}
	if err := c.startEtcd(); err != nil {
		return nil, err
	}
	if err := c.startAPIServer(); err != nil {
		c.Stop()
		return nil, err
	}
	c.Started = time.Since(begin)
	return c, nil
}

func (c *Cluster) startEtcd() error {
	p, _, err := testenv.Launch(3, 60*time.Second, 30, func(addrs []string, attempt int) (*testenv.Proc, []string, error) {
		data := filepath.Join(c.Dir, "etcd-"+strconv.Itoa(attempt))
		client, peer, metrics := "http://"+addrs[0], "http://"+addrs[1], "http://"+addrs[2]
		p, err := testenv.StartProc("etcd", filepath.Join(c.Dir, "etcd.log"), c.Dir, testenv.CleanEnv(), c.Tools.Etcd,
			"--name", "t", "--data-dir", data, "--unsafe-no-fsync",
			"--listen-client-urls", client, "--advertise-client-urls", client,
			"--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
			"--initial-cluster", "t="+peer, "--listen-metrics-urls", metrics, "--log-level", "warn")
		if err != nil {
			return nil, nil, err
		}
		c.etcdURL = client
		return p, []string{client + "/health"}, nil
	})
	if err != nil {
		return fmt.Errorf("start etcd: %w", err)
	}
	c.etcd = p
	return nil
}

func (c *Cluster) startAPIServer() error {
	pki := filepath.Join(c.Dir, "pki")
	var lastErr error
	for attempt := 1; attempt <= 4; attempt++ {
		addr, err := testenv.FreeAddr()
		if err != nil {
			return err
		}
		_, port, _ := net.SplitHostPort(addr)
		p, err := testenv.StartProc("kube-apiserver", filepath.Join(c.Dir, "apiserver.log"), c.Dir, testenv.CleanEnv(), c.Tools.APIServer,
			"--etcd-servers="+c.etcdURL,
			"--bind-address=127.0.0.1", "--advertise-address=127.0.0.1", "--secure-port="+port,
			"--endpoint-reconciler-type=none",
			// Webhooks and aggregated APIs behind a Service are reached
			// through its endpoints, never by its DNS name: there is no
			// cluster DNS here, and the machine's resolver answers for
			// any name, so a Service name would leave the machine.
			"--enable-aggregator-routing=true",
			"--tls-cert-file="+filepath.Join(pki, "apiserver.crt"), "--tls-private-key-file="+filepath.Join(pki, "apiserver.key"),
			"--cert-dir="+filepath.Join(c.Dir, "apiserver-certs"),
			"--client-ca-file="+filepath.Join(pki, "ca.crt"),
			"--token-auth-file="+filepath.Join(pki, "tokens.csv"),
			"--authorization-mode=RBAC",
			"--service-account-issuer=https://kubernetes.default.svc",
			"--service-account-key-file="+filepath.Join(pki, "sa.pub"),
			"--service-account-signing-key-file="+filepath.Join(pki, "sa.key"),
			"--service-cluster-ip-range=10.96.0.0/16",
			"--profiling=false")
		if err != nil {
			return err
		}
		c.apiserver = p
		c.URL = "https://" + addr
		if lastErr = c.waitReady(90 * time.Second); lastErr == nil {
			return c.writeKubeconfig()
		}
		p.Kill()
		if !strings.Contains(p.Tail(50), "address already in use") {
			break
		}
	}
	return fmt.Errorf("start kube-apiserver: %w", lastErr)
}

// waitReady polls /readyz until it says ok.
func (c *Cluster) waitReady(timeout time.Duration) error {
	pki := filepath.Join(c.Dir, "pki")
	caPEM, err := os.ReadFile(filepath.Join(pki, "ca.crt"))
	if err != nil {
		return err
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	hc := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	deadline := time.Now().Add(timeout)
	var last string
	for time.Now().Before(deadline) {
		req, _ := http.NewRequest(http.MethodGet, c.URL+"/readyz", nil)
		req.Header.Set("Authorization", "Bearer "+adminToken)
		resp, err := hc.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			last = resp.Status
		} else {
			last = err.Error()
		}
		if !c.apiserver.Alive() {
			return fmt.Errorf("kube-apiserver exited (%v); its log:\n%s", c.apiserver.Err(), c.apiserver.Tail(30))
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("kube-apiserver: %s/readyz not ok within %s (%s); its log:\n%s", c.URL, timeout, last, c.apiserver.Tail(30))
}

const adminToken = "admin-token"

func (c *Cluster) writeKubeconfig() error {
	pki := filepath.Join(c.Dir, "pki")
	c.Kubeconfig = filepath.Join(c.Dir, "kubeconfig")
	cfg := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- name: test
  cluster:
    server: %s
    certificate-authority: %s
users:
- name: admin
  user:
    client-certificate: %s
    client-key: %s
contexts:
- name: test
  context: {cluster: test, user: admin, namespace: default}
current-context: test
`, c.URL, filepath.Join(pki, "ca.crt"), filepath.Join(pki, "admin.crt"), filepath.Join(pki, "admin.key"))
	if err := os.WriteFile(c.Kubeconfig, []byte(cfg), 0o600); err != nil {
		return err
	}
	rc, err := clientcmd.BuildConfigFromFlags("", c.Kubeconfig)
	if err != nil {
		return err
	}
	rc.QPS, rc.Burst = 500, 1000
	c.Config = rc
	return nil
}

// Kubectl runs kubectl against the cluster and returns its combined output.
func (c *Cluster) Kubectl(ctx context.Context, stdin string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, c.Tools.Kubectl, append([]string{"--kubeconfig", c.Kubeconfig}, args...)...)
	cmd.Env = append(testenv.CleanEnv(), "KUBECONFIG="+c.Kubeconfig)
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("kubectl %s: %w\n%s", strings.Join(args, " "), err, out)
	}
	return string(out), nil
}

// CRDDir is the folder of Lantern's CRDs.
func CRDDir() (string, error) {
	root, err := testenv.RepoRoot()
	if err != nil {
		return "", err
	}
	return filepath.Join(root, "charts", "lantern", "crds"), nil
}

// ApplyCRDs applies Lantern's CRDs and waits until they are served.
func (c *Cluster) ApplyCRDs(ctx context.Context) error {
	dir, err := CRDDir()
	if err != nil {
		return err
	}
	if _, err := c.Kubectl(ctx, "", "apply", "--server-side", "-f", dir); err != nil {
		return err
	}
	_, err = c.Kubectl(ctx, "", "wait", "--for=condition=Established", "--timeout=60s",
		"crd/environments.lantern.dev", "crd/functions.lantern.dev", "crd/httptriggers.lantern.dev",
		"crd/timetriggers.lantern.dev", "crd/messagequeuetriggers.lantern.dev")
	return err
}

// Stop stops the controller-manager, the API server, then etcd (the other
// order hangs).
func (c *Cluster) Stop() {
	for _, p := range []*testenv.Proc{c.controllerManager, c.apiserver, c.etcd} {
		if p != nil && p.Alive() {
			if _, err := p.Terminate(20 * time.Second); err != nil {
				p.Kill()
			}
		}
	}
}

// Logs returns the tails of etcd's, the API server's and the
// controller-manager's logs.
func (c *Cluster) Logs(n int) string {
	var b strings.Builder
	for _, p := range []*testenv.Proc{c.etcd, c.apiserver, c.controllerManager} {
		if p != nil {
			fmt.Fprintf(&b, "--- %s:\n%s\n", p.Name, p.Tail(n))
		}
	}
	return b.String()
}
