package main

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/lantern-faas/lantern/platform/fetcher"
	"github.com/lantern-faas/lantern/platform/instance"
	"github.com/lantern-faas/lantern/platform/instance/kubepods"
	"github.com/lantern-faas/lantern/platform/internal/kubecore"
	"github.com/lantern-faas/lantern/platform/poolmgr"
	"github.com/lantern-faas/lantern/platform/store"
	"github.com/lantern-faas/lantern/platform/store/boltstore"
	"github.com/lantern-faas/lantern/platform/store/kubestore"
)

// Backends: where the controller keeps its state.
const (
	backendLocal      = "local"
	backendKubernetes = "kubernetes"
)

// openStore opens the store --backend names: a bbolt file in --data-dir, or
// Lantern's custom resources in the Kubernetes API (--kubeconfig, else
// $KUBECONFIG, else the in-cluster service account).
func openStore(ctx context.Context, o *options, logger *slog.Logger) (store.Store, error) {
	switch o.backend {
	case backendLocal:
		return boltstore.Open(filepath.Join(o.dataDir, "state.db"), nil)
	case backendKubernetes:
		cfg, err := o.kubeConfig()
		if err != nil {
			return nil, err
		}
		if o.maxCodeBytes > kubestore.MaxBlobBytes {
			o.maxCodeBytes = kubestore.MaxBlobBytes
		}
		ctx, cancel := context.WithTimeout(ctx, time.Minute)
		defer cancel()
		st, err := kubestore.New(ctx, cfg, kubestore.Options{BlobNamespace: o.kubeNamespace, Logger: logger.With("component", "kubestore")})
		if err != nil {
			return nil, fmt.Errorf("--backend=kubernetes (API server %s): %w", cfg.Host, err)
		}
		logger.Info("state in Kubernetes", "server", cfg.Host, "packages_namespace", o.kubeNamespace, "max_code_bytes", o.maxCodeBytes)
		return st, nil
	}
	return nil, fmt.Errorf("--backend=%q: use %s or %s", o.backend, backendLocal, backendKubernetes)
}

// kubeConfig returns the REST config of --kubeconfig, $KUBECONFIG or
// ~/.kube/config, or the in-cluster one.
func (o *options) kubeConfig() (*rest.Config, error) {
	if o.kube == nil {
		return o.loadKubeConfig()
	}
	o.kube.once.Do(func() { o.kube.cfg, o.kube.err = o.loadKubeConfig() })
	if o.kube.err != nil {
		return nil, o.kube.err
	}
	return rest.CopyConfig(o.kube.cfg), nil
}

// kubeConfigOnce keeps the REST config for every client of the process.
type kubeConfigOnce struct {
	once sync.Once
	cfg  *rest.Config
	err  error
}

// loadKubeConfig reads the REST config; kubeConfig keeps it for every
// client of the process.
func (o *options) loadKubeConfig() (*rest.Config, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	if o.kubeconfig != "" {
		rules.ExplicitPath = o.kubeconfig
	}
	cfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{}).ClientConfig()
	if err != nil {
		if o.kubeconfig != "" {
			return nil, fmt.Errorf("--kubeconfig=%q: %w", o.kubeconfig, err)
		}
		if cfg, ierr := rest.InClusterConfig(); ierr == nil {
			return cfg, nil
		}
		return nil, fmt.Errorf("--backend=kubernetes: no kubeconfig (--kubeconfig, $KUBECONFIG, ~/.kube/config) and not in a cluster: %w", err)
	}
	cfg.UserAgent = "lanternd"
	// client-go's default of 5 requests a second would make pool pods,
	// status writes and the store's writes queue behind each other.
	if cfg.QPS == 0 {
		cfg.QPS, cfg.Burst = 200, 400
	}
	return cfg, nil
}

// reportStatus makes the poolmgr publish each Function's and Environment's
// status (ready instances, last cold start, last error) in its custom
// resource when --backend=kubernetes. It returns what runs the writers, or
// nil for the local backend.
func reportStatus(o *options, pm *poolmgr.Manager, logger *slog.Logger) (func(context.Context) error, error) {
	switch o.backend {
	case backendLocal:
		return nil, nil
	case backendKubernetes:
	default:
		return nil, fmt.Errorf("--backend=%q: use %s or %s", o.backend, backendLocal, backendKubernetes)
	}
	cfg, err := o.kubeConfig()
	if err != nil {
		return nil, err
	}
	logger = logger.With("component", "status")
	fns, err := kubestore.NewStatusWriter(cfg, kubestore.FunctionsResource,
		func(ns, name string) any { return pm.FunctionStatus(ns, name) }, logger)
	if err != nil {
		return nil, err
	}
	envs, err := kubestore.NewStatusWriter(cfg, kubestore.EnvironmentsResource,
		func(ns, name string) any { return pm.EnvironmentStatus(ns, name) }, logger)
	if err != nil {
		return nil, err
	}
	pm.SetFunctionChanged(fns.Changed)
	pm.SetEnvironmentChanged(envs.Changed)
	return func(ctx context.Context) error {
		g, ctx := errgroup.WithContext(ctx)
		g.Go(func() error { return fns.Run(ctx) })
		g.Go(func() error { return envs.Run(ctx) })
		return g.Wait()
	}, nil
}

// Where instances run (--instances).
const (
	instancesProcess = "process"
	instancesPods    = "pods"
)

// poolNamespace is where pool pods run: --pods-namespace, else
// --kube-namespace.
func (o *options) poolNamespace() string {
	if o.podsNamespace != "" {
		return o.podsNamespace
	}
	return o.kubeNamespace
}

// podRuntime runs instances as pods in --pods-namespace, each with a
// fetcher sidecar (--fetcher-image running `lanternd fetcher`).
func podRuntime(ctx context.Context, o *options) (instance.Runtime, poolmgr.Loader, error) {
	cfg, err := o.kubeConfig()
	if err != nil {
		return nil, nil, err
	}
	cs, err := kubecore.NewForConfig(cfg)
	if err != nil {
		return nil, nil, err
	}
	ns := o.poolNamespace()
	controllerURL := o.podControllerURL
	if controllerURL == "" {
		controllerURL = o.controllerURL
	}
	rt, err := kubepods.New(ctx, cs, kubepods.Config{
		Namespace: ns, Images: o.podImages, FetcherImage: o.fetcherImage, NodeName: o.podNode,
		FetcherArgs: []string{"fetcher", "--controller-url=" + controllerURL},
	})
	if err != nil {
		return nil, nil, fmt.Errorf("--instances=pods: %w", err)
	}
	return rt, fetcher.NewPodLoader(nil), nil
}
