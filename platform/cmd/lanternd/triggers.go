package main

import (
	"log/slog"
	"net/http"
	"path/filepath"

	"github.com/spf13/cobra"
	"golang.org/x/sync/errgroup"

	"github.com/lantern-faas/lantern/platform/client"
	"github.com/lantern-faas/lantern/platform/timer"
)

// newTimer wires the timer to the informer and to the router at routerURL.
func newTimer(o *options, routerURL string, inf *client.Informer, logger *slog.Logger, tel *telemetryDeps) (*timer.Manager, error) {
	tm, err := timer.New(timer.Config{Dir: filepath.Join(o.dataDir, "timer")}, inf, client.NewRouter(routerURL, nil),
		logger.With("component", "timer"), timer.WithRegisterer(tel.registerer()), timer.WithTracerProvider(tel.tracing.Provider))
	if err != nil {
		return nil, err
	}
	inf.OnChange(tm.OnChange)
	return tm, nil
}

// runTimer fires timers through the router at --router-url; /metrics and
// /healthz are served on --metrics-addr.
func runTimer(cmd *cobra.Command, o *options, logger *slog.Logger) error {
	ctx := cmd.Context()
	cc := client.NewController(o.controllerURL, nil)
	inf := client.NewInformer(cc, logger.With("component", "informer"))
	tel, err := newTelemetry(ctx, o, "lantern-timer")
	if err != nil {
		return err
	}
	defer tel.shutdown()
	tm, err := newTimer(o, o.routerURL, inf, logger, tel)
	if err != nil {
		return err
	}
	ln, err := listen("--metrics-addr", o.metricsAddr)
	if err != nil {
		return err
	}
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return inf.Run(gctx) })
	g.Go(func() error { return tm.Run(gctx) })
	g.Go(func() error { return serve(gctx, ln, tel.withMetrics(healthz()), logger) })
	logger.Info("timer ready", "metrics", "http://"+ln.Addr().String(), "controller", o.controllerURL, "router", o.routerURL)
	return g.Wait()
}

// healthz answers /healthz for roles that serve no API of their own.
func healthz() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok\n")) })
	return mux
}
