// Package delivery holds what the components that consume queued work
// (message queue triggers, asynchronous calls) do alike with a delivery:
// report progress while it runs, and space out its retries.
package delivery

import (
	"sync"
	"time"
)

// Progresser is a delivery whose broker can be told it is still being
// worked on (jetstream.Msg, a trigger's message).
type Progresser interface {
	InProgress() error
}

// KeepAlive tells the broker msg is being worked on every interval, until
// stop is called. A timer, not a goroutine, so that short calls cost next
// to nothing.
func KeepAlive(msg Progresser, every time.Duration) (stop func()) {
	var (
		mu      sync.Mutex
		t       *time.Timer
		stopped bool
	)
	mu.Lock()
	t = time.AfterFunc(every, func() {
		_ = msg.InProgress()
		mu.Lock()
		defer mu.Unlock()
		if !stopped {
			t.Reset(every)
		}
	})
	mu.Unlock()
	return func() {
		mu.Lock()
		stopped = true
		mu.Unlock()
		t.Stop()
	}
}

// Backoff is the delay before the retry that follows attempt (1, 2, ...):
// base, doubling each attempt, at most max.
func Backoff(attempt int, base, max time.Duration) time.Duration {
	d := base
	for i := 1; i < attempt && d < max; i++ {
		d *= 2
	}
	return min(d, max)
}
