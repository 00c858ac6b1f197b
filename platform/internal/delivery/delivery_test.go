package delivery

import (
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
