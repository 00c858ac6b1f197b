package delivery

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"
)

type counter struct{ n atomic.Int32 }

func (c *counter) InProgress() error { c.n.Add(1); return nil }

func TestKeepAliveReportsUntilStopped(t *testing.T) {
	var c counter
	stop := KeepAlive(&c, 20*time.Millisecond)
	time.Sleep(110 * time.Millisecond)
	stop()
	n := c.n.Load()
	if n < 3 {
		t.Fatalf("%d progress reports in 110ms every 20ms, want at least 3", n)
	}
	time.Sleep(60 * time.Millisecond)
	if after := c.n.Load(); after != n {
		t.Errorf("%d reports after stop, want none", after-n)
	}
}

func TestBackoffDoublesUpToMax(t *testing.T) {
	want := []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 5 * time.Second, 5 * time.Second}
	for i, w := range want {
		if got := Backoff(i+1, time.Second, 5*time.Second); got != w {
			t.Errorf("Backoff(%d) = %v, want %v", i+1, got, w)
		}
	}
}

func TestGateBoundsAndStops(t *testing.T) {
	g := NewGate(2)
	var running, most atomic.Int32
	release := make(chan struct{})
	for range 4 {
		go g.Go(func() {
			n := running.Add(1)
			for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
			}
			<-release
			running.Add(-1)
		})
	}
	time.Sleep(50 * time.Millisecond)
	if got := most.Load(); got != 2 {
		t.Fatalf("deliveries at once: got %d, want 2", got)
	}
	close(release)
	g.Stop()
	if got := running.Load(); got != 0 {
		t.Fatalf("Stop returned with %d deliveries running", got)
	}
	ran := false
	g.Go(func() { ran = true })
	if ran {
		t.Fatal("a delivery ran after Stop")
	}
}

func TestRetryUntilSuccessOrEnd(t *testing.T) {
	tries := 0
	var waits []time.Duration
	ok := Retry(context.Background(), func() error {
		if tries++; tries < 3 {
			return errors.New("down")
		}
		return nil
	}, func(_ error, wait time.Duration) { waits = append(waits, wait) })
	if !ok || tries != 3 || len(waits) != 2 || waits[1] != 2*waits[0] {
		t.Fatalf("got ok %v after %d tries, waits %v; want success on the 3rd, waits doubling", ok, tries, waits)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if Retry(ctx, func() error { return errors.New("down") }, func(error, time.Duration) { t.Error("failed called after ctx ended") }) {
		t.Fatal("Retry with an ended ctx: got success")
	}
}
