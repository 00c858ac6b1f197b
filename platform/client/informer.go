package client

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/lantern-faas/lantern/platform/api"
)

// Informer mirrors the controller's objects in memory from its watch
// stream, reconnecting when the stream breaks, and tells handlers about
// every change. Components read from it instead of calling the API.
type Informer struct {
	c      *Controller
	logger *slog.Logger

	mu       sync.RWMutex
	objs     map[string]map[NamespacedName]api.Object // by kind
	handlers []func(Change)
	synced   chan struct{}
	once     sync.Once

	// applyMu is held while a change is applied: the maps updated, then
	// the handlers run. WaitFor holds it to look at the maps, so it never
	// sees a change the handlers are still busy with. applied is closed
	// and replaced after each change.
	applyMu sync.Mutex
	applied chan struct{}
}

// NamespacedName names an object within its kind.
type NamespacedName struct{ Namespace, Name string }

// Change is one object change. Old is nil for additions, New for deletions.
type Change struct {
	Kind     string
	Old, New api.Object
}

// NewInformer returns an informer over c. Call Run to start it.
func NewInformer(c *Controller, logger *slog.Logger) *Informer {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	i := &Informer{c: c, logger: logger, synced: make(chan struct{}), objs: map[string]map[NamespacedName]api.Object{},
		applied: make(chan struct{})}
	for _, kind := range api.Kinds {
		i.objs[kind] = map[NamespacedName]api.Object{}
	}
	return i
}

// OnChange registers a handler, called in order, from one goroutine, after
// the informer's maps reflect the change. Register before Run. A handler
// must not wait for WaitFor, which waits for the handlers.
func (i *Informer) OnChange(fn func(Change)) { i.handlers = append(i.handlers, fn) }

// Synced is closed once the first full list has arrived.
func (i *Informer) Synced() <-chan struct{} { return i.synced }

// WaitSynced waits for the first full list or ctx's end.
func (i *Informer) WaitSynced(ctx context.Context) error {
	select {
	case <-i.synced:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Run watches until ctx ends, reconnecting with backoff.
func (i *Informer) Run(ctx context.Context) error {
	backoff := 50 * time.Millisecond
	for {
		start := time.Now()
		err := i.watchOnce(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if time.Since(start) > 10*time.Second {
			backoff = 50 * time.Millisecond
		}
		i.logger.Warn("controller watch broke, reconnecting", "err", err, "in", backoff)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 5*time.Second)
	}
}

// watchOnce runs one watch: it gathers the initial list, replaces the maps
// with it at SYNCED (sending changes for the difference), then applies
// events as they come.
func (i *Informer) watchOnce(ctx context.Context) error {
	var initial []api.Event
	synced := false
	return i.c.Watch(ctx, func(ev api.Event) error {
		switch {
		case !synced && ev.Type == api.EventSynced:
			synced = true
			i.resync(initial)
			initial = nil
			i.once.Do(func() { close(i.synced) })
		case !synced:
			initial = append(initial, ev)
		default:
			i.apply(ev)
		}
		return nil
	})
}

func decodeObject(ev api.Event) (api.Object, NamespacedName, bool) {
	obj, ok := api.NewObject(ev.Kind)
	if !ok {
		return nil, NamespacedName{}, false
	}
	if err := json.Unmarshal(ev.Object, obj); err != nil {
		return nil, NamespacedName{}, false
	}
	m := obj.GetMetadata()
	return obj, NamespacedName{m.Namespace, m.Name}, true
}

// resync replaces the maps with a full list.
func (i *Informer) resync(events []api.Event) {
	seen := map[string]map[NamespacedName]bool{}
	for _, ev := range events {
		obj, key, ok := decodeObject(ev)
		if !ok {
			continue
		}
		if seen[ev.Kind] == nil {
			seen[ev.Kind] = map[NamespacedName]bool{}
		}
		seen[ev.Kind][key] = true
		i.set(ev.Kind, key, obj)
	}
	// Objects deleted while disconnected.
	for _, kind := range api.Kinds {
		for _, key := range i.keys(kind) {
			if !seen[kind][key] {
				i.set(kind, key, nil)
			}
		}
	}
}

func (i *Informer) apply(ev api.Event) {
	obj, key, ok := decodeObject(ev)
	if !ok {
		i.logger.Warn("ignoring undecodable watch event", "kind", ev.Kind)
		return
	}
	if ev.Type == api.EventDeleted {
		obj = nil
	}
	i.set(ev.Kind, key, obj)
}

// set stores or (obj nil) removes an object and notifies handlers when it
// changed.
func (i *Informer) set(kind string, key NamespacedName, obj api.Object) {
	i.applyMu.Lock()
	defer func() {
		close(i.applied)
		i.applied = make(chan struct{})
		i.applyMu.Unlock()
	}()
	i.mu.Lock()
	m := i.objs[kind]
	old := m[key]
	if obj == nil {
		delete(m, key)
	} else {
		m[key] = obj
	}
	i.mu.Unlock()
	if old == nil && obj == nil {
		return
	}
	if old != nil && obj != nil && old.GetMetadata().ResourceVersion == obj.GetMetadata().ResourceVersion {
		return
	}
	for _, h := range i.handlers {
		h(Change{Kind: kind, Old: old, New: obj})
	}
}

// WaitFor waits until the handlers have been told of a write: the object
// of kind in namespace ns named name at resource version rv or later, or
// (gone) its deletion, the object it deleted being at rv. It gives up when
// ctx ends. The controller of `lanternd all` waits so before it answers a
// write: the next call already meets it in the router and the poolmgr.
func (i *Informer) WaitFor(ctx context.Context, kind, ns, name string, rv uint64, gone bool) error {
	key := NamespacedName{ns, name}
	for {
		i.applyMu.Lock() // set writes the maps holding it
		obj := i.objs[kind][key]
		ch := i.applied
		i.applyMu.Unlock()
		held := obj != nil
		var cur uint64
		if held {
			cur, _ = strconv.ParseUint(obj.GetMetadata().ResourceVersion, 10, 64)
		}
		if gone && (!held || cur > rv) || !gone && held && cur >= rv {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			state := "not yet"
			if held {
				state = fmt.Sprintf("at version %d", cur)
			}
			return fmt.Errorf("informer: %s %s/%s at version %d (deleted: %t) not seen, the handlers know it %s: %w",
				kind, ns, name, rv, gone, state, context.Cause(ctx))
		}
	}
}

func (i *Informer) keys(kind string) []NamespacedName {
	i.mu.RLock()
	defer i.mu.RUnlock()
	out := make([]NamespacedName, 0, len(i.objs[kind]))
	for k := range i.objs[kind] {
		out = append(out, k)
	}
	return out
}

// get returns an object of kind, or nil.
func get[P api.Object](i *Informer, kind, ns, name string) P {
	i.mu.RLock()
	defer i.mu.RUnlock()
	obj, _ := i.objs[kind][NamespacedName{ns, name}].(P)
	return obj
}

// list returns every object of kind.
func list[P api.Object](i *Informer, kind string) []P {
	i.mu.RLock()
	defer i.mu.RUnlock()
	out := make([]P, 0, len(i.objs[kind]))
	for _, obj := range i.objs[kind] {
		out = append(out, obj.(P))
	}
	return out
}

// Environment returns an environment, or nil. Callers must not modify it.
func (i *Informer) Environment(ns, name string) *api.Environment {
	return get[*api.Environment](i, api.KindEnvironment, ns, name)
}

// Function returns a function, or nil. Callers must not modify it.
func (i *Informer) Function(ns, name string) *api.Function {
	return get[*api.Function](i, api.KindFunction, ns, name)
}

// Functions returns every function.
func (i *Informer) Functions() []*api.Function { return list[*api.Function](i, api.KindFunction) }

// HTTPTriggers returns every HTTP trigger.
func (i *Informer) HTTPTriggers() []*api.HTTPTrigger {
	return list[*api.HTTPTrigger](i, api.KindHTTPTrigger)
}

// TimeTriggers returns every timer.
func (i *Informer) TimeTriggers() []*api.TimeTrigger {
	return list[*api.TimeTrigger](i, api.KindTimeTrigger)
}

// MessageQueueTriggers returns every message queue trigger.
func (i *Informer) MessageQueueTriggers() []*api.MessageQueueTrigger {
	return list[*api.MessageQueueTrigger](i, api.KindMessageQueueTrigger)
}
