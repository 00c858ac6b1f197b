// Package kubenode is a Kubernetes node for tests, built on virtual-kubelet
// (node/nodeutil): it registers a Ready Node and runs each pod scheduled to
// it (spec.nodeName) as local processes, one per container, every pod on a
// loopback address of its own (127.77.x.y) that becomes its pod IP. Images
// are mapped to local commands by Options.Images. The container's
// environment (values, $(VAR) references, status.podIP and metadata field
// references) and args are resolved as a kubelet would; an emptyDir volume
// is a folder of the pod, and its mount path is rewritten to that folder in
// the args and environment of the containers that mount it.
//
// Each container's stdout and stderr are written as a kubelet keeps them,
// in the CRI log format (logs/cri), to
// <Options.PodLogsDir>/<namespace>_<pod>_<uid>/<container>/0.log, and
// served from there to `kubectl logs`: the node serves the kubelet API
// (HTTPS, a self-signed certificate) on 127.0.0.1 and registers that
// address and port in its Node status, where the API server finds it.
//
// It stands in for a kubelet and a container runtime on a machine that has
// neither, so that the platform's pods run for real against a real API
// server: processes start, serve, exit, and are stopped when their pod is
// deleted.
package kubenode

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/virtual-kubelet/virtual-kubelet/errdefs"
	"github.com/virtual-kubelet/virtual-kubelet/node"
	vkapi "github.com/virtual-kubelet/virtual-kubelet/node/api"
	"github.com/virtual-kubelet/virtual-kubelet/node/nodeutil"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	statsv1alpha1 "k8s.io/kubelet/pkg/apis/stats/v1alpha1"

	"github.com/lantern-faas/lantern/logs/cri"
)

// Options configure a node.
type Options struct {
	// Name of the Node object.
	Name string
	// Images maps a container image to the command that stands for it; the
	// container's args follow it.
	Images map[string][]string
	// Dir holds each container's working folder.
	Dir string
	// PodLogsDir holds the containers' logs, laid out as a kubelet's
	// /var/log/pods; Dir/pods when empty.
	PodLogsDir string
	// FirstIP is the third octet of the first pod address (127.77.<n>.1);
	// nodes running side by side pick different ones. 1 when zero.
	FirstIP int
}

// Node is a running node agent.
type Node struct {
	client kubernetes.Interface
	name   string
	cancel context.CancelFunc
	done   chan struct{}
	p      *provider
}

// Start registers the node and runs pods until Stop.
func Start(ctx context.Context, client kubernetes.Interface, opts Options) (*Node, error) {
	if opts.FirstIP == 0 {
		opts.FirstIP = 1
	}
	if opts.PodLogsDir == "" {
		opts.PodLogsDir = filepath.Join(opts.Dir, "pods")
	}
	kubelet, err := newKubeletServer()
	if err != nil {
		return nil, err
	}
	p := &provider{opts: opts, pods: map[string]*pod{}, next: opts.FirstIP << 8, updates: make(chan *corev1.Pod, 4096)}
	vk, err := nodeutil.NewNode(opts.Name, func(cfg nodeutil.ProviderConfig) (nodeutil.Provider, node.NodeProvider, error) {
		cfg.Node.Status.Capacity = corev1.ResourceList{
			corev1.ResourcePods: resource.MustParse("1000"), corev1.ResourceCPU: resource.MustParse("64"), corev1.ResourceMemory: resource.MustParse("256Gi"),
		}
		cfg.Node.Status.Allocatable = cfg.Node.Status.Capacity
		// Where the API server reaches the kubelet API (kubectl logs).
		cfg.Node.Status.Addresses = []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: "127.0.0.1"}}
		cfg.Node.Status.DaemonEndpoints.KubeletEndpoint.Port = int32(kubelet.port)
		return p, nil, nil // nil: virtual-kubelet marks the node Ready itself
	}, nodeutil.WithClient(client), nodeutil.WithTLSConfig(kubelet.tls), nodeutil.AttachProviderRoutes(kubelet.mux), func(c *nodeutil.NodeConfig) error {
		c.HTTPListenAddr = kubelet.addr
		c.Handler = kubelet.mux
		c.NumWorkers = 4
		// The node resolves the environment itself: status.podIP is only
		// known once it has given the pod its address.
		c.SkipDownwardAPIResolution = true
		return nil
	})
	if err != nil {
		return nil, err
	}
	runCtx, cancel := context.WithCancel(context.Background())
	n := &Node{client: client, name: opts.Name, cancel: cancel, done: make(chan struct{}), p: p}
	go func() {
		defer close(n.done)
		_ = vk.Run(runCtx)
	}()
	if err := vk.WaitReady(ctx, 30*time.Second); err != nil {
		n.Stop()
		return nil, fmt.Errorf("node %s not ready: %w", opts.Name, err)
	}
	return n, nil
}

// Stop stops every pod's processes and deletes the Node object.
func (n *Node) Stop() {
	n.cancel()
	<-n.done
	n.p.stopAll()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_ = n.client.CoreV1().Nodes().Delete(ctx, n.name, metav1.DeleteOptions{})
}

// PIDs returns the process IDs of a pod's running containers, by name.
func (n *Node) PIDs(namespace, name string) map[string]int {
	n.p.mu.Lock()
	defer n.p.mu.Unlock()
	out := map[string]int{}
	if pd := n.p.pods[namespace+"/"+name]; pd != nil {
		for cname, c := range pd.containers {
			if c.running() {
				out[cname] = c.cmd.Process.Pid
			}
		}
	}
	return out
}

// provider runs pods as processes.
type provider struct {
	opts Options
	mu   sync.Mutex
	pods map[string]*pod // namespace/name
	next int             // next address: 127.77.(next>>8).(next&255)
	// updates carries status changes, in order, to the pod controller.
	updates chan *corev1.Pod
}

type pod struct {
	obj        *corev1.Pod // status kept current
	ip         string
	containers map[string]*container
	deleted    bool
}

type container struct {
	cmd      *exec.Cmd
	log      *logFile
	streams  [2]*streamWriter // stdout, stderr
	started  time.Time
	exited   chan struct{}
	exitCode int
	finished time.Time
}

func (c *container) running() bool {
	select {
	case <-c.exited:
		return false
	default:
		return true
	}
}

func key(ns, name string) string { return ns + "/" + name }

func (p *provider) allocIP() string {
	for {
		p.next++
		if p.next&255 != 0 && p.next&255 != 255 {
			return fmt.Sprintf("127.77.%d.%d", (p.next>>8)&255, p.next&255)
		}
	}
}

// CreatePod starts the pod's containers.
func (p *provider) CreatePod(ctx context.Context, in *corev1.Pod) error {
	obj := in.DeepCopy()
	p.mu.Lock()
	if _, ok := p.pods[key(obj.Namespace, obj.Name)]; ok {
		p.mu.Unlock()
		return nil
	}
	pd := &pod{obj: obj, ip: p.allocIP(), containers: map[string]*container{}}
	p.pods[key(obj.Namespace, obj.Name)] = pd
	p.mu.Unlock()

	now := metav1.Now()
	obj.Status = corev1.PodStatus{Phase: corev1.PodRunning, PodIP: pd.ip, PodIPs: []corev1.PodIP{{IP: pd.ip}}, HostIP: "127.0.0.1",
		StartTime: &now}
	var startErr error
	// An emptyDir volume is a folder of the pod; its mount path is
	// rewritten to that folder in each container's args and environment.
	volumes := map[string]string{}
	for _, v := range obj.Spec.Volumes {
		if v.EmptyDir != nil {
			volumes[v.Name] = filepath.Join(p.opts.Dir, obj.Namespace+"_"+obj.Name, "volumes", v.Name)
			if err := os.MkdirAll(volumes[v.Name], 0o755); err != nil {
				startErr = err
			}
		}
	}
	for _, c := range obj.Spec.Containers {
		if startErr != nil {
			break
		}
		argv, ok := p.opts.Images[c.Image]
		if !ok {
			startErr = fmt.Errorf("container %s: image %q is not mapped to a command on node %s", c.Name, c.Image, p.opts.Name)
			break
		}
		dir := filepath.Join(p.opts.Dir, obj.Namespace+"_"+obj.Name, c.Name)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			startErr = err
			break
		}
		log, err := createLogFile(filepath.Join(podLogDir(p.opts.PodLogsDir, obj.Namespace, obj.Name, string(obj.UID)), c.Name))
		if err != nil {
			startErr = err
			break
		}
		var mounts []string // mountPath, host folder, ...
		for _, m := range c.VolumeMounts {
			if dir, ok := volumes[m.Name]; ok {
				mounts = append(mounts, m.MountPath, dir)
			}
		}
		rewrite := strings.NewReplacer(mounts...)
		vars := map[string]string{}
		env := append(os.Environ(), "POD_IP="+pd.ip, "POD_NAME="+obj.Name, "POD_NAMESPACE="+obj.Namespace, "HOSTNAME="+obj.Name)
		for _, e := range c.Env {
			v := expand(e.Value, vars)
			if f := e.ValueFrom; f != nil && f.FieldRef != nil {
				v = map[string]string{"status.podIP": pd.ip, "metadata.name": obj.Name, "metadata.namespace": obj.Namespace}[f.FieldRef.FieldPath]
			}
			v = rewrite.Replace(v)
			vars[e.Name] = v
			env = append(env, e.Name+"="+v)
		}
		var args []string
		for _, a := range append(append(append([]string{}, argv[1:]...), c.Command...), c.Args...) {
			args = append(args, rewrite.Replace(expand(a, vars)))
		}
		ctr := &container{log: log, started: time.Now(), exited: make(chan struct{}),
			streams: [2]*streamWriter{{file: log, stream: cri.Stdout}, {file: log, stream: cri.Stderr}}}
		cmd := exec.Command(argv[0], args...)
		cmd.Dir, cmd.Stdout, cmd.Stderr = dir, ctr.streams[0], ctr.streams[1]
		cmd.WaitDelay = time.Second // a child left holding the pipes does not hold up the exit
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		cmd.Env = env
		if err := cmd.Start(); err != nil {
			log.close()
			startErr = fmt.Errorf("container %s: %w", c.Name, err)
			break
		}
		ctr.cmd = cmd
		p.mu.Lock()
		pd.containers[c.Name] = ctr
		p.mu.Unlock()
		go p.wait(pd, c.Name, ctr)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if startErr != nil {
		obj.Status.Phase, obj.Status.Reason, obj.Status.Message = corev1.PodFailed, "StartError", startErr.Error()
	}
	p.refreshLocked(pd)
	return nil
}

// wait records a container's exit, once its output is all in its log, and
// tells the pod controller.
func (p *provider) wait(pd *pod, name string, c *container) {
	err := c.cmd.Wait()
	for _, w := range c.streams {
		w.flush()
	}
	c.log.close()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
		if code < 0 {
			code = 137 // killed by a signal
		}
	}
	p.mu.Lock()
	c.exitCode, c.finished = code, time.Now()
	close(c.exited)
	p.refreshLocked(pd)
	p.mu.Unlock()
}

// refreshLocked recomputes a pod's status from its containers and tells the
// pod controller. A pod whose containers all exited is Succeeded or Failed:
// containers are not restarted, whoever owns the pod replaces it.
func (p *provider) refreshLocked(pd *pod) {
	st := &pd.obj.Status
	st.ContainerStatuses = nil
	allDone, failed := len(pd.containers) > 0, false
	for _, c := range pd.obj.Spec.Containers {
		cs := corev1.ContainerStatus{Name: c.Name, Image: c.Image, ImageID: c.Image}
		ctr := pd.containers[c.Name]
		switch {
		case ctr == nil:
			cs.State.Waiting = &corev1.ContainerStateWaiting{Reason: "StartError"}
			allDone = false
		case ctr.running():
			cs.Ready, cs.Started = true, ptr(true)
			cs.State.Running = &corev1.ContainerStateRunning{StartedAt: metav1.NewTime(ctr.started)}
			allDone = false
		default:
			cs.State.Terminated = &corev1.ContainerStateTerminated{ExitCode: int32(ctr.exitCode), Reason: exitReason(ctr.exitCode),
				StartedAt: metav1.NewTime(ctr.started), FinishedAt: metav1.NewTime(ctr.finished)}
			failed = failed || ctr.exitCode != 0
		}
		st.ContainerStatuses = append(st.ContainerStatuses, cs)
	}
	ready := corev1.ConditionFalse
	switch {
	case st.Phase == corev1.PodFailed && st.Reason == "StartError":
	case allDone && (failed || pd.deleted):
		st.Phase = corev1.PodFailed
	case allDone:
		st.Phase = corev1.PodSucceeded
	default:
		st.Phase = corev1.PodRunning
		ready = corev1.ConditionTrue
	}
	now := metav1.Now()
	st.Conditions = []corev1.PodCondition{
		{Type: corev1.PodScheduled, Status: corev1.ConditionTrue, LastTransitionTime: now},
		{Type: corev1.PodReady, Status: ready, LastTransitionTime: now},
		{Type: corev1.ContainersReady, Status: ready, LastTransitionTime: now},
	}
	select {
	case p.updates <- pd.obj.DeepCopy():
	default: // the pod controller is far behind; it resyncs from GetPods
	}
}

// expand replaces $(NAME) with the value of a variable defined before it,
// as the kubelet does; an unknown reference is left as it is.
func expand(s string, vars map[string]string) string {
	var b strings.Builder
	for {
		i := strings.Index(s, "$(")
		if i < 0 {
			b.WriteString(s)
			return b.String()
		}
		j := strings.IndexByte(s[i:], ')')
		if j < 0 {
			b.WriteString(s)
			return b.String()
		}
		name := s[i+2 : i+j]
		b.WriteString(s[:i])
		if v, ok := vars[name]; ok {
			b.WriteString(v)
		} else {
			b.WriteString(s[i : i+j+1])
		}
		s = s[i+j+1:]
	}
}

func exitReason(code int) string {
	if code == 0 {
		return "Completed"
	}
	return "Error"
}

func ptr[T any](v T) *T { return &v }

// UpdatePod is a no-op: a running pod's spec does not change what runs.
func (p *provider) UpdatePod(context.Context, *corev1.Pod) error { return nil }

// DeletePod stops the pod's processes: SIGTERM, then SIGKILL after the
// pod's grace period.
func (p *provider) DeletePod(ctx context.Context, in *corev1.Pod) error {
	p.mu.Lock()
	pd := p.pods[key(in.Namespace, in.Name)]
	if pd == nil {
		p.mu.Unlock()
		return errdefs.NotFoundf("pod %s/%s is not on node %s", in.Namespace, in.Name, p.opts.Name)
	}
	pd.deleted = true
	ctrs := make([]*container, 0, len(pd.containers))
	for _, c := range pd.containers {
		ctrs = append(ctrs, c)
	}
	p.mu.Unlock()
	// The grace period of the deletion, else (a pod deleted by force, gone
	// from the API) the pod's own, and at least 2 s, as a kubelet's
	// container runtime manager gives (minimumGracePeriodInSeconds).
	grace := 2 * time.Second
	switch {
	case in.DeletionGracePeriodSeconds != nil:
		grace = time.Duration(*in.DeletionGracePeriodSeconds) * time.Second
	case in.Spec.TerminationGracePeriodSeconds != nil:
		grace = time.Duration(*in.Spec.TerminationGracePeriodSeconds) * time.Second
	}
	grace = max(grace, minGrace)
	stop(ctrs, grace)
	p.mu.Lock()
	delete(p.pods, key(in.Namespace, in.Name))
	p.refreshLocked(pd)
	p.mu.Unlock()
	return nil
}

// minGrace is the shortest time a container is given between SIGTERM and
// SIGKILL.
const minGrace = 2 * time.Second

func stop(ctrs []*container, grace time.Duration) {
	for _, c := range ctrs {
		if c.running() {
			_ = syscall.Kill(-c.cmd.Process.Pid, syscall.SIGTERM)
		}
	}
	deadline := time.After(grace)
	for _, c := range ctrs {
		select {
		case <-c.exited:
		case <-deadline:
			_ = syscall.Kill(-c.cmd.Process.Pid, syscall.SIGKILL)
			<-c.exited
		}
	}
}

func (p *provider) stopAll() {
	p.mu.Lock()
	var ctrs []*container
	for _, pd := range p.pods {
		for _, c := range pd.containers {
			ctrs = append(ctrs, c)
		}
	}
	p.mu.Unlock()
	stop(ctrs, 2*time.Second)
}

// GetPod returns a pod the node runs.
func (p *provider) GetPod(_ context.Context, namespace, name string) (*corev1.Pod, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	pd := p.pods[key(namespace, name)]
	if pd == nil {
		return nil, errdefs.NotFoundf("pod %s/%s is not on node %s", namespace, name, p.opts.Name)
	}
	return pd.obj.DeepCopy(), nil
}

// GetPodStatus returns a pod's status.
func (p *provider) GetPodStatus(ctx context.Context, namespace, name string) (*corev1.PodStatus, error) {
	pod, err := p.GetPod(ctx, namespace, name)
	if err != nil {
		return nil, err
	}
	return &pod.Status, nil
}

// GetPods lists the pods the node runs.
func (p *provider) GetPods(context.Context) ([]*corev1.Pod, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]*corev1.Pod, 0, len(p.pods))
	for _, pd := range p.pods {
		out = append(out, pd.obj.DeepCopy())
	}
	return out, nil
}

// NotifyPods sends status changes to the pod controller's callback, in
// order, until ctx ends.
func (p *provider) NotifyPods(ctx context.Context, f func(*corev1.Pod)) {
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case pod := <-p.updates:
				f(pod)
			}
		}
	}()
}

var errNotSupported = errdefs.InvalidInput("not supported by the test node")

func (p *provider) RunInContainer(context.Context, string, string, string, []string, vkapi.AttachIO) error {
	return errNotSupported
}

func (p *provider) AttachToContainer(context.Context, string, string, string, vkapi.AttachIO) error {
	return errNotSupported
}

func (p *provider) GetStatsSummary(context.Context) (*statsv1alpha1.Summary, error) {
	return nil, errNotSupported
}

func (p *provider) GetMetricsResource(context.Context) ([]*dto.MetricFamily, error) {
	return nil, errNotSupported
}

func (p *provider) PortForward(context.Context, string, string, int32, io.ReadWriteCloser) error {
	return errNotSupported
}
