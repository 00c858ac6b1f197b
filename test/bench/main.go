// Command bench measures Lantern against its performance targets: cold
// starts with a warm pool, router overhead on warm calls, throughput, a
// burst of first calls, 500 concurrent connections and lanternd's idle
// memory. Baselines are a Python runtime instance run directly and
// published Fission numbers.
//
//	go build -o bin/ ./platform/cmd/... && go run ./test/bench -out .bench
//
// It starts one `lanternd all` on free loopback ports, writes report.md and
// PNG plots to -out, and prints the table. It exits non-zero only when the
// harness itself fails; a missed target is a FAIL row.
//
// The Kubernetes section (-only kube runs it alone) starts etcd and
// kube-apiserver (test/kubeenv, binaries from make tools), the test node
// test/kubenode and `lanternd all --backend kubernetes --instances pods`,
// and measures cold starts on a warm pod pool, how soon a change applied
// with kubectl reaches the router, and lanternd's memory with 1,000
// functions.
package main

import (
	"context"
	"debug/buildinfo"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/lantern-faas/lantern/platform/client"
	"github.com/lantern-faas/lantern/test/testenv"
)

// params are the run's sizes; -quick shrinks them to a smoke run.
type params struct {
	quick      bool
	coldN      int           // fresh functions, one first call each
	coldGap    time.Duration // pause after each, for the pool to refill
	freshN     int           // fresh-process baseline runs
	warmCalls  int           // sequential calls per path
	warmBatch  int
	tputConns  int
	tputDur    time.Duration
	tputRounds int
	telRounds  int // telemetry on vs off: rounds each, interleaved
	burstFns   int
	burstWidth int
	burstGap   time.Duration
	hiConns    int
	hiDur      time.Duration

	mqtMessages int           // published to the queue trigger
	timerDur    time.Duration // how long the every-second timer runs
	asyncCalls  int           // accepted asynchronous calls (and as many sync calls)

	kubeColdN      int // fresh functions on pods, one first call each
	kubeChanges    int // routes applied, and function updates, with kubectl
	kubeFunctions  int // functions created for the memory measurement
	kubeSpecialize int // of those, how many are called once

	only          string // "" (everything), "local" or "kube"
	lanterndFlags []string
}

func fullParams() params {
	return params{
		coldN: 60, coldGap: 400 * time.Millisecond, freshN: 5,
		warmCalls: 3000, warmBatch: 300,
		tputConns: 50, tputDur: 2 * time.Second, tputRounds: 5, telRounds: 10,
		burstFns: 3, burstWidth: 10, burstGap: 2 * time.Second,
		hiConns: 500, hiDur: 10 * time.Second,
		mqtMessages: 30000, timerDur: 30 * time.Second, asyncCalls: 3000,
		kubeColdN: 30, kubeChanges: 20, kubeFunctions: 1000, kubeSpecialize: 20,
	}
}

func quickParams() params {
	p := fullParams()
	p.quick = true
	p.coldN, p.freshN, p.warmCalls = 10, 2, 600
	p.tputDur, p.tputRounds, p.telRounds = time.Second, 1, 3
	p.burstFns, p.hiDur = 1, 2*time.Second
	p.mqtMessages, p.timerDur, p.asyncCalls = 3000, 6*time.Second, 500
	p.kubeColdN, p.kubeChanges, p.kubeFunctions, p.kubeSpecialize = 8, 5, 200, 3
	return p
}

var started = time.Now()

// progress prints a timestamped line to stderr.
func progress(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "[%5.1fs] %s\n", time.Since(started).Seconds(), fmt.Sprintf(format, args...))
}

func main() {
	if target := os.Getenv(proxyTargetEnv); target != "" {
		if err := serveProxy(target, os.Getenv(proxyListenEnv)); err != nil {
			fmt.Fprintln(os.Stderr, "baseline proxy:", err)
			os.Exit(1)
		}
		return
	}
	out := flag.String("out", ".bench", "folder for report.md, the plots and lanternd.log")
	quick := flag.Bool("quick", false, "short smoke run with small counts")
	bin := flag.String("lanternd", "bin/lanternd", "lanternd binary (build it with go build -o bin/ ./platform/cmd/...)")
	extra := flag.String("lanternd-flags", "", "extra flags for lanternd all, space-separated (A/B runs, e.g. --telemetry=false)")
	only := flag.String("only", "", "run one section: local (lanternd with local processes) or kube (on Kubernetes, with the local cold starts as a baseline)")
	flag.Parse()
	p := fullParams()
	if *quick {
		p = quickParams()
	}
	p.lanterndFlags = strings.Fields(*extra)
	switch *only {
	case "", "local", "kube":
		p.only = *only
	default:
		fmt.Fprintf(os.Stderr, "bench: -only=%q: use local or kube\n", *only)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, p, *out, *bin); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, p params, out, bin string) error {
	root, err := testenv.RepoRoot()
	if errors.Is(err, testenv.ErrNoGoMod) {
		err = errors.New("go.mod not found: run from the Lantern repository")
	}
	if err != nil {
		return err
	}
	if !filepath.IsAbs(bin) {
		bin = filepath.Join(root, bin)
	}
	if _, err := os.Stat(bin); err != nil {
		return fmt.Errorf("%w (build it: go build -o bin/ ./platform/cmd/...)", err)
	}
	runtimes := filepath.Join(root, "platform", "environments")
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	tmp, err := os.MkdirTemp("", "lantern-bench-fn-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	hello, err := writeHello(tmp)
	if err != nil {
		return err
	}

	r := &results{machine: describeMachine(bin, root), params: p}
	b := &bench{p: p, serverPy: filepath.Join(runtimes, "python", "server.py"), tmp: tmp, r: r}
	progress("machine: %d CPUs, %s; lanternd %s", r.machine.CPUs, r.machine.CPU, r.machine.Lanternd)
	if r.machine.Stale {
		progress("warning: %s is older than the platform sources; rebuild it", bin)
	}
	if p.only != "kube" {
		if err := b.measure(ctx, bin, runtimes, out, hello); err != nil {
			return err
		}
	}
	if p.only != "local" {
		if err := b.measureKube(ctx, bin, runtimes, out); err != nil {
			return err
		}
	}
	if b.measured > 0 {
		r.machine.Foreign = float64(b.foreignCPU) / float64(b.measured)
	}
	progress("other processes kept %.2f of %d CPUs busy during the measurements", r.machine.Foreign, r.machine.CPUs)
	if r.machine.busy() {
		progress("warning: the machine was busy with other work; these numbers are not reliable")
	}

	var rows []row
	if p.only != "kube" {
		rows = buildRows(r)
	}
	if p.only != "local" {
		rows = append(rows, kubeRows(r)...)
	}
	report := filepath.Join(out, "report.md")
	plots, err := writePlots(out, r)
	if err != nil {
		return err
	}
	if err := writeReport(report, r, rows, plots); err != nil {
		return err
	}
	fmt.Println()
	printTable(os.Stdout, rows)
	if r.machine.busy() {
		fmt.Printf("\nwarning: other processes kept %.2f of %d CPUs busy during the measurements; these numbers are not reliable\n", r.machine.Foreign, r.machine.CPUs)
	} else if len(r.machine.Disturbed) > 0 {
		fmt.Printf("\nnote: other processes disturbed some steps: %s\n", strings.Join(r.machine.Disturbed, ", "))
	}
	fmt.Printf("\nreport: %s\nplots: %s\n", report, strings.Join(plots, ", "))
	return nil
}

// step runs one measurement after waiting for the machine to be quiet, and
// accounts for the CPU other processes used meanwhile.
func (b *bench) step(ctx context.Context, name string, run func() error) (took time.Duration, foreign float64, err error) {
	// Other work on the machine would show up as the platform's.
	if w := waitQuiet(ctx, time.Minute); w > 2*time.Second {
		progress("waited %s for other processes to quiet down", w.Round(time.Second))
	}
	progress("%s", name)
	start := takeCPU()
	if err := run(); err != nil {
		return 0, 0, fmt.Errorf("%s: %w", name, err)
	}
	end := takeCPU()
	took, foreign = end.at.Sub(start.at), start.foreign(end)
	b.measured += took
	b.foreignCPU += time.Duration(foreign * float64(took))
	if foreign > 0.2 {
		progress("warning: other processes kept %.2f CPUs busy during this step", foreign)
		b.r.machine.Disturbed = append(b.r.machine.Disturbed, fmt.Sprintf("%s (%.2f CPUs)", strings.SplitN(name, ":", 2)[0], foreign))
	}
	return took, foreign, nil
}

// measure runs every measurement, each side by side with its baseline,
// against one lanternd, and stops every process it started.
func (b *bench) measure(ctx context.Context, bin, runtimes, out, hello string) (err error) {
	p, r := b.p, b.r
	step := func(name string, run func() error) (time.Duration, float64, error) { return b.step(ctx, name, run) }

	if _, _, err := step(fmt.Sprintf("fresh-process baseline: start server.py, specialize, call once (%d runs)", p.freshN),
		func() error { return b.freshProcess(ctx, hello) }); err != nil {
		return err
	}

	progress("starting lanternd all")
	d, err := startLanternd(ctx, bin, runtimes, filepath.Join(out, "lanternd.log"), p.lanterndFlags)
	if err != nil {
		return err
	}
	defer func() {
		progress("stopping lanternd")
		if serr := d.stop(); err == nil {
			err = serr
		}
	}()
	sample := func(step string) error {
		m, err := d.memory(ctx, step)
		if err != nil {
			return err
		}
		r.memory = append(r.memory, m)
		progress("lanternd memory %s: RSS %s, Go heap in use %s, %d goroutines, %d sockets", step, mb(m.rss), mb(m.heapInuse), m.goroutines, m.sockets)
		return nil
	}
	time.Sleep(time.Second) // settle
	if err := sample("after start"); err != nil {
		return err
	}

	b.ctrl, b.routerURL = client.NewController(d.apiURL, nil), d.routerURL
	r.machine.Version, _ = b.ctrl.Version(ctx)
	if err := b.createEnvironment(ctx); err != nil {
		return err
	}
	// The warm calls and the throughput go to one function; the instance
	// serving it is the direct baseline, so every path reaches the same
	// Python process.
	inst, err := b.servingInstance(ctx)
	if err != nil {
		return err
	}
	proxyURL, stopProxy, err := startProxy("http://" + inst.Address)
	if err != nil {
		return err
	}
	defer stopProxy()
	direct := paths{direct: "http://" + inst.Address + "/", proxy: proxyURL + "/"}

	steps := []struct {
		name string
		run  func() error
	}{
		{fmt.Sprintf("warm calls: %d sequential GETs each, direct vs bare proxy vs router", p.warmCalls), func() error { return b.warmCalls(ctx, direct) }},
		{fmt.Sprintf("cold starts: first call of %d fresh functions, %s apart", p.coldN, p.coldGap), func() error { return b.coldStarts(ctx) }},
		{fmt.Sprintf("throughput: %d connections, %s × %d rounds, direct vs bare proxy vs router", p.tputConns, p.tputDur, p.tputRounds), func() error { return b.throughput(ctx, direct) }},
		{fmt.Sprintf("telemetry cost: %d connections, %s × %d rounds each, interleaved, two fresh lanternds, telemetry on vs --telemetry=false", p.tputConns, p.tputDur, p.telRounds),
			func() error { return b.telemetryCost(ctx, d, bin, runtimes, out) }},
		{fmt.Sprintf("bursts: %d simultaneous first calls to %d fresh functions", p.burstWidth, p.burstFns), func() error { return b.bursts(ctx, d.pid()) }},
		{fmt.Sprintf("high concurrency: %d connections to one function for %s", p.hiConns, p.hiDur), func() error { return b.highConcurrency(ctx, d.pid()) }},
		{fmt.Sprintf("queue trigger: %d messages through NATS into a warm function vs raw NATS and JetStream", p.mqtMessages), func() error { return b.mqtThroughput(ctx, d) }},
		{fmt.Sprintf("timer jitter: a timer every second for %s", p.timerDur), func() error { return b.timerJitter(ctx, d) }},
		{fmt.Sprintf("async accept: %d asynchronous calls vs as many sync calls, sequential", p.asyncCalls), func() error { return b.asyncAccept(ctx) }},
	}
	for _, s := range steps {
		took, foreign, err := step(s.name, s.run)
		if err != nil {
			return err
		}
		if err := sample("after " + strings.SplitN(s.name, ":", 2)[0]); err != nil {
			return err
		}
		m := &r.memory[len(r.memory)-1]
		m.took, m.foreign = took, foreign
	}

	time.Sleep(10 * time.Second) // idle: lanternd gives memory back once quiet for 2-4 s
	if err := sample("idle after the run"); err != nil {
		return err
	}
	if d.exited() {
		return errors.New("lanternd exited during the run; see lanternd.log")
	}
	return nil
}

// machine describes where the numbers come from.
type machine struct {
	CPUs      int
	CPU       string
	Kernel    string
	GoHarness string
	Lanternd  string // Go version and VCS revision of the binary
	Version   string // lanternd's /v1/version
	Source    string // git describe of the working tree
	Python    string
	Stale     bool     // the binary is older than the platform sources
	Foreign   float64  // CPUs other processes kept busy during the measurements
	Disturbed []string // steps during which they used more than 0.2 CPUs
	Date      string
}

func describeMachine(bin, root string) machine {
	m := machine{CPUs: runtime.NumCPU(), GoHarness: runtime.Version(), Date: time.Now().UTC().Format(time.RFC3339)}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for line := range strings.SplitSeq(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPU = strings.TrimSpace(v)
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	if out, err := exec.Command(testenv.SystemPython, "--version").CombinedOutput(); err == nil {
		m.Python = strings.TrimSpace(string(out))
	}
	if out, err := exec.Command("git", "-C", root, "describe", "--always", "--dirty").Output(); err == nil {
		m.Source = strings.TrimSpace(string(out))
	}
	if bi, err := buildinfo.ReadFile(bin); err == nil {
		m.Lanternd = bi.GoVersion
		var rev, dirty string
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value[:min(12, len(s.Value))]
			case "vcs.modified":
				if s.Value == "true" {
					dirty = "+dirty"
				}
			}
		}
		if rev != "" {
			m.Lanternd += ", " + rev + dirty
		}
	}
	if st, err := os.Stat(bin); err == nil {
		_ = filepath.WalkDir(filepath.Join(root, "platform"), func(path string, e fs.DirEntry, err error) error {
			if err == nil && !e.IsDir() && strings.HasSuffix(path, ".go") && !strings.HasSuffix(path, "_test.go") {
				if info, err := e.Info(); err == nil && info.ModTime().After(st.ModTime()) {
					m.Stale = true
					return filepath.SkipAll
				}
			}
			return nil
		})
	}
	return m
}

// busy reports whether other work disturbed the run as a whole.
func (m machine) busy() bool { return m.Foreign > 0.2 }

func mb(b int64) string { return fmt.Sprintf("%.1f MB", float64(b)/(1<<20)) }
