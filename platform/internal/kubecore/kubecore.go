// Package kubecore is the part of the Kubernetes core/v1 API Lantern uses
// (pods, config maps, and a pod informer), over client-go's dynamic client.
//
// client-go's typed clientset registers every API group at start, with its
// informers, listers and apply configurations: linked into lanternd it
// doubled the resident memory of an idle `lanternd all` (34 -> 70 MB), in
// the embedded mode too, where nothing talks to Kubernetes. Through the
// dynamic client lanternd links one API group, core/v1, and converts its
// typed objects from and to unstructured ones.
package kubecore

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
)

var (
	podsGVR       = schema.GroupVersionResource{Version: "v1", Resource: "pods"}
	configMapsGVR = schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}
)

// Client makes core/v1 calls.
type Client struct{ dyn dynamic.Interface }

// New returns a client over dyn.
func New(dyn dynamic.Interface) *Client { return &Client{dyn: dyn} }

// NewForConfig returns a client for the API server of cfg.
func NewForConfig(cfg *rest.Config) (*Client, error) {
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	return New(dyn), nil
}

// Dynamic returns the dynamic client underneath.
func (c *Client) Dynamic() dynamic.Interface { return c.dyn }

// Pods are the pods of one namespace.
type Pods struct{ ri dynamic.ResourceInterface }

// Pods returns the pods of namespace ns.
func (c *Client) Pods(ns string) Pods { return Pods{c.dyn.Resource(podsGVR).Namespace(ns)} }

// Create creates pod and returns it as stored.
func (p Pods) Create(ctx context.Context, pod *corev1.Pod, opts metav1.CreateOptions) (*corev1.Pod, error) {
	pod.APIVersion, pod.Kind = "v1", "Pod"
	u, err := toUnstructured(pod)
	if err != nil {
		return nil, err
	}
	out, err := p.ri.Create(ctx, u, opts)
	if err != nil {
		return nil, err
	}
	return fromUnstructured[corev1.Pod](out)
}

// List lists pods.
func (p Pods) List(ctx context.Context, opts metav1.ListOptions) ([]corev1.Pod, error) {
	l, err := p.ri.List(ctx, opts)
	if err != nil {
		return nil, err
	}
	pods := make([]corev1.Pod, 0, len(l.Items))
	for i := range l.Items {
		pod, err := fromUnstructured[corev1.Pod](&l.Items[i])
		if err != nil {
			return nil, err
		}
		pods = append(pods, *pod)
	}
	return pods, nil
}

// Delete deletes a pod.
func (p Pods) Delete(ctx context.Context, name string, opts metav1.DeleteOptions) error {
	return p.ri.Delete(ctx, name, opts)
}

// Patch patches a pod.
func (p Pods) Patch(ctx context.Context, name string, pt types.PatchType, data []byte, opts metav1.PatchOptions) error {
	_, err := p.ri.Patch(ctx, name, pt, data, opts)
	return err
}

// ConfigMaps are the config maps of one namespace.
type ConfigMaps struct{ ri dynamic.ResourceInterface }

// ConfigMaps returns the config maps of namespace ns.
func (c *Client) ConfigMaps(ns string) ConfigMaps {
	return ConfigMaps{c.dyn.Resource(configMapsGVR).Namespace(ns)}
}

// Create creates cm.
func (m ConfigMaps) Create(ctx context.Context, cm *corev1.ConfigMap, opts metav1.CreateOptions) (*corev1.ConfigMap, error) {
	cm.APIVersion, cm.Kind = "v1", "ConfigMap"
	u, err := toUnstructured(cm)
	if err != nil {
		return nil, err
	}
	out, err := m.ri.Create(ctx, u, opts)
	if err != nil {
		return nil, err
	}
	return fromUnstructured[corev1.ConfigMap](out)
}

// Get reads a config map.
func (m ConfigMaps) Get(ctx context.Context, name string, opts metav1.GetOptions) (*corev1.ConfigMap, error) {
	u, err := m.ri.Get(ctx, name, opts)
	if err != nil {
		return nil, err
	}
	return fromUnstructured[corev1.ConfigMap](u)
}

// Delete deletes a config map.
func (m ConfigMaps) Delete(ctx context.Context, name string, opts metav1.DeleteOptions) error {
	return m.ri.Delete(ctx, name, opts)
}

// Informer watches the objects of ri that match labelSelector (all when
// empty), as *unstructured.Unstructured. It is what client-go's
// dynamicinformer builds, without linking client-go's typed informers.
func Informer(ri dynamic.ResourceInterface, labelSelector string) cache.SharedIndexInformer {
	return informer(ri, labelSelector, "")
}

func informer(ri dynamic.ResourceInterface, labelSelector, fieldSelector string) cache.SharedIndexInformer {
	lw := &cache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			o.LabelSelector, o.FieldSelector = labelSelector, fieldSelector
			return ri.List(ctx, o)
		},
		WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
			o.LabelSelector, o.FieldSelector = labelSelector, fieldSelector
			return ri.Watch(ctx, o)
		},
	}
	return cache.NewSharedIndexInformer(lw, &unstructured.Unstructured{}, 0, cache.Indexers{})
}

// PodInformer watches the pods of namespace ns that match labelSelector;
// its handlers get *corev1.Pod objects.
func (c *Client) PodInformer(ns, labelSelector string) (cache.SharedIndexInformer, error) {
	return c.NodePodInformer(ns, labelSelector, "")
}

// NodePodInformer is PodInformer for the pods scheduled to node (all
// nodes when empty), selected by the API server (spec.nodeName).
func (c *Client) NodePodInformer(ns, labelSelector, node string) (cache.SharedIndexInformer, error) {
	var fields string
	if node != "" {
		fields = "spec.nodeName=" + node
	}
	inf := informer(c.dyn.Resource(podsGVR).Namespace(ns), labelSelector, fields)
	err := inf.SetTransform(func(obj any) (any, error) {
		if u, ok := obj.(*unstructured.Unstructured); ok {
			return fromUnstructured[corev1.Pod](u)
		}
		return obj, nil
	})
	return inf, err
}

func toUnstructured(obj any) (*unstructured.Unstructured, error) {
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	if err != nil {
		return nil, err
	}
	return &unstructured.Unstructured{Object: m}, nil
}

func fromUnstructured[T any](u *unstructured.Unstructured) (*T, error) {
	out := new(T)
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, out); err != nil {
		return nil, fmt.Errorf("decode %s %s: %w", u.GetKind(), u.GetName(), err)
	}
	return out, nil
}
