package main

import (
	"fmt"
	"io"
	"maps"
	"math"
	"os"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/lantern-faas/lantern/platform/api"
)

// Fission's published numbers, the baselines the targets are set against.
const (
	fissionColdP50   = 58 * time.Millisecond  // CI, warm pool
	fissionColdP95   = 138 * time.Millisecond // CI, warm pool
	fissionBurstP95  = 4600 * time.Millisecond
	fissionErrPct500 = 3.35 // % errors at 500 concurrent connections
)

// Targets.
const (
	targetColdP50     = 10 * time.Millisecond
	targetColdP99     = 30 * time.Millisecond
	targetOverheadP50 = 100 * time.Microsecond
	targetTputRatio   = 0.8
	targetTelemetry   = 0.97 // throughput with telemetry on ÷ off
	targetBurstP95    = 300 * time.Millisecond
	targetRSS         = 60 << 20
)

// row is one line of the results table.
type row struct{ measurement, value, target, baseline, ratio, result string }

const none = "–"

func verdict(ok bool) string {
	if ok {
		return "PASS"
	}
	return "FAIL"
}

func ratio(v, base float64) string {
	if base == 0 || v == 0 {
		return none
	}
	return fmt.Sprintf("%.2f×", v/base)
}

// latencyRow reports a percentile; a nil check means no target.
func latencyRow(name string, d []time.Duration, p float64, unit func(time.Duration) string,
	target string, check func(time.Duration) bool, base time.Duration, baseNote string) row {
	r := row{measurement: name, value: "no data", target: target, baseline: none, ratio: none, result: none}
	if target == "" {
		r.target = none
	}
	if base > 0 {
		r.baseline = unit(base) + baseNote
	}
	if len(d) == 0 {
		if check != nil {
			r.result = verdict(false)
		}
		return r
	}
	v := pct(d, p)
	r.value = unit(v)
	if base > 0 {
		r.ratio = ratio(float64(v), float64(base))
	}
	if check != nil {
		r.result = verdict(check(v))
	}
	return r
}

// phaseRow reports the poolmgr's own record of cold starts at percentile p.
func phaseRow(name string, cs []api.ColdStart, p float64) row {
	var total, acq, fetch, spec []time.Duration
	for _, c := range cs {
		total, acq = append(total, c.Total), append(acq, c.Acquire)
		fetch, spec = append(fetch, c.Fetch), append(spec, c.Specialize)
	}
	name = fmt.Sprintf("%s, poolmgr's record p%g (acquire %.1f, fetch %.1f, specialize %.1f ms)", name, p,
		msf(pct(acq, p)), msf(pct(fetch, p)), msf(pct(spec, p)))
	return latencyRow(name, total, p, ms, "", nil, 0, "")
}

func msf(d time.Duration) float64 { return float64(d) / 1e6 }

func buildRows(r *results) []row {
	p := r.params
	var rows []row
	add := func(rs ...row) { rows = append(rows, rs...) }
	le := func(limit time.Duration) func(time.Duration) bool {
		return func(d time.Duration) bool { return d <= limit }
	}

	cold := fmt.Sprintf("Cold start, warm pool, via router (n=%d)", len(r.cold))
	add(
		latencyRow(cold+" p50", r.cold, 50, ms, "≤ 10 ms", le(targetColdP50), fissionColdP50, " (Fission CI p50)"),
		latencyRow(cold+" p95", r.cold, 95, ms, "", nil, fissionColdP95, " (Fission CI p95)"),
		latencyRow(cold+" p99", r.cold, 99, ms, "≤ 30 ms", le(targetColdP99), 0, ""),
		latencyRow("Cold start p50 vs. fresh process, no pool", r.cold, 50, ms, "", nil,
			pct(r.fresh, 50), fmt.Sprintf(" (fresh process median, n=%d)", len(r.fresh))),
		phaseRow("Cold start", r.coldPhases, 50),
	)

	dp50, pp50, rp50 := pct(r.warmDirect, 50), pct(r.warmProxy, 50), pct(r.warmRouter, 50)
	dp99, rp99 := pct(r.warmDirect, 99), pct(r.warmRouter, 99)
	warm := func(what string) string {
		return fmt.Sprintf("Warm call %s (n=%d each, 1 keep-alive conn)", what, len(r.warmRouter))
	}
	add(
		latencyRow(warm("p50, direct"), r.warmDirect, 50, us, "", nil, 0, ""),
		latencyRow(warm("p50, bare Go reverse proxy"), r.warmProxy, 50, us, "", nil, dp50, " (direct)"),
		latencyRow(warm("p50, via router"), r.warmRouter, 50, us, "", nil, dp50, " (direct)"),
		latencyRow(warm("p99, direct"), r.warmDirect, 99, us, "", nil, 0, ""),
		latencyRow(warm("p99, via router"), r.warmRouter, 99, us, "", nil, dp99, " (direct)"),
	)
	over := row{measurement: "Router overhead p50 (router p50 − direct p50)", value: "no data", target: "≤ 100 µs",
		baseline: none, ratio: none, result: verdict(false)}
	if len(r.warmDirect) > 0 && len(r.warmRouter) > 0 {
		over.value, over.result = us(rp50-dp50), verdict(rp50-dp50 <= targetOverheadP50)
		if len(r.warmProxy) > 0 {
			over.baseline = us(pp50-dp50) + " (bare proxy hop)"
			over.ratio = ratio(float64(rp50-dp50), float64(pp50-dp50))
		}
	}
	add(over, row{"Router overhead p99 (router p99 − direct p99)", us(rp99 - dp99), none, none, none, none})

	td, tp, tr := merge(r.tputDirect...), merge(r.tputProxy...), merge(r.tputRouter...)
	tput := fmt.Sprintf("Throughput, %d conns, %s × %d", p.tputConns, p.tputDur, p.tputRounds)
	tRatio := 0.0
	if td.RPS() > 0 {
		tRatio = tr.RPS() / td.RPS()
	}
	add(
		row{tput + ", direct", rps(td), none, none, none, none},
		row{tput + ", bare Go reverse proxy", rps(tp), none, rps(td) + " (direct)", ratio(tp.RPS(), td.RPS()), none},
		row{tput + ", via router (rpp 50, concurrency 1)", rps(tr), "≥ 0.80× direct", rps(td) + " (direct)",
			ratio(tr.RPS(), td.RPS()), verdict(tRatio >= targetTputRatio && tr.Errs.total() == 0)},
	)

	ton, toff := merge(r.telOn...), merge(r.telOff...)
	tel := row{"Throughput with all telemetry on vs off (metrics, tracing at default sampling, exemplars)", rps(ton),
		"≥ 0.97× off", rps(toff) + " (off)", none, verdict(false)}
	if ton.Elapsed > 0 && toff.Elapsed > 0 {
		tel.ratio = ratio(ton.RPS(), toff.RPS())
		tel.result = verdict(ton.RPS() >= targetTelemetry*toff.RPS() && ton.Errs.total()+toff.Errs.total() == 0)
	}
	hist := row{"Router overhead histogram p50 (lantern_function_overhead_seconds)", "no data", "< 100 µs", none, none, verdict(false)}
	if v, lo, hi, ok := histogramQuantile(0.5, r.overheadBuckets); ok {
		hist.value = fmt.Sprintf("%.0f µs (bucket %.4g–%.4g µs, n=%.0f)", v*1e6, lo*1e6, hi*1e6, r.overheadBuckets[math.Inf(1)])
		hist.result = verdict(v < targetOverheadP50.Seconds())
	}
	add(tel, hist)

	burst := fmt.Sprintf("Burst: %d simultaneous first calls × %d functions (n=%d)", p.burstWidth, p.burstFns, len(r.burst))
	add(
		latencyRow(burst+" p50", r.burst, 50, ms, "", nil, 0, ""),
		latencyRow(burst+" p95", r.burst, 95, ms, "≤ 300 ms", le(targetBurstP95), fissionBurstP95, " (Fission)"),
		latencyRow(burst+" max", r.burst, 100, ms, "", nil, 0, ""),
		phaseRow("Burst", r.burstPhases, 95),
		row{fmt.Sprintf("Instances the %d burst functions ended up with", p.burstFns), fmt.Sprint(r.burstInstances),
			none, fmt.Sprintf("%d (calls per burst)", p.burstWidth*p.burstFns), ratio(float64(r.burstInstances), float64(p.burstWidth*p.burstFns)), none},
	)
	after := latencyRow("First call of another fresh function right after the bursts", []time.Duration{r.afterBurst}, 50, ms,
		"", nil, pct(r.cold, 50), " (cold start p50)")
	if r.afterBurst == 0 {
		after.value = "no data"
	}
	if c := r.afterBurstPhase; c != nil {
		after.measurement += fmt.Sprintf(" (acquire %.1f, fetch %.1f, specialize %.1f ms)", msf(c.Acquire), msf(c.Fetch), msf(c.Specialize))
	}
	add(after)

	hi := fmt.Sprintf("%d conns to one function (rpp 100), %s", p.hiConns, p.hiDur)
	add(
		row{hi + ": errors", fmt.Sprintf("%.2f %% (%d of %d)", r.hi.ErrPct(), r.hi.Errs.total(), r.hi.OK+r.hi.Errs.total()),
			"0 errors", fmt.Sprintf("%.2f %% (Fission at 500)", fissionErrPct500), none, verdict(r.hi.OK > 0 && r.hi.Errs.total() == 0)},
		row{hi + fmt.Sprintf(": throughput (%d instances)", r.hiInstances), rps(r.hi), none, none, none, none},
		latencyRow(hi+": latency p99", r.hi.Lat, 99, ms, "", nil, 0, ""),
	)

	add(triggerRows(r)...)

	var first, last memSample
	if n := len(r.memory); n > 0 {
		first, last = r.memory[0], r.memory[n-1]
	}
	failed := r.coldErrs.total() + r.warmErrs.total() + r.burstErrs.total() + r.freshErrs.total()
	add(
		row{"Failed calls in latency measurements (cold, warm, burst, fresh)", fmt.Sprint(failed), "0", none, none, verdict(failed == 0)},
		row{"lanternd RSS, idle after start", mb(first.rss), "< 60 MB", none, none, verdict(first.rss > 0 && first.rss < targetRSS)},
		row{"lanternd RSS, idle after the run", mb(last.rss), "< 60 MB", none, none, verdict(last.rss > 0 && last.rss < targetRSS)},
		row{"lanternd peak RSS during the run (VmHWM)", mb(last.peak), none, none, none, none},
	)
	return rows
}

// histogramQuantile estimates the q-quantile from cumulative bucket counts
// by upper bound like Prometheus' histogram_quantile: linearly within the
// bucket holding the rank, whose bounds are lo and hi.
func histogramQuantile(q float64, buckets map[float64]float64) (v, lo, hi float64, ok bool) {
	les := slices.Sorted(maps.Keys(buckets))
	if len(les) < 2 || !math.IsInf(les[len(les)-1], 1) || buckets[les[len(les)-1]] == 0 {
		return 0, 0, 0, false
	}
	rank := q * buckets[les[len(les)-1]]
	prev := 0.0 // count below lo
	for i, le := range les {
		if i > 0 {
			lo, prev = les[i-1], buckets[les[i-1]]
		}
		if buckets[le] >= rank {
			if math.IsInf(le, 1) { // Prometheus answers the highest finite bound
				return lo, lo, le, true
			}
			return lo + (le-lo)*(rank-prev)/(buckets[le]-prev), lo, le, true
		}
	}
	return 0, 0, 0, false
}

func rps(r loadResult) string {
	if r.Elapsed == 0 {
		return "no data"
	}
	return fmt.Sprintf("%.0f rps", r.RPS())
}

var header = row{"Measurement", "Value", "Target", "Baseline", "Ratio", "Result"}

// printTable writes rows as a markdown table with aligned columns.
func printTable(w io.Writer, rows []row) {
	all := append([]row{header}, rows...)
	cells := func(r row) []string { return []string{r.measurement, r.value, r.target, r.baseline, r.ratio, r.result} }
	width := make([]int, 6)
	for _, r := range all {
		for i, c := range cells(r) {
			width[i] = max(width[i], utf8.RuneCountInString(c))
		}
	}
	line := func(cs []string) {
		for i, c := range cs {
			pad := strings.Repeat(" ", width[i]-utf8.RuneCountInString(c))
			if i == 0 {
				fmt.Fprintf(w, "| %s%s |", c, pad)
			} else {
				fmt.Fprintf(w, " %s%s |", pad, c) // numbers align right
			}
		}
		fmt.Fprintln(w)
	}
	line(cells(header))
	sep := make([]string, 6)
	for i := range sep {
		sep[i] = strings.Repeat("-", width[i]-1) + ":"
	}
	sep[0] = strings.Repeat("-", width[0])
	line(sep)
	for _, r := range rows {
		line(cells(r))
	}
}

func writeReport(path string, r *results, rows []row, plots []string) error {
	var b strings.Builder
	m, p := r.machine, r.params
	kind := "full run"
	switch {
	case p.quick:
		kind = "quick smoke run (-quick): small counts, not for comparison"
	case p.only == "kube":
		kind = "Kubernetes section only (-only kube), with the local-process cold starts as its baseline"
	case p.only == "local":
		kind = "local section only (-only local), no Kubernetes"
	}
	fmt.Fprintf(&b, "# Lantern benchmark\n\n%s, %s.\n\n", m.Date, kind)
	fmt.Fprintf(&b, "| Machine | |\n| --- | --- |\n")
	fmt.Fprintf(&b, "| CPUs (nproc) | %d |\n| CPU | %s |\n| Kernel | %s |\n| Go (harness) | %s |\n| lanternd | version %s, built with %s |\n| Source tree | %s |\n| Python | %s |\n",
		m.CPUs, m.CPU, m.Kernel, m.GoHarness, m.Version, m.Lanternd, m.Source, m.Python)
	fmt.Fprintf(&b, "| Other processes during the measurements | kept %.2f of %d CPUs busy on average (the harness waits for quiet before each step) |\n", m.Foreign, m.CPUs)
	if r.kube.ran {
		fmt.Fprintf(&b, "| Kubernetes | %s (test/kubeenv), pods on the test/kubenode node as local processes |\n", r.kube.kubeVersion)
	}
	if len(p.lanterndFlags) > 0 {
		fmt.Fprintf(&b, "| Extra lanternd flags | %s |\n", strings.Join(p.lanterndFlags, " "))
	}
	b.WriteString("\n")
	if m.busy() {
		b.WriteString("**Warning:** other work kept the machine busy during the run; these numbers are not reliable. Run again on a quiet machine.\n\n")
	} else if len(m.Disturbed) > 0 {
		fmt.Fprintf(&b, "**Note:** other processes used more than 0.2 CPUs during: %s.\n\n", strings.Join(m.Disturbed, ", "))
	}
	if m.Stale {
		b.WriteString("**Warning:** the lanternd binary was older than the platform sources when the run started.\n\n")
	}
	b.WriteString("## Results\n\n")
	printTable(&b, rows)
	b.WriteString("\nRatio is value ÷ baseline. Percentiles are by nearest rank, so p99 of fewer than 100 samples is the maximum.\n")

	if len(r.memory) > 0 {
		writeSteps(&b, "Steps: duration, other processes' CPU, lanternd's memory at the end", r.memory)
	}
	if r.kube.ran {
		writeSteps(&b, "Kubernetes steps: duration, other processes' CPU, lanternd's memory at the end", r.kube.memory)
	}

	b.WriteString("\n## Plots\n\n")
	for _, f := range plots {
		fmt.Fprintf(&b, "![%s](%s)\n\n", strings.TrimSuffix(f, ".png"), f)
	}

	b.WriteString("## Method\n\n")
	if p.only != "kube" {
		writeLocalMethod(&b, r)
	}
	if r.kube.ran {
		writeKubeMethod(&b, r)
	}

	errs := []struct {
		name string
		t    errTally
	}{
		{"fresh process", r.freshErrs}, {"cold start", r.coldErrs}, {"warm calls", r.warmErrs},
		{"throughput, direct", merge(r.tputDirect...).Errs}, {"throughput, bare proxy", merge(r.tputProxy...).Errs},
		{"throughput, router", merge(r.tputRouter...).Errs},
		{"telemetry cost, on", merge(r.telOn...).Errs}, {"telemetry cost, off", merge(r.telOff...).Errs},
		{"burst", r.burstErrs}, {"high concurrency", r.hi.Errs},
		{"Kubernetes cold start", r.kube.coldErrs}, {"Kubernetes config changes", r.kube.changeErrs},
		{"Kubernetes cold start with many functions", r.kube.manyErrs},
	}
	b.WriteString("\n## Errors\n\n")
	found := false
	for _, e := range errs {
		if e.t.total() > 0 {
			fmt.Fprintf(&b, "- %s: %s\n", e.name, e.t)
			found = true
		}
	}
	if !found {
		b.WriteString("None.\n")
	}
	return os.WriteFile(path, []byte(b.String()), 0o644)
}

// writeSteps writes a table of lanternd's memory after each step.
func writeSteps(b *strings.Builder, title string, samples []memSample) {
	fmt.Fprintf(b, "\n## %s\n\n", title)
	b.WriteString("| When | Step took | Other processes' CPU | lanternd RSS | Go heap in use | Go heap free, not returned to the OS | Goroutines | Open sockets |\n")
	b.WriteString("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n")
	for _, m := range samples {
		took, foreign := none, none
		if m.took > 0 {
			took, foreign = m.took.Round(100*time.Millisecond).String(), fmt.Sprintf("%.2f", m.foreign)
		}
		fmt.Fprintf(b, "| %s | %s | %s | %s | %s | %s | %d | %d |\n", m.step, took, foreign,
			mb(m.rss), mb(m.heapInuse), mb(m.heapUnused), m.goroutines, m.sockets)
	}
}

// writeLocalMethod describes the section on local processes.
func writeLocalMethod(b *strings.Builder, r *results) {
	m, p := r.machine, r.params
	fmt.Fprintf(b, `Everything runs on this machine: one lanternd all, Python instances it starts, the direct instance and the load generator share its %d CPUs. The function is Python's hello world (def main(): return "Hello, world!\n") in one environment with runtime python and poolsize %d.

- **Cold start**: %d functions are created up front, each with its own package (a comment differs, so no package cache is shared). Each one's first call is timed through the router on a warm keep-alive connection, %s apart so the pool has refilled. The functions are deleted afterwards.
- **Fresh process**: server.py is started from scratch, polled every millisecond until it listens, specialized and called once; median of %d runs.
- **Warm calls**: %d sequential GETs each to the instance serving a function, found with GET .../functions/tput/instances (direct), through a bare httputil.ReverseProxy in front of that instance, run as a separate process like lanternd (the cost of any Go proxy hop on this machine), and to the function through the router: one Python process answers all three. Interleaved batches of %d after 200 warm-up calls per path.
- **Throughput**: closed loop with %d goroutines sharing one keep-alive transport, direct, bare proxy and router in turn for %d rounds of %s, each round starting with the next path, counting 200s with the hello body. The function (the same as the warm calls') has requestsPerPod %d and concurrency 1, so every path hits its one Python process.
- **Burst**: %d simultaneous first calls to a fresh function (requestsPerPod 1), on connections opened beforehand; %d functions, %s apart. Right after the last burst, one more fresh function is called once; then the harness waits until lanternd and its instances use under 5 %% of a CPU and deletes these functions.
- **High concurrency**: %d connections in a closed loop for %s on one function with requestsPerPod 100 (concurrency 500), after one warm-up call, so it scales out during the run.
- **Memory**: VmRSS of the lanternd process from /proc (instances are separate processes), 1 s after start and 10 s after the load (lanternd returns free memory to the OS once it has been quiet for 2-4 s).
`, m.CPUs, poolsize, p.coldN, p.coldGap, p.freshN, p.warmCalls, p.warmBatch, p.tputConns, p.tputRounds, p.tputDur, p.tputConns,
		p.burstWidth, p.burstFns, p.burstGap, p.hiConns, p.hiDur)

	fmt.Fprintf(b, "- **Telemetry cost**: two more lanternd all (own data folders and ports, the same environment) start together for this step, one with the main one's flags (metrics, tracing at default sampling, exemplars) and one with --telemetry=false; the main lanternd, which by then holds every earlier step's functions and instances, is not one of them. Each serves a function tel with requestsPerPod %d and concurrency 1. Closed-loop rounds of %s at %d connections alternate between the two, %d rounds each (each round starting with the other one), so both share the machine's noise. Before each round the function gets new code (another comment), and the round runs on the new instance after a 1 s pause and a 0.5 s warm-up: every round meets another Python process, since two processes with the same code differ by up to 7 %% in CPU per call here. The overhead histogram p50 is estimated afterwards from the main lanternd's lantern_function_overhead_seconds buckets for tput, summed over label sets, like Prometheus' histogram_quantile (linear within the bucket holding the median); it covers every call to tput so far, the first one included.\n",
		p.tputConns, p.tputDur, p.tputConns, p.telRounds)
}
