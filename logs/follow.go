package logs

import (
	"context"
	"slices"
	"sync"
)

// followBuffer is how many pushed records a follower may lag behind before
// it falls back to a catch-up query.
const followBuffer = 4096

// Hub fans written records out to followers. Sinks call Publish after each
// successful write; Follow subscribes. The zero value is not usable; use
// NewHub. Safe for concurrent use.
type Hub struct {
	mu   sync.Mutex
	subs map[*subscription]struct{}
}

// subscription is one follower's filter and mailbox.
type subscription struct {
	q      Query
	ch     chan Record
	lagged chan struct{} // signalled when a record did not fit in ch
}

// NewHub returns an empty Hub.
func NewHub() *Hub {
	return &Hub{subs: make(map[*subscription]struct{})}
}

// Publish hands recs to the followers whose query they match. It never
// blocks: a follower that is behind is told to catch up by querying.
func (h *Hub) Publish(recs []Record) {
	if h == nil || len(recs) == 0 {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	for s := range h.subs {
		for _, r := range recs {
			if !s.q.Matches(r) {
				continue
			}
			select {
			case s.ch <- r:
			default:
				select {
				case s.lagged <- struct{}{}:
				default:
				}
			}
		}
	}
}

func (h *Hub) subscribe(q Query) *subscription {
	s := &subscription{q: q, ch: make(chan Record, followBuffer), lagged: make(chan struct{}, 1)}
	h.mu.Lock()
	h.subs[s] = struct{}{}
	h.mu.Unlock()
	return s
}

func (h *Hub) unsubscribe(s *subscription) {
	h.mu.Lock()
	delete(h.subs, s)
	h.mu.Unlock()
}

// Follow implements Reader.Follow for a store that publishes its writes to
// hub: it calls fn with the newest q.Limit records matching q (oldest first),
// then with each matching record as it is written. Records are not repeated.
// A follower that falls more than a buffer behind catches up with a query
// from the last time it delivered. It returns nil when ctx ends, or the first
// error from fn or from a query.
func Follow(ctx context.Context, hub *Hub, r Reader, q Query, fn func(Record) error) error {
	if err := q.Validate(); err != nil {
		return err
	}
	sub := hub.subscribe(q) // before the backlog query, so nothing falls in between
	defer hub.unsubscribe(sub)
	f := follower{fn: fn, seen: newDedupe(2 * MaxQueryLimit)}

	bq := q
	bq.Desc = true
	backlog, err := r.Query(ctx, bq)
	if err != nil {
		return err
	}
	slices.Reverse(backlog)
	if err := f.deliver(backlog); err != nil {
		return err
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case rec := <-sub.ch:
			if err := f.deliver([]Record{rec}); err != nil {
				return err
			}
		case <-sub.lagged:
			if err := f.catchUp(ctx, r, q); err != nil {
				return err
			}
		}
	}
}

// follower delivers records once each.
type follower struct {
	fn   func(Record) error
	seen *dedupe
	last Record
}

func (f *follower) deliver(recs []Record) error {
	for _, r := range recs {
		if f.seen.seen(dedupeKey{instance: r.Instance, seq: r.Seq, nanos: r.Time.UnixNano()}) {
			continue
		}
		if err := f.fn(r); err != nil {
			return err
		}
		if f.last.Less(r) {
			f.last = r
		}
	}
	return nil
}

// catchUp queries what was written since the last delivered record, page by
// page. Records still in the mailbox are delivered later and skipped as seen.
func (f *follower) catchUp(ctx context.Context, r Reader, q Query) error {
	for {
		cq := q
		cq.Desc = false
		cq.Limit = MaxQueryLimit
		if f.last.Time.After(cq.Since) {
			cq.Since = f.last.Time
		}
		recs, err := r.Query(ctx, cq)
		if err != nil {
			return err
		}
		before := f.last
		if err := f.deliver(recs); err != nil {
			return err
		}
		if len(recs) < cq.Limit || !before.Less(f.last) {
			return nil
		}
	}
}
