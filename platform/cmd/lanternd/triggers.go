package main

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"
	"golang.org/x/sync/errgroup"

	"github.com/lantern-faas/lantern/platform/api"
	"github.com/lantern-faas/lantern/platform/async"
	"github.com/lantern-faas/lantern/platform/client"
	"github.com/lantern-faas/lantern/platform/mqtrigger"
	mqkafka "github.com/lantern-faas/lantern/platform/mqtrigger/kafka"
	mqnats "github.com/lantern-faas/lantern/platform/mqtrigger/nats"
	"github.com/lantern-faas/lantern/platform/natsd"
	"github.com/lantern-faas/lantern/platform/timer"
)

// newTimer wires the timer to the informer and to the router rc calls.
func newTimer(o *options, rc *client.Router, inf *client.Informer, logger *slog.Logger, tel *telemetryDeps) (*timer.Manager, error) {
	tm, err := timer.New(timer.Config{Dir: filepath.Join(o.dataDir, "timer")}, inf, rc,
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
	tm, err := newTimer(o, client.NewRouter(o.routerURL, nil), inf, logger, tel)
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

// natsURL returns --nats-url, or starts the embedded NATS server under
// --data-dir and returns its URL; cleanup stops what was started.
func natsURL(o *options, logger *slog.Logger) (url string, cleanup func(), err error) {
	if o.natsURL != "" {
		return o.natsURL, func() {}, nil
	}
	srv, err := natsd.Start(natsd.Config{Dir: filepath.Join(o.dataDir, "nats"), Addr: o.natsAddr})
	if err != nil {
		return "", nil, err
	}
	logger.Info("embedded NATS server started", "url", srv.ClientURL(), "store", filepath.Join(o.dataDir, "nats"))
	return srv.ClientURL(), srv.Shutdown, nil
}

// newMQTrigger connects to NATS at url and wires the message queue
// triggers. The returned cleanup closes the connection.
func newMQTrigger(o *options, url string, rc *client.Router, inf *client.Informer, logger *slog.Logger, tel *telemetryDeps) (*mqtrigger.Manager, func(), error) {
	nb, err := mqnats.Connect(mqnats.Config{URL: url, Name: "lanternd-mqtrigger"}, logger.With("component", "mqtrigger", "broker", "nats"))
	if err != nil {
		return nil, nil, fmt.Errorf("--nats-url=%s: %w", url, err)
	}
	brokers := map[string]mqtrigger.Broker{api.MQTypeNATS: nb}
	closeAll := nb.Close
	if len(o.kafkaBrokers) > 0 {
		kb, err := mqkafka.New(mqkafka.Config{Brokers: o.kafkaBrokers}, logger.With("component", "mqtrigger", "broker", "kafka"))
		if err != nil {
			nb.Close()
			return nil, nil, fmt.Errorf("--kafka-brokers=%s: %w", strings.Join(o.kafkaBrokers, ","), err)
		}
		brokers[api.MQTypeKafka] = kb
		closeAll = func() {
			kb.Close()
			nb.Close()
		}
	}
	cfg := mqtrigger.DefaultConfig()
	cfg.Concurrency, cfg.AckWait, cfg.RetryDelay = o.mqtConcurrency, o.mqtAckWait, o.mqtRetryDelay
	m := mqtrigger.New(cfg, brokers, inf, rc, logger.With("component", "mqtrigger"),
		mqtrigger.WithRegisterer(tel.registerer()), mqtrigger.WithTracerProvider(tel.tracing.Provider))
	inf.OnChange(m.OnChange)
	return m, closeAll, nil
}

// newAsync connects to NATS at url for the queue of asynchronous calls.
func newAsync(o *options, url string, rc *client.Router, logger *slog.Logger, tel *telemetryDeps) (*async.Manager, func(), error) {
	log := logger.With("component", "async")
	nb, err := mqnats.Connect(mqnats.Config{URL: url, Name: "lanternd-async"}, log.With("broker", "nats"))
	if err != nil {
		return nil, nil, fmt.Errorf("--nats-url=%s: %w", url, err)
	}
	nc := nb.Conn()
	cfg := async.DefaultConfig()
	cfg.MaxAttempts, cfg.RetryDelay, cfg.Concurrency, cfg.AckWait = o.asyncMaxAttempts, o.asyncRetryDelay, o.asyncConcurrency, o.mqtAckWait
	m, err := async.New(cfg, nc, rc, log,
		async.WithRegisterer(tel.registerer()), async.WithTracerProvider(tel.tracing.Provider))
	if err != nil {
		nc.Close()
		return nil, nil, err
	}
	return m, nc.Close, nil
}

// runAsync runs queued asynchronous calls through the router at
// --router-url and serves the invocations API (and /metrics) on
// --async-addr.
func runAsync(cmd *cobra.Command, o *options, logger *slog.Logger) error {
	ctx := cmd.Context()
	tel, err := newTelemetry(ctx, o, "lantern-async")
	if err != nil {
		return err
	}
	defer tel.shutdown()
	url, stopNATS, err := natsURL(o, logger)
	if err != nil {
		return err
	}
	defer stopNATS()
	m, closeAsync, err := newAsync(o, url, client.NewRouter(o.routerURL, nil), logger, tel)
	if err != nil {
		return err
	}
	defer closeAsync()
	ln, err := listen("--async-addr", o.asyncAddr)
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.Handle("/healthz", healthz())
	invocations := m.Handler()
	mux.Handle("/v1/invocations", invocations)
	mux.Handle("/v1/invocations/", invocations)
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return m.Run(gctx) })
	g.Go(func() error { return serve(gctx, ln, tel.withMetrics(mux), logger) })
	logger.Info("async ready", "api", "http://"+ln.Addr().String(), "router", o.routerURL, "nats", url)
	return g.Wait()
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
	url, stopNATS, err := natsURL(o, logger)
	if err != nil {
		return err
	}
	defer stopNATS()
	m, cleanup, err := newMQTrigger(o, url, client.NewRouter(o.routerURL, nil), inf, logger, tel)
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
