// Package kubenode is a Kubernetes node for tests, built on virtual-kubelet
// (node/nodeutil): it registers a Ready Node and runs each pod scheduled to
// it (spec.nodeName) as local processes, one per container, every pod on a
// loopback address of its own (127.77.x.y, or Options.PodNetwork's) that
// becomes its pod IP. Images
// are mapped to local commands by Options.Images. The container's
// environment (values, $(VAR) references, status.podIP and metadata field
// references) and args are resolved as a kubelet would; an emptyDir volume
// is a folder of the pod, and its mount path is rewritten to that folder in
// the args and environment of the containers that mount it. A pod has no
// network namespace: 0.0.0.0 in an address of its args or environment, its
// "all interfaces", is its own IP.
//
// Opt-in (Options), what a kubelet, a scheduler and kube-proxy add:
// projected volumes (the service-account token from the TokenRequest API
// bound to the pod, the kube-root-ca.crt ConfigMap, the namespace), Secret
// and ConfigMap volumes bind-mounted at their mount paths, and with
// Services a pod /etc/hosts naming them, in a mount namespace of the pod's
// own; KUBERNETES_SERVICE_HOST and _PORT pointing at the API server; pods
// with no node bound to this
// one; each ClusterIP Service on a loopback address of its own with a TCP
// proxy to its ready endpoints (services.go). HTTP readiness probes decide
// when a container is ready (probe.go); liveness probes are not run. A
// container runs as its securityContext's runAsUser, runAsGroup and
// fsGroup (which owns the pod's emptyDir volumes), and is started again
// as its pod's restartPolicy says.
//
// Each container's stdout and stderr are written as a kubelet keeps them,
// in the CRI log format (logs/cri), to
// <Options.PodLogsDir>/<namespace>_<pod>_<uid>/<container>/<restarts>.log, and
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
	"strconv"
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
	"github.com/lantern-faas/lantern/test/testenv"
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
	// FirstIP is the third octet of the first pod address (127.77.<n>.1),
	// and of the first Service address (127.78.<n>.1); nodes running side
	// by side pick different ones. 1 when zero.
	FirstIP int
	// ImageEnv is the environment an image sets (its config's Env), by
	// image: NAME=value, before the container's own.
	ImageEnv map[string][]string
	// APIServer is the API server's host:port as pods reach it, their
	// KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT (none when empty).
	APIServer string
	// PodNetwork, when set, is the first two octets of the pod addresses
	// instead of 127.77 (say "10.77"): each pod's address is added to the
	// loopback interface (ip addr add; root) while the pod runs.
	// EndpointSlices refuse loopback addresses, so a node whose pods back
	// Services needs it.
	PodNetwork string
	// MountVolumes makes projected volumes (the service-account token, the
	// CA, the namespace), Secret and ConfigMap volumes, and bind-mounts
	// them at their mount paths in a mount namespace of the pod (a mount
	// path missing on the machine is made, as an empty folder); without it
	// they are left out.
	MountVolumes bool
	// Services runs the service proxy: every ClusterIP Service gets an
	// address of its own (127.78.<FirstIP>.n) that forwards each of its
	// ports to its ready endpoints, and its names go into the pods'
	// /etc/hosts (see services.go).
	Services bool
	// Schedule binds pods that name no node to this one, as a scheduler
	// would (there is none).
	Schedule bool
}

// Node is a running node agent.
type Node struct {
	client kubernetes.Interface
	name   string
	cancel context.CancelFunc
	done   chan struct{}
	p      *provider
}

// ServiceIP returns the address the node's service proxy gave a Service,
// or "" (none yet, or Options.Services is off).
func (n *Node) ServiceIP(namespace, name string) string {
	if n.p.svc == nil {
		return ""
	}
	return n.p.svc.ip(namespace, name)
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
	p := &provider{opts: opts, client: client, pods: map[string]*pod{}, next: opts.FirstIP << 8, updates: make(chan *corev1.Pod, 4096)}
	runCtx, cancel := context.WithCancel(context.Background())
	if opts.Services {
		p.svc = newServices(client, opts.FirstIP)
		if err := p.svc.start(runCtx); err != nil {
			cancel()
			return nil, err
		}
	}
	if opts.Schedule {
		if err := schedule(runCtx, client, opts.Name); err != nil {
			cancel()
			return nil, err
		}
	}
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
		cancel()
		return nil, err
	}
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
	if n.p.svc != nil {
		n.p.svc.stop()
	}
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
	opts   Options
	client kubernetes.Interface
	svc    *services // nil unless Options.Services
	mu     sync.Mutex
	pods   map[string]*pod // namespace/name
	next   int             // next address: <PodNetwork>.(next>>8).(next&255)
	// updates carries status changes, in order, to the pod controller.
	updates chan *corev1.Pod
}

type pod struct {
	obj        *corev1.Pod // status kept current
	ip         string
	containers map[string]*container
	deleted    bool
	vols       *podVolumes
	// ctx ends when the pod is deleted: its probes and restarts stop.
	ctx        context.Context
	stopProbes context.CancelFunc
}

type container struct {
	cmd      *exec.Cmd
	log      *logFile
	streams  [2]*streamWriter // stdout, stderr
	started  time.Time
	exited   chan struct{}
	exitCode int
	finished time.Time
	// ready is set by the readiness probe; true from the start when the
	// container has none.
	ready bool
	// restarts counts the runs before this one; last is how the previous
	// one ended.
	restarts int
	last     *corev1.ContainerStateTerminated
	// backoff: it exited and will be started again (restartPolicy).
	backoff bool
}

// reap waits for the container's process to exit and for all its output
// to be in its log, and closes the log.
func (c *container) reap() error {
	err := c.cmd.Wait()
	for _, w := range c.streams {
		w.flush()
	}
	c.log.close()
	return err
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
			return fmt.Sprintf("%s.%d.%d", p.network(), (p.next>>8)&255, p.next&255)
		}
	}
}

func (p *provider) network() string {
	if p.opts.PodNetwork == "" {
		return "127.77"
	}
	return p.opts.PodNetwork
}

// addr adds (or deletes) a pod's address on the loopback interface when
// Options.PodNetwork is set. An address left by an earlier run is taken
// over.
func (p *provider) addr(op, ip string) error {
	if p.opts.PodNetwork == "" {
		return nil
	}
	out, err := exec.Command("ip", "addr", op, ip+"/32", "dev", "lo").CombinedOutput()
	if err != nil && !(op == "add" && strings.Contains(string(out), "File exists")) {
		return fmt.Errorf("ip addr %s %s/32 dev lo: %w: %s", op, ip, err, strings.TrimSpace(string(out)))
	}
	return nil
}

// CreatePod starts the pod's containers.
func (p *provider) CreatePod(ctx context.Context, in *corev1.Pod) error {
	obj := in.DeepCopy()
	p.mu.Lock()
	if _, ok := p.pods[key(obj.Namespace, obj.Name)]; ok {
		p.mu.Unlock()
		return nil
	}
	probeCtx, stopProbes := context.WithCancel(context.Background())
	pd := &pod{obj: obj, ip: p.allocIP(), containers: map[string]*container{}, ctx: probeCtx, stopProbes: stopProbes}
	p.pods[key(obj.Namespace, obj.Name)] = pd
	p.mu.Unlock()

	now := metav1.Now()
	obj.Status = corev1.PodStatus{Phase: corev1.PodRunning, PodIP: pd.ip, PodIPs: []corev1.PodIP{{IP: pd.ip}}, HostIP: "127.0.0.1",
		StartTime: &now}
	startErr := p.addr("add", pd.ip)
	vols := &podVolumes{}
	if startErr == nil {
		vols, startErr = p.volumes(ctx, obj)
	}
	pd.vols = vols
	if startErr == nil && p.svc != nil {
		// The pod's /etc/hosts, kept current by the service proxy.
		vols.hosts = filepath.Join(p.podDir(obj), "etc-hosts")
		if startErr = os.MkdirAll(p.podDir(obj), 0o755); startErr == nil {
			startErr = p.svc.addHosts(vols.hosts, obj.Namespace, obj.Name, pd.ip)
		}
	}
	for _, c := range obj.Spec.Containers {
		if startErr != nil {
			break
		}
		var ctr *container
		if ctr, startErr = p.start(obj, pd.ip, c, vols, 0); startErr != nil {
			break
		}
		p.mu.Lock()
		pd.containers[c.Name] = ctr
		p.mu.Unlock()
		p.watch(pd, c, ctr)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if startErr != nil {
		obj.Status.Phase, obj.Status.Reason, obj.Status.Message = corev1.PodFailed, "StartError", startErr.Error()
	}
	p.refreshLocked(pd)
	return nil
}

func (p *provider) podDir(obj *corev1.Pod) string {
	return filepath.Join(p.opts.Dir, obj.Namespace+"_"+obj.Name)
}

// start starts one container of a pod.
func (p *provider) start(obj *corev1.Pod, ip string, c corev1.Container, vols *podVolumes, restarts int) (ctr *container, err error) {
	argv, ok := p.opts.Images[c.Image]
	if !ok {
		return nil, fmt.Errorf("container %s: image %q is not mapped to a command on node %s", c.Name, c.Image, p.opts.Name)
	}
	dir := filepath.Join(p.podDir(obj), c.Name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	log, err := createLogFile(filepath.Join(PodLogDir(p.opts.PodLogsDir, obj.Namespace, obj.Name, string(obj.UID)), c.Name), restarts)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			log.close()
		}
	}()
	// An emptyDir's mount path is rewritten to its folder; 0.0.0.0, all of
	// the pod's interfaces, is the pod's IP.
	rewrites := []string{"0.0.0.0:", ip + ":"}
	var binds []string // host path, mount path, "ro" or "rw", ...
	for _, m := range c.VolumeMounts {
		if d, ok := vols.emptyDirs[m.Name]; ok {
			rewrites = append(rewrites, m.MountPath, d)
		}
		if d, ok := vols.mounted[m.Name]; ok {
			if err := os.MkdirAll(m.MountPath, 0o755); err != nil {
				return nil, fmt.Errorf("container %s: mount point %s: %w", c.Name, m.MountPath, err)
			}
			binds = append(binds, d, m.MountPath, map[bool]string{true: "ro", false: "rw"}[m.ReadOnly])
		}
	}
	if vols.hosts != "" {
		binds = append(binds, vols.hosts, "/etc/hosts", "ro")
	}
	rewrite := strings.NewReplacer(rewrites...)
	env := p.env(obj, ip, c, dir, rewrite)
	var args []string
	for _, a := range append(append(append([]string{}, argv[1:]...), c.Command...), c.Args...) {
		args = append(args, rewrite.Replace(expand(a, env.vars)))
	}
	user, err := userOf(obj, c)
	if err != nil {
		return nil, err
	}
	if user != nil {
		if err := os.Chown(dir, int(user.Uid), int(user.Gid)); err != nil {
			return nil, err
		}
	}
	cmd := exec.Command(argv[0], args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Credential: user}
	if len(binds) > 0 {
		// A mount namespace of its own (Go makes / private in it first),
		// where a shell bind-mounts the volumes, as root, and execs the
		// container's command (through setpriv when it runs as another
		// user): the same process.
		if user != nil {
			groups := []string{"--clear-groups"}
			if len(user.Groups) > 0 {
				var ids []string
				for _, g := range user.Groups {
					ids = append(ids, strconv.Itoa(int(g)))
				}
				groups = []string{"--groups", strings.Join(ids, ",")}
			}
			argv = append(append([]string{"setpriv", "--reuid", strconv.Itoa(int(user.Uid)), "--regid", strconv.Itoa(int(user.Gid))}, groups...),
				append([]string{"--"}, argv...)...)
		}
		cmd = exec.Command("/bin/sh", append(append(append([]string{"-c", mountScript, "mountns"}, binds...), "--", argv[0]), append(argv[1:], args...)...)...)
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Unshareflags: syscall.CLONE_NEWNS}
	}
	ctr = &container{log: log, cmd: cmd, started: time.Now(), exited: make(chan struct{}), ready: c.ReadinessProbe == nil || c.ReadinessProbe.HTTPGet == nil,
		streams: [2]*streamWriter{{file: log, stream: cri.Stdout}, {file: log, stream: cri.Stderr}}}
	cmd.Dir, cmd.Stdout, cmd.Stderr = dir, ctr.streams[0], ctr.streams[1]
	cmd.WaitDelay = time.Second // a child left holding the pipes does not hold up the exit
	cmd.Env = env.list
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("container %s: %w", c.Name, err)
	}
	return ctr, nil
}

// userOf is the user a container runs as, from its securityContext and its
// pod's: runAsUser, runAsGroup (else 0, as for an image whose numeric user
// has no group), fsGroup and supplementalGroups; nil (the node's own user)
// when no runAsUser is set. runAsNonRoot refuses root, and a pod with no
// runAsUser: the images here have no user of their own.
func userOf(obj *corev1.Pod, c corev1.Container) (*syscall.Credential, error) {
	var uid, gid *int64
	nonRoot := false
	if ps := obj.Spec.SecurityContext; ps != nil {
		uid, gid = ps.RunAsUser, ps.RunAsGroup
		nonRoot = ps.RunAsNonRoot != nil && *ps.RunAsNonRoot
	}
	if cs := c.SecurityContext; cs != nil {
		if cs.RunAsUser != nil {
			uid = cs.RunAsUser
		}
		if cs.RunAsGroup != nil {
			gid = cs.RunAsGroup
		}
		if cs.RunAsNonRoot != nil {
			nonRoot = *cs.RunAsNonRoot
		}
	}
	if nonRoot && (uid == nil || *uid == 0) {
		return nil, fmt.Errorf("container %s has runAsNonRoot and would run as root (runAsUser %v)", c.Name, uid)
	}
	if uid == nil {
		return nil, nil
	}
	cred := &syscall.Credential{Uid: uint32(*uid)}
	if gid != nil {
		cred.Gid = uint32(*gid)
	}
	if ps := obj.Spec.SecurityContext; ps != nil {
		if ps.FSGroup != nil {
			cred.Groups = append(cred.Groups, uint32(*ps.FSGroup))
		}
		for _, g := range ps.SupplementalGroups {
			cred.Groups = append(cred.Groups, uint32(g))
		}
	}
	return cred, nil
}

// mountScript's arguments: host path, mount path, ro|rw, ..., --, command.
const mountScript = `set -e
while [ "$1" != "--" ]; do
	mount --bind "$1" "$2"
	if [ "$3" = ro ]; then mount -o remount,bind,ro "$2"; fi
	shift 3
done
shift
exec "$@"`

type containerEnv struct {
	list []string          // NAME=value, for the process
	vars map[string]string // the container's own, for $(NAME) in args
}

// env is a container's environment: the node's (without its Kubernetes
// client settings), the pod's identity, the API server's address, the
// image's, then the container's own, resolved as a kubelet would.
func (p *provider) env(obj *corev1.Pod, ip string, c corev1.Container, dir string, rewrite *strings.Replacer) containerEnv {
	list := testenv.EnvWithout("KUBECONFIG=", "KUBERNETES_", "HOME=")
	list = append(list, "HOME="+dir, "POD_IP="+ip, "POD_NAME="+obj.Name, "POD_NAMESPACE="+obj.Namespace, "HOSTNAME="+obj.Name)
	if host, port, ok := strings.Cut(p.opts.APIServer, ":"); ok {
		list = append(list, "KUBERNETES_SERVICE_HOST="+host, "KUBERNETES_SERVICE_PORT="+port)
	}
	list = append(list, p.opts.ImageEnv[c.Image]...)
	vars := map[string]string{}
	for _, e := range c.Env {
		v := expand(e.Value, vars)
		if f := e.ValueFrom; f != nil && f.FieldRef != nil {
			v = fieldValue(obj, ip, f.FieldRef.FieldPath)
		}
		v = rewrite.Replace(v)
		vars[e.Name] = v
		list = append(list, e.Name+"="+v)
	}
	return containerEnv{list: list, vars: vars}
}

// fieldValue is a downward API field of a pod.
func fieldValue(obj *corev1.Pod, ip, path string) string {
	switch path {
	case "status.podIP":
		return ip
	case "metadata.name":
		return obj.Name
	case "metadata.namespace":
		return obj.Namespace
	case "metadata.uid":
		return string(obj.UID)
	case "spec.serviceAccountName":
		return obj.Spec.ServiceAccountName
	case "spec.nodeName":
		return obj.Spec.NodeName
	}
	return ""
}

// watch follows a running container: its exit, its readiness probe.
func (p *provider) watch(pd *pod, c corev1.Container, ctr *container) {
	go p.wait(pd, c, ctr)
	if c.ReadinessProbe != nil && c.ReadinessProbe.HTTPGet != nil {
		go p.probe(pd.ctx, pd, c, ctr)
	}
}

// wait records a container's exit, tells the pod controller, and starts
// the container again when the pod's restartPolicy says so, after a
// back-off that doubles from 1s to 30s (a kubelet's goes from 10s to 5min).
func (p *provider) wait(pd *pod, c corev1.Container, ctr *container) {
	err := ctr.reap()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
		if code < 0 {
			code = 137 // killed by a signal
		}
	}
	p.mu.Lock()
	ctr.exitCode, ctr.finished = code, time.Now()
	close(ctr.exited)
	policy := pd.obj.Spec.RestartPolicy
	ctr.backoff = !pd.deleted && (policy == corev1.RestartPolicyAlways || policy == "" || policy == corev1.RestartPolicyOnFailure && code != 0)
	p.refreshLocked(pd)
	restart, obj := ctr.backoff, pd.obj.DeepCopy()
	p.mu.Unlock()
	if !restart {
		return
	}
	select {
	case <-time.After(min(time.Second<<ctr.restarts, 30*time.Second)):
	case <-pd.ctx.Done():
		return
	}
	next, err := p.start(obj, pd.ip, c, pd.vols, ctr.restarts+1)
	p.mu.Lock()
	defer p.mu.Unlock()
	switch {
	case err != nil:
		ctr.backoff = false
		pd.obj.Status.Phase, pd.obj.Status.Reason, pd.obj.Status.Message = corev1.PodFailed, "StartError", err.Error()
	case pd.deleted:
		go stop([]*container{next}, 0)
		go func() { _ = next.reap(); close(next.exited) }()
		return
	default:
		next.restarts, next.last = ctr.restarts+1, terminated(ctr)
		pd.containers[c.Name] = next
		p.watch(pd, c, next)
	}
	p.refreshLocked(pd)
}

func terminated(c *container) *corev1.ContainerStateTerminated {
	return &corev1.ContainerStateTerminated{ExitCode: int32(c.exitCode), Reason: exitReason(c.exitCode),
		StartedAt: metav1.NewTime(c.started), FinishedAt: metav1.NewTime(c.finished)}
}

// refreshLocked recomputes a pod's status from its containers and tells the
// pod controller. A pod whose containers all exited for good (see wait) is
// Succeeded or Failed: whoever owns it replaces it.
func (p *provider) refreshLocked(pd *pod) {
	st := &pd.obj.Status
	st.ContainerStatuses = nil
	allDone, failed, allReady := len(pd.containers) > 0, false, true
	for _, c := range pd.obj.Spec.Containers {
		cs := corev1.ContainerStatus{Name: c.Name, Image: c.Image, ImageID: c.Image}
		ctr := pd.containers[c.Name]
		if ctr != nil {
			cs.RestartCount = int32(ctr.restarts)
			cs.LastTerminationState.Terminated = ctr.last
		}
		switch {
		case ctr == nil:
			cs.State.Waiting = &corev1.ContainerStateWaiting{Reason: "StartError"}
			allDone = false
		case ctr.backoff:
			cs.State.Waiting = &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff",
				Message: fmt.Sprintf("back-off restarting container %s (exit code %d)", c.Name, ctr.exitCode)}
			cs.LastTerminationState.Terminated = terminated(ctr)
			allDone, allReady = false, false
		case ctr.running():
			cs.Ready, cs.Started = ctr.ready, ptr(true)
			allReady = allReady && ctr.ready
			cs.State.Running = &corev1.ContainerStateRunning{StartedAt: metav1.NewTime(ctr.started)}
			allDone = false
		default:
			cs.State.Terminated = terminated(ctr)
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
		if allReady {
			ready = corev1.ConditionTrue
		}
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
	pd.stopProbes()
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
	if p.svc != nil {
		p.svc.removeHosts(filepath.Join(p.podDir(pd.obj), "etc-hosts"))
	}
	if err := p.addr("del", pd.ip); err != nil {
		fmt.Fprintf(os.Stderr, "kubenode: %v\n", err)
	}
	p.mu.Lock()
	for _, c := range pd.containers {
		c.backoff = false // not restarted: its pod is gone
	}
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
	var ips []string
	for _, pd := range p.pods {
		pd.deleted = true
		pd.stopProbes()
		ips = append(ips, pd.ip)
		for _, c := range pd.containers {
			ctrs = append(ctrs, c)
		}
	}
	p.mu.Unlock()
	stop(ctrs, 2*time.Second)
	for _, ip := range ips {
		if err := p.addr("del", ip); err != nil {
			fmt.Fprintf(os.Stderr, "kubenode: %v\n", err)
		}
	}
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
