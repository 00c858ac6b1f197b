// Package delivery holds what the components that consume queued work
// (message queue triggers, asynchronous calls) do alike: bound the
// deliveries running at once, report progress while one runs, space out
// its retries, and retry subscribing.
package delivery

import (
	"context"
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

// Gate runs deliveries on goroutines of their own, at most n at once.
// Once stopped it refuses new ones, which the broker delivers again later.
type Gate struct {
	sem     chan struct{}
	mu      sync.Mutex
	stopped bool
	wg      sync.WaitGroup
}

// NewGate returns a gate for n deliveries at once.
func NewGate(n int) *Gate { return &Gate{sem: make(chan struct{}, n)} }

// Go runs f on a goroutine once a slot is free, unless the gate is
// stopped. It blocks meanwhile: the broker's delivery goroutine waits,
// which slows its deliveries down.
func (g *Gate) Go(f func()) {
	g.sem <- struct{}{}
	g.mu.Lock()
	if g.stopped {
		g.mu.Unlock()
		<-g.sem
		return
	}
	g.wg.Add(1)
	g.mu.Unlock()
	go func() {
		defer func() {
			<-g.sem
			g.wg.Done()
		}()
		f()
	}()
}

// Stop refuses later deliveries and waits for the running ones.
func (g *Gate) Stop() {
	g.mu.Lock()
	g.stopped = true
	g.mu.Unlock()
	g.wg.Wait()
}

// Retry calls try until it succeeds or ctx ends, waiting 250 ms after the
// first failure and twice as long after each next one, up to 10 s; failed
// hears of each error and the wait before the next try. It reports whether
// try succeeded.
func Retry(ctx context.Context, try func() error, failed func(err error, wait time.Duration)) bool {
	wait := 250 * time.Millisecond
	for {
		err := try()
		if err == nil {
			return true
		}
		if ctx.Err() != nil {
			return false
		}
		failed(err, wait)
		select {
		case <-ctx.Done():
			return false
		case <-time.After(wait):
		}
		wait = min(2*wait, 10*time.Second)
	}
}
