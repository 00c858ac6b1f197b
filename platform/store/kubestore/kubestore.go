package kubestore

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"

	"github.com/lantern-faas/lantern/platform/internal/kubecore"
	"github.com/lantern-faas/lantern/platform/store"
)

// MaxBlobBytes is the largest package the store keeps: a ConfigMap holds at
// most 1 MiB, and the object around the data needs a little room.
const MaxBlobBytes = 1<<20 - 8<<10

// ErrTooLarge is returned by PutBlob for a package over MaxBlobBytes.
var ErrTooLarge = errors.New("package too large for the Kubernetes backend")

// ErrClosed is returned by Watch after Close.
var ErrClosed = errors.New("kubestore: closed")

// Options configure a Store.
type Options struct {
	// Kinds are the kinds the store keeps; LanternKinds when empty.
	Kinds []Kind
	// BlobNamespace is where package ConfigMaps live; "default" when empty.
	BlobNamespace string
	// Logger; discards when nil.
	Logger *slog.Logger
	// WatchBuffer is how many events a watcher may lag before its channel
	// is closed; 4096 when zero.
	WatchBuffer int
}

// Store keeps records as custom resources and package blobs as
// ConfigMaps in a Kubernetes API server. Watches come from client-go
// informers, one per kind, shared by every watcher. A write returns once
// the informer has seen it, so a Watch (or Get, List) that follows a write
// includes it, and writes made one after another reach watchers in that
// order. Writes made by others (kubectl) reach watchers as the informers
// see them.
type Store struct {
	dyn     dynamic.Interface
	kube    *kubecore.Client
	kinds   map[string]*Kind
	blobNS  string
	logger  *slog.Logger
	buffer  int
	stop    context.CancelFunc
	stopped chan struct{}

	mu       sync.Mutex
	records  map[store.Key]store.Record
	literals map[store.Key]literal // code kept in objects, by object
	watchers map[*watcher]struct{}
	changed  chan struct{} // closed and replaced on every change
	closed   bool
}

type watcher struct {
	ch chan store.Event
}

var _ store.Store = (*Store)(nil)

// New connects to the API server of cfg, starts an informer per kind and
// waits until each has listed its objects. It fails with a clear error when
// a CRD is not installed or RBAC denies the access.
func New(ctx context.Context, cfg *rest.Config, opts Options) (*Store, error) {
	if len(opts.Kinds) == 0 {
		opts.Kinds = LanternKinds()
	}
	if opts.BlobNamespace == "" {
		opts.BlobNamespace = "default"
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.WatchBuffer <= 0 {
		opts.WatchBuffer = 4096
	}
	// client-go's default of 5 requests a second would make every API
	// call of a busy controller wait.
	cfg = rest.CopyConfig(cfg)
	if cfg.QPS == 0 {
		cfg.QPS, cfg.Burst = 200, 400
	}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("kubernetes client: %w", err)
	}
	kube := kubecore.New(dyn)
	s := &Store{
		dyn: dyn, kube: kube, kinds: map[string]*Kind{}, blobNS: opts.BlobNamespace,
		logger: opts.Logger, buffer: opts.WatchBuffer, stopped: make(chan struct{}),
		records: map[store.Key]store.Record{}, literals: map[store.Key]literal{},
		watchers: map[*watcher]struct{}{}, changed: make(chan struct{}),
	}
	for i := range opts.Kinds {
		k := &opts.Kinds[i]
		// A List first turns a missing CRD or an RBAC denial into an
		// error now instead of an informer that retries for ever.
		if _, err := dyn.Resource(k.Resource).List(ctx, metav1.ListOptions{Limit: 1}); err != nil {
			if apierrors.IsNotFound(err) {
				return nil, fmt.Errorf("the resource %s is not served: install Lantern's CRDs (kubectl apply -f charts/lantern/crds): %w", k.Resource.GroupResource(), err)
			}
			return nil, fmt.Errorf("list %s: %w", k.Resource.GroupResource(), err)
		}
		s.kinds[k.Name] = k
	}
	runCtx, cancel := context.WithCancel(context.Background())
	s.stop = cancel
	var (
		synced []cache.InformerSynced
		wg     sync.WaitGroup
	)
	for _, k := range s.kinds {
		inf := kubecore.Informer(dyn.Resource(k.Resource), "")
		if _, err := inf.AddEventHandler(s.handler(k)); err != nil {
			cancel()
			return nil, err
		}
		synced = append(synced, inf.HasSynced)
		wg.Go(func() { inf.RunWithContext(runCtx) })
	}
	go func() {
		wg.Wait()
		close(s.stopped)
	}()
	if !cache.WaitForCacheSync(ctx.Done(), synced...) {
		cancel()
		return nil, fmt.Errorf("kubestore: informers did not sync: %w", context.Cause(ctx))
	}
	return s, nil
}

func (s *Store) handler(k *Kind) cache.ResourceEventHandler {
	return cache.ResourceEventHandlerFuncs{
		AddFunc: func(obj any) { s.observe(k, obj, false) },
		UpdateFunc: func(old, obj any) {
			if o, ok := old.(*unstructured.Unstructured); ok {
				if n, ok := obj.(*unstructured.Unstructured); ok && o.GetResourceVersion() == n.GetResourceVersion() {
					return // a relist: nothing changed
				}
			}
			s.observe(k, obj, false)
		},
		DeleteFunc: func(obj any) {
			if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
				obj = d.Obj
			}
			s.observe(k, obj, true)
		},
	}
}

// observe applies an informer event to the records and tells watchers.
func (s *Store) observe(k *Kind, obj any, deleted bool) {
	u, ok := obj.(*unstructured.Unstructured)
	if !ok {
		return
	}
	key := store.Key{Kind: k.Name, Namespace: u.GetNamespace(), Name: u.GetName()}
	rec, lit, err := s.record(k, u)
	if err != nil {
		s.logger.Warn("kubestore: skipping an object that does not decode", "kind", k.Name, "namespace", key.Namespace, "name", key.Name, "err", err)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	ev := store.Event{Type: store.Put, Record: rec}
	if deleted {
		ev.Type = store.Deleted
		delete(s.records, key)
		delete(s.literals, key)
	} else {
		old, ok := s.records[key]
		if ok && old.ResourceVersion >= rec.ResourceVersion {
			return
		}
		s.records[key] = rec
		if ok && bytes.Equal(old.Value, rec.Value) {
			// Only what the value does not hold changed (the status
			// subresource, another manager's fields): readers get the new
			// version, watchers no event, so a status write is not taken
			// for a new version of the function.
			s.broadcastChangedLocked()
			return
		}
		if lit != nil {
			s.literals[key] = literal{sum: checksum(lit), data: lit}
		} else {
			delete(s.literals, key)
		}
	}
	for w := range s.watchers {
		select {
		case w.ch <- copyEvent(ev):
		default: // too far behind: it must watch again
			delete(s.watchers, w)
			close(w.ch)
		}
	}
	s.broadcastChangedLocked()
}

// broadcastChangedLocked wakes the writers waiting for their writes.
func (s *Store) broadcastChangedLocked() {
	close(s.changed)
	s.changed = make(chan struct{})
}

func (s *Store) record(k *Kind, u *unstructured.Unstructured) (store.Record, []byte, error) {
	rv, err := strconv.ParseUint(u.GetResourceVersion(), 10, 64)
	if err != nil {
		return store.Record{}, nil, fmt.Errorf("resourceVersion %q: %w", u.GetResourceVersion(), err)
	}
	value, literal, err := k.Codec.Decode(u)
	if err != nil {
		return store.Record{}, nil, err
	}
	return store.Record{Key: store.Key{Kind: k.Name, Namespace: u.GetNamespace(), Name: u.GetName()}, ResourceVersion: rv, Value: value}, literal, nil
}

// waitSeen returns once the informers have seen what done reports, the
// store closes, or ctx ends; the write it waits for has happened anyway.
func (s *Store) waitSeen(ctx context.Context, done func() bool) {
	timer := time.NewTimer(30 * time.Second)
	defer timer.Stop()
	for {
		s.mu.Lock()
		ok, ch, closed := done(), s.changed, s.closed
		s.mu.Unlock()
		if ok || closed {
			return
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return
		case <-timer.C:
			s.logger.Warn("kubestore: an informer has not seen a write after 30s")
			return
		}
	}
}

func (s *Store) seenVersion(key store.Key, rv uint64) func() bool {
	return func() bool { r, ok := s.records[key]; return ok && r.ResourceVersion >= rv }
}

func (s *Store) kind(name string) (*Kind, error) {
	k, ok := s.kinds[name]
	if !ok {
		return nil, fmt.Errorf("kubestore: kind %q has no custom resource", name)
	}
	return k, nil
}

func (s *Store) client(k *Kind, ns string) dynamic.ResourceInterface {
	return s.dyn.Resource(k.Resource).Namespace(ns)
}

// mapErr turns API errors into the store's.
func mapErr(err error) error {
	switch {
	case err == nil:
		return nil
	case apierrors.IsConflict(err), apierrors.IsAlreadyExists(err):
		return fmt.Errorf("%w: %v", store.ErrConflict, err)
	case apierrors.IsNotFound(err):
		return fmt.Errorf("%w: %v", store.ErrNotFound, err)
	}
	return err
}

// Create implements store.Store.
func (s *Store) Create(ctx context.Context, key store.Key, value []byte) (uint64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	k, err := s.kind(key.Kind)
	if err != nil {
		return 0, err
	}
	u := &unstructured.Unstructured{Object: map[string]any{}}
	u.SetAPIVersion(k.Resource.GroupVersion().String())
	u.SetKind(k.Kind)
	u.SetName(key.Name)
	u.SetNamespace(key.Namespace)
	if err := k.Codec.Encode(value, u); err != nil {
		return 0, err
	}
	out, err := s.client(k, key.Namespace).Create(ctx, u, metav1.CreateOptions{})
	if err != nil {
		if apierrors.IsNotFound(err) { // the namespace is missing
			return 0, fmt.Errorf("create %s %s/%s: %w", k.Kind, key.Namespace, key.Name, err)
		}
		return 0, mapErr(err)
	}
	rv, err := strconv.ParseUint(out.GetResourceVersion(), 10, 64)
	if err != nil {
		return 0, err
	}
	s.waitSeen(ctx, s.seenVersion(key, rv))
	return rv, nil
}

// Update implements store.Store.
func (s *Store) Update(ctx context.Context, key store.Key, value []byte, ifVersion uint64) (uint64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	k, err := s.kind(key.Kind)
	if err != nil {
		return 0, err
	}
	c := s.client(k, key.Namespace)
	for {
		cur, err := c.Get(ctx, key.Name, metav1.GetOptions{})
		if err != nil {
			return 0, mapErr(err)
		}
		if ifVersion != 0 && cur.GetResourceVersion() != strconv.FormatUint(ifVersion, 10) {
			return 0, fmt.Errorf("%w: %s %s/%s is at version %s, not %d", store.ErrConflict, k.Kind, key.Namespace, key.Name, cur.GetResourceVersion(), ifVersion)
		}
		if err := k.Codec.Encode(value, cur); err != nil {
			return 0, err
		}
		out, err := c.Update(ctx, cur, metav1.UpdateOptions{})
		if apierrors.IsConflict(err) && ifVersion == 0 {
			continue // someone wrote in between: apply ours to theirs
		}
		if err != nil {
			return 0, mapErr(err)
		}
		rv, err := strconv.ParseUint(out.GetResourceVersion(), 10, 64)
		if err != nil {
			return 0, err
		}
		s.waitSeen(ctx, s.seenVersion(key, rv))
		return rv, nil
	}
}

// Get implements store.Store. It reads the informers' cache; a key the
// cache does not hold is asked of the API server, so that an object
// another client has just written (kubectl apply of an environment and
// its function in one go) is found before its informer event arrives.
func (s *Store) Get(ctx context.Context, key store.Key) (store.Record, error) {
	if err := ctx.Err(); err != nil {
		return store.Record{}, err
	}
	s.mu.Lock()
	r, ok := s.records[key]
	s.mu.Unlock()
	if ok {
		return copyRecord(r), nil
	}
	notFound := fmt.Errorf("%w: %s %s/%s", store.ErrNotFound, key.Kind, key.Namespace, key.Name)
	k, ok := s.kinds[key.Kind]
	if !ok {
		return store.Record{}, notFound
	}
	u, err := s.client(k, key.Namespace).Get(ctx, key.Name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return store.Record{}, notFound
	}
	if err != nil {
		return store.Record{}, fmt.Errorf("get %s %s/%s: %w", k.Kind, key.Namespace, key.Name, err)
	}
	rec, _, err := s.record(k, u)
	return rec, err
}

// List implements store.Store. It reads the informers' cache.
func (s *Store) List(ctx context.Context, kind, namespace string) ([]store.Record, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	var out []store.Record
	for key, r := range s.records {
		if key.Kind == kind && (namespace == "" || key.Namespace == namespace) {
			out = append(out, copyRecord(r))
		}
	}
	s.mu.Unlock()
	slices.SortFunc(out, func(a, b store.Record) int {
		return cmp.Or(cmp.Compare(a.Key.Name, b.Key.Name), cmp.Compare(a.Key.Namespace, b.Key.Namespace))
	})
	return out, nil
}

// Delete implements store.Store.
func (s *Store) Delete(ctx context.Context, key store.Key) (store.Record, error) {
	if err := ctx.Err(); err != nil {
		return store.Record{}, err
	}
	k, err := s.kind(key.Kind)
	if err != nil {
		return store.Record{}, fmt.Errorf("%w: %v", store.ErrNotFound, err)
	}
	c := s.client(k, key.Namespace)
	for {
		cur, err := c.Get(ctx, key.Name, metav1.GetOptions{})
		if err != nil {
			return store.Record{}, mapErr(err)
		}
		rec, _, err := s.record(k, cur)
		if err != nil {
			return store.Record{}, err
		}
		rv := cur.GetResourceVersion()
		err = c.Delete(ctx, key.Name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{ResourceVersion: &rv}})
		if apierrors.IsConflict(err) {
			continue // changed in between: return what it held last
		}
		if err != nil {
			return store.Record{}, mapErr(err)
		}
		s.waitSeen(ctx, func() bool {
			r, ok := s.records[key]
			return !ok || r.ResourceVersion > rec.ResourceVersion
		})
		return rec, nil
	}
}

// blobName is the ConfigMap of a checksum: checksums need not be valid
// object names, their hash is.
func blobName(sum string) string { return "lantern-pkg-" + checksum([]byte(sum))[:40] }

const blobKey, annotationChecksum = "package", Group + "/checksum"

// PutBlob implements store.Store: the blob becomes a ConfigMap in the blob
// namespace. Packages over MaxBlobBytes are refused with ErrTooLarge.
func (s *Store) PutBlob(ctx context.Context, sum string, data []byte) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if len(data) > MaxBlobBytes {
		return fmt.Errorf("%w: %d bytes, the limit is %d (a ConfigMap holds 1 MiB); ship larger code from a URL or an image", ErrTooLarge, len(data), MaxBlobBytes)
	}
	cm := &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{
			Name:        blobName(sum),
			Labels:      map[string]string{"app.kubernetes.io/part-of": "lantern", Group + "/package": "true"},
			Annotations: map[string]string{annotationChecksum: sum},
		},
		BinaryData: map[string][]byte{blobKey: append([]byte{}, data...)},
	}
	_, err := s.kube.ConfigMaps(s.blobNS).Create(ctx, cm, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		return nil // content-addressed: the same bytes are there
	}
	return err
}

// GetBlob implements store.Store: a package ConfigMap, or the literal code
// of a function written with kubectl.
func (s *Store) GetBlob(ctx context.Context, sum string) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	// Blobs are named by their content: a literal in memory is the same
	// as a ConfigMap with its checksum, without the API call.
	if data, ok := s.literalBlob(sum); ok {
		return data, nil
	}
	cm, err := s.kube.ConfigMaps(s.blobNS).Get(ctx, blobName(sum), metav1.GetOptions{})
	if err == nil && cm.Annotations[annotationChecksum] == sum {
		return append([]byte{}, cm.BinaryData[blobKey]...), nil
	}
	if err != nil && !apierrors.IsNotFound(err) {
		return nil, err
	}
	return nil, fmt.Errorf("%w: package %s", store.ErrNotFound, sum)
}

// literal is the code of a function written with kubectl, with its
// checksum computed once, when the object is seen.
type literal struct {
	sum  string
	data []byte
}

// literalBlob returns the code a kubectl-written function carries whose
// checksum is sum.
func (s *Store) literalBlob(sum string) ([]byte, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, lit := range s.literals {
		if lit.sum == sum {
			return append([]byte{}, lit.data...), true
		}
	}
	return nil, false
}

// DeleteBlob implements store.Store.
func (s *Store) DeleteBlob(ctx context.Context, sum string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	err := s.kube.ConfigMaps(s.blobNS).Delete(ctx, blobName(sum), metav1.DeleteOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	return err
}

// Watch implements store.Store.
func (s *Store) Watch(ctx context.Context) ([]store.Record, <-chan store.Event, error) {
	if err := ctx.Err(); err != nil {
		return nil, nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, nil, ErrClosed
	}
	snap := make([]store.Record, 0, len(s.records))
	for _, r := range s.records {
		snap = append(snap, copyRecord(r))
	}
	w := &watcher{ch: make(chan store.Event, s.buffer)}
	s.watchers[w] = struct{}{}
	go func() {
		select {
		case <-ctx.Done():
		case <-s.stopped:
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		if _, ok := s.watchers[w]; ok {
			delete(s.watchers, w)
			close(w.ch)
		}
	}()
	return snap, w.ch, nil
}

// Close stops the informers and closes every watcher's channel.
func (s *Store) Close() error {
	s.mu.Lock()
	if !s.closed {
		s.closed = true
		for w := range s.watchers {
			delete(s.watchers, w)
			close(w.ch)
		}
	}
	s.mu.Unlock()
	s.stop()
	<-s.stopped
	return nil
}

func copyRecord(r store.Record) store.Record {
	r.Value = append([]byte(nil), r.Value...)
	return r
}

func copyEvent(e store.Event) store.Event {
	e.Record = copyRecord(e.Record)
	return e
}
