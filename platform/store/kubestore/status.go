package kubestore

import (
	"context"
	"encoding/json"
	"log/slog"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/util/workqueue"
)

// StatusWriter publishes what a component observes of objects (ready
// instances, the last cold start and error) in their status subresource.
// Changes are queued by name, coalesced for a moment and written with a
// merge patch; failed writes are retried with backoff.
type StatusWriter struct {
	dyn      dynamic.Interface
	resource schema.GroupVersionResource
	status   func(ns, name string) any
	logger   *slog.Logger
	queue    workqueue.TypedRateLimitingInterface[types.NamespacedName]
}

// coalesce is how long a change waits for the changes that follow it.
const coalesce = 100 * time.Millisecond

// NewStatusWriter writes the status that status returns for objects of
// resource (e.g. lantern.dev/v1 functions).
func NewStatusWriter(cfg *rest.Config, resource schema.GroupVersionResource, status func(ns, name string) any, logger *slog.Logger) (*StatusWriter, error) {
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	q := workqueue.NewTypedRateLimitingQueueWithConfig(workqueue.DefaultTypedControllerRateLimiter[types.NamespacedName](),
		workqueue.TypedRateLimitingQueueConfig[types.NamespacedName]{Name: "lantern-status-" + resource.Resource})
	return &StatusWriter{dyn: dyn, resource: resource, status: status, logger: logger, queue: q}, nil
}

// Lantern's resources whose status the platform writes.
var (
	FunctionsResource    = schema.GroupVersionResource{Group: Group, Version: Version, Resource: "functions"}
	EnvironmentsResource = schema.GroupVersionResource{Group: Group, Version: Version, Resource: "environments"}
)

// Changed queues the status of one object for writing. It does not block.
func (w *StatusWriter) Changed(ns, name string) {
	w.queue.AddAfter(types.NamespacedName{Namespace: ns, Name: name}, coalesce)
}

// Run writes queued statuses until ctx ends.
func (w *StatusWriter) Run(ctx context.Context) error {
	go func() {
		<-ctx.Done()
		w.queue.ShutDown()
	}()
	for {
		key, quit := w.queue.Get()
		if quit {
			return nil
		}
		err := w.write(ctx, key)
		switch {
		case err == nil, apierrors.IsNotFound(err), ctx.Err() != nil:
			w.queue.Forget(key)
		default:
			w.logger.Warn("write status", "resource", w.resource.Resource, "namespace", key.Namespace, "name", key.Name, "err", err)
			w.queue.AddRateLimited(key)
		}
		w.queue.Done(key)
	}
}

func (w *StatusWriter) write(ctx context.Context, key types.NamespacedName) error {
	body, err := json.Marshal(map[string]any{"status": w.status(key.Namespace, key.Name)})
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	_, err = w.dyn.Resource(w.resource).Namespace(key.Namespace).Patch(ctx, key.Name, types.MergePatchType, body, metav1.PatchOptions{}, "status")
	return err
}
