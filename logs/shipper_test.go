package logs_test

import (
	"context"
	"errors"
	"net"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fluent/fluent-logger-golang/fluent"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/lantern-faas/lantern/logs"
	"github.com/lantern-faas/lantern/logs/logstest"
)

func fastShipper(addr string) logs.ShipperConfig {
	return logs.ShipperConfig{Addr: addr, AckTimeout: time.Second, RetryMin: 20 * time.Millisecond, RetryMax: 200 * time.Millisecond}
}

func TestShipper_Ship(t *testing.T) {
	addr := freeAddr(t)
	mem := logstest.NewMemory()
	startCollector(t, addr, mem, logs.CollectorConfig{FlushInterval: 20 * time.Millisecond}, logs.Deps{})
	reg := prometheus.NewRegistry()
	s := newShipper(t, fastShipper(addr), logs.Deps{Registerer: reg})
	want := testRecords("i-1", 0, 2000)
	for _, r := range want {
		s.Ship(r)
	}
	waitFor(t, 20*time.Second, "all records written", func() bool { return mem.Len() >= len(want) })
	checkExactlyOnce(t, want, mem.All())
	if diff := mem.All(); !diff[0].Time.Equal(want[0].Time) || diff[0].Message != want[0].Message {
		t.Errorf("first record %+v, want %+v", diff[0], want[0])
	}
	waitFor(t, 5*time.Second, "shipped counter", func() bool {
		return metricValue(t, reg, "lantern_logs_lines_shipped_total") == float64(len(want))
	})
}

// TestShipper_CollectorDown ships while nothing listens: records spool, and
// arrive once the collector starts.
func TestShipper_CollectorDown(t *testing.T) {
	addr := freeAddr(t)
	reg := prometheus.NewRegistry()
	s := newShipper(t, fastShipper(addr), logs.Deps{Registerer: reg})
	want := testRecords("i-1", 0, 500)
	for _, r := range want {
		s.Ship(r)
	}
	waitFor(t, 10*time.Second, "records spooled", func() bool { return s.Stats().Spooled == len(want) })

	mem := logstest.NewMemory()
	startCollector(t, addr, mem, logs.CollectorConfig{FlushInterval: 20 * time.Millisecond}, logs.Deps{})
	waitFor(t, 20*time.Second, "spool resent", func() bool { return mem.Len() >= len(want) })
	checkExactlyOnce(t, want, mem.All())
	waitFor(t, 5*time.Second, "spool empty", func() bool { return s.Stats() == logs.ShipperStats{} })
	if got := metricValue(t, reg, "lantern_logs_lines_spooled_total"); got != float64(len(want)) {
		t.Errorf("lines_spooled_total = %v, want %d", got, len(want))
	}
}

// TestShipper_CollectorRestart stops the collector in the middle of a stream.
func TestShipper_CollectorRestart(t *testing.T) {
	addr := freeAddr(t)
	mem := logstest.NewMemory()
	ccfg := logs.CollectorConfig{FlushInterval: 20 * time.Millisecond}
	c := startCollector(t, addr, mem, ccfg, logs.Deps{})
	s := newShipper(t, fastShipper(addr), logs.Deps{})
	want := testRecords("i-1", 0, 3000)
	for i, r := range want {
		s.Ship(r)
		switch i {
		case 1000:
			c.stop(t)
		case 2000:
			c = startCollector(t, addr, mem, ccfg, logs.Deps{})
		}
		if i%100 == 0 {
			time.Sleep(time.Millisecond) // a stream, not one burst
		}
	}
	waitFor(t, 30*time.Second, "all records written", func() bool { return mem.Len() >= len(want) })
	time.Sleep(200 * time.Millisecond) // would-be duplicates
	checkExactlyOnce(t, want, mem.All())
}

// TestShipper_Close_KeepsSpool closes a shipper that cannot reach its
// collector; a new shipper on the same spool delivers.
func TestShipper_Close_KeepsSpool(t *testing.T) {
	addr := freeAddr(t)
	dir := t.TempDir()
	cfg := fastShipper(addr)
	cfg.SpoolDir, cfg.FlushTimeout = dir, 500*time.Millisecond
	s, err := logs.NewShipper(cfg, logs.Deps{})
	if err != nil {
		t.Fatal(err)
	}
	want := testRecords("i-1", 0, 300)
	for _, r := range want {
		s.Ship(r)
	}
	start := time.Now()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Close took %v", d)
	}
	s.Ship(want[0]) // after Close: dropped, not a panic

	mem := logstest.NewMemory()
	startCollector(t, addr, mem, logs.CollectorConfig{FlushInterval: 20 * time.Millisecond}, logs.Deps{})
	newShipper(t, cfg, logs.Deps{})
	waitFor(t, 20*time.Second, "spool of the closed shipper resent", func() bool { return mem.Len() >= len(want) })
	checkExactlyOnce(t, want, mem.All())
}

// TestShipper_SpoolFull drops the oldest records beyond MaxSpoolBytes and
// counts them.
func TestShipper_SpoolFull(t *testing.T) {
	reg := prometheus.NewRegistry()
	cfg := fastShipper(freeAddr(t))
	cfg.MaxSpoolBytes, cfg.QueueSize = 64<<10, 100
	s := newShipper(t, cfg, logs.Deps{Registerer: reg})
	const n = 5000
	for _, r := range testRecords("i-1", 0, n) {
		s.Ship(r)
	}
	waitFor(t, 10*time.Second, "queue spilled", func() bool { st := s.Stats(); return st.Queued == 0 && st.InFlight == 0 })
	spooled := s.Stats().Spooled
	dropped := metricValue(t, reg, "lantern_logs_dropped_total")
	if spooled == 0 || dropped == 0 || spooled+int(dropped) != n {
		t.Errorf("spooled %d + dropped %v, want both > 0 and a sum of %d", spooled, dropped, n)
	}
}

// TestCollector_SinkDown fails writes for a while: nothing is lost.
func TestCollector_SinkDown(t *testing.T) {
	addr := freeAddr(t)
	mem := logstest.NewMemory()
	var fail atomic.Bool
	fail.Store(true)
	sink := logstest.Sink{WriteFunc: func(ctx context.Context, recs []logs.Record) error {
		if fail.Load() {
			return errors.New("sink down")
		}
		return mem.Write(ctx, recs)
	}}
	reg := prometheus.NewRegistry()
	startCollector(t, addr, sink, logs.CollectorConfig{FlushInterval: 20 * time.Millisecond,
		RetryMin: 10 * time.Millisecond, RetryMax: 50 * time.Millisecond}, logs.Deps{Registerer: reg})
	s := newShipper(t, fastShipper(addr), logs.Deps{})
	want := testRecords("i-1", 0, 1000)
	for _, r := range want {
		s.Ship(r)
	}
	waitFor(t, 10*time.Second, "write errors", func() bool { return metricValue(t, reg, "lantern_logs_write_errors_total") >= 3 })
	fail.Store(false)
	waitFor(t, 20*time.Second, "all records written", func() bool { return mem.Len() >= len(want) })
	checkExactlyOnce(t, want, mem.All())
	waitFor(t, 5*time.Second, "written counter", func() bool {
		return metricValue(t, reg, "lantern_logs_lines_written_total") == float64(len(want))
	})
}

// TestCollector_Backpressure blocks the sink: the collector stops reading,
// the shipper spools, and everything arrives once the sink is back.
func TestCollector_Backpressure(t *testing.T) {
	addr := freeAddr(t)
	mem := logstest.NewMemory()
	release := make(chan struct{})
	sink := logstest.Sink{WriteFunc: func(ctx context.Context, recs []logs.Record) error {
		select {
		case <-release:
		case <-ctx.Done():
			return ctx.Err()
		}
		return mem.Write(ctx, recs)
	}}
	startCollector(t, addr, sink, logs.CollectorConfig{BatchSize: 100, QueueBatches: 2, FlushInterval: 10 * time.Millisecond}, logs.Deps{})
	cfg := fastShipper(addr)
	cfg.AckTimeout = 300 * time.Millisecond
	s := newShipper(t, cfg, logs.Deps{})
	want := testRecords("i-1", 0, 3000)
	for _, r := range want {
		s.Ship(r)
	}
	waitFor(t, 20*time.Second, "shipper spooling behind a blocked collector", func() bool { return s.Stats().Spooled > 0 })
	close(release)
	waitFor(t, 60*time.Second, "all records written", func() bool { return mem.Len() >= len(want) })
	checkExactlyOnce(t, want, mem.All())
}

// TestCollector_ShutdownSpool stops a collector while its sink is down: with
// a SpoolDir the next collector writes what it held.
func TestCollector_ShutdownSpool(t *testing.T) {
	addr := freeAddr(t)
	dir := t.TempDir()
	down := logstest.Sink{WriteFunc: func(context.Context, []logs.Record) error { return errors.New("down") }}
	ccfg := logs.CollectorConfig{FlushInterval: 10 * time.Millisecond, DrainTimeout: 200 * time.Millisecond,
		RetryMin: 10 * time.Millisecond, SpoolDir: dir}
	c := startCollector(t, addr, down, ccfg, logs.Deps{})
	s := newShipper(t, fastShipper(addr), logs.Deps{})
	want := testRecords("i-1", 0, 500)
	for _, r := range want {
		s.Ship(r)
	}
	waitFor(t, 10*time.Second, "records acknowledged", func() bool { st := s.Stats(); return st == logs.ShipperStats{} })
	c.stop(t)

	mem := logstest.NewMemory()
	startCollector(t, addr, mem, ccfg, logs.Deps{})
	waitFor(t, 10*time.Second, "collector spool replayed", func() bool { return mem.Len() >= len(want) })
	checkExactlyOnce(t, want, mem.All())
}

// TestCollector_Add queues records from the same process: they are written
// like received ones (duplicates dropped), SetWritten hears of each batch
// once stored, and Add is refused once the collector stops.
func TestCollector_Add(t *testing.T) {
	mem := logstest.NewMemory()
	c, err := logs.NewCollector(logs.CollectorConfig{FlushInterval: 10 * time.Millisecond}, mem, logs.Deps{})
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var written []logs.Record
	c.SetWritten(func(recs []logs.Record) {
		if mem.Len() < len(written)+len(recs) {
			t.Errorf("SetWritten: told of %d records before the sink stored them", len(recs))
		}
		mu.Lock()
		written = append(written, recs...)
		mu.Unlock()
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Serve(ctx, listenB(t, "127.0.0.1:0")) }()
	want := testRecords("i-1", 0, 300)
	for i := 0; i < len(want); i += 100 {
		if err := c.Add(t.Context(), want[i:i+100]); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.Add(t.Context(), want[:10]); err != nil { // again: dropped as duplicates
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "records written", func() bool { mu.Lock(); defer mu.Unlock(); return len(written) >= len(want) })
	checkExactlyOnce(t, want, mem.All())
	mu.Lock()
	checkExactlyOnce(t, want, written)
	mu.Unlock()
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if err := c.Add(t.Context(), testRecords("i-1", 300, 1)); !errors.Is(err, logs.ErrClosed) {
		t.Fatalf("Add after the collector stopped: got %v, want ErrClosed", err)
	}
}

// TestCollector_SetRewrite completes records by their tag before they are
// queued: Fluentd's records, sent with fluent-logger-golang under a tag of
// their own, become records with an identity; other tags pass.
func TestCollector_SetRewrite(t *testing.T) {
	mem := logstest.NewMemory()
	c, err := logs.NewCollector(logs.CollectorConfig{FlushInterval: 10 * time.Millisecond}, mem, logs.Deps{})
	if err != nil {
		t.Fatal(err)
	}
	c.SetRewrite(func(tag string, recs []logs.Record) []logs.Record {
		if tag != "agent.pod" {
			return recs
		}
		var out []logs.Record
		for _, r := range recs {
			if r.Message == "drop me" {
				continue
			}
			r.Namespace, r.Function, r.Instance = "default", "hello", "from-tag"
			out = append(out, r)
		}
		return out
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ln := listenB(t, "127.0.0.1:0")
	go func() { _ = c.Serve(ctx, ln) }()
	host, port, _ := net.SplitHostPort(ln.Addr().String())
	p, _ := strconv.Atoi(port)
	f, err := fluent.New(fluent.Config{FluentHost: host, FluentPort: p, RequestAck: true, SubSecondPrecision: true})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	at := time.Date(2026, 11, 27, 7, 0, 0, 123456789, time.UTC)
	for _, m := range []string{"kept", "drop me"} {
		if err := f.PostWithTime("agent.pod", at, map[string]string{"stream": "stdout", "message": m}); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.PostWithTime("lantern.function", at, testRecordMap()); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "records written", func() bool { return mem.Len() >= 2 })
	time.Sleep(50 * time.Millisecond)
	var got []string
	for _, r := range mem.All() {
		got = append(got, r.Instance+" "+r.Message+" "+r.Time.Format(time.RFC3339Nano))
	}
	want := []string{"from-tag kept 2026-11-27T07:00:00.123456789Z", "i-9 as sent 2026-11-27T07:00:00.123456789Z"}
	if !slices.Equal(got, want) {
		t.Fatalf("stored: got %q, want %q", got, want)
	}
}

func testRecordMap() map[string]any {
	return map[string]any{"namespace": "default", "function": "hello", "instance": "i-9", "stream": "stdout", "message": "as sent", "seq": 1}
}
