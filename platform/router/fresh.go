package router

import (
	"context"
	"time"
)

// freshWait is how long a request for an unknown function or path waits
// for the controller's watch to deliver a change that may have just been
// made: a function created a moment ago answers instead of 404.
const freshWait = 300 * time.Millisecond

// notifyChanged wakes every request waiting in retryFresh.
func (s *Server) notifyChanged() {
	s.changeMu.Lock()
	close(s.changed)
	s.changed = make(chan struct{})
	s.changeMu.Unlock()
}

// retryFresh calls find until it succeeds, waking on each change, for at
// most freshWait.
func retryFresh[T any](ctx context.Context, s *Server, find func() (T, bool)) (T, bool) {
	v, ok := find()
	if ok {
		return v, true
	}
	timer := time.NewTimer(freshWait)
	defer timer.Stop()
	for {
		s.changeMu.Lock()
		ch := s.changed
		s.changeMu.Unlock()
		if v, ok = find(); ok {
			return v, true
		}
		select {
		case <-ch:
		case <-timer.C:
			return find()
		case <-ctx.Done():
			return v, false
		}
	}
}
