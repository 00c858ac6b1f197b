package main

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"

	"github.com/lantern-faas/lantern/platform/api"
	"github.com/lantern-faas/lantern/platform/client"
	"github.com/lantern-faas/lantern/test/kubeenv"
	"github.com/lantern-faas/lantern/test/kubenode"
	"github.com/lantern-faas/lantern/test/testenv"
)

// The test node's name and the images it maps to local commands, as
// test/kube has them.
const (
	kubeNodeName  = "bench-node"
	pythonImage   = "lantern/python-env"
	lanterndImage = "lantern/lanternd"
	// kubeFirstIP keeps the bench's pod addresses (127.77.160.x and up)
	// apart from those of test/kube running on the same machine.
	kubeFirstIP = 160
	// settleTime is how long lanternd is left quiet before its memory is
	// read: it gives free memory back once quiet for 2-4 s.
	settleTime = 10 * time.Second
)

// kubeResults are the measurements on Kubernetes.
type kubeResults struct {
	ran       bool
	apiReady  time.Duration // etcd and kube-apiserver started and ready
	poolReady time.Duration // environment created → its pool of pods warm

	cold       []time.Duration // first calls with a warm pod pool, via the router
	coldErrs   errTally
	coldPhases []api.ColdStart

	// Config changes until the router shows them: from kubectl apply's
	// return and from its start (its run included), kubectl's run alone,
	// and from the return of the harness's own write through client-go.
	routeKubectl, routeKubectlTotal, routeKubectlRun, routeAPI     []time.Duration
	updateKubectl, updateKubectlTotal, updateKubectlRun, updateAPI []time.Duration
	changeErrs                                                     errTally // failed calls while waiting for a change

	idle, many  memSample       // lanternd with no functions, with kubeFunctions
	created     time.Duration   // creating kubeFunctions through the API
	manyCold    []time.Duration // first calls of kubeSpecialize of them
	manyErrs    errTally
	manyReady   int // ready (specialized) instances the poolmgr reports at the end
	memory      []memSample
	kubeVersion string
}

// measureKube runs the Kubernetes section: a cluster of its own, the test
// node, and lanternd all with its state in custom resources and its
// instances in pods. With -only kube it first measures the local-process
// cold starts the pod cold starts are compared with.
func (b *bench) measureKube(ctx context.Context, bin, runtimes, out string) (err error) {
	p, kr := b.p, &b.r.kube
	kr.ran = true
	if p.only == "kube" {
		if err := b.localColdStarts(ctx, bin, runtimes, out); err != nil {
			return err
		}
	}
	dir, err := os.MkdirTemp("", "lantern-bench-kube-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	progress("starting etcd and kube-apiserver")
	c, err := kubeenv.Start(filepath.Join(dir, "cluster"))
	if err != nil {
		return fmt.Errorf("kubernetes: %w", err)
	}
	defer c.Stop()
	kr.apiReady, kr.kubeVersion = c.Started, fmt.Sprintf("kube-apiserver %s, etcd %s", kubeenv.KubeVersion, kubeenv.EtcdVersion)
	progress("etcd and kube-apiserver ready in %s", c.Started.Round(time.Millisecond))
	if err := c.ApplyCRDs(ctx); err != nil {
		return fmt.Errorf("%w\n%s", err, c.Logs(20))
	}
	// No controller-manager: pods need the default ServiceAccount made by hand.
	if _, err := c.Kubectl(ctx, "", "create", "serviceaccount", "default", "-n", namespace); err != nil {
		return err
	}
	cs, err := kubernetes.NewForConfig(c.Config)
	if err != nil {
		return err
	}
	node, err := kubenode.Start(ctx, cs, kubenode.Options{Name: kubeNodeName, Dir: filepath.Join(dir, "node"), FirstIP: kubeFirstIP,
		Images: map[string][]string{pythonImage: {testenv.SystemPython, b.serverPy}, lanterndImage: {bin}}})
	if err != nil {
		return err
	}
	defer node.Stop()

	progress("starting lanternd all --backend kubernetes --instances pods")
	flags := append([]string{"--backend", "kubernetes", "--kubeconfig", c.Kubeconfig, "--instances", "pods",
		"--pods-namespace", namespace, "--pod-image", "python=" + pythonImage, "--fetcher-image", lanterndImage,
		"--pod-node", kubeNodeName}, p.lanterndFlags...)
	d, err := startLanternd(ctx, bin, runtimes, filepath.Join(out, "lanternd-kube.log"), flags)
	if err != nil {
		return err
	}
	defer func() {
		progress("stopping lanternd (kubernetes)")
		if serr := d.stop(); err == nil {
			err = serr
		}
	}()
	b.ctrl, b.routerURL = client.NewController(d.apiURL, nil), d.routerURL
	if b.r.machine.Version == "" {
		b.r.machine.Version, _ = b.ctrl.Version(ctx)
	}
	sample := func(step string) error {
		m, err := d.memory(ctx, step)
		if err != nil {
			return err
		}
		kr.memory = append(kr.memory, m)
		progress("lanternd (kubernetes) memory %s: RSS %s, Go heap in use %s, %d goroutines", step, mb(m.rss), mb(m.heapInuse), m.goroutines)
		return nil
	}
	time.Sleep(time.Second) // settle
	if err := sample("after start"); err != nil {
		return err
	}

	steps := []struct {
		name string
		run  func() error
	}{
		{fmt.Sprintf("kubernetes pool: an environment with a pool of %d pods, then lanternd idle", poolsize), func() error { return b.kubePool(ctx, d) }},
		{fmt.Sprintf("kubernetes cold starts: first call of %d fresh functions on a warm pod pool", p.kubeColdN), func() error { return b.kubeColdStarts(ctx, d) }},
		{fmt.Sprintf("kubernetes config changes: %d routes and %d function updates applied with kubectl", p.kubeChanges, p.kubeChanges),
			func() error { return b.kubeChanges(ctx, d, c) }},
		{fmt.Sprintf("kubernetes memory: %d functions created through the API, %d of them called", p.kubeFunctions, p.kubeSpecialize),
			func() error { return b.kubeMemory(ctx, d) }},
	}
	for _, s := range steps {
		took, foreign, err := b.step(ctx, s.name, s.run)
		if err != nil {
			return fmt.Errorf("%w (lanternd's log: %s)", err, filepath.Join(out, "lanternd-kube.log"))
		}
		if err := sample("after " + strings.SplitN(s.name, ":", 2)[0]); err != nil {
			return err
		}
		m := &kr.memory[len(kr.memory)-1]
		m.took, m.foreign = took, foreign
	}
	if d.exited() {
		return errors.New("lanternd (kubernetes) exited during the run; see lanternd-kube.log")
	}
	return nil
}

// localColdStarts measures cold starts on local processes, the pods'
// baseline, when the local section does not run.
func (b *bench) localColdStarts(ctx context.Context, bin, runtimes, out string) (err error) {
	progress("starting lanternd all (local processes) for the cold-start baseline")
	d, err := startLanternd(ctx, bin, runtimes, filepath.Join(out, "lanternd.log"), b.p.lanterndFlags)
	if err != nil {
		return err
	}
	defer func() {
		progress("stopping lanternd")
		if serr := d.stop(); err == nil {
			err = serr
		}
	}()
	b.ctrl, b.routerURL = client.NewController(d.apiURL, nil), d.routerURL
	b.r.machine.Version, _ = b.ctrl.Version(ctx)
	if err := b.createEnvironment(ctx); err != nil {
		return err
	}
	_, _, err = b.step(ctx, fmt.Sprintf("cold starts, local processes (the baseline): first call of %d fresh functions, %s apart", b.p.coldN, b.p.coldGap),
		func() error { return b.coldStarts(ctx) })
	return err
}

// kubePool creates the environment, times its pool of pods becoming warm,
// and reads lanternd's memory once it is quiet: the baseline of the memory
// with many functions.
func (b *bench) kubePool(ctx context.Context, d *lanternd) error {
	start := time.Now()
	if err := b.createEnvironment(ctx); err != nil {
		return err
	}
	if err := waitPoolWarm(ctx, d, 2*time.Minute); err != nil {
		return err
	}
	b.r.kube.poolReady = time.Since(start)
	progress("pool of %d pods warm %s after the environment was created", poolsize, ms(b.r.kube.poolReady))
	time.Sleep(settleTime)
	m, err := d.memory(ctx, "idle, warm pool, no functions")
	if err != nil {
		return err
	}
	b.r.kube.idle = m
	progress("lanternd (kubernetes) idle with no functions: RSS %s, Go heap in use %s", mb(m.rss), mb(m.heapInuse))
	return nil
}

// waitPoolWarm waits until the poolmgr has its whole pool of generic pods
// ready and none starting.
func waitPoolWarm(ctx context.Context, d *lanternd, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	series := fmt.Sprintf(`lantern_pool_instances{environment=%q,namespace=%q,state=`, envName, namespace)
	var idle, starting float64
	for {
		if text, err := d.metrics(ctx); err == nil {
			idle, starting = metricValue(text, series+`"idle"}`), metricValue(text, series+`"starting"}`)
			if idle >= poolsize && starting == 0 {
				return nil
			}
		}
		if ctx.Err() != nil || time.Now().After(deadline) {
			return fmt.Errorf("the pod pool was not warm within %s: %.0f idle, %.0f starting, want %d idle", timeout, idle, starting, poolsize)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// kubeColdStarts times the first call of kubeColdN fresh functions through
// the router, each one a specialization of a warm pod, the pool full again
// before each.
func (b *bench) kubeColdStarts(ctx context.Context, d *lanternd) error {
	kr := &b.r.kube
	names := make([]string, b.p.kubeColdN)
	for i := range names {
		names[i] = fmt.Sprintf("kcold-%03d", i)
		if err := b.createFunction(ctx, names[i], api.FunctionSpec{}, helloCode(names[i])); err != nil {
			return err
		}
	}
	c := newClient(1)
	defer c.CloseIdleConnections()
	kr.coldErrs = errTally{}
	for i, name := range names {
		if err := waitPoolWarm(ctx, d, time.Minute); err != nil {
			return err
		}
		time.Sleep(b.p.coldGap) // what the new pod set off (status writes) settles
		if !answersWith(ctx, c, b.routerURL+"/router-healthz") {
			return errors.New("router stopped answering")
		}
		dur, err := get(ctx, c, b.fnURL(name))
		if err != nil {
			kr.coldErrs.add(err)
		} else {
			kr.cold = append(kr.cold, dur)
		}
		if (i+1)%10 == 0 || i+1 == len(names) {
			progress("cold start on pods %d/%d: last %s, p50 so far %s, errors %d", i+1, len(names), ms(dur), ms(pct(kr.cold, 50)), kr.coldErrs.total())
		}
	}
	kr.coldPhases = b.coldStartRecords(ctx, names)
	for _, name := range names { // their pods go with them
		if err := b.ctrl.Delete(ctx, api.KindFunction, namespace, name); err != nil {
			return fmt.Errorf("delete function %s: %w", name, err)
		}
	}
	return nil
}

// kubeChanges applies routes, then new code of a function, with kubectl
// and with the harness's own client-go writes, and times each until the
// router's first answer that shows it.
func (b *bench) kubeChanges(ctx context.Context, d *lanternd, c *kubeenv.Cluster) error {
	kr := &b.r.kube
	kr.changeErrs = errTally{}
	dc, err := dynamic.NewForConfig(c.Config)
	if err != nil {
		return err
	}
	triggers := dc.Resource(schema.GroupVersionResource{Group: "lantern.dev", Version: "v1", Resource: "httptriggers"}).Namespace(namespace)
	functions := dc.Resource(schema.GroupVersionResource{Group: "lantern.dev", Version: "v1", Resource: "functions"}).Namespace(namespace)
	hc := newClient(1)
	defer hc.CloseIdleConnections()
	// wait calls path until the router answers want and returns when it
	// did; a change never seen counts as an error.
	wait := func(path, want string, notYet func(int, string) bool) (time.Time, bool) {
		at, err := pollUntil(ctx, hc, b.routerURL+path, want, notYet, 10*time.Second, kr.changeErrs)
		if err != nil {
			kr.changeErrs.add(err)
			return at, false
		}
		return at, true
	}

	// Routes to a function that is warm before the first is applied.
	if err := b.createFunction(ctx, "kroute", api.FunctionSpec{IdleTimeout: 3600}, helloCode("kroute")); err != nil {
		return err
	}
	if err := waitCallable(ctx, b.fnURL("kroute"), time.Minute); err != nil {
		return err
	}
	notFound := func(status int, _ string) bool { return status == http.StatusNotFound }
	for i := range b.p.kubeChanges {
		name := fmt.Sprintf("kroute-k%03d", i)
		start := time.Now()
		if _, err := c.Kubectl(ctx, fmt.Sprintf("apiVersion: lantern.dev/v1\nkind: HTTPTrigger\nmetadata: {name: %s, namespace: %s}\nspec: {relativeurl: /%s, functionref: {name: kroute}}\n",
			name, namespace, name), "apply", "-f", "-"); err != nil {
			return err
		}
		returned := time.Now()
		if at, ok := wait("/"+name, helloBody, notFound); ok {
			kr.routeKubectl, kr.routeKubectlTotal = append(kr.routeKubectl, at.Sub(returned)), append(kr.routeKubectlTotal, at.Sub(start))
			kr.routeKubectlRun = append(kr.routeKubectlRun, returned.Sub(start))
		}

		name = fmt.Sprintf("kroute-c%03d", i)
		obj := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "lantern.dev/v1", "kind": "HTTPTrigger",
			"metadata": map[string]any{"name": name, "namespace": namespace},
			"spec":     map[string]any{"relativeurl": "/" + name, "functionref": map[string]any{"name": "kroute"}}}}
		if _, err := triggers.Create(ctx, obj, metav1.CreateOptions{}); err != nil {
			return fmt.Errorf("create HTTPTrigger %s: %w", name, err)
		}
		returned = time.Now()
		if at, ok := wait("/"+name, helloBody, notFound); ok {
			kr.routeAPI = append(kr.routeAPI, at.Sub(returned))
		}
	}
	progress("routes served p50 %s, max %s after kubectl apply returned (its run p50 %s); %s, max %s after a client-go create returned",
		ms(pct(kr.routeKubectl, 50)), ms(pct(kr.routeKubectl, 100)), ms(pct(kr.routeKubectlRun, 50)), ms(pct(kr.routeAPI, 50)), ms(pct(kr.routeAPI, 100)))

	// A function written with kubectl, its code changed with kubectl or
	// client-go: the router serves the new code once it has seen the new
	// version and a warm pod has been specialized with it.
	code := func(v int) string {
		return base64.StdEncoding.EncodeToString(fmt.Appendf(nil, "def main():\n    return %q\n", fmt.Sprintf("v%d\n", v)))
	}
	fnManifest := func(v int) string {
		return fmt.Sprintf("apiVersion: lantern.dev/v1\nkind: Function\nmetadata: {name: kupd, namespace: %s}\nspec: {environment: %s, idletimeout: 3600, package: {filename: kupd.py, literal: %s}}\n",
			namespace, envName, code(v))
	}
	if _, err := c.Kubectl(ctx, fnManifest(0)+"---\napiVersion: lantern.dev/v1\nkind: HTTPTrigger\nmetadata: {name: kupd, namespace: "+namespace+
		"}\nspec: {relativeurl: /kupd, functionref: {name: kupd}}\n", "apply", "-f", "-"); err != nil {
		return err
	}
	oldCode := func(status int, body string) bool {
		return status == http.StatusNotFound || (status == http.StatusOK && body != "")
	}
	if _, err := pollUntil(ctx, hc, b.routerURL+"/kupd", "v0\n", oldCode, time.Minute, errTally{}); err != nil {
		return err
	}
	for i := 1; i <= 2*b.p.kubeChanges; i++ {
		if err := waitPoolWarm(ctx, d, time.Minute); err != nil {
			return err
		}
		time.Sleep(b.p.coldGap)
		want := fmt.Sprintf("v%d\n", i)
		start := time.Now()
		if i%2 == 1 {
			if _, err := c.Kubectl(ctx, fnManifest(i), "apply", "-f", "-"); err != nil {
				return err
			}
			returned := time.Now()
			if at, ok := wait("/kupd", want, oldCode); ok {
				kr.updateKubectl, kr.updateKubectlTotal = append(kr.updateKubectl, at.Sub(returned)), append(kr.updateKubectlTotal, at.Sub(start))
				kr.updateKubectlRun = append(kr.updateKubectlRun, returned.Sub(start))
			}
			continue
		}
		patch := fmt.Appendf(nil, `{"spec":{"package":{"literal":%q}}}`, code(i))
		if _, err := functions.Patch(ctx, "kupd", types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
			return fmt.Errorf("patch Function kupd: %w", err)
		}
		returned := time.Now()
		if at, ok := wait("/kupd", want, oldCode); ok {
			kr.updateAPI = append(kr.updateAPI, at.Sub(returned))
		}
	}
	progress("updates served p50 %s, max %s after kubectl apply returned (its run p50 %s); %s, max %s after a client-go patch returned; %d failed calls meanwhile",
		ms(pct(kr.updateKubectl, 50)), ms(pct(kr.updateKubectl, 100)), ms(pct(kr.updateKubectlRun, 50)), ms(pct(kr.updateAPI, 50)), ms(pct(kr.updateAPI, 100)),
		kr.changeErrs.total())

	if _, err := c.Kubectl(ctx, "", "delete", "httptriggers.lantern.dev", "--all", "-n", namespace); err != nil {
		return err
	}
	if _, err := c.Kubectl(ctx, "", "delete", "functions.lantern.dev", "kupd", "kroute", "-n", namespace); err != nil {
		return err
	}
	return nil
}

// pollUntil calls url every millisecond until it answers 200 with want,
// and returns when that answer arrived. Answers notYet accepts are the old
// state; anything else counts in errs.
func pollUntil(ctx context.Context, c *http.Client, url, want string, notYet func(status int, body string) bool,
	timeout time.Duration, errs errTally) (time.Time, error) {
	deadline := time.Now().Add(timeout)
	last := "no answer"
	for time.Now().Before(deadline) && ctx.Err() == nil {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return time.Time{}, err
		}
		resp, err := c.Do(req)
		if err != nil {
			errs.add(err)
			last = err.Error()
			time.Sleep(time.Millisecond)
			continue
		}
		body, err := io.ReadAll(io.LimitReader(resp.Body, 4096))
		resp.Body.Close()
		at := time.Now()
		switch {
		case err != nil:
			errs.add(err)
			last = err.Error()
		case resp.StatusCode == http.StatusOK && string(body) == want:
			return at, nil
		case notYet(resp.StatusCode, string(body)):
			last = fmt.Sprintf("HTTP %d: %s", resp.StatusCode, firstLine(body))
		default:
			errs.add(fmt.Errorf("HTTP %d: %s", resp.StatusCode, firstLine(body)))
			last = fmt.Sprintf("HTTP %d: %s", resp.StatusCode, firstLine(body))
		}
		time.Sleep(time.Millisecond)
	}
	return time.Time{}, fmt.Errorf("%s did not answer %q within %s; last %s", url, want, timeout, last)
}

// kubeMemory creates kubeFunctions functions through the API (each with its
// own package, a ConfigMap), calls kubeSpecialize of them once, spread over
// the list, the pool warm before each, and reads lanternd's memory once it
// is quiet.
func (b *bench) kubeMemory(ctx context.Context, d *lanternd) error {
	kr := &b.r.kube
	n := b.p.kubeFunctions
	names := make([]string, n)
	for i := range names {
		names[i] = fmt.Sprintf("kmem-%04d", i)
	}
	start := time.Now()
	var g errgroup.Group // every function is tried; Wait returns the first error
	g.SetLimit(8)
	for _, name := range names {
		g.Go(func() error { return b.createFunction(ctx, name, api.FunctionSpec{}, helloCode(name)) })
	}
	if err := g.Wait(); err != nil {
		return err
	}
	kr.created = time.Since(start)
	progress("%d functions created through the API in %s", n, kr.created.Round(100*time.Millisecond))

	c := newClient(1)
	defer c.CloseIdleConnections()
	kr.manyErrs = errTally{}
	k := min(b.p.kubeSpecialize, n)
	for j := range k {
		name := names[(n-1)-j*(n-1)/max(1, k-1)] // the last one first, the first one last
		if err := waitPoolWarm(ctx, d, time.Minute); err != nil {
			return err
		}
		time.Sleep(b.p.coldGap)
		dur, err := get(ctx, c, b.fnURL(name))
		if err != nil {
			kr.manyErrs.add(err)
			continue
		}
		kr.manyCold = append(kr.manyCold, dur)
	}
	progress("%d of them called once: cold start p50 %s, errors %d", k, ms(pct(kr.manyCold, 50)), kr.manyErrs.total())
	time.Sleep(settleTime)
	m, err := d.memory(ctx, fmt.Sprintf("%d functions, %d called", n, k))
	if err != nil {
		return err
	}
	kr.many = m
	if text, err := d.metrics(ctx); err == nil {
		kr.manyReady = int(sumSeries(text, "lantern_function_instances{", `state="ready"`))
	}
	progress("lanternd (kubernetes) with %d functions, %d ready instances: RSS %s, Go heap in use %s, %d goroutines",
		n, kr.manyReady, mb(m.rss), mb(m.heapInuse), m.goroutines)
	return nil
}

// sumSeries adds up the values of the series of a metric (prefix up to its
// opening brace) whose labels contain label.
func sumSeries(text, prefix, label string) float64 {
	sum := 0.0
	for line := range strings.SplitSeq(text, "\n") {
		if !strings.HasPrefix(line, prefix) || !strings.Contains(line, label) {
			continue
		}
		_, v, ok := strings.Cut(line, "} ")
		if !ok {
			continue
		}
		var f float64
		if _, err := fmt.Sscan(v, &f); err == nil {
			sum += f
		}
	}
	return sum
}
