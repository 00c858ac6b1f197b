package logs_test

import (
	"context"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/lantern-faas/lantern/logs"
)

// freeAddr returns a 127.0.0.1 address nothing listens on (yet).
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// runningCollector is a Collector serving in the background.
type runningCollector struct {
	*logs.Collector
	cancel context.CancelFunc
	done   chan error
}

// startCollector serves a new Collector on addr until stop (or the test's
// end).
func startCollector(t *testing.T, addr string, sink logs.Sink, cfg logs.CollectorConfig, deps logs.Deps) *runningCollector {
	t.Helper()
	var ln net.Listener
	var err error
	for range 50 { // the previous collector's port may take a moment to free
		if ln, err = net.Listen("tcp", addr); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		t.Fatal(err)
	}
	c, err := logs.NewCollector(cfg, sink, deps)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	rc := &runningCollector{Collector: c, cancel: cancel, done: make(chan error, 1)}
	go func() { rc.done <- c.Serve(ctx, ln) }()
	t.Cleanup(func() { rc.stop(t) })
	return rc
}

// stop stops the collector and waits for it to drain.
func (rc *runningCollector) stop(t *testing.T) {
	t.Helper()
	if rc.cancel == nil {
		return
	}
	rc.cancel()
	rc.cancel = nil
	if err := <-rc.done; err != nil {
		t.Errorf("collector: %v", err)
	}
}

func newShipper(t *testing.T, cfg logs.ShipperConfig, deps logs.Deps) *logs.Shipper {
	t.Helper()
	if cfg.SpoolDir == "" {
		cfg.SpoolDir = t.TempDir()
	}
	s, err := logs.NewShipper(cfg, deps)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// testRecords returns n records of one instance with seqs from+1...
func testRecords(instance string, from, n int) []logs.Record {
	base := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	out := make([]logs.Record, n)
	for i := range out {
		seq := from + i + 1
		out[i] = logs.Record{Time: base.Add(time.Duration(seq) * time.Microsecond), Namespace: "default", Function: "hello",
			Environment: "go", Instance: instance, Stream: logs.StreamStdout, Message: fmt.Sprintf("line %d", seq), Seq: uint64(seq)}
	}
	return out
}

// waitFor polls cond until it holds or the timeout passes.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// checkExactlyOnce fails unless recs hold each record of want exactly once.
func checkExactlyOnce(t *testing.T, want, got []logs.Record) {
	t.Helper()
	type key struct {
		inst string
		seq  uint64
	}
	seen := map[key]int{}
	for _, r := range got {
		seen[key{r.Instance, r.Seq}]++
	}
	missing, dups := 0, 0
	for _, r := range want {
		switch n := seen[key{r.Instance, r.Seq}]; {
		case n == 0:
			missing++
		case n > 1:
			dups++
		}
	}
	if missing > 0 || dups > 0 || len(got) != len(want) {
		t.Errorf("got %d records for %d sent: %d missing, %d duplicated", len(got), len(want), missing, dups)
	}
}

func listenB(tb testing.TB, addr string) net.Listener {
	tb.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		tb.Fatal(err)
	}
	return ln
}

// gather returns the summed value of a counter family.
func gather(tb testing.TB, reg *prometheus.Registry, name string) float64 {
	tb.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		tb.Fatal(err)
	}
	var v float64
	for _, mf := range mfs {
		if mf.GetName() == name {
			for _, m := range mf.GetMetric() {
				v += m.GetCounter().GetValue()
			}
		}
	}
	return v
}
