package kubeenv

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/lantern-faas/lantern/test/testenv"
)

// Controllers is what StartControllerManager runs: Deployments make
// ReplicaSets, ReplicaSets make pods, every namespace gets its default
// ServiceAccount and the kube-root-ca.crt ConfigMap (the CA of the
// projected service-account volume), Services get EndpointSlices, owned
// objects are collected with their owners, deleted namespaces are
// emptied, DaemonSets make a pod per node, and a Ready node loses the
// not-ready taint it was registered with (DaemonSet pods do not tolerate
// it). There is no scheduler: a node binds pods itself (kubenode's
// Options.Schedule).
var Controllers = []string{
	"deployment-controller", "replicaset-controller", "serviceaccount-controller",
	"root-ca-certificate-publisher-controller", "endpointslice-controller",
	"garbage-collector-controller", "namespace-controller", "daemonset-controller", "node-lifecycle-controller",
}

// ControllerManagerPath is where test/tools/kube.sh builds
// kube-controller-manager.
func ControllerManagerPath() (string, error) {
	return tool("kube-"+KubeVersion, "kube-controller-manager")
}

// StartControllerManager starts kube-controller-manager with Controllers,
// as the admin, the cluster's CA as --root-ca-file, and waits until the
// default namespace has its ServiceAccount and kube-root-ca.crt. Opt-in:
// most tests need none of it. Stop stops it.
func (c *Cluster) StartControllerManager(ctx context.Context) error {
	bin, err := ControllerManagerPath()
	if err != nil {
		return err
	}
	pki := filepath.Join(c.Dir, "pki")
	p, err := testenv.StartProc("kube-controller-manager", filepath.Join(c.Dir, "controller-manager.log"), c.Dir, testenv.CleanEnv(), bin,
		"--kubeconfig="+c.Kubeconfig, "--controllers="+strings.Join(Controllers, ","),
		"--root-ca-file="+filepath.Join(pki, "ca.crt"),
		"--service-account-private-key-file="+filepath.Join(pki, "sa.key"),
		"--use-service-account-credentials=false", "--leader-elect=false",
		"--secure-port=0", // no /healthz, no serving certificate to make
		"--concurrent-deployment-syncs=2", "--concurrent-replicaset-syncs=2",
		"--profiling=false", "--v=1")
	if err != nil {
		return err
	}
	c.controllerManager = p
	cs, err := kubernetes.NewForConfig(c.Config)
	if err != nil {
		return err
	}
	// Its first work: the default namespace's ServiceAccount and CA.
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	for {
		_, saErr := cs.CoreV1().ServiceAccounts("default").Get(ctx, "default", metav1.GetOptions{})
		_, caErr := cs.CoreV1().ConfigMaps("default").Get(ctx, "kube-root-ca.crt", metav1.GetOptions{})
		if saErr == nil && caErr == nil {
			return nil
		}
		if !p.Alive() {
			return fmt.Errorf("kube-controller-manager exited (%v); its log:\n%s", p.Err(), p.Tail(30))
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("kube-controller-manager: no default ServiceAccount and kube-root-ca.crt in the default namespace within 60s (%v, %v); its log:\n%s",
				saErr, caErr, p.Tail(30))
		case <-time.After(100 * time.Millisecond):
		}
	}
}
