package kubenode

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
)

// schedule binds every pod that names no node, and asks for the default
// scheduler, to node, until ctx ends: the work of a scheduler with one node
// and no constraints. A failed binding is tried again on the next resync.
func schedule(ctx context.Context, client kubernetes.Interface, node string) error {
	f := informers.NewSharedInformerFactoryWithOptions(client, 5*time.Second,
		informers.WithTweakListOptions(func(o *metav1.ListOptions) { o.FieldSelector = "spec.nodeName=" }))
	inf := f.Core().V1().Pods().Informer()
	bind := func(obj any) {
		pod, ok := obj.(*corev1.Pod)
		if !ok || pod.Spec.NodeName != "" || pod.DeletionTimestamp != nil ||
			(pod.Spec.SchedulerName != "" && pod.Spec.SchedulerName != corev1.DefaultSchedulerName) {
			return
		}
		b := &corev1.Binding{ObjectMeta: metav1.ObjectMeta{Namespace: pod.Namespace, Name: pod.Name, UID: pod.UID},
			Target: corev1.ObjectReference{Kind: "Node", Name: node}}
		_ = client.CoreV1().Pods(pod.Namespace).Bind(ctx, b, metav1.CreateOptions{})
	}
	if _, err := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: bind, UpdateFunc: func(_, obj any) { bind(obj) },
	}); err != nil {
		return err
	}
	f.Start(ctx.Done())
	sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if !cache.WaitForCacheSync(sctx.Done(), inf.HasSynced) {
		return fmt.Errorf("node %s: the unscheduled pods' informer did not sync", node)
	}
	return nil
}
