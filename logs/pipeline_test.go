package logs_test

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/lantern-faas/lantern/logs"
	"github.com/lantern-faas/lantern/logs/embedded"
	"github.com/lantern-faas/lantern/logs/influx"
	"github.com/lantern-faas/lantern/logs/influxdtest"
	"github.com/lantern-faas/lantern/logs/logstest"
)

// TestPipeline_InfluxDB runs Capture → Shipper → Collector → InfluxDB 1.8
// (a real influxd) and reads everything back, while InfluxDB and then the
// collector are stopped and restarted.
func TestPipeline_InfluxDB(t *testing.T) {
	srv := influxdtest.Start(t, influxdtest.Options{})
	store, err := influx.New(influx.Config{URL: srv.URL, Bucket: "lantern_logs", Database: "lantern_logs"})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	if err := store.EnsureDatabase(context.Background()); err != nil {
		t.Fatal(err)
	}
	runPipeline(t, store, store, srv.Stop, srv.Start)
}

// TestPipeline_Embedded runs the same pipeline on the embedded store; its
// outage is simulated by failing writes.
func TestPipeline_Embedded(t *testing.T) {
	store, err := embedded.New(embedded.Config{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	var down atomic.Bool
	sink := logstest.Sink{WriteFunc: func(ctx context.Context, recs []logs.Record) error {
		if down.Load() {
			return errors.New("store unavailable")
		}
		return store.Write(ctx, recs)
	}}
	runPipeline(t, sink, store, func() { down.Store(true) }, func() { down.Store(false) })
}

const (
	pipelineInstances = 4
	phaseLines        = 250 // per instance and phase
)

// script is what one instance prints and what must come back.
type script struct {
	meta logs.InstanceMeta
	n    int               // lines printed so far
	want []logs.Record     // Message, RequestID, TraceID, Seq
	open map[string]string // requests the script has open
}

// print prints lines lines, in requests of 5 lines (ids unique per
// instance), with a line outside any request after each, and once per phase
// two overlapping requests whose shared lines carry no request ID.
func (s *script) print(c *logs.Capture, lines int) {
	line := func(text string, stream string, req, trace string) {
		s.n++
		msg := fmt.Sprintf("%s line %05d %s", s.meta.Instance, s.n, text)
		c.Line(s.meta, stream, []byte(msg+"\n"))
		s.want = append(s.want, logs.Record{Message: msg, RequestID: req, TraceID: trace, Seq: uint64(len(s.want) + 1)})
	}
	marker := func(m string) { // on both pipes, as the runtimes print them
		c.Line(s.meta, logs.StreamStdout, []byte(m+"\n"))
		c.Line(s.meta, logs.StreamStderr, []byte(m+"\n"))
	}
	end := s.n + lines
	overlap := false
	for s.n < end {
		if !overlap && end-s.n >= 6 {
			overlap = true
			a, b := fmt.Sprintf("%s-ov-%d-a", s.meta.Instance, s.n), fmt.Sprintf("%s-ov-%d-b", s.meta.Instance, s.n)
			marker(logs.ReqStartMarker(a, "trace-"+a))
			marker(logs.ReqStartMarker(b, "trace-"+b))
			line("overlapping", logs.StreamStdout, "", "")
			line("overlapping", logs.StreamStderr, "", "")
			marker(logs.ReqEndMarker(a))
			line("only b", logs.StreamStdout, b, "trace-"+b)
			marker(logs.ReqEndMarker(b))
			continue
		}
		rid := fmt.Sprintf("%s-req-%d", s.meta.Instance, s.n)
		marker(logs.ReqStartMarker(rid, "trace-"+rid))
		for i := 0; i < 5 && s.n < end-1; i++ {
			line("in request", []string{logs.StreamStdout, logs.StreamStderr}[i%2], rid, "trace-"+rid)
		}
		marker(logs.ReqEndMarker(rid))
		line("between requests", logs.StreamStdout, "", "")
	}
}

// pipeline is a Capture → Shipper → Collector chain under test.
type pipeline struct {
	t         *testing.T
	reg       *prometheus.Registry
	capture   *logs.Capture
	shipper   *logs.Shipper
	collector *runningCollector
	addr      string
	sink      logs.Sink
	ccfg      logs.CollectorConfig
	scripts   []*script
}

func (p *pipeline) startCollector() {
	p.collector = startCollector(p.t, p.addr, p.sink, p.ccfg, logs.Deps{Registerer: p.reg})
}

// phase prints phaseLines on every instance concurrently.
func (p *pipeline) phase(lines int) {
	var wg sync.WaitGroup
	for _, s := range p.scripts {
		wg.Go(func() { s.print(p.capture, lines) })
	}
	wg.Wait()
}

func (p *pipeline) total() int {
	n := 0
	for _, s := range p.scripts {
		n += len(s.want)
	}
	return n
}

func runPipeline(t *testing.T, sink logs.Sink, reader logs.Reader, stopSink, startSink func()) {
	p := &pipeline{
		t: t, reg: prometheus.NewRegistry(), addr: freeAddr(t), sink: sink,
		ccfg: logs.CollectorConfig{BatchSize: 1000, FlushInterval: 50 * time.Millisecond,
			RetryMin: 50 * time.Millisecond, RetryMax: 500 * time.Millisecond},
	}
	p.startCollector()
	p.shipper = newShipper(t, logs.ShipperConfig{Addr: p.addr, AckTimeout: 2 * time.Second,
		RetryMin: 50 * time.Millisecond, RetryMax: 500 * time.Millisecond}, logs.Deps{Registerer: p.reg})
	p.capture = logs.NewCapture(logs.CaptureOptions{RateLimit: 1e6, Burst: 1e6, Registerer: p.reg}, p.shipper.Ship)
	for i := range pipelineInstances {
		p.scripts = append(p.scripts, &script{meta: logs.InstanceMeta{Namespace: "default", Function: "hello",
			Environment: "python", Instance: fmt.Sprintf("hello-%d", i)}})
	}

	p.phase(phaseLines)
	t.Log("stopping the sink")
	stopSink()
	p.phase(phaseLines)
	time.Sleep(300 * time.Millisecond) // let writes fail and retry
	t.Log("starting the sink")
	startSink()
	p.phase(phaseLines)
	t.Log("stopping the collector")
	p.collector.stop(t)
	p.phase(phaseLines)
	time.Sleep(100 * time.Millisecond)
	t.Log("starting the collector")
	p.startCollector()
	p.phase(phaseLines)

	// Throughput: a burst on a healthy pipeline.
	waitWritten(t, p, p.total())
	start := time.Now()
	p.phase(1000)
	waitFor(t, 60*time.Second, "burst shipped", func() bool {
		return metricValue(t, p.reg, "lantern_logs_lines_shipped_total") >= float64(p.total())
	})
	shipped := time.Since(start)
	waitWritten(t, p, p.total())
	written := time.Since(start)
	burst := pipelineInstances * 1000
	t.Logf("burst of %d lines: shipped in %v (%.0f lines/s), written in %v (%.0f lines/s)",
		burst, shipped, float64(burst)/shipped.Seconds(), written, float64(burst)/written.Seconds())

	// The outages really happened.
	if n := metricValue(t, p.reg, "lantern_logs_write_errors_total"); n == 0 {
		t.Error("no failed sink writes while the sink was down")
	}
	if n := metricValue(t, p.reg, "lantern_logs_lines_spooled_total"); n == 0 {
		t.Error("nothing spooled while the collector was down")
	}
	checkStored(t, p, reader)
	checkFollow(t, p, reader)
	logQueryLatency(t, reader, p.scripts[2].want[100].RequestID)
}

// waitWritten waits until the store has every record (by the collector's
// counter, which counts each record once: resends are deduplicated or
// idempotent).
func waitWritten(t *testing.T, p *pipeline, n int) {
	t.Helper()
	waitFor(t, 60*time.Second, fmt.Sprintf("%d lines written", n), func() bool {
		return metricValue(t, p.reg, "lantern_logs_lines_written_total") >= float64(n)
	})
}

// checkStored reads every instance back: all lines, once, in order, with
// the right request IDs.
func checkStored(t *testing.T, p *pipeline, reader logs.Reader) {
	t.Helper()
	for _, s := range p.scripts {
		got, err := reader.Query(context.Background(), logs.Query{Namespace: "default", Function: "hello",
			Instance: s.meta.Instance, Limit: logs.MaxQueryLimit})
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != len(s.want) {
			t.Errorf("%s: %d lines stored, want %d", s.meta.Instance, len(got), len(s.want))
		}
		bad := 0
		for i := range min(len(got), len(s.want)) {
			g, w := got[i], s.want[i]
			if g.Seq != w.Seq || g.Message != w.Message || g.RequestID != w.RequestID || g.TraceID != w.TraceID ||
				g.Environment != "python" || (i > 0 && !got[i-1].Time.Before(g.Time)) {
				if bad++; bad <= 5 {
					t.Errorf("%s line %d:\n got %+v\nwant %+v", s.meta.Instance, i, g, w)
				}
			}
		}
		if bad > 5 {
			t.Errorf("%s: %d lines differ", s.meta.Instance, bad)
		}
	}
	if d := metricValue(t, p.reg, "lantern_logs_dropped_total"); d != 0 {
		t.Errorf("dropped_total = %v, want 0", d)
	}
	t.Logf("stored %d lines; %v duplicates dropped by the collector", p.total(),
		metricValue(t, p.reg, "lantern_logs_duplicates_total"))
}

// checkFollow follows the function and prints one more line: it must be
// pushed within logstest.FollowLatency.
func checkFollow(t *testing.T, p *pipeline, reader logs.Reader) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	got := make(chan logs.Record, 10)
	done := make(chan error, 1)
	go func() {
		done <- reader.Follow(ctx, logs.Query{Namespace: "default", Function: "hello", Limit: 1}, func(r logs.Record) error {
			got <- r
			return nil
		})
	}()
	select {
	case <-got: // the backlog: the newest line
	case <-time.After(10 * time.Second):
		t.Fatal("no backlog from Follow")
	}
	start := time.Now()
	p.capture.Line(p.scripts[0].meta, logs.StreamStdout, []byte("followed line"))
	select {
	case r := <-got:
		latency := time.Since(start)
		t.Logf("follow: new line delivered %v after it was printed", latency)
		if r.Message != "followed line" {
			t.Errorf("followed %q, want %q", r.Message, "followed line")
		}
		if latency > logstest.FollowLatency {
			t.Errorf("follow latency %v > %v", latency, logstest.FollowLatency)
		}
	case <-time.After(logstest.FollowLatency):
		t.Errorf("the new line was not pushed within %v", logstest.FollowLatency)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Follow: %v", err)
	}
}

func logQueryLatency(t *testing.T, reader logs.Reader, requestID string) {
	t.Helper()
	queries := []struct {
		name string
		q    logs.Query
	}{
		{"newest 100", logs.Query{Limit: 100, Desc: true}},
		{"one instance, all", logs.Query{Instance: "hello-1", Limit: logs.MaxQueryLimit}},
		{"request id", logs.Query{RequestID: requestID, Limit: 100}},
		{"contains", logs.Query{Contains: "line 00042 ", Limit: 100}},
	}
	for _, qq := range queries {
		q := qq.q
		q.Namespace, q.Function = "default", "hello"
		var ds []time.Duration
		var n int
		for range 10 {
			start := time.Now()
			recs, err := reader.Query(context.Background(), q)
			if err != nil {
				t.Fatal(err)
			}
			ds = append(ds, time.Since(start))
			n = len(recs)
		}
		sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
		t.Logf("query %-18s %5d rows: median %v, max %v", qq.name, n, ds[len(ds)/2], ds[len(ds)-1])
	}
}
