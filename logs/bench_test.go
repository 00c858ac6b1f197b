package logs_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/lantern-faas/lantern/logs"
	"github.com/lantern-faas/lantern/logs/embedded"
	"github.com/lantern-faas/lantern/logs/influx"
	"github.com/lantern-faas/lantern/logs/influxdtest"
	"github.com/lantern-faas/lantern/logs/logstest"
)

// benchPipeline captures b.N lines over 8 instances as fast as it can and
// reports how fast they are acknowledged (shipped) and written. With the
// default queue a burst larger than 10000 lines spills to the spool; queue
// sizes the in-memory queue (0: default). Run with e.g.
// go test -run x -bench Pipeline -benchtime 50000x ./logs/
func benchPipeline(b *testing.B, sink logs.Sink, queue int) {
	addr := freeAddrB(b)
	reg := prometheus.NewRegistry()
	ln := listenB(b, addr)
	c, err := logs.NewCollector(logs.CollectorConfig{BatchSize: 5000}, sink, logs.Deps{Registerer: reg})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Serve(ctx, ln) }()
	defer func() { cancel(); <-done }()
	s, err := logs.NewShipper(logs.ShipperConfig{Addr: addr, SpoolDir: b.TempDir(), QueueSize: queue}, logs.Deps{Registerer: reg})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	capture := logs.NewCapture(logs.CaptureOptions{RateLimit: -1, Registerer: reg}, s.Ship)
	msg := []byte("2026-03-01T12:00:00.000Z INFO handled request path=/hello status=200 duration=1.2ms user=alice")

	b.ResetTimer()
	start := time.Now()
	for i := range b.N {
		capture.Line(logs.InstanceMeta{Namespace: "default", Function: "bench", Environment: "go",
			Instance: fmt.Sprintf("bench-%d", i%8)}, logs.StreamStdout, msg)
	}
	captured := time.Since(start)
	for gather(b, reg, "lantern_logs_lines_shipped_total") < float64(b.N) {
		time.Sleep(time.Millisecond)
	}
	shipped := time.Since(start)
	for gather(b, reg, "lantern_logs_lines_written_total") < float64(b.N) {
		time.Sleep(time.Millisecond)
	}
	written := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(b.N)/captured.Seconds(), "captured/s")
	b.ReportMetric(float64(b.N)/shipped.Seconds(), "shipped/s")
	b.ReportMetric(float64(b.N)/written.Seconds(), "written/s")
	b.ReportMetric(gather(b, reg, "lantern_logs_lines_spooled_total"), "spooled")
}

func BenchmarkPipeline_Memory(b *testing.B) { benchPipeline(b, logstest.NewMemory(), 0) }

// BenchmarkPipeline_MemoryNoSpill sizes the queue for the whole burst: the
// direct path only.
func BenchmarkPipeline_MemoryNoSpill(b *testing.B) { benchPipeline(b, logstest.NewMemory(), b.N) }

func BenchmarkPipeline_Embedded(b *testing.B) {
	s, err := embedded.New(embedded.Config{Dir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	benchPipeline(b, s, 0)
}

func BenchmarkPipeline_InfluxDB(b *testing.B) {
	srv := influxdtest.Start(b, influxdtest.Options{})
	s, err := influx.New(influx.Config{URL: srv.URL, Bucket: "bench", Database: "bench"})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	if err := s.EnsureDatabase(context.Background()); err != nil {
		b.Fatal(err)
	}
	benchPipeline(b, s, 0)
}

func freeAddrB(b *testing.B) string {
	ln := listenB(b, "127.0.0.1:0")
	defer ln.Close()
	return ln.Addr().String()
}
