package logstest

import (
	"context"
	"slices"
	"sync"

	"github.com/lantern-faas/lantern/logs"
)

// Memory is an in-memory logs.Sink and logs.Reader. Safe for concurrent use.
type Memory struct {
	hub *logs.Hub

	mu   sync.Mutex
	recs map[memKey]logs.Record
}

type memKey struct {
	namespace, function string
	instance            string
	nanos               int64
	seq                 uint64
}

var (
	_ logs.Sink   = (*Memory)(nil)
	_ logs.Reader = (*Memory)(nil)
)

// NewMemory returns an empty Memory.
func NewMemory() *Memory {
	return &Memory{hub: logs.NewHub(), recs: make(map[memKey]logs.Record)}
}

// Write implements logs.Sink.
func (m *Memory) Write(_ context.Context, recs []logs.Record) error {
	m.mu.Lock()
	for _, r := range recs {
		m.recs[memKey{r.Namespace, r.Function, r.Instance, r.Time.UnixNano(), r.Seq}] = r
	}
	m.mu.Unlock()
	m.hub.Publish(recs)
	return nil
}

// All returns every record in reader order.
func (m *Memory) All() []logs.Record {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]logs.Record, 0, len(m.recs))
	for _, r := range m.recs {
		out = append(out, r)
	}
	slices.SortFunc(out, compare)
	return out
}

// Len returns the number of records.
func (m *Memory) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.recs)
}

// Query implements logs.Reader.
func (m *Memory) Query(_ context.Context, q logs.Query) ([]logs.Record, error) {
	if err := q.Validate(); err != nil {
		return nil, err
	}
	all := m.All()
	if q.Desc {
		slices.Reverse(all)
	}
	var out []logs.Record
	for _, r := range all {
		if q.Matches(r) {
			out = append(out, r)
			if len(out) == q.Limit {
				break
			}
		}
	}
	return out, nil
}

// Follow implements logs.Reader.
func (m *Memory) Follow(ctx context.Context, q logs.Query, fn func(logs.Record) error) error {
	return logs.Follow(ctx, m.hub, m, q, fn)
}

func compare(a, b logs.Record) int {
	switch {
	case a.Less(b):
		return -1
	case b.Less(a):
		return 1
	}
	return 0
}
