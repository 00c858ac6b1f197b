package main

import (
	"fmt"
	"strings"
	"time"

	"gonum.org/v1/plot"
)

// Targets on Kubernetes (issue 5).
const (
	targetKubeColdP50 = 30 * time.Millisecond
	targetKubeChange  = time.Second
	targetKubeRSS     = 100 << 20
)

// kubeRows reports the Kubernetes section.
func kubeRows(r *results) []row {
	kr, p := r.kube, r.params
	le := func(limit time.Duration) func(time.Duration) bool {
		return func(d time.Duration) bool { return d <= limit }
	}
	secs := func(d time.Duration) string { return fmt.Sprintf("%.1f s", d.Seconds()) }
	local := fmt.Sprintf(" (local processes, n=%d)", len(r.cold))
	cold := fmt.Sprintf("Kubernetes: cold start, warm pod pool, via router (n=%d)", len(kr.cold))
	rows := []row{
		{"Kubernetes: etcd + kube-apiserver started and ready", secs(kr.apiReady), none, none, none, none},
		{fmt.Sprintf("Kubernetes: pool of %d pods warm after the environment is created", poolsize), secs(kr.poolReady), none, none, none, none},
		latencyRow(cold+" p50", kr.cold, 50, ms, "≤ 30 ms", le(targetKubeColdP50), fissionColdP50, " (Fission CI p50, kind)"),
		latencyRow("Kubernetes: cold start p50 on pods vs. local processes", kr.cold, 50, ms, "", nil, pct(r.cold, 50), local),
		latencyRow(cold+" p95", kr.cold, 95, ms, "", nil, fissionColdP95, " (Fission CI p95)"),
		latencyRow(cold+" p99", kr.cold, 99, ms, "", nil, pct(r.cold, 99), local),
		phaseRow("Kubernetes: cold start", kr.coldPhases, 50),
	}

	change := func(what string, d []time.Duration) []row {
		name := fmt.Sprintf("Kubernetes: %s (n=%d)", what, len(d))
		return []row{
			latencyRow(name+" p50", d, 50, ms, "", nil, 0, ""),
			latencyRow(name+" max", d, 100, ms, "≤ 1 s", le(targetKubeChange), 0, ""),
		}
	}
	withKubectl := func(what string, total, run []time.Duration) row {
		return latencyRow(fmt.Sprintf("Kubernetes: %s, from kubectl's start, its run included, max", what), total, 100, ms, "", nil,
			pct(run, 100), " (kubectl apply's own run, max)")
	}
	rows = append(rows, change("HTTPTrigger via kubectl apply → router serves it, from kubectl's return", kr.routeKubectl)...)
	rows = append(rows, withKubectl("HTTPTrigger via kubectl apply → router serves it", kr.routeKubectlTotal, kr.routeKubectlRun))
	rows = append(rows, change("HTTPTrigger via client-go create → router serves it", kr.routeAPI)...)
	rows = append(rows, change("new code via kubectl apply → router serves it (a cold start included), from kubectl's return", kr.updateKubectl)...)
	rows = append(rows, withKubectl("new code via kubectl apply → router serves it", kr.updateKubectlTotal, kr.updateKubectlRun))
	rows = append(rows, change("new code via client-go patch → router serves it (a cold start included)", kr.updateAPI)...)
	want := 4 * p.kubeChanges
	if got := len(kr.routeKubectl) + len(kr.routeAPI) + len(kr.updateKubectl) + len(kr.updateAPI); got < want {
		rows = append(rows, row{"Kubernetes: changes the router did not show within 10 s", fmt.Sprint(want - got), "0", none, none, verdict(false)})
	}

	many := fmt.Sprintf("Kubernetes: lanternd all RSS, %d functions created through the API and watched, %d of them called (%d ready pods)",
		p.kubeFunctions, len(kr.manyCold), kr.manyReady)
	mem := row{many, "no data", "≤ 100 MB", mb(kr.idle.rss) + " (idle, no functions)", none, verdict(false)}
	if kr.many.rss > 0 {
		mem.value, mem.result = mb(kr.many.rss), verdict(kr.many.rss <= targetKubeRSS)
		mem.ratio = ratio(float64(kr.many.rss), float64(kr.idle.rss))
	}
	var peak int64
	if n := len(kr.memory); n > 0 {
		peak = kr.memory[n-1].peak
	}
	failed := kr.coldErrs.total() + kr.changeErrs.total() + kr.manyErrs.total()
	rows = append(rows,
		row{fmt.Sprintf("Kubernetes: lanternd all RSS, idle with a warm pool of %d pods, no functions", poolsize), mb(kr.idle.rss), none, none, none, none},
		mem,
		row{fmt.Sprintf("Kubernetes: Go heap in use, %d functions", p.kubeFunctions), mb(kr.many.heapInuse), none,
			mb(kr.idle.heapInuse) + " (idle, no functions)", ratio(float64(kr.many.heapInuse), float64(kr.idle.heapInuse)), none},
		row{"Kubernetes: lanternd all peak RSS during the Kubernetes run (VmHWM)", mb(peak), none, none, none, none},
		row{fmt.Sprintf("Kubernetes: %d functions created through the API, 8 at a time", p.kubeFunctions), secs(kr.created), none, none, none, none},
		latencyRow(fmt.Sprintf("Kubernetes: cold start p50 with %d functions watched (n=%d)", p.kubeFunctions, len(kr.manyCold)), kr.manyCold, 50, ms,
			"", nil, pct(kr.cold, 50), " (with none)"),
		row{"Kubernetes: failed calls (cold starts, during config changes)", fmt.Sprint(failed), "0", none, none, verdict(failed == 0)},
	)
	return rows
}

// writeKubeMethod describes the Kubernetes section.
func writeKubeMethod(b *strings.Builder, r *results) {
	p, kr := r.params, r.kube
	fmt.Fprintf(b, "\n### Kubernetes\n\n")
	fmt.Fprintf(b, `A cluster of its own on this machine: etcd and kube-apiserver (%s, built by make tools, started by test/kubeenv on loopback, no scheduler or controller-manager), Lantern's CRDs, and test/kubenode, a virtual-kubelet node that runs each pod's containers as local processes on a loopback address of its own (the runtime image is mapped to the Python runtime's server.py, the fetcher image to lanternd fetcher). One lanternd all --backend kubernetes --instances pods keeps its state in the custom resources and runs every instance as a pod with the runtime and a fetcher sidecar; the environment is the same Python one, poolsize %d. The API server, etcd, the node, the pods, lanternd and the load generator share the same %d CPUs.

- **Cold start on pods**: %d functions are created through the API up front (each package is a ConfigMap). Before each first call the harness waits until the poolmgr reports its %d pool pods idle and none starting (lantern_pool_instances), then %s more; the call goes through the router's /fn/ route on a warm keep-alive connection and is timed to the last body byte. The poolmgr acquires a warm pod, its fetcher sidecar fetches the package from the controller, and the runtime is specialized over the pod IP. The baseline is the local-process cold start measured in the same run (the Cold start rows above, or, with -only kube, a lanternd with local processes started first and measured the same way).
- **Config changes**: %d times, an HTTPTrigger for a function that is already warm is applied with kubectl apply (a process, as a user runs it), then another one is created by the harness through client-go; after each write returns, the harness calls the new path every millisecond until the router answers 200 (404 until then). Then a function written with kubectl (its code a literal) gets new code %d times with kubectl apply and %d times with a client-go merge patch, alternately, the pod pool warm before each; the harness calls its route every millisecond until the answer is the new code, which takes the router seeing the new version and a cold start of it on a warm pod. The kubectl rows run from kubectl's return (a change the router showed before kubectl had exited counts as the first call's time, about a millisecond), and once from kubectl's start, its own run included, which the load of the machine on kubectl itself dominates; the client-go rows run from the write's return and are the informer path alone (the controller's informer, its watch stream, the router's informer). Any answer that is neither the old state nor the new one counts as a failed call.
- **Memory**: VmRSS of lanternd all (controller, poolmgr, router, triggers and embedded NATS in one process; the pods are not its children), %s after the pool of pods was warm and before any function existed, and again after %d functions were created through the Lantern API (8 at a time, each with its own package ConfigMap; the controller's informers, the router's and the poolmgr's caches hold all of them; two writes to the API server each, paced by lanternd's client-side limit of 200 requests a second after a burst of 400, so 1,000 take about 8 s) and %d of them, spread over the list, were called once, the pool warm before each (those calls are the cold-start row with functions watched), %s after the last call. The functions of the earlier steps were deleted before; the figure is for the same lanternd after them.
`, kr.kubeVersion, poolsize, r.machine.CPUs, p.kubeColdN, poolsize, p.coldGap, p.kubeChanges, p.kubeChanges, p.kubeChanges,
		settleTime, p.kubeFunctions, p.kubeSpecialize, settleTime)
}

func kubePlot(r *results) (*plot.Plot, error) {
	kr := r.kube
	pl, err := cdfPlot("Kubernetes: cold starts and config changes reaching the router", "latency (ms, log scale)", time.Millisecond,
		[]series{
			{"cold start on a warm pod pool, via router", kr.cold},
			{"cold start on local processes, via router", r.cold},
			{"route created with client-go → served", kr.routeAPI},
			{"route applied with kubectl → served, kubectl's run included", kr.routeKubectlTotal},
			{"code patched with client-go → new code served", kr.updateAPI},
		},
		map[string]float64{"30 ms": 30, "58 ms (Fission)": 58, "1 s": 1000})
	if err != nil {
		return nil, err
	}
	pl.Y.Max = 1.7 // room for five legend entries above the lines
	return pl, nil
}
