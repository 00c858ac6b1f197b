package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"path/filepath"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/lantern-faas/lantern/logs"
	"github.com/lantern-faas/lantern/logs/embedded"
	"github.com/lantern-faas/lantern/logs/influx"
	"github.com/lantern-faas/lantern/platform/controller"
	"github.com/lantern-faas/lantern/platform/internal/kubecore"
	"github.com/lantern-faas/lantern/platform/podlogs"
	"github.com/lantern-faas/lantern/platform/poolmgr"
)

// logStore is where function logs are kept: InfluxDB when --influxdb-url is
// set, else the embedded store under --data-dir.
type logStore interface {
	logs.Sink
	logs.Reader
	Close() error
}

func newLogStore(ctx context.Context, o *options, logger *slog.Logger) (logStore, error) {
	if o.influxURL == "" {
		st, err := embedded.New(embedded.Config{Dir: filepath.Join(o.dataDir, "logs"), MaxBytes: o.logsMaxBytes})
		if err != nil {
			return nil, fmt.Errorf("open the embedded log store: %w", err)
		}
		return st, nil
	}
	st, err := influx.New(influx.Config{URL: o.influxURL, Token: o.influxToken, Org: o.influxOrg,
		Bucket: o.influxBucket, Database: o.influxDatabase})
	if err != nil {
		return nil, fmt.Errorf("--influxdb-url=%s: %w", o.influxURL, err)
	}
	if o.influxDatabase != "" {
		cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		if err := st.EnsureDatabase(cctx); err != nil {
			// Not fatal: the collector retries writes until InfluxDB answers.
			logger.Warn("create the InfluxDB database", "database", o.influxDatabase, "err", err)
		}
	}
	return st, nil
}

// collector is the log collector of a process: the forward protocol on
// addr, and run writes what arrives to the sink until ctx ends.
type collector struct {
	*logs.Collector
	addr string
	run  func() error
}

// startCollector listens for the forward protocol on addr, for a collector
// that writes to sink until ctx ends.
func startCollector(ctx context.Context, o *options, addr string, sink logs.Sink, logger *slog.Logger, tel *telemetryDeps) (*collector, error) {
	col, err := logs.NewCollector(logs.CollectorConfig{Addr: addr, SpoolDir: filepath.Join(o.dataDir, "logs-collector-spool")},
		sink, logs.Deps{Logger: logger.With("component", "logger"), Registerer: tel.registerer()})
	if err != nil {
		return nil, err
	}
	ln, err := listen("--logs-forward-addr", addr)
	if err != nil {
		return nil, err
	}
	return &collector{Collector: col, addr: ln.Addr().String(), run: func() error { return col.Serve(ctx, ln) }}, nil
}

// podLogs reads the logs of the node's pool pods into a collector, and
// attributes the pool pod lines a node agent forwards to it.
type podLogs struct {
	t  *podlogs.Tailer
	f  *podlogs.Forwarded
	cs *kubecore.Client
}

// newPodLogs reads the logs of the pool pods of --node-name from
// --pod-logs-dir into col, or returns nil without --pod-logs-dir. Call it
// before col runs.
func newPodLogs(o *options, col *collector, logger *slog.Logger, tel *telemetryDeps) (*podLogs, error) {
	if o.podLogsDir == "" && !o.podLogsForwarded {
		return nil, nil
	}
	if o.podLogsDir != "" && o.nodeName == "" {
		return nil, fmt.Errorf("--pod-logs-dir=%s needs --node-name (the node this logger runs on; $NODE_NAME from the downward API in a DaemonSet)", o.podLogsDir)
	}
	cfg, err := o.kubeConfig()
	if err != nil {
		return nil, fmt.Errorf("pool pod logs: %w", err)
	}
	cs, err := kubecore.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	ns := o.poolNamespace()
	pl := &podLogs{cs: cs}
	if o.podLogsForwarded {
		pl.f = podlogs.NewForwarded(ns, o.podLogsSettle, col.Add, logger.With("component", "podlogs"), tel.registerer())
		col.SetRewrite(pl.f.Rewrite)
		logger.Info("attributing forwarded pool pod lines", "tag", podlogs.TagPrefix+"*", "namespace", ns)
	}
	if o.podLogsDir == "" {
		return pl, nil
	}
	t, err := podlogs.New(podlogs.Config{Dir: o.podLogsDir, Node: o.nodeName, Namespace: ns, StateDir: filepath.Join(o.dataDir, "podlogs"),
		Settle: o.podLogsSettle}, col.Add, logger.With("component", "podlogs"), tel.registerer())
	if err != nil {
		return nil, fmt.Errorf("--pod-logs-dir=%s: %w", o.podLogsDir, err)
	}
	col.SetWritten(t.Written)
	logger.Info("reading pool pod logs", "dir", o.podLogsDir, "node", o.nodeName, "namespace", ns)
	pl.t = t
	return pl, nil
}

// run watches the pool pods and reads the node's pods' logs until ctx
// ends.
func (p *podLogs) run(ctx context.Context) error {
	if p == nil {
		return nil
	}
	g, ctx := errgroup.WithContext(ctx)
	if p.f != nil {
		g.Go(func() error {
			if err := podlogs.WatchForwarded(ctx, p.cs, p.f); err != nil {
				if ctx.Err() != nil {
					return nil
				}
				return fmt.Errorf("--pod-logs-forwarded: %w", err)
			}
			return p.f.Run(ctx)
		})
	}
	if p.t != nil {
		g.Go(func() error {
			if err := podlogs.Watch(ctx, p.cs, p.t); err != nil {
				if ctx.Err() != nil {
					return nil
				}
				return fmt.Errorf("--pod-logs-dir: %w", err)
			}
			return p.t.Run(ctx)
		})
	}
	return g.Wait()
}

// close keeps where reading stands; call it once the collector has
// stopped, so that what it wrote last counts.
func (p *podLogs) close() {
	if p != nil && p.t != nil {
		_ = p.t.Close()
	}
}

// newCapture tags instance output and ships it to the collector at addr.
func newCapture(o *options, addr string, logger *slog.Logger, tel *telemetryDeps) (*logs.Capture, *logs.Shipper, error) {
	cfg := logs.DefaultShipperConfig()
	cfg.Addr, cfg.SpoolDir = addr, filepath.Join(o.dataDir, "logs-spool")
	sh, err := logs.NewShipper(cfg, logs.Deps{Logger: logger.With("component", "logs"), Registerer: tel.registerer()})
	if err != nil {
		return nil, nil, err
	}
	opts := logs.DefaultCaptureOptions()
	opts.Registerer = tel.registerer()
	return logs.NewCapture(opts, sh.Ship), sh, nil
}

// captureOutput sends every line instances print to c.
func captureOutput(pm *poolmgr.Manager, c *logs.Capture) {
	pm.SetLineSink(func(l poolmgr.Line) {
		c.Line(logs.InstanceMeta{Namespace: l.Namespace, Function: l.Function, Environment: l.Environment, Instance: l.Instance}, l.Stream, l.Text)
	})
	pm.SetInstanceGone(c.Forget)
}

// loggerHandler serves the logs query API of the logger role.
func loggerHandler(r logs.Reader) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok\n")) })
	mux.HandleFunc("GET /v1/namespaces/{ns}/functions/{name}/logs", func(w http.ResponseWriter, req *http.Request) {
		_ = controller.ServeLogs(w, req, r, req.PathValue("ns"), req.PathValue("name"))
	})
	return mux
}
