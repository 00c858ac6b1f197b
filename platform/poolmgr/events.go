package poolmgr

import (
	"context"
	"crypto/rand"
	"encoding/hex"

	"github.com/lantern-faas/lantern/platform/api"
)

// WatchInstances calls fn for every instance event until ctx ends or fn
// fails. Routers use it to drop instances the moment they are retired.
// The first event is an api.EventSynced listing every instance at the
// moment the watch began, no event missed between it and the next.
func (m *Manager) WatchInstances(ctx context.Context, fn func(api.InstanceEvent) error) error {
	ch := make(chan api.InstanceEvent, 256)
	m.mu.Lock()
	m.subs[ch] = struct{}{}
	synced := api.InstanceEvent{Type: api.EventSynced, Live: make([]string, 0, len(m.instances))}
	for id := range m.instances {
		synced.Live = append(synced.Live, id)
	}
	m.mu.Unlock()
	defer func() {
		m.mu.Lock()
		delete(m.subs, ch)
		m.mu.Unlock()
	}()
	if err := fn(synced); err != nil {
		return err
	}
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case ev, ok := <-ch:
			if !ok {
				return errSubscriberTooSlow
			}
			if err := fn(ev); err != nil {
				return err
			}
		}
	}
}

// publish sends ev to every watcher; one that is too slow is dropped and
// must watch again (its stream ends).
func (m *Manager) publish(ev api.InstanceEvent) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for ch := range m.subs {
		select {
		case ch <- ev:
		default:
			close(ch)
			delete(m.subs, ch)
		}
	}
}

func newInstanceID(env string) string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return env + "-" + hex.EncodeToString(b[:])
}
