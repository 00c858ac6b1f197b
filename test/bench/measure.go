package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/lantern-faas/lantern/platform/api"
	"github.com/lantern-faas/lantern/platform/client"
)

const (
	namespace = "default"
	envName   = "py"
	poolsize  = 3
)

// helloCode is the benchmarked function. tag goes into a comment so that
// every fresh function has its own package (and checksum): the poolmgr
// caches packages by checksum, and a real new function is never cached.
func helloCode(tag string) []byte {
	return fmt.Appendf(nil, "# %s\ndef main():\n    return %q\n", tag, helloBody)
}

// results is everything one run measured.
type results struct {
	machine machine
	params  params

	fresh     []time.Duration // fresh process: start, specialize, first call
	freshErrs errTally

	cold       []time.Duration // first calls with a warm pool, via the router
	coldErrs   errTally
	coldPhases []api.ColdStart // the poolmgr's records of the same

	warmDirect, warmProxy, warmRouter []time.Duration
	warmErrs                          errTally

	tputDirect, tputProxy, tputRouter []loadResult

	telOn, telOff []loadResult // router throughput, telemetry on and off
	// lantern_function_overhead_seconds buckets of tput on the main
	// lanternd: cumulative count by upper bound
	overheadBuckets map[float64]float64

	burst       []time.Duration
	burstErrs   errTally
	burstPhases []api.ColdStart
	// a fresh function's first call right after the bursts
	afterBurst      time.Duration
	afterBurstPhase *api.ColdStart
	burstInstances  int // instances the burst functions ended up with

	hi          loadResult // many connections to one function
	hiInstances int        // instances the function scaled to

	memory []memSample // lanternd's, after start, after each step, idle at the end

	triggers triggerResults
	kube     kubeResults
}

// bench holds what the measurements share.
type bench struct {
	p         params
	ctrl      *client.Controller
	routerURL string
	serverPy  string
	tmp       string // hello.py for the direct instances lives here
	r         *results

	// Time spent in steps, and the CPU time other processes used meanwhile.
	measured, foreignCPU time.Duration
}

func (b *bench) fnURL(name string) string {
	return b.routerURL + "/fn/" + namespace + "/" + name
}

// createEnvironment creates the python environment the functions run in.
func (b *bench) createEnvironment(ctx context.Context) error {
	env := &api.Environment{Metadata: api.Metadata{Name: envName, Namespace: namespace},
		Spec: api.EnvironmentSpec{Runtime: "python", Poolsize: poolsize}}
	if err := b.ctrl.Create(ctx, env); err != nil {
		return fmt.Errorf("create environment: %w", err)
	}
	return nil
}

// helloFunction is a hello function in the python environment.
func helloFunction(name string, spec api.FunctionSpec, code []byte) *api.Function {
	spec.Environment = envName
	spec.Entrypoint = "hello.main"
	return &api.Function{
		Metadata: api.Metadata{Name: name, Namespace: namespace},
		Spec:     spec,
		Code:     &api.Code{Filename: "hello.py", Data: code},
	}
}

// createFunction creates a hello function.
func (b *bench) createFunction(ctx context.Context, name string, spec api.FunctionSpec, code []byte) error {
	if err := b.ctrl.Create(ctx, helloFunction(name, spec, code)); err != nil {
		return fmt.Errorf("create function %s: %w", name, err)
	}
	return nil
}

// freshInstance gives a function new code (the same answer, another
// comment), calls it until an instance of the new version is ready, then
// lets the pool refill: its next calls go to another Python process.
func (b *bench) freshInstance(ctx context.Context, name string, spec api.FunctionSpec, tag string) error {
	fn := helloFunction(name, spec, helloCode(tag))
	if err := b.ctrl.Update(ctx, fn); err != nil {
		return fmt.Errorf("update function %s: %w", name, err)
	}
	c := newClient(1)
	defer c.CloseIdleConnections()
	for deadline := time.Now().Add(30 * time.Second); ; {
		_, err := get(ctx, c, b.fnURL(name))
		list, lerr := b.ctrl.Instances(ctx, namespace, name)
		if err == nil && lerr == nil && slices.ContainsFunc(list, func(in api.Instance) bool {
			return in.ResourceVersion == fn.Metadata.ResourceVersion && in.State == api.StateReady
		}) {
			break
		}
		if ctx.Err() != nil || time.Now().After(deadline) {
			return fmt.Errorf("function %s: no instance of its new version answered within 30s (call: %v, instances: %v)", name, err, lerr)
		}
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(time.Second) // the pool starts a process in place of the one taken
	return ctx.Err()
}

// waitCallable calls url until it answers with the hello body: setup, not
// measured.
func waitCallable(ctx context.Context, url string, timeout time.Duration) error {
	c := newClient(1)
	defer c.CloseIdleConnections()
	start := time.Now()
	for {
		t := time.Now()
		_, err := get(ctx, c, url)
		if err == nil {
			return nil
		}
		// A 404 is expected until the router has heard of a new function.
		if !strings.HasPrefix(err.Error(), "HTTP 404") || time.Since(start) > 2*time.Second {
			progress("  %s failed after %s: %v", url, ms(time.Since(t)), err)
		}
		if ctx.Err() != nil || time.Since(start) > timeout {
			return fmt.Errorf("%s never answered: %w", url, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// freshProcess measures the no-pool baseline: start server.py, specialize,
// call once, n times.
func (b *bench) freshProcess(ctx context.Context, file string) error {
	b.r.freshErrs = errTally{}
	for i := range b.p.freshN {
		start := time.Now()
		py, err := startPython(ctx, b.serverPy, b.tmp)
		if err != nil {
			return err
		}
		c := newClient(1)
		err = py.specialize(ctx, file)
		if err == nil {
			_, err = get(ctx, c, py.url+"/")
		}
		d := time.Since(start)
		c.CloseIdleConnections()
		py.stop(2 * time.Second)
		if err != nil {
			b.r.freshErrs.add(err)
			continue
		}
		b.r.fresh = append(b.r.fresh, d)
		progress("fresh process %d/%d: %s", i+1, b.p.freshN, ms(d))
	}
	return nil
}

// coldStarts times the first call of coldN fresh functions through the
// router, each one a specialization of a warm generic instance.
func (b *bench) coldStarts(ctx context.Context) error {
	names := make([]string, b.p.coldN)
	for i := range names {
		names[i] = fmt.Sprintf("cold-%03d", i)
		if err := b.createFunction(ctx, names[i], api.FunctionSpec{}, helloCode(names[i])); err != nil {
			return err
		}
	}
	// Let the router and poolmgr see the functions and the pool refill.
	time.Sleep(b.p.coldGap + 500*time.Millisecond)
	c := newClient(1)
	defer c.CloseIdleConnections()
	b.r.coldErrs = errTally{}
	for i, name := range names {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		// Keep the connection to the router open and warm.
		if !answersWith(ctx, c, b.routerURL+"/router-healthz") {
			return fmt.Errorf("router stopped answering")
		}
		d, err := get(ctx, c, b.fnURL(name))
		if err != nil {
			b.r.coldErrs.add(err)
		} else {
			b.r.cold = append(b.r.cold, d)
		}
		if (i+1)%10 == 0 || i+1 == len(names) {
			progress("cold start %d/%d: last %s, p50 so far %s, errors %d", i+1, len(names), ms(d), ms(pct(b.r.cold, 50)), b.r.coldErrs.total())
		}
		time.Sleep(b.p.coldGap)
	}
	b.r.coldPhases = b.coldStartRecords(ctx, names)
	// Free the instances: 60 idle Python processes would skew what follows.
	for _, name := range names {
		if err := b.ctrl.Delete(ctx, api.KindFunction, namespace, name); err != nil {
			return fmt.Errorf("delete function %s: %w", name, err)
		}
	}
	return nil
}

// coldStartRecords returns the poolmgr's records of the functions' cold
// starts, phase by phase; none when lanternd does not keep them.
func (b *bench) coldStartRecords(ctx context.Context, names []string) []api.ColdStart {
	var out []api.ColdStart
	for _, name := range names {
		cs, err := b.ctrl.ColdStarts(ctx, namespace, name)
		if err != nil {
			return nil
		}
		for _, c := range cs {
			if c.Outcome == "ok" {
				out = append(out, c)
			}
		}
	}
	return out
}

func answersWith(ctx context.Context, c *http.Client, url string) bool {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	resp, err := c.Do(req)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// paths are the baselines' URLs: the instance serving the tput function,
// and a bare Go reverse proxy in front of it.
type paths struct{ direct, proxy string }

// tputSpec is the function the warm calls and the throughput measure: one
// instance takes every connection of the closed loop, and stays for the
// whole run.
func (b *bench) tputSpec() api.FunctionSpec {
	return api.FunctionSpec{RequestsPerPod: b.p.tputConns, Concurrency: 1, IdleTimeout: 3600}
}

// servingInstance creates the tput function, calls it once and returns the
// instance that answered.
func (b *bench) servingInstance(ctx context.Context) (api.Instance, error) {
	if err := b.createFunction(ctx, "tput", b.tputSpec(), helloCode("tput")); err != nil {
		return api.Instance{}, err
	}
	if err := waitCallable(ctx, b.fnURL("tput"), 30*time.Second); err != nil {
		return api.Instance{}, err
	}
	list, err := b.ctrl.Instances(ctx, namespace, "tput")
	if err != nil {
		return api.Instance{}, err
	}
	if len(list) != 1 || list[0].Address == "" {
		return api.Instance{}, fmt.Errorf("tput: got instances %+v, want one with an address", list)
	}
	return list[0], nil
}

// warmCalls compares sequential keep-alive calls to the direct instance,
// through the bare proxy and through the router, in interleaved batches so
// all share the machine's noise.
func (b *bench) warmCalls(ctx context.Context, base paths) error {
	b.r.warmErrs = errTally{}
	targets := []struct {
		url string
		lat *[]time.Duration
	}{{base.direct, &b.r.warmDirect}, {base.proxy, &b.r.warmProxy}, {b.fnURL("tput"), &b.r.warmRouter}}
	clients := make([]*http.Client, len(targets))
	for i, t := range targets {
		clients[i] = newClient(1)
		defer clients[i].CloseIdleConnections()
		sequential(ctx, clients[i], t.url, 200, b.r.warmErrs) // warm up connections, caches, pools
	}
	batches := b.p.warmCalls / b.p.warmBatch
	for i := range batches {
		for j, t := range targets {
			*t.lat = append(*t.lat, sequential(ctx, clients[j], t.url, b.p.warmBatch, b.r.warmErrs)...)
		}
		if (i+1)%(max(1, batches/3)) == 0 || i+1 == batches {
			progress("warm calls %d/%d: p50 direct %s, bare proxy %s, router %s", (i+1)*b.p.warmBatch, batches*b.p.warmBatch,
				us(pct(b.r.warmDirect, 50)), us(pct(b.r.warmProxy, 50)), us(pct(b.r.warmRouter, 50)))
		}
	}
	return ctx.Err()
}

// throughput runs the same closed-loop load against the direct instance,
// the bare proxy and the router, in turn, so all see one Python process.
func (b *bench) throughput(ctx context.Context, base paths) error {
	url := b.fnURL("tput")
	targets := []struct {
		name, url string
		res       *[]loadResult
	}{{"direct", base.direct, &b.r.tputDirect}, {"bare proxy", base.proxy, &b.r.tputProxy}, {"router", url, &b.r.tputRouter}}
	for _, t := range targets {
		closedLoop(ctx, t.url, b.p.tputConns, time.Second/2, false) // warm-up
	}
	for i := range b.p.tputRounds {
		for j := range targets {
			t := targets[(i+j)%len(targets)] // each round starts with the next path: none always follows another
			r := closedLoop(ctx, t.url, b.p.tputConns, b.p.tputDur, false)
			*t.res = append(*t.res, r)
			progress("throughput round %d/%d, %s: %.0f rps, %d errors", i+1, b.p.tputRounds, t.name, r.RPS(), r.Errs.total())
		}
	}
	return ctx.Err()
}

// telemetryCost compares the router's throughput with telemetry on and
// off: two more lanternds, started together for this step, one with the
// main one's flags and one with --telemetry=false, serve a function tel;
// rounds alternate between them so both share the machine's noise. The
// main lanternd is not one of the two: by now it holds every earlier
// step's functions and instances, which a fresh lanternd would not. Then
// it reads the overhead histogram of tput (the warm calls' and the
// throughput's function) from the main lanternd's /metrics.
func (b *bench) telemetryCost(ctx context.Context, main *lanternd, bin, runtimes, out string) (err error) {
	targets := []struct {
		name, log string
		flags     []string
		res       *[]loadResult
		b         *bench
		d         *lanternd
	}{
		{name: "on", log: "lanternd-telemetry.log", flags: b.p.lanterndFlags, res: &b.r.telOn},
		{name: "off", log: "lanternd-notelemetry.log", flags: append(slices.Clone(b.p.lanterndFlags), "--telemetry=false"), res: &b.r.telOff},
	}
	for i := range targets {
		t := &targets[i]
		progress("starting lanternd all with telemetry %s", t.name)
		d, err := startLanternd(ctx, bin, runtimes, filepath.Join(out, t.log), t.flags)
		if err != nil {
			return err
		}
		defer func() {
			progress("stopping the lanternd with telemetry %s", t.name)
			if serr := d.stop(); err == nil {
				err = serr
			}
		}()
		tb := *b
		tb.ctrl, tb.routerURL = client.NewController(d.apiURL, nil), d.routerURL
		if err := tb.createEnvironment(ctx); err != nil {
			return err
		}
		if err := tb.createFunction(ctx, "tel", b.tputSpec(), helloCode("tel")); err != nil {
			return err
		}
		t.b, t.d = &tb, d
	}
	// Each round runs on new instances: two Python processes with the same
	// code differ by up to 7 % in CPU per call here, which would otherwise
	// pass for the cost of telemetry.
	for i := range b.p.telRounds {
		for j := range targets {
			t := targets[(i+j)%len(targets)]
			if err := t.b.freshInstance(ctx, "tel", b.tputSpec(), fmt.Sprintf("tel-%d", i)); err != nil {
				return err
			}
			url := t.b.fnURL("tel")
			closedLoop(ctx, url, b.p.tputConns, time.Second/2, false) // warm-up
			r := closedLoop(ctx, url, b.p.tputConns, b.p.tputDur, false)
			*t.res = append(*t.res, r)
			progress("telemetry round %d/%d, %s: %.0f rps, %d errors", i+1, b.p.telRounds, t.name, r.RPS(), r.Errs.total())
		}
	}
	for _, t := range targets {
		if t.d.exited() {
			return fmt.Errorf("the lanternd with telemetry %s exited during the step; see %s", t.name, t.log)
		}
	}
	text, err := main.metrics(ctx)
	if err != nil {
		return fmt.Errorf("main lanternd's /metrics: %w", err)
	}
	b.r.overheadBuckets = histogramBuckets(text, "lantern_function_overhead_seconds", "tput")
	return ctx.Err()
}

// bursts sends burstWidth simultaneous first calls to each of burstFns
// fresh functions (one request per instance). Then it times the first call
// of one more fresh function at once, which competes with whatever the
// bursts left the platform doing.
func (b *bench) bursts(ctx context.Context, lanterndPID int) error {
	b.r.burstErrs = errTally{}
	var names []string
	for i := range b.p.burstFns {
		name := fmt.Sprintf("burst-%d", i)
		names = append(names, name)
		if err := b.createFunction(ctx, name, api.FunctionSpec{RequestsPerPod: 1}, helloCode(name)); err != nil {
			return err
		}
		time.Sleep(b.p.burstGap) // the pool refills after the previous burst
		c := newClient(b.p.burstWidth)
		// Open the connections first: the burst measures the platform.
		burst(ctx, c, b.routerURL+"/router-healthz", b.p.burstWidth, errTally{})
		lat := burst(ctx, c, b.fnURL(name), b.p.burstWidth, b.r.burstErrs)
		c.CloseIdleConnections()
		b.r.burst = append(b.r.burst, lat...)
		progress("burst %d/%d: %d first calls, p50 %s, max %s, errors %d", i+1, b.p.burstFns, b.p.burstWidth,
			ms(pct(lat, 50)), ms(pct(lat, 100)), b.r.burstErrs.total())
	}

	const after = "after-burst"
	if err := b.createFunction(ctx, after, api.FunctionSpec{}, helloCode(after)); err != nil {
		return err
	}
	time.Sleep(200 * time.Millisecond) // the router learns of it
	c := newClient(1)
	d, err := get(ctx, c, b.fnURL(after))
	c.CloseIdleConnections()
	if err != nil {
		b.r.burstErrs.add(err)
		progress("first call of another fresh function right after the last burst failed: %v", err)
	} else {
		b.r.afterBurst = d
		progress("first call of another fresh function right after the last burst: %s", ms(d))
	}

	// Wait for the platform to finish whatever the bursts started, so the
	// next measurement starts clean.
	t := time.Now()
	for i := 0; i <= 30; i++ { // quiet waits up to a second each time
		if quiet(lanterndPID, time.Second) {
			break
		}
	}
	b.r.burstPhases = b.coldStartRecords(ctx, names)
	if cs := b.coldStartRecords(ctx, []string{after}); len(cs) > 0 {
		b.r.afterBurstPhase = &cs[0]
	}
	n := 0
	for _, name := range names {
		n += instancesOf(lanterndPID, name)
	}
	progress("platform quiet %s after the bursts; the %d burst functions have %d instances for %d concurrent calls each",
		time.Since(t).Round(100*time.Millisecond), len(names), n, b.p.burstWidth)
	b.r.burstInstances = n
	for _, name := range append(names, after) {
		if err := b.ctrl.Delete(ctx, api.KindFunction, namespace, name); err != nil {
			return fmt.Errorf("delete function %s: %w", name, err)
		}
	}
	return ctx.Err()
}

// highConcurrency keeps hiConns connections busy on one function that
// starts cold (one warm-up call) and has to scale out.
func (b *bench) highConcurrency(ctx context.Context, lanterndPID int) error {
	spec := api.FunctionSpec{RequestsPerPod: 100}
	if err := b.createFunction(ctx, "many", spec, helloCode("many")); err != nil {
		return err
	}
	url := b.fnURL("many")
	t := time.Now()
	if err := waitCallable(ctx, url, 30*time.Second); err != nil {
		return err
	}
	progress("function ready after %s", ms(time.Since(t)))
	time.Sleep(b.p.coldGap) // pool refilled
	b.r.hi = closedLoop(ctx, url, b.p.hiConns, b.p.hiDur, true)
	b.r.hiInstances = instancesOf(lanterndPID, "many")
	progress("%d connections for %s (took %s): %.0f rps, %d errors (%.2f %%), %d instances", b.p.hiConns, b.p.hiDur, b.r.hi.Elapsed.Round(time.Millisecond),
		b.r.hi.RPS(), b.r.hi.Errs.total(), b.r.hi.ErrPct(), b.r.hiInstances)
	return ctx.Err()
}

// writeHello writes the direct instances' hello.py and returns its path.
func writeHello(dir string) (string, error) {
	file := filepath.Join(dir, "hello.py")
	return file, os.WriteFile(file, helloCode("direct"), 0o644)
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d)/1e6) }
func us(d time.Duration) string { return fmt.Sprintf("%d µs", d.Microseconds()) }
