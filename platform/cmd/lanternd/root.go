package main

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	goruntime "runtime"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/lantern-faas/lantern/platform/internal/version"
	"github.com/lantern-faas/lantern/telemetry"
)

// options are the flags every role shares.
type options struct {
	dataDir       string
	apiAddr       string
	routerAddr    string
	poolmgrAddr   string
	controllerURL string
	poolmgrURL    string
	routerURL     string

	natsURL        string
	natsAddr       string
	kafkaBrokers   []string
	mqtConcurrency int
	mqtAckWait     time.Duration
	mqtRetryDelay  time.Duration

	asyncAddr        string
	asyncURL         string
	asyncMaxAttempts int
	asyncRetryDelay  time.Duration
	asyncConcurrency int
	runtimesDir      string
	logFormat        string
	logLevel         string
	maxBodyBytes     int64
	maxCodeBytes     int64
	queueTimeout     time.Duration
	reapInterval     time.Duration
	metricsAddr      string
	telemetry        bool
	pprofAddr        string
	procs            int

	logsForwardAddr  string
	loggerAddr       string
	loggerURL        string
	logsMaxBytes     int64
	influxURL        string
	influxToken      string
	influxOrg        string
	influxBucket     string
	influxDatabase   string
	backend          string
	kubeconfig       string
	kubeNamespace    string
	instances        string
	podsNamespace    string
	kube             *kubeConfigOnce // kubeConfig's result, loaded once (nil: not kept)
	podImages        map[string]string
	fetcherImage     string
	podNode          string
	podControllerURL string
	webhookAddr      string
	webhookCertDir   string
	podLogsDir       string
	nodeName         string
	podLogsSettle    time.Duration
	podLogsForwarded bool
	fetcherAddr      string
	codeDir          string
	getenv           func(string) string
}

func newRootCommand(getenv func(string) string) *cobra.Command {
	o := &options{getenv: getenv, kube: &kubeConfigOnce{}}
	root := &cobra.Command{
		Use:           "lanternd",
		Short:         "Lantern server: controller, poolmgr, router and triggers",
		SilenceUsage:  true,
		SilenceErrors: true,
		Version:       version.Version,
	}
	pf := root.PersistentFlags()
	pf.StringVar(&o.dataDir, "data-dir", envOr(getenv, "LANTERN_DATA_DIR", ".data"), "folder for state, packages and instances")
	pf.StringVar(&o.apiAddr, "api-addr", envOr(getenv, "LANTERN_API_ADDR", "127.0.0.1:8889"), "controller API listen address")
	pf.StringVar(&o.routerAddr, "router-addr", envOr(getenv, "LANTERN_ROUTER_ADDR", "127.0.0.1:8888"), "router listen address")
	pf.StringVar(&o.poolmgrAddr, "poolmgr-addr", envOr(getenv, "LANTERN_POOLMGR_ADDR", "127.0.0.1:8890"), "poolmgr listen address (separate roles only)")
	pf.StringVar(&o.controllerURL, "controller-url", envOr(getenv, "LANTERN_CONTROLLER_URL", "http://127.0.0.1:8889"), "controller API URL (poolmgr and router roles)")
	pf.StringVar(&o.poolmgrURL, "poolmgr-url", envOr(getenv, "LANTERN_POOLMGR_URL", "http://127.0.0.1:8890"), "poolmgr URL (router role)")
	pf.StringVar(&o.routerURL, "router-url", envOr(getenv, "LANTERN_ROUTER_URL", "http://127.0.0.1:8888"), "router URL that triggers call functions through (timer, mqtrigger and async roles)")
	pf.StringVar(&o.natsURL, "nats-url", getenv("LANTERN_NATS_URL"), "NATS server (with JetStream) of message queue triggers; empty: run an embedded one with its store under --data-dir")
	pf.StringVar(&o.natsAddr, "nats-addr", envOr(getenv, "LANTERN_NATS_ADDR", "127.0.0.1:4222"), "where the embedded NATS server (no --nats-url) listens for clients")
	pf.StringSliceVar(&o.kafkaBrokers, "kafka-brokers", splitList(getenv("LANTERN_KAFKA_BROKERS")), "Kafka seed brokers (host:port, comma-separated) for message queue triggers of type kafka; none: such triggers report that Kafka is not configured")
	pf.IntVar(&o.mqtConcurrency, "mqt-concurrency", 64, "messages of one message queue trigger handled at once")
	pf.DurationVar(&o.mqtAckWait, "mqt-ack-wait", 30*time.Second, "how long NATS waits for news of a message or queued asynchronous call before delivering it again (after a crash)")
	pf.DurationVar(&o.mqtRetryDelay, "mqt-retry-delay", 200*time.Millisecond, "delay before the first retry of a failed message; it doubles with each retry, up to 30s")
	pf.StringVar(&o.asyncAddr, "async-addr", envOr(getenv, "LANTERN_ASYNC_ADDR", "127.0.0.1:8893"), "async role: invocations API and /metrics listen address")
	pf.StringVar(&o.asyncURL, "async-url", getenv("LANTERN_ASYNC_URL"), "router role: the async role's URL, where calls marked async are queued (empty: they get 501)")
	pf.IntVar(&o.asyncMaxAttempts, "async-max-attempts", 4, "how many times an asynchronous call is tried before it goes to the dead-letter list")
	pf.DurationVar(&o.asyncRetryDelay, "async-retry-delay", time.Second, "delay before the first retry of a failed asynchronous call; it doubles with each retry, up to 5m")
	pf.IntVar(&o.asyncConcurrency, "async-concurrency", 64, "asynchronous calls run at once")
	pf.StringVar(&o.runtimesDir, "runtimes-dir", getenv("LANTERN_RUNTIMES_DIR"), "folder holding the built-in runtimes (python/, nodejs/); found next to the binary or in the working tree when empty")
	pf.StringVar(&o.logFormat, "log-format", envOr(getenv, "LANTERN_LOG_FORMAT", "json"), "log format: json or text")
	pf.StringVar(&o.logLevel, "log-level", envOr(getenv, "LANTERN_LOG_LEVEL", "info"), "log level: debug, info, warn, error")
	pf.Int64Var(&o.maxBodyBytes, "max-body-bytes", 32<<20, "largest request body the router passes to a function")
	pf.Int64Var(&o.maxCodeBytes, "max-code-bytes", 64<<20, "largest function package the controller accepts")
	pf.DurationVar(&o.queueTimeout, "queue-timeout", 30*time.Second, "how long a request waits for a function at its concurrency before 429")
	pf.StringVar(&o.metricsAddr, "metrics-addr", envOr(getenv, "LANTERN_METRICS_ADDR", "127.0.0.1:8892"), "router and trigger roles: where /metrics (and /healthz for trigger roles) is served; other roles serve it on their own address")
	pf.StringVar(&o.logsForwardAddr, "logs-forward-addr", getenv("LANTERN_LOGS_FORWARD_ADDR"), "forward-protocol address of the log collector: where the logger role listens and the poolmgr ships (default 127.0.0.1:24224; all: a free port)")
	pf.StringVar(&o.loggerAddr, "logger-addr", envOr(getenv, "LANTERN_LOGGER_ADDR", "127.0.0.1:8891"), "logger role: logs query API listen address")
	pf.StringVar(&o.loggerURL, "logger-url", envOr(getenv, "LANTERN_LOGGER_URL", "http://127.0.0.1:8891"), "controller role: the logger role's URL, for log queries")
	pf.Int64Var(&o.logsMaxBytes, "logs-max-bytes", 256<<20, "size bound of the embedded log store (oldest lines go first)")
	pf.StringVar(&o.influxURL, "influxdb-url", getenv("LANTERN_INFLUXDB_URL"), "store function logs in InfluxDB at this URL (1.8+ or 2.x) instead of the embedded store")
	pf.StringVar(&o.influxToken, "influxdb-token", getenv("LANTERN_INFLUXDB_TOKEN"), "InfluxDB token (2.x), or user:password (1.8)")
	pf.StringVar(&o.influxOrg, "influxdb-org", getenv("LANTERN_INFLUXDB_ORG"), "InfluxDB 2.x organization (empty on 1.8)")
	pf.StringVar(&o.influxBucket, "influxdb-bucket", envOr(getenv, "LANTERN_INFLUXDB_BUCKET", "lantern"), "InfluxDB bucket (2.x) or database[/retention-policy] (1.8)")
	pf.StringVar(&o.influxDatabase, "influxdb-database", getenv("LANTERN_INFLUXDB_DATABASE"), "InfluxDB 1.8 database to query with InfluxQL and create at start (empty: Flux, for 2.x)")
	pf.StringVar(&o.backend, "backend", envOr(getenv, "LANTERN_BACKEND", backendLocal), "where the controller keeps state: local (a file in --data-dir) or kubernetes (Lantern's CRDs, see charts/lantern/crds; the poolmgr then writes each Function's status there)")
	pf.StringVar(&o.kubeconfig, "kubeconfig", getenv("LANTERN_KUBECONFIG"), "--backend=kubernetes: kubeconfig file (default $KUBECONFIG, ~/.kube/config, else the in-cluster service account)")
	pf.StringVar(&o.kubeNamespace, "kube-namespace", envOr(getenv, "LANTERN_KUBE_NAMESPACE", envOr(getenv, "POD_NAMESPACE", "default")), "--backend=kubernetes: namespace of the package ConfigMaps (lanternd's own)")
	pf.StringVar(&o.instances, "instances", envOr(getenv, "LANTERN_INSTANCES", instancesProcess), "where the poolmgr runs instances: process (local processes) or pods (Kubernetes pods with a fetcher sidecar)")
	pf.StringVar(&o.podsNamespace, "pods-namespace", getenv("LANTERN_PODS_NAMESPACE"), "--instances=pods: namespace of the pool pods (default --kube-namespace)")
	pf.StringToStringVar(&o.podImages, "pod-image", map[string]string{}, "--instances=pods: image of a built-in runtime, runtime=image (python=..., nodejs=..., binary=...); an environment's --image wins")
	pf.StringVar(&o.fetcherImage, "fetcher-image", getenv("LANTERN_FETCHER_IMAGE"), "--instances=pods: image of the fetcher sidecar (lanternd)")
	pf.StringVar(&o.podNode, "pod-node", getenv("LANTERN_POD_NODE"), "--instances=pods: put pool pods on this node (empty: the scheduler picks)")
	pf.StringVar(&o.podControllerURL, "pod-controller-url", getenv("LANTERN_POD_CONTROLLER_URL"), "--instances=pods: the controller's URL as pods reach it (default --controller-url)")
	pf.StringVar(&o.webhookAddr, "webhook-addr", getenv("LANTERN_WEBHOOK_ADDR"), "controller and all roles, --backend=kubernetes: serve the validating admission webhook (HTTPS, path /validate) on this address, so that kubectl is refused what the REST API refuses; empty: off")
	pf.StringVar(&o.webhookCertDir, "webhook-cert-dir", getenv("LANTERN_WEBHOOK_CERT_DIR"), "--webhook-addr: folder with the webhook's tls.crt and tls.key (a kubernetes.io/tls Secret volume); read again when they change")
	pf.StringVar(&o.podLogsDir, "pod-logs-dir", getenv("LANTERN_POD_LOGS_DIR"), "logger and all roles: read the output of the pool pods of --node-name from this folder, the kubelet's /var/log/pods (empty: off; pool pods in --pods-namespace)")
	pf.StringVar(&o.nodeName, "node-name", envOr(getenv, "LANTERN_NODE_NAME", getenv("NODE_NAME")), "--pod-logs-dir: the node whose pods' logs are read, the one the logger runs on (default $NODE_NAME)")
	pf.BoolVar(&o.podLogsForwarded, "pod-logs-forwarded", false, "logger role: attribute the pool pod lines a node agent such as Fluentd forwards (tag lantern.pod.<file path>, records with stream, message and the line's time) with the pods' marks; needs get, list and watch on pods in --pods-namespace")
	pf.DurationVar(&o.podLogsSettle, "pod-logs-settle", 10*time.Second, "--pod-logs-dir: how long a line of a pool pod not (yet) marked specialized waits for the mark before it is kept as its environment's")
	pf.StringVar(&o.fetcherAddr, "fetcher-addr", envOr(getenv, "LANTERN_FETCHER_ADDR", "127.0.0.1:8000"), "fetcher role: listen address")
	pf.StringVar(&o.codeDir, "code-dir", envOr(getenv, "LANTERN_CODE_DIR", "/userfunc"), "fetcher role: the code folder it shares with the runtime container")
	pf.IntVar(&o.procs, "procs", 0, "CPUs lanternd itself uses (GOMAXPROCS); 0: half of them, at least 1, leaving the rest to the function instances (the GOMAXPROCS variable wins)")
	pf.StringVar(&o.pprofAddr, "pprof-addr", getenv("LANTERN_PPROF_ADDR"), "serve Go's pprof profiles on this address (off when empty)")
	pf.BoolVar(&o.telemetry, "telemetry", true, "metrics and tracing; false turns both off (for measuring their cost)")
	pf.DurationVar(&o.reapInterval, "reap-interval", time.Second, "how often the poolmgr looks for idle instances")
	root.AddCommand(
		roleCommand(o, "all", "Run every role in one process (the embedded default)", runAll),
		roleCommand(o, "controller", "Run the controller (REST API and state)", runController),
		roleCommand(o, "poolmgr", "Run the pool manager (warm pools, specialization, reaping)", runPoolmgr),
		roleCommand(o, "router", "Run the router (HTTP triggers to instances)", runRouter),
		roleCommand(o, "timer", "Run the timer (TimeTriggers: functions called on cron schedules)", runTimer),
		roleCommand(o, "mqtrigger", "Run the message queue triggers (NATS JetStream): functions called for every message of a topic", runMQTrigger),
		roleCommand(o, "async", "Run the queue of asynchronous calls (X-Lantern-Invoke-Mode: async) and the invocations API", runAsync),
		roleCommand(o, "logger", "Run the log collector (forward protocol in, InfluxDB or embedded store, query API)", runLogger),
		roleCommand(o, "fetcher", "Run the fetcher sidecar of a pool pod (places function packages in the code folder)", runFetcher),
		envBinaryCommand(getenv),
	)
	return root
}

func roleCommand(o *options, name, short string, run func(cmd *cobra.Command, o *options, logger *slog.Logger) error) *cobra.Command {
	return &cobra.Command{
		Use:   name,
		Short: short,
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			logger, err := o.logger(name)
			if err != nil {
				return err
			}
			setProcs(o.procs, o.getenv)
			if o.pprofAddr != "" {
				if err := servePprof(cmd.Context(), o.pprofAddr, logger); err != nil {
					return err
				}
			}
			if err := o.resolvePaths(); err != nil {
				return err
			}
			go trimWhenIdle(cmd.Context(), 2*time.Second, 4<<20, logger)
			return run(cmd, o, logger)
		},
	}
}

func (o *options) logger(role string) (*slog.Logger, error) {
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(o.logLevel)); err != nil {
		return nil, fmt.Errorf("--log-level=%q: use debug, info, warn or error", o.logLevel)
	}
	hopts := &slog.HandlerOptions{Level: lvl}
	var h slog.Handler
	switch o.logFormat {
	case "json":
		h = slog.NewJSONHandler(os.Stdout, hopts)
	case "text":
		h = slog.NewTextHandler(os.Stdout, hopts)
	default:
		return nil, fmt.Errorf("--log-format=%q: use json or text", o.logFormat)
	}
	return slog.New(telemetry.NewLogHandler(h)).With("role", role), nil
}

// resolvePaths makes the folders given as flags absolute: instances run in
// their own folders, where a relative path would name something else. A
// runtimes folder that does not exist is refused now rather than at the
// first call.
func (o *options) resolvePaths() error {
	var err error
	if o.dataDir, err = filepath.Abs(o.dataDir); err != nil {
		return fmt.Errorf("--data-dir=%q: %w", o.dataDir, err)
	}
	if o.runtimesDir == "" {
		return nil
	}
	if o.runtimesDir, err = filepath.Abs(o.runtimesDir); err != nil {
		return fmt.Errorf("--runtimes-dir=%q: %w", o.runtimesDir, err)
	}
	if st, err := os.Stat(o.runtimesDir); err != nil || !st.IsDir() {
		return fmt.Errorf("--runtimes-dir=%q is not a folder: it should hold the built-in runtimes (python/, nodejs/)", o.runtimesDir)
	}
	return nil
}

// findRuntimesDir returns the folder of the built-in runtimes.
func (o *options) findRuntimesDir() string {
	if o.runtimesDir != "" {
		return o.runtimesDir
	}
	var candidates []string
	if exe, err := os.Executable(); err == nil {
		if exe, err = filepath.EvalSymlinks(exe); err == nil {
			d := filepath.Dir(exe)
			candidates = append(candidates, filepath.Join(d, "environments"), filepath.Join(d, "..", "platform", "environments"),
				filepath.Join(d, "..", "share", "lantern", "environments"))
		}
	}
	if wd, err := os.Getwd(); err == nil {
		candidates = append(candidates, filepath.Join(wd, "platform", "environments"))
	}
	for _, c := range candidates {
		if _, err := os.Stat(filepath.Join(c, "python", "server.py")); err == nil {
			abs, _ := filepath.Abs(c)
			return abs
		}
	}
	return ""
}

func envOr(getenv func(string) string, key, def string) string {
	if v := strings.TrimSpace(getenv(key)); v != "" {
		return v
	}
	return def
}

// setProcs bounds the CPUs lanternd schedules its goroutines on. Instances
// run beside it on the same machine; a router spread over every core fights
// them for it, and costs them throughput and latency.
func setProcs(n int, getenv func(string) string) {
	if getenv("GOMAXPROCS") != "" {
		return // the operator chose
	}
	if n <= 0 {
		n = max(1, goruntime.NumCPU()/2)
	}
	goruntime.GOMAXPROCS(n)
}

// splitList splits a comma-separated environment value; "" is no items.
func splitList(s string) []string {
	var out []string
	for _, v := range strings.Split(s, ",") {
		if v = strings.TrimSpace(v); v != "" {
			out = append(out, v)
		}
	}
	return out
}
