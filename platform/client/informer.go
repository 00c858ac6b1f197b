package client

import (
	"context"
	"encoding/json"
	"log/slog"
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
	envs     map[NamespacedName]*api.Environment
	fns      map[NamespacedName]*api.Function
	triggers map[NamespacedName]*api.HTTPTrigger
	timers   map[NamespacedName]*api.TimeTrigger
	mqts     map[NamespacedName]*api.MessageQueueTrigger
	handlers []func(Change)
	synced   chan struct{}
	once     sync.Once
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
	return &Informer{
		c: c, logger: logger, synced: make(chan struct{}),
		envs: map[NamespacedName]*api.Environment{}, fns: map[NamespacedName]*api.Function{},
		triggers: map[NamespacedName]*api.HTTPTrigger{}, timers: map[NamespacedName]*api.TimeTrigger{},
		mqts: map[NamespacedName]*api.MessageQueueTrigger{},
	}
}

// OnChange registers a handler, called in order, from one goroutine, after
// the informer's maps reflect the change. Register before Run.
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
	var obj api.Object
	switch ev.Kind {
	case api.KindEnvironment:
		obj = &api.Environment{}
	case api.KindFunction:
		obj = &api.Function{}
	case api.KindHTTPTrigger:
		obj = &api.HTTPTrigger{}
	case api.KindTimeTrigger:
		obj = &api.TimeTrigger{}
	case api.KindMessageQueueTrigger:
		obj = &api.MessageQueueTrigger{}
	default:
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
	for _, kind := range []string{api.KindEnvironment, api.KindFunction, api.KindHTTPTrigger, api.KindTimeTrigger, api.KindMessageQueueTrigger} {
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
	i.mu.Lock()
	var old api.Object
	switch kind {
	case api.KindEnvironment:
		old = swap(i.envs, key, obj)
	case api.KindFunction:
		old = swap(i.fns, key, obj)
	case api.KindHTTPTrigger:
		old = swap(i.triggers, key, obj)
	case api.KindTimeTrigger:
		old = swap(i.timers, key, obj)
	case api.KindMessageQueueTrigger:
		old = swap(i.mqts, key, obj)
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

// swap sets m[key] to obj (deleting for nil) and returns the old value.
func swap[T any](m map[NamespacedName]*T, key NamespacedName, obj api.Object) api.Object {
	old, had := m[key]
	if obj == nil {
		delete(m, key)
	} else {
		m[key] = any(obj).(*T)
	}
	if !had {
		return nil
	}
	return any(old).(api.Object)
}

func (i *Informer) keys(kind string) []NamespacedName {
	i.mu.RLock()
	defer i.mu.RUnlock()
	var out []NamespacedName
	switch kind {
	case api.KindEnvironment:
		for k := range i.envs {
			out = append(out, k)
		}
	case api.KindFunction:
		for k := range i.fns {
			out = append(out, k)
		}
	case api.KindHTTPTrigger:
		for k := range i.triggers {
			out = append(out, k)
		}
	case api.KindTimeTrigger:
		for k := range i.timers {
			out = append(out, k)
		}
	case api.KindMessageQueueTrigger:
		for k := range i.mqts {
			out = append(out, k)
		}
	}
	return out
}

// Environment returns an environment, or nil. Callers must not modify it.
func (i *Informer) Environment(ns, name string) *api.Environment {
	i.mu.RLock()
	defer i.mu.RUnlock()
	return i.envs[NamespacedName{ns, name}]
}

// Function returns a function, or nil. Callers must not modify it.
func (i *Informer) Function(ns, name string) *api.Function {
	i.mu.RLock()
	defer i.mu.RUnlock()
	return i.fns[NamespacedName{ns, name}]
}

// Functions returns every function.
func (i *Informer) Functions() []*api.Function {
	i.mu.RLock()
	defer i.mu.RUnlock()
	out := make([]*api.Function, 0, len(i.fns))
	for _, f := range i.fns {
		out = append(out, f)
	}
	return out
}

// HTTPTriggers returns every HTTP trigger.
func (i *Informer) HTTPTriggers() []*api.HTTPTrigger {
	i.mu.RLock()
	defer i.mu.RUnlock()
	out := make([]*api.HTTPTrigger, 0, len(i.triggers))
	for _, t := range i.triggers {
		out = append(out, t)
	}
	return out
}

// TimeTriggers returns every timer.
func (i *Informer) TimeTriggers() []*api.TimeTrigger {
	i.mu.RLock()
	defer i.mu.RUnlock()
	out := make([]*api.TimeTrigger, 0, len(i.timers))
	for _, t := range i.timers {
		out = append(out, t)
	}
	return out
}

// MessageQueueTriggers returns every message queue trigger.
func (i *Informer) MessageQueueTriggers() []*api.MessageQueueTrigger {
	i.mu.RLock()
	defer i.mu.RUnlock()
	out := make([]*api.MessageQueueTrigger, 0, len(i.mqts))
	for _, t := range i.mqts {
		out = append(out, t)
	}
	return out
}
