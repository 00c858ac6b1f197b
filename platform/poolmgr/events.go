package poolmgr

import (
	"context"
	"crypto/rand"
	"encoding/hex"

	"github.com/lantern-faas/lantern/platform/api"
)

// WatchInstances calls fn for every instance event until ctx ends or fn
// fails. Routers use it to drop instances the moment they are retired.
func (m *Manager) WatchInstances(ctx context.Context, fn func(api.InstanceEvent) error) error {
	ch := make(chan api.InstanceEvent, 256)
	m.mu.Lock()
	m.subs[ch] = struct{}{}
	m.mu.Unlock()
	defer func() {
		m.mu.Lock()
		delete(m.subs, ch)
		m.mu.Unlock()
	}()
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
