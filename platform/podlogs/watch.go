package podlogs

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/tools/cache"

	"github.com/lantern-faas/lantern/platform/instance/kubepods"
	"github.com/lantern-faas/lantern/platform/internal/kubecore"
)

// Watch tells t about the pool pods of its node with an informer (a list
// and a watch of the pods of cfg.Namespace on spec.nodeName: get, list and
// watch on pods is all the access it needs) until ctx ends. It returns
// once the informer has synced, and t is Synced.
func Watch(ctx context.Context, cs *kubecore.Client, t *Tailer) error {
	if err := watch(ctx, cs, t.cfg.Namespace, t.cfg.Node, t.Update, t.Delete); err != nil {
		return err
	}
	t.Synced()
	return nil
}

// WatchForwarded tells f about the pool pods of its namespace, on every
// node, until ctx ends; it returns once the informer has synced.
func WatchForwarded(ctx context.Context, cs *kubecore.Client, f *Forwarded) error {
	return watch(ctx, cs, f.namespace, "", f.Update, f.Delete)
}

func watch(ctx context.Context, cs *kubecore.Client, namespace, node string, update, del func(*corev1.Pod)) error {
	inf, err := cs.NodePodInformer(namespace, kubepods.LabelSelector, node)
	if err != nil {
		return err
	}
	pod := func(obj any) *corev1.Pod {
		if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
			obj = d.Obj
		}
		p, _ := obj.(*corev1.Pod)
		return p
	}
	reg, err := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: func(obj any) {
			if p := pod(obj); p != nil {
				update(p)
			}
		},
		UpdateFunc: func(_, obj any) {
			if p := pod(obj); p != nil {
				update(p)
			}
		},
		DeleteFunc: func(obj any) {
			if p := pod(obj); p != nil {
				del(p)
			}
		},
	})
	if err != nil {
		return err
	}
	go inf.RunWithContext(ctx)
	// The handler's own sync: every pod listed at the start has reached it.
	if !cache.WaitForCacheSync(ctx.Done(), reg.HasSynced) {
		return fmt.Errorf("pod informer did not sync (namespace %s, node %q)", namespace, node)
	}
	return nil
}
