package main

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"path/filepath"

	"github.com/spf13/cobra"
	"golang.org/x/sync/errgroup"

	"github.com/lantern-faas/lantern/platform/api"
	"github.com/lantern-faas/lantern/platform/client"
	"github.com/lantern-faas/lantern/platform/mqtrigger"
	mqnats "github.com/lantern-faas/lantern/platform/mqtrigger/nats"
	"github.com/lantern-faas/lantern/platform/natsd"
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
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok\n")) })
	return mux
}

// newMQTrigger connects to NATS (or starts the embedded server when
// --nats-url is empty) and wires the message queue triggers. The returned
// cleanup closes what was started.
func newMQTrigger(o *options, routerURL string, inf *client.Informer, logger *slog.Logger, tel *telemetryDeps) (*mqtrigger.Manager, func(), error) {
	var cleanups []func()
	cleanup := func() {
		for i := len(cleanups) - 1; i >= 0; i-- {
			cleanups[i]()
		}
	}
	url := o.natsURL
	if url == "" {
		srv, err := natsd.Start(natsd.Config{Dir: filepath.Join(o.dataDir, "nats"), Addr: o.natsAddr})
		if err != nil {
			return nil, nil, err
		}
		cleanups = append(cleanups, srv.Shutdown)
		url = srv.ClientURL()
		logger.Info("embedded NATS server started", "url", url, "store", filepath.Join(o.dataDir, "nats"))
	}
	nb, err := mqnats.Connect(mqnats.Config{URL: url, Name: "lanternd-mqtrigger"}, logger.With("component", "mqtrigger", "broker", "nats"))
	if err != nil {
		cleanup()
		return nil, nil, fmt.Errorf("--nats-url=%s: %w", url, err)
	}
	cleanups = append(cleanups, nb.Close)
	brokers := map[string]mqtrigger.Broker{api.MQTypeNATS: nb}
	cfg := mqtrigger.DefaultConfig()
	cfg.Concurrency, cfg.AckWait, cfg.RetryDelay = o.mqtConcurrency, o.mqtAckWait, o.mqtRetryDelay
	m := mqtrigger.New(cfg, brokers, inf, client.NewRouter(routerURL, nil), logger.With("component", "mqtrigger"),
		mqtrigger.WithRegisterer(tel.registerer()), mqtrigger.WithTracerProvider(tel.tracing.Provider))
	inf.OnChange(m.OnChange)
	return m, cleanup, nil
}

// runMQTrigger consumes message queues for the triggers and calls functions
// through the router at --router-url; /metrics, /healthz and the triggers'
// status are served on --metrics-addr.
func runMQTrigger(cmd *cobra.Command, o *options, logger *slog.Logger) error {
	ctx := cmd.Context()
	cc := client.NewController(o.controllerURL, nil)
	inf := client.NewInformer(cc, logger.With("component", "informer"))
	tel, err := newTelemetry(ctx, o, "lantern-mqtrigger")
	if err != nil {
		return err
	}
	defer tel.shutdown()
	m, cleanup, err := newMQTrigger(o, o.routerURL, inf, logger, tel)
	if err != nil {
		return err
	}
	defer cleanup()
	ln, err := listen("--metrics-addr", o.metricsAddr)
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.Handle("/healthz", healthz())
	mux.Handle(mqtStatusPath, mqtStatusHandler(m))
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return inf.Run(gctx) })
	g.Go(func() error { return m.Run(gctx) })
	g.Go(func() error { return serve(gctx, ln, tel.withMetrics(mux), logger) })
	logger.Info("mqtrigger ready", "metrics", "http://"+ln.Addr().String(), "controller", o.controllerURL, "router", o.routerURL)
	return g.Wait()
}

// mqtStatusPath serves the status of every message queue trigger.
const mqtStatusPath = client.MQTriggerStatusPath

func mqtStatusHandler(m *mqtrigger.Manager) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(m.Statuses())
	})
}
