package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/sync/errgroup"

	"github.com/lantern-faas/lantern/platform/client"
	"github.com/lantern-faas/lantern/platform/controller"
	"github.com/lantern-faas/lantern/platform/fetcher"
	"github.com/lantern-faas/lantern/platform/instance"
	"github.com/lantern-faas/lantern/platform/instance/process"
	"github.com/lantern-faas/lantern/platform/internal/httpx"
	"github.com/lantern-faas/lantern/platform/poolmgr"
	"github.com/lantern-faas/lantern/platform/router"
	"github.com/lantern-faas/lantern/telemetry"
)

// runAll runs every role in one process. The router calls the poolmgr
// directly instead of over HTTP; everything else is as in separate roles.
func runAll(cmd *cobra.Command, o *options, logger *slog.Logger) error {
	ctx := cmd.Context()
	st, err := openStore(ctx, o, logger)
	if err != nil {
		return err
	}
	defer st.Close()
	tel, err := newTelemetry(ctx, o, "lanternd")
	if err != nil {
		return err
	}
	defer tel.shutdown()
	apiLn, err := listen("--api-addr", o.apiAddr)
	if err != nil {
		return err
	}
	routerLn, err := listen("--router-addr", o.routerAddr)
	if err != nil {
		return err
	}
	cc := client.NewController("http://"+apiLn.Addr().String(), nil)
	inf := client.NewInformer(cc, logger.With("component", "informer"))
	if o.podControllerURL == "" {
		o.podControllerURL = "http://" + apiLn.Addr().String() // for pods' fetchers
	}
	pm, err := newPoolmgr(ctx, o, cc, inf, logger, tel)
	if err != nil {
		return err
	}
	status, err := reportStatus(o, pm, logger)
	if err != nil {
		return err
	}
	nurl, stopNATS, err := natsURL(o, logger)
	if err != nil {
		return err
	}
	defer stopNATS()
	routerURL := "http://" + routerLn.Addr().String()
	// The triggers call the router in this process: no loopback hop per
	// message. It answers once the router serves its listener.
	inproc := &httpx.InProcess{}
	rc := client.NewRouter(routerURL, &http.Client{Transport: inproc})
	aq, closeAsync, err := newAsync(o, nurl, rc, logger, tel)
	if err != nil {
		return err
	}
	defer closeAsync()
	rt := newRouter(o, pm, inf, logger, tel, router.WithAsync(aq))
	lst, err := newLogStore(ctx, o, logger)
	if err != nil {
		return err
	}
	defer lst.Close()
	ctrl := controller.New(controller.Config{MaxCodeBytes: o.maxCodeBytes}, st, logger.With("component", "controller"),
		controller.WithRegisterer(tel.registerer()), controller.WithPool(pm), controller.WithLogs(lst),
		controller.WithSeen(inf)) // a write is answered once the router and the poolmgr have it

	runWebhook, err := newWebhook(o, ctrl, logger, tel)
	if err != nil {
		return err
	}

	g, gctx := errgroup.WithContext(ctx)
	if runWebhook != nil {
		g.Go(func() error { return runWebhook(gctx) })
	}
	col, err := startCollector(gctx, o, orDefault(o.logsForwardAddr, "127.0.0.1:0"), lst, logger, tel)
	if err != nil {
		return err
	}
	pl, err := newPodLogs(o, col, logger, tel)
	if err != nil {
		return err
	}
	defer pl.close() // after g.Wait: the collector has written what it could
	g.Go(col.run)
	g.Go(func() error { return pl.run(gctx) })
	capture, shipper, err := newCapture(o, col.addr, logger, tel)
	if err != nil {
		return err
	}
	defer shipper.Close()
	captureOutput(pm, capture)
	tm, err := newTimer(o, rc, inf, logger, tel)
	if err != nil {
		return err
	}
	g.Go(func() error { return tm.Run(gctx) })
	mqt, closeMQT, err := newMQTrigger(o, nurl, rc, inf, logger, tel)
	if err != nil {
		return err
	}
	defer closeMQT()
	g.Go(func() error { return mqt.Run(gctx) })
	g.Go(func() error { return aq.Run(gctx) })
	apiMux := http.NewServeMux()
	apiMux.Handle(mqtStatusPath, mqtStatusHandler(mqt))
	invocations := aq.Handler()
	apiMux.Handle("/v1/invocations", invocations)
	apiMux.Handle("/v1/invocations/", invocations)
	apiMux.Handle("/", ctrl.Handler())
	g.Go(func() error { return serve(gctx, apiLn, tel.withMetrics(apiMux), logger) })
	g.Go(func() error { return inf.Run(gctx) })
	g.Go(func() error { return pm.Run(gctx) })
	if status != nil {
		g.Go(func() error { return status(gctx) })
	}
	g.Go(func() error { return rt.Run(gctx) })
	g.Go(func() error {
		if err := inf.WaitSynced(gctx); err != nil {
			return nil
		}
		inproc.Serve(rt.Handler())
		return serve(gctx, routerLn, rt.Handler(), logger)
	})
	logger.Info("lanternd ready", "api", "http://"+apiLn.Addr().String(), "router", "http://"+routerLn.Addr().String(), "data_dir", o.dataDir)
	return g.Wait()
}

func runController(cmd *cobra.Command, o *options, logger *slog.Logger) error {
	st, err := openStore(cmd.Context(), o, logger)
	if err != nil {
		return err
	}
	defer st.Close()
	loggerURL, err := url.Parse(o.loggerURL)
	if err != nil || loggerURL.Host == "" {
		return fmt.Errorf("--logger-url=%q is not a URL", o.loggerURL)
	}
	tel, err := newTelemetry(cmd.Context(), o, "lantern-controller")
	if err != nil {
		return err
	}
	defer tel.shutdown()
	ctrl := controller.New(controller.Config{MaxCodeBytes: o.maxCodeBytes}, st, logger,
		controller.WithRegisterer(tel.registerer()), controller.WithPool(client.NewPoolmgr(o.poolmgrURL, nil)),
		controller.WithLogsProxy(loggerURL))
	ln, err := listen("--api-addr", o.apiAddr)
	if err != nil {
		return err
	}
	runWebhook, err := newWebhook(o, ctrl, logger, tel)
	if err != nil {
		return err
	}
	g, gctx := errgroup.WithContext(cmd.Context())
	if runWebhook != nil {
		g.Go(func() error { return runWebhook(gctx) })
	}
	g.Go(func() error { return serve(gctx, ln, tel.withMetrics(ctrl.Handler()), logger) })
	logger.Info("controller ready", "api", "http://"+ln.Addr().String())
	return g.Wait()
}

func runPoolmgr(cmd *cobra.Command, o *options, logger *slog.Logger) error {
	ctx := cmd.Context()
	cc := client.NewController(o.controllerURL, nil)
	inf := client.NewInformer(cc, logger.With("component", "informer"))
	tel, err := newTelemetry(ctx, o, "lantern-poolmgr")
	if err != nil {
		return err
	}
	defer tel.shutdown()
	pm, err := newPoolmgr(ctx, o, cc, inf, logger, tel)
	if err != nil {
		return err
	}
	status, err := reportStatus(o, pm, logger)
	if err != nil {
		return err
	}
	capture, shipper, err := newCapture(o, orDefault(o.logsForwardAddr, "127.0.0.1:24224"), logger, tel)
	if err != nil {
		return err
	}
	defer shipper.Close()
	captureOutput(pm, capture)
	ln, err := listen("--poolmgr-addr", o.poolmgrAddr)
	if err != nil {
		return err
	}
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return inf.Run(gctx) })
	g.Go(func() error { return pm.Run(gctx) })
	if status != nil {
		g.Go(func() error { return status(gctx) })
	}
	g.Go(func() error { return serve(gctx, ln, tel.withMetrics(syncedHandler(inf, pm.Handler())), logger) })
	logger.Info("poolmgr ready", "addr", "http://"+ln.Addr().String(), "controller", o.controllerURL)
	return g.Wait()
}

func runRouter(cmd *cobra.Command, o *options, logger *slog.Logger) error {
	ctx := cmd.Context()
	cc := client.NewController(o.controllerURL, nil)
	inf := client.NewInformer(cc, logger.With("component", "informer"))
	tel, err := newTelemetry(ctx, o, "lantern-router")
	if err != nil {
		return err
	}
	defer tel.shutdown()
	var ropts []router.Option
	if o.asyncURL != "" {
		ropts = append(ropts, router.WithAsync(client.NewAsync(o.asyncURL, nil)))
	}
	rt := newRouter(o, client.NewPoolmgr(o.poolmgrURL, nil), inf, logger, tel, ropts...)
	ln, err := listen("--router-addr", o.routerAddr)
	if err != nil {
		return err
	}
	mln, err := listen("--metrics-addr", o.metricsAddr)
	if err != nil {
		return err
	}
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return serve(gctx, mln, tel.withMetrics(http.NotFoundHandler()), logger) })
	g.Go(func() error { return inf.Run(gctx) })
	g.Go(func() error { return rt.Run(gctx) })
	g.Go(func() error {
		if err := inf.WaitSynced(gctx); err != nil {
			return nil
		}
		return serve(gctx, ln, rt.Handler(), logger)
	})
	logger.Info("router ready", "addr", "http://"+ln.Addr().String(), "controller", o.controllerURL, "poolmgr", o.poolmgrURL)
	return g.Wait()
}

// runLogger collects function logs over the forward protocol (from
// poolmgrs, or Fluentd/Fluent Bit), and with --pod-logs-dir from the log
// files of its node's pool pods, and serves queries on --logger-addr.
func runLogger(cmd *cobra.Command, o *options, logger *slog.Logger) error {
	ctx := cmd.Context()
	tel, err := newTelemetry(ctx, o, "lantern-logger")
	if err != nil {
		return err
	}
	defer tel.shutdown()
	lst, err := newLogStore(ctx, o, logger)
	if err != nil {
		return err
	}
	defer lst.Close()
	g, gctx := errgroup.WithContext(ctx)
	col, err := startCollector(gctx, o, orDefault(o.logsForwardAddr, "127.0.0.1:24224"), lst, logger, tel)
	if err != nil {
		return err
	}
	pl, err := newPodLogs(o, col, logger, tel)
	if err != nil {
		return err
	}
	defer pl.close() // after g.Wait: the collector has written what it could
	ln, err := listen("--logger-addr", o.loggerAddr)
	if err != nil {
		return err
	}
	g.Go(col.run)
	g.Go(func() error { return pl.run(gctx) })
	g.Go(func() error { return serve(gctx, ln, tel.withMetrics(loggerHandler(lst)), logger) })
	logger.Info("logger ready", "forward", col.addr, "api", "http://"+ln.Addr().String())
	return g.Wait()
}

// runFetcher serves the fetcher sidecar of a pool pod.
func runFetcher(cmd *cobra.Command, o *options, logger *slog.Logger) error {
	cc := client.NewController(o.controllerURL, nil)
	codeDir, err := filepath.Abs(o.codeDir)
	if err != nil {
		return err
	}
	f := fetcher.New(cc, filepath.Join(o.dataDir, "packages"), fetcher.DefaultLimits())
	ln, err := listen("--fetcher-addr", o.fetcherAddr)
	if err != nil {
		return err
	}
	logger.Info("fetcher ready", "addr", "http://"+ln.Addr().String(), "code_dir", codeDir, "controller", o.controllerURL)
	return serve(cmd.Context(), ln, f.Handler(codeDir), logger)
}

// syncedHandler holds every request but the health check until inf has
// its first full view of the controller's objects. A poolmgr that has just
// started would otherwise answer that an existing function is not found.
func syncedHandler(inf *client.Informer, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/healthz" && inf.WaitSynced(r.Context()) != nil {
			return // the caller went away
		}
		next.ServeHTTP(w, r)
	})
}

func orDefault(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

// newPoolmgr wires a poolmgr with its instances (local processes, or pods
// with --instances=pods) and the fetcher.
func newPoolmgr(ctx context.Context, o *options, cc *client.Controller, inf *client.Informer, logger *slog.Logger, tel *telemetryDeps) (*poolmgr.Manager, error) {
	var (
		rt     instance.Runtime
		loader poolmgr.Loader
		err    error
	)
	switch o.instances {
	case instancesPods:
		rt, loader, err = podRuntime(ctx, o)
	case instancesProcess:
		rt, loader, err = processRuntime(o, cc, logger)
	default:
		err = fmt.Errorf("--instances=%q: use %s or %s", o.instances, instancesProcess, instancesPods)
	}
	if err != nil {
		return nil, err
	}
	// Pods outlive the poolmgr: the next run adopts them.
	cfg := poolmgr.Config{ReapInterval: o.reapInterval, KeepOnShutdown: o.instances == instancesPods}
	pm := poolmgr.New(cfg, rt, loader, inf, logger.With("component", "poolmgr"),
		poolmgr.WithRegisterer(tel.registerer()), poolmgr.WithTracerProvider(tel.tracing.Provider))
	inf.OnChange(pm.OnChange)
	return pm, nil
}

// processRuntime runs instances as local processes, the code fetched into
// their folders.
func processRuntime(o *options, cc *client.Controller, logger *slog.Logger) (instance.Runtime, poolmgr.Loader, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, nil, err
	}
	builtins := map[string][]string{"binary": {exe, "env-binary"}}
	if dir := o.findRuntimesDir(); dir != "" {
		python := "/usr/bin/python3"
		if _, err := os.Stat(python); err != nil {
			python = "python3"
		}
		builtins["python"] = []string{python, filepath.Join(dir, "python", "server.py")}
		builtins["nodejs"] = []string{"node", filepath.Join(dir, "nodejs", "server.js")}
	} else {
		logger.Warn("built-in python and nodejs runtimes not found; set --runtimes-dir")
	}
	instDir := filepath.Join(o.dataDir, "instances")
	_ = os.RemoveAll(instDir) // leftovers of a previous run
	rt := process.New(process.Config{Dir: instDir, Builtins: builtins})
	f := fetcher.New(cc, filepath.Join(o.dataDir, "packages"), fetcher.DefaultLimits())
	loader := struct {
		*fetcher.Fetcher
		*fetcher.Specializer
	}{f, fetcher.NewSpecializer(nil)}
	return rt, loader, nil
}

func newRouter(o *options, inst router.Instances, inf *client.Informer, logger *slog.Logger, tel *telemetryDeps, opts ...router.Option) *router.Server {
	opts = append([]router.Option{router.WithRegisterer(tel.registerer()), router.WithTracing(tel.tracing.Provider, telemetry.Propagator())}, opts...)
	rt := router.New(router.Config{MaxBodyBytes: o.maxBodyBytes, QueueTimeout: o.queueTimeout}, inst, inf, logger.With("component", "router"), opts...)
	inf.OnChange(rt.OnChange)
	return rt
}

func listen(flag, addr string) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen on %s=%s: %w", flag, addr, err)
	}
	return ln, nil
}

// serve runs an HTTP server until ctx ends, then shuts it down gracefully.
func serve(ctx context.Context, ln net.Listener, h http.Handler, logger *slog.Logger) error {
	// Idle keep-alive connections close after two minutes: each holds a
	// goroutine and buffers for as long as the client keeps it.
	// Streams (watches, log follows) end as shutdown begins: Shutdown
	// waits for open requests, and their clients reconnect elsewhere.
	drain := make(chan struct{})
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute, ErrorLog: slog.NewLogLogger(logger.Handler(), slog.LevelDebug),
		BaseContext: func(net.Listener) context.Context { return httpx.WithDrain(context.Background(), drain) }}
	srv.RegisterOnShutdown(func() { close(drain) })
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
		if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
			return err
		}
		return nil
	}
}
