package poolmgr

import (
	"context"
	"sync"

	"github.com/lantern-faas/lantern/platform/api"
	"github.com/lantern-faas/lantern/platform/client"
)

// coldStartLog keeps the most recent cold starts of each function, so that
// users can see them phase by phase even with no trace backend.
type coldStartLog struct {
	mu  sync.Mutex
	max int
	by  map[client.NamespacedName][]api.ColdStart
}

func newColdStartLog(max int) *coldStartLog {
	return &coldStartLog{max: max, by: map[client.NamespacedName][]api.ColdStart{}}
}

func (l *coldStartLog) add(fn *api.Function, cs api.ColdStart) {
	key := client.NamespacedName{Namespace: fn.Metadata.Namespace, Name: fn.Metadata.Name}
	l.mu.Lock()
	defer l.mu.Unlock()
	list := append(l.by[key], cs)
	if len(list) > l.max {
		list = list[len(list)-l.max:]
	}
	l.by[key] = list
}

// ColdStarts returns a function's recent cold starts, newest first.
func (m *Manager) ColdStarts(_ context.Context, ns, name string) ([]api.ColdStart, error) {
	l := m.recent
	l.mu.Lock()
	defer l.mu.Unlock()
	list := l.by[client.NamespacedName{Namespace: ns, Name: name}]
	out := make([]api.ColdStart, len(list))
	for i, cs := range list {
		out[len(list)-1-i] = cs
	}
	return out, nil
}
