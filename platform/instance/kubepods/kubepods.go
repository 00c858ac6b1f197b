// Package kubepods runs instances as Kubernetes pods: each generic instance
// is a pod with the environment's runtime container and a fetcher sidecar
// (`lanternd fetcher`) that downloads a function's package into the code
// folder both containers share. The poolmgr reaches the pod at its IP: the
// runtime on Config.Port, the fetcher on Config.FetcherPort (Process.CodeDir
// is the fetcher's URL, which fetcher.PodLoader posts to).
//
// Pods are watched with a client-go informer: a pod that fails, ends, loses
// a container or is deleted ends its instance (Process.Done). The running
// pool pods of a previous run are handed to the poolmgr (Adopt), generic
// ones and those specialized (annotated by MarkSpecialized) alike.
package kubepods

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"path"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/cache"

	"github.com/lantern-faas/lantern/platform/api"
	apiruntime "github.com/lantern-faas/lantern/platform/api/runtime"
	"github.com/lantern-faas/lantern/platform/instance"
	"github.com/lantern-faas/lantern/platform/internal/kubecore"
	"github.com/lantern-faas/lantern/platform/store/kubestore"
)

// Labels on every pool pod.
const (
	LabelManagedBy   = "app.kubernetes.io/managed-by"
	LabelEnvironment = "lantern.dev/environment"
	LabelInstance    = "lantern.dev/instance"
	managedBy        = "lantern-poolmgr"
)

// Config says where and how pool pods run.
type Config struct {
	// Namespace of the pool pods.
	Namespace string
	// Images maps a built-in runtime (python, nodejs, binary) to its image;
	// an environment's spec.image wins.
	Images map[string]string
	// FetcherImage is the image of the fetcher sidecar (lanternd).
	FetcherImage string
	// FetcherArgs are the sidecar's arguments before its address flag,
	// e.g. fetcher --controller-url=http://lantern-controller:8889.
	FetcherArgs []string
	// Port of the runtime in the pod (8888) and of the fetcher (8000).
	Port, FetcherPort int
	// CodeDir is the folder the containers share for code (/userfunc).
	CodeDir string
	// StartTimeout bounds a pod's start (60 s).
	StartTimeout time.Duration
	// NodeName, when set, places pods on that node (no scheduler needed).
	NodeName string
}

// Runtime starts instances as pods.
type Runtime struct {
	cfg Config
	cs  *kubecore.Client

	mu     sync.Mutex
	procs  map[string]*pod // by pod name
	owners map[ownerKey]metav1.OwnerReference
	prev   []instance.Adopted
}

var (
	_ instance.Runtime = (*Runtime)(nil)
	_ instance.Adopter = (*Runtime)(nil)
	_ instance.Marker  = (*process)(nil)
)

// New starts the pod informer of cfg.Namespace; it runs until ctx ends.
func New(ctx context.Context, cs *kubecore.Client, cfg Config) (*Runtime, error) {
	if cfg.Port == 0 {
		cfg.Port = 8888
	}
	if cfg.FetcherPort == 0 {
		cfg.FetcherPort = 8000
	}
	if cfg.CodeDir == "" {
		cfg.CodeDir = "/userfunc"
	}
	if cfg.StartTimeout == 0 {
		cfg.StartTimeout = time.Minute
	}
	if cfg.FetcherImage == "" {
		return nil, errors.New("kubepods: no fetcher image")
	}
	r := &Runtime{cfg: cfg, cs: cs, procs: map[string]*pod{}, owners: map[ownerKey]metav1.OwnerReference{}}
	inf, err := cs.PodInformer(cfg.Namespace, LabelSelector)
	if err != nil {
		return nil, err
	}
	if _, err := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { r.observe(obj, false) },
		UpdateFunc: func(_, obj any) { r.observe(obj, false) },
		DeleteFunc: func(obj any) {
			if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
				obj = d.Obj
			}
			r.observe(obj, true)
		},
	}); err != nil {
		return nil, err
	}
	// The pods of a previous run, listed before the informer starts so that
	// their events find them registered.
	prev, err := cs.Pods(cfg.Namespace).List(ctx, metav1.ListOptions{LabelSelector: LabelSelector})
	if err != nil {
		return nil, fmt.Errorf("kubepods: list the pool pods of a previous run in %s: %w", cfg.Namespace, err)
	}
	for i := range prev {
		r.adoptPod(ctx, &prev[i])
	}
	go inf.RunWithContext(ctx)
	if !cache.WaitForCacheSync(ctx.Done(), inf.HasSynced) {
		return nil, fmt.Errorf("kubepods: pod informer did not sync in namespace %s", cfg.Namespace)
	}
	return r, nil
}

// Annotations of a pool pod: what it was started for, and once specialized
// (MarkSpecialized) the function it serves and since when. The node's log
// reader (platform/podlogs) attributes the pod's output with them.
const (
	AnnotationEnvNamespace      = "lantern.dev/environment-namespace"
	AnnotationEnvVersion        = "lantern.dev/environment-version"
	AnnotationFunction          = "lantern.dev/function"
	AnnotationFunctionNamespace = "lantern.dev/function-namespace"
	AnnotationFunctionVersion   = "lantern.dev/function-version"
	// AnnotationSpecializedAt is when the pod began to serve its function
	// (RFC 3339, nanoseconds): what it printed from then on is the
	// function's, what it printed before its environment's.
	AnnotationSpecializedAt = "lantern.dev/specialized-at"
)

// Container is the name of the runtime container of a pool pod, the one
// whose output is the function's.
const Container = "runtime"

// PodNamePrefix and the instance ID make a pool pod's name.
const PodNamePrefix = "lantern-"

// LabelSelector selects the pool pods.
const LabelSelector = LabelManagedBy + "=" + managedBy

// adoptPod keeps a running pod of a previous run for Adopt, and deletes
// one that is not running.
func (r *Runtime) adoptPod(ctx context.Context, o *corev1.Pod) {
	if o.DeletionTimestamp != nil {
		return
	}
	if o.Status.Phase != corev1.PodRunning || o.Status.PodIP == "" || terminated(o) != "" || o.Labels[LabelInstance] == "" {
		grace := int64(0)
		_ = r.cs.Pods(r.cfg.Namespace).Delete(ctx, o.Name, metav1.DeleteOptions{GracePeriodSeconds: &grace})
		return
	}
	p := &pod{name: o.Name, running: make(chan struct{}), done: make(chan struct{})}
	r.setIP(p, o.Status.PodIP)
	close(p.running)
	r.procs[o.Name] = p
	r.prev = append(r.prev, instance.Adopted{
		ID: o.Labels[LabelInstance], Process: &process{r: r, p: p},
		EnvNamespace: o.Annotations[AnnotationEnvNamespace], EnvName: o.Labels[LabelEnvironment], EnvVersion: o.Annotations[AnnotationEnvVersion],
		FunctionName: o.Annotations[AnnotationFunction], FunctionVersion: o.Annotations[AnnotationFunctionVersion],
	})
}

// Adopt hands over the running pool pods of a previous run, once.
func (r *Runtime) Adopt() []instance.Adopted {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.prev
	r.prev = nil
	return out
}

// pod is one instance.
type pod struct {
	name    string
	owners  []metav1.OwnerReference // the environment's, once known
	addr    string                  // podIP:port once running
	fetcher string
	running chan struct{} // closed once Running with an IP
	done    chan struct{}
	once    sync.Once
	err     error
	message string
}

func (p *pod) finish(err error) {
	p.once.Do(func() {
		p.err = err
		close(p.done)
	})
}

func (r *Runtime) observe(obj any, deleted bool) {
	o, ok := obj.(*corev1.Pod)
	if !ok {
		return
	}
	r.mu.Lock()
	p := r.procs[o.Name]
	r.mu.Unlock()
	if p == nil {
		return
	}
	exited := terminated(o)
	switch {
	case deleted:
		p.finish(fmt.Errorf("pod %s was deleted", o.Name))
	case o.Status.Phase == corev1.PodFailed || o.Status.Phase == corev1.PodSucceeded:
		p.message = o.Status.Message
		p.finish(fmt.Errorf("pod %s %s: %s", o.Name, o.Status.Phase, podReason(o, exited)))
	case exited != "":
		// With restartPolicy Never the pod stays Running while its other
		// container runs: the instance is dead all the same.
		p.message = exited
		p.finish(fmt.Errorf("pod %s: %s", o.Name, p.message))
	case o.Status.Phase == corev1.PodRunning && o.Status.PodIP != "":
		select {
		case <-p.running:
		default:
			r.setIP(p, o.Status.PodIP)
			close(p.running)
		}
	}
}

// terminated describes the first container of o that has exited, or "".
func terminated(o *corev1.Pod) string {
	for _, cs := range o.Status.ContainerStatuses {
		if t := cs.State.Terminated; t != nil {
			return fmt.Sprintf("container %s exited with %d (%s)", cs.Name, t.ExitCode, t.Reason)
		}
	}
	return ""
}

// podReason says why a pod ended: its message, else the container that
// exited (exited, from terminated), else its phase.
func podReason(o *corev1.Pod, exited string) string {
	switch {
	case o.Status.Message != "":
		return o.Status.Message
	case exited != "":
		return exited
	}
	return string(o.Status.Phase)
}

// Start creates a pool pod for env and returns once both its containers
// accept connections.
func (r *Runtime) Start(ctx context.Context, env *api.Environment, opts instance.StartOptions) (instance.Process, error) {
	image := env.Spec.Image
	if image == "" {
		image = r.cfg.Images[env.Spec.Runtime]
	}
	if image == "" {
		return nil, fmt.Errorf("environment %q has no image: set spec.image, or start the poolmgr with an image for the %q runtime", env.Metadata.Name, env.Spec.Runtime)
	}
	name := PodNamePrefix + opts.ID
	p := &pod{name: name, running: make(chan struct{}), done: make(chan struct{})}
	r.mu.Lock()
	r.procs[name] = p
	r.mu.Unlock()
	obj := r.podSpec(name, image, env, opts)
	p.owners = r.ownerRefs(ctx, kubestore.EnvironmentsResource, &env.Metadata, true)
	obj.OwnerReferences = p.owners
	if _, err := r.cs.Pods(r.cfg.Namespace).Create(ctx, obj, metav1.CreateOptions{}); err != nil {
		r.forget(name)
		return nil, fmt.Errorf("create pod %s/%s: %w", r.cfg.Namespace, name, err)
	}
	proc := &process{r: r, p: p}
	ctx, cancel := context.WithTimeout(ctx, r.cfg.StartTimeout)
	defer cancel()
	select {
	case <-p.running:
	case <-p.done:
		proc.Stop(0)
		return nil, p.err
	case <-ctx.Done():
		proc.Stop(0)
		return nil, fmt.Errorf("pod %s not running within %s: %w", name, r.cfg.StartTimeout, ctx.Err())
	}
	for _, addr := range []string{p.addr, p.fetcher[len("http://"):]} {
		if err := waitListening(ctx, addr, p.done); err != nil {
			proc.Stop(0)
			return nil, fmt.Errorf("pod %s: %w", name, err)
		}
	}
	return proc, nil
}

func (r *Runtime) podSpec(name, image string, env *api.Environment, opts instance.StartOptions) *corev1.Pod {
	grace := int64(2)
	podIP := corev1.EnvVar{Name: "POD_IP", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "status.podIP"}}}
	vars := []corev1.EnvVar{podIP,
		{Name: "LANTERN_HOST", Value: "$(POD_IP)"},
		{Name: apiruntime.EnvPort, Value: strconv.Itoa(r.cfg.Port)},
		{Name: apiruntime.EnvUserfunc, Value: r.cfg.CodeDir},
	}
	for _, kv := range env.Spec.Env {
		k, v, _ := strings.Cut(kv, "=")
		vars = append(vars, corev1.EnvVar{Name: k, Value: v})
	}
	code := corev1.VolumeMount{Name: "code", MountPath: r.cfg.CodeDir}
	fetcherArgs := append(append([]string{}, r.cfg.FetcherArgs...),
		"--fetcher-addr=$(POD_IP):"+strconv.Itoa(r.cfg.FetcherPort), "--code-dir="+r.cfg.CodeDir,
		"--data-dir="+path.Join(r.cfg.CodeDir, ".fetcher"))
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name: name, Namespace: r.cfg.Namespace,
			Labels:      map[string]string{LabelManagedBy: managedBy, LabelEnvironment: env.Metadata.Name, LabelInstance: opts.ID},
			Annotations: map[string]string{AnnotationEnvNamespace: env.Metadata.Namespace, AnnotationEnvVersion: instance.Version(&env.Metadata)},
		},
		Spec: corev1.PodSpec{
			NodeName:                      r.cfg.NodeName,
			RestartPolicy:                 corev1.RestartPolicyNever,
			TerminationGracePeriodSeconds: &grace,
			AutomountServiceAccountToken:  ptr(false),
			Containers: []corev1.Container{
				{Name: Container, Image: image, Env: vars, VolumeMounts: []corev1.VolumeMount{code},
					Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: int32(r.cfg.Port)}}},
				{Name: "fetcher", Image: r.cfg.FetcherImage, Args: fetcherArgs, Env: []corev1.EnvVar{podIP}, VolumeMounts: []corev1.VolumeMount{code},
					Ports: []corev1.ContainerPort{{Name: "fetcher", ContainerPort: int32(r.cfg.FetcherPort)}}},
			},
			Volumes: []corev1.Volume{{Name: "code", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}},
		},
	}
}

func ptr[T any](v T) *T { return &v }

// ownerRefs returns an owner reference to the Lantern object m, so that
// Kubernetes' garbage collector deletes the pod with it. Owners must live
// in the pod's namespace, and the state may not be kept in Kubernetes at
// all (--backend local): then, or when the object cannot be read, the pod
// has no owner and the poolmgr alone deletes it. The object's UID is read
// once per version of it, not once per pod.
func (r *Runtime) ownerRefs(ctx context.Context, gvr schema.GroupVersionResource, m *api.Metadata, controller bool) []metav1.OwnerReference {
	if m.Namespace != r.cfg.Namespace {
		return nil
	}
	key := ownerKey{gvr.Resource, m.Namespace, m.Name, instance.Version(m)}
	r.mu.Lock()
	ref, ok := r.owners[key]
	r.mu.Unlock()
	if !ok {
		obj, err := r.cs.Dynamic().Resource(gvr).Namespace(m.Namespace).Get(ctx, m.Name, metav1.GetOptions{})
		if err != nil {
			return nil
		}
		ref = metav1.OwnerReference{APIVersion: gvr.GroupVersion().String(), Kind: obj.GetKind(), Name: m.Name, UID: obj.GetUID()}
		r.mu.Lock()
		for k := range r.owners { // older versions of it are not needed again
			if k.resource == key.resource && k.namespace == key.namespace && k.name == key.name {
				delete(r.owners, k)
			}
		}
		r.owners[key] = ref
		r.mu.Unlock()
	}
	ref.Controller = ptr(controller)
	return []metav1.OwnerReference{ref}
}

// setIP sets where a pod's runtime and fetcher answer.
func (r *Runtime) setIP(p *pod, ip string) {
	p.addr = net.JoinHostPort(ip, strconv.Itoa(r.cfg.Port))
	p.fetcher = "http://" + net.JoinHostPort(ip, strconv.Itoa(r.cfg.FetcherPort))
}

// ownerKey names one version of an owner.
type ownerKey struct{ resource, namespace, name, version string }

func waitListening(ctx context.Context, addr string, done <-chan struct{}) error {
	var d net.Dialer
	for {
		c, err := d.DialContext(ctx, "tcp", addr)
		if err == nil {
			c.Close()
			return nil
		}
		select {
		case <-done:
			return fmt.Errorf("ended before %s listened", addr)
		case <-ctx.Done():
			return fmt.Errorf("%s not listening: %w", addr, ctx.Err())
		case <-time.After(10 * time.Millisecond):
		}
	}
}

func (r *Runtime) forget(name string) {
	r.mu.Lock()
	delete(r.procs, name)
	r.mu.Unlock()
}

// process is a running pool pod.
type process struct {
	r *Runtime
	p *pod
}

func (p *process) Address() string { return p.p.addr }

// CodeDir is the URL of the pod's fetcher sidecar: the loader posts there.
func (p *process) CodeDir() string       { return p.p.fetcher }
func (p *process) PID() int              { return 0 }
func (p *process) Done() <-chan struct{} { return p.p.done }
func (p *process) Err() error            { return p.p.err }
func (p *process) Tail() string          { return p.p.message }

// MarkSpecialized records fn in the pod's annotations, for adoption and for
// the attribution of the pod's output (since: when it began to serve fn),
// and adds the function to the pod's owners.
func (p *process) MarkSpecialized(ctx context.Context, fn *api.Function, since time.Time) error {
	meta := map[string]any{"annotations": map[string]string{
		AnnotationFunction: fn.Metadata.Name, AnnotationFunctionNamespace: fn.Metadata.Namespace,
		AnnotationFunctionVersion: instance.Version(&fn.Metadata), AnnotationSpecializedAt: since.UTC().Format(time.RFC3339Nano)}}
	if owner := p.r.ownerRefs(ctx, kubestore.FunctionsResource, &fn.Metadata, false); len(owner) > 0 {
		meta["ownerReferences"] = append(slices.Clip(p.p.owners), owner...)
	}
	patch, err := json.Marshal(map[string]any{"metadata": meta})
	if err != nil {
		return err
	}
	return p.r.cs.Pods(p.r.cfg.Namespace).Patch(ctx, p.p.name, types.MergePatchType, patch, metav1.PatchOptions{})
}

// Stop deletes the pod with grace and waits until it is gone.
func (p *process) Stop(grace time.Duration) {
	secs := int64(grace / time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), grace+30*time.Second)
	defer cancel()
	err := p.r.cs.Pods(p.r.cfg.Namespace).Delete(ctx, p.p.name, metav1.DeleteOptions{GracePeriodSeconds: &secs})
	if err != nil && !apierrors.IsNotFound(err) {
		p.p.finish(err)
	}
	if apierrors.IsNotFound(err) {
		p.p.finish(errors.New("pod is gone"))
	}
	select {
	case <-p.p.done:
	case <-ctx.Done():
		p.p.finish(fmt.Errorf("pod %s not gone after %s", p.p.name, grace+30*time.Second))
	}
	p.r.forget(p.p.name)
}
