package logs_test

import (
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/lantern-faas/lantern/logs"
)

var meta = logs.InstanceMeta{Namespace: "default", Function: "hello", Environment: "python", Instance: "hello-1"}

// fakeClock is a settable clock.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) Add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

// recorder collects what a Capture emits.
type recorder struct {
	mu   sync.Mutex
	recs []logs.Record
}

func (r *recorder) out(rec logs.Record) { r.mu.Lock(); r.recs = append(r.recs, rec); r.mu.Unlock() }

func (r *recorder) messages() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, rec := range r.recs {
		out = append(out, rec.Message)
	}
	return out
}

func newCapture(t *testing.T, opts logs.CaptureOptions) (*logs.Capture, *recorder, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	opts.Registerer = reg
	if opts.RateLimit == 0 {
		opts.RateLimit = -1
	}
	rec := &recorder{}
	return logs.NewCapture(opts, rec.out), rec, reg
}

func dropped(t *testing.T, reg *prometheus.Registry, reason string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "lantern_logs_dropped_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "reason" && l.GetValue() == reason {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	return 0
}

func TestCapture_Line_Split(t *testing.T) {
	const maxBytes = 100
	tests := []struct {
		name string
		line string
	}{
		{"ASCII", strings.Repeat("abcdefghij", 25)},
		{"MultiByteAtBoundaries", strings.Repeat("é", 150)},
		{"Emoji", strings.Repeat("🚀x", 70)},
		{"Escapes", strings.Repeat("\x1b[0m", 60)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, rec, _ := newCapture(t, logs.CaptureOptions{MaxLineBytes: maxBytes})
			c.Line(meta, logs.StreamStdout, []byte(tt.line))
			msgs := rec.messages()
			if len(msgs) < 2 {
				t.Fatalf("got %d chunks, want several", len(msgs))
			}
			var joined strings.Builder
			for i, m := range msgs {
				if len(m) > maxBytes {
					t.Errorf("chunk %d is %d bytes, want <= %d", i, len(m), maxBytes)
				}
				if !utf8.ValidString(m) {
					t.Errorf("chunk %d is not valid UTF-8: %q", i, m)
				}
				last := i == len(msgs)-1
				if got := strings.HasSuffix(m, logs.ContinuedMarker); got == last {
					t.Errorf("chunk %d of %d: continued marker %v", i, len(msgs), got)
				}
				joined.WriteString(strings.TrimSuffix(m, logs.ContinuedMarker))
			}
			want := strings.ReplaceAll(tt.line, "\x1b", `\x1b`)
			if joined.String() != want {
				t.Errorf("chunks do not join to the line:\n got %q\nwant %q", joined.String(), want)
			}
		})
	}
}

func TestCapture_Line_TooLong(t *testing.T) {
	c, rec, reg := newCapture(t, logs.CaptureOptions{MaxLineBytes: 100, MaxLineChunks: 3})
	c.Line(meta, logs.StreamStdout, []byte(strings.Repeat("x", 1000)))
	c.Line(meta, logs.StreamStdout, []byte("short"))
	msgs := rec.messages()
	if len(msgs) != 4 {
		t.Fatalf("got %d records, want 3 chunks + 1", len(msgs))
	}
	if !strings.HasSuffix(msgs[2], logs.TruncatedMarker) {
		t.Errorf("last chunk %q lacks the truncated marker", msgs[2])
	}
	if got := dropped(t, reg, "too_long"); got != 1 {
		t.Errorf("dropped{too_long} = %v, want 1", got)
	}
}

func TestCapture_Line_Sanitize(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"Plain", "hello world", "hello world"},
		{"TrailingNewline", "hello\n", "hello"},
		{"TrailingCRLF", "hello\r\n", "hello"},
		{"Tab", "a\tb", "a\tb"},
		{"InvalidUTF8", "a\xffb\xc3", "a\uFFFDb\uFFFD"},
		{"ANSI", "\x1b[31mred\x1b[0m", `\x1b[31mred\x1b[0m`},
		{"NUL", "a\x00b", `a\x00b`},
		{"DEL", "a\x7fb", `a\x7fb`},
		{"C1", "a\u0085b", `a\u0085b`},
		{"EmbeddedCR", "50%\rdone", `50%\x0ddone`},
		{"Unicode", "héllo 🚀", "héllo 🚀"},
		{"Empty", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, rec, _ := newCapture(t, logs.CaptureOptions{})
			c.Line(meta, logs.StreamStdout, []byte(tt.in))
			if diff := cmp.Diff([]string{tt.want}, rec.messages()); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestCapture_Line_RateLimit(t *testing.T) {
	clock := &fakeClock{t: time.Unix(1000, 0)}
	c, rec, reg := newCapture(t, logs.CaptureOptions{RateLimit: 10, Burst: 5, Now: clock.Now})
	other := meta
	other.Function, other.Instance = "other", "other-1"
	second := meta
	second.Instance = "hello-2" // same function: shares the budget

	for range 10 {
		c.Line(meta, logs.StreamStdout, []byte("x"))
	}
	c.Line(second, logs.StreamStdout, []byte("x"))
	c.Line(other, logs.StreamStdout, []byte("y"))
	if got, want := len(rec.messages()), 5+1; got != want {
		t.Errorf("emitted %d, want %d (burst of hello + other)", got, want)
	}
	if got := dropped(t, reg, "rate_limited"); got != 6 {
		t.Errorf("dropped{rate_limited} = %v, want 6", got)
	}
	clock.Add(500 * time.Millisecond) // 5 tokens back
	for range 10 {
		c.Line(meta, logs.StreamStdout, []byte("x"))
	}
	if got, want := len(rec.messages()), 6+5; got != want {
		t.Errorf("after 500ms emitted %d, want %d", got, want)
	}
	if got := metricValue(t, reg, "lantern_logs_lines_captured_total"); got != 11 {
		t.Errorf("lines_captured_total = %v, want 11", got)
	}
}

// metricValue returns the value of an unlabelled counter or gauge.
func metricValue(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			m := mf.GetMetric()[0]
			return m.GetCounter().GetValue() + m.GetGauge().GetValue()
		}
	}
	t.Fatalf("metric %s not registered", name)
	return 0
}

func TestCapture_Line_Attribution(t *testing.T) {
	c, rec, _ := newCapture(t, logs.CaptureOptions{})
	other := meta
	other.Instance = "hello-2"
	line := func(m logs.InstanceMeta, stream, text string) { c.Line(m, stream, []byte(text+"\n")) }
	// Runtimes frame a call on both pipes; each stream's lines follow
	// that stream's markers.
	mark := func(m logs.InstanceMeta, text string) {
		line(m, logs.StreamStdout, text)
		line(m, logs.StreamStderr, text)
	}

	line(meta, logs.StreamStdout, "before")
	mark(meta, logs.ReqStartMarker("r1", "t1"))
	line(meta, logs.StreamStdout, "in r1 stdout")
	line(meta, logs.StreamStderr, "in r1 stderr")
	line(other, logs.StreamStdout, "other instance")
	mark(meta, logs.ReqStartMarker("r2", "t2"))
	line(meta, logs.StreamStdout, "r1 and r2 overlap")
	mark(meta, logs.ReqEndMarker("r1"))
	line(meta, logs.StreamStdout, "only r2")
	mark(meta, logs.ReqEndMarker("r2"))
	line(meta, logs.StreamStdout, "after")
	line(meta, logs.StreamStderr, logs.MarkerPrefix+"future-command x y")
	line(meta, logs.StreamStderr, logs.MarkerPrefix+"req-start") // malformed
	mark(meta, logs.ReqStartMarker("r3", ""))
	line(meta, logs.StreamStdout, "r3 without trace")
	// A marker on one stream frames only that stream.
	line(meta, logs.StreamStderr, logs.ReqStartMarker("r4", "t4"))
	line(meta, logs.StreamStdout, "stdout still in r3 alone")

	type attr struct{ Instance, Msg, Req, Trace string }
	var got []attr
	for _, r := range rec.recs {
		got = append(got, attr{r.Instance, r.Message, r.RequestID, r.TraceID})
	}
	want := []attr{
		{"hello-1", "before", "", ""},
		{"hello-1", "in r1 stdout", "r1", "t1"},
		{"hello-1", "in r1 stderr", "r1", "t1"},
		{"hello-2", "other instance", "", ""},
		{"hello-1", "r1 and r2 overlap", "", ""},
		{"hello-1", "only r2", "r2", "t2"},
		{"hello-1", "after", "", ""},
		{"hello-1", "r3 without trace", "r3", ""},
		{"hello-1", "stdout still in r3 alone", "r3", ""},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("attribution (-want +got):\n%s", diff)
	}
}

func TestCapture_Line_SeqAndTime(t *testing.T) {
	clock := &fakeClock{t: time.Unix(1000, 0)}
	c, rec, _ := newCapture(t, logs.CaptureOptions{Now: clock.Now, MaxLineBytes: 64})
	c.Line(meta, logs.StreamStdout, []byte("a"))
	c.Line(meta, logs.StreamStderr, []byte(strings.Repeat("b", 100))) // two chunks
	c.Line(meta, logs.StreamStdout, []byte("c"))
	clock.Add(-time.Second) // the clock goes back
	c.Line(meta, logs.StreamStdout, []byte("d"))
	c.Forget(meta.Instance)
	clock.Add(2 * time.Second)
	c.Line(meta, logs.StreamStdout, []byte("e"))

	for i, r := range rec.recs[:5] {
		if r.Seq != uint64(i+1) {
			t.Errorf("record %d: seq %d, want %d", i, r.Seq, i+1)
		}
		if i > 0 && !r.Time.After(rec.recs[i-1].Time) {
			t.Errorf("record %d: time %v not after %v", i, r.Time, rec.recs[i-1].Time)
		}
	}
	if last := rec.recs[5]; last.Seq != 1 {
		t.Errorf("after Forget seq = %d, want 1", last.Seq)
	}
	want := logs.Record{Time: time.Unix(1000, 0), Namespace: "default", Function: "hello", Environment: "python",
		Instance: "hello-1", Stream: "stdout", Message: "a", Seq: 1}
	if diff := cmp.Diff(want, rec.recs[0]); diff != "" {
		t.Errorf("first record (-want +got):\n%s", diff)
	}
}

// TestCapture_Line_Concurrent runs many instances at once under -race.
func TestCapture_Line_Concurrent(t *testing.T) {
	c, rec, _ := newCapture(t, logs.CaptureOptions{})
	var wg sync.WaitGroup
	for i := range 8 {
		m := meta
		m.Instance = string(rune('a' + i))
		for _, stream := range []string{logs.StreamStdout, logs.StreamStderr} {
			wg.Go(func() {
				for range 200 {
					c.Line(m, stream, []byte("line"))
				}
			})
		}
	}
	wg.Wait()
	seqs := map[string]map[uint64]bool{}
	for _, r := range rec.recs {
		if seqs[r.Instance] == nil {
			seqs[r.Instance] = map[uint64]bool{}
		}
		seqs[r.Instance][r.Seq] = true
	}
	for inst, s := range seqs {
		if len(s) != 400 {
			t.Errorf("instance %s: %d distinct seqs, want 400", inst, len(s))
		}
	}
}

// TestCapture_Line_RateLimitAfterSpecialization: an instance that printed
// for its environment before it was specialized is limited by its
// function's budget afterwards, not by the environment's.
func TestCapture_Line_RateLimitAfterSpecialization(t *testing.T) {
	clock := &fakeClock{t: time.Unix(1000, 0)}
	c, rec, _ := newCapture(t, logs.CaptureOptions{RateLimit: 1, Burst: 2, Now: clock.Now})
	pool := meta
	pool.Function = ""
	for range 3 {
		c.Line(pool, logs.StreamStderr, []byte("pool")) // 2 kept: the environment's burst
	}
	for range 3 {
		c.Line(meta, logs.StreamStdout, []byte("fn")) // 2 kept: the function's own burst
	}
	if got, want := rec.messages(), []string{"pool", "pool", "fn", "fn"}; !cmp.Equal(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
}

func TestCapture_LineAt(t *testing.T) {
	clock := &fakeClock{t: time.Unix(5000, 0)}
	c, rec, _ := newCapture(t, logs.CaptureOptions{RateLimit: 10, Burst: 2, Now: clock.Now, MaxLineBytes: 64})
	t0 := time.Unix(1000, 0) // an hour and more before the clock: a backlog
	c.LineAt(meta, logs.StreamStdout, []byte("a"), t0)
	c.LineAt(meta, logs.StreamStdout, []byte(strings.Repeat("b", 100)), t0) // two chunks, same time
	c.LineAt(meta, logs.StreamStdout, []byte("c"), t0.Add(time.Second))     // a token back by then
	c.LineAt(meta, logs.StreamStdout, []byte("d"), t0.Add(-time.Second))    // printed earlier: kept in order
	var times []time.Duration
	for _, r := range rec.recs {
		times = append(times, r.Time.Sub(t0))
	}
	// The line's time, +1 ns for each record that would not be after the
	// previous one; the limiter counts in the lines' times (the second
	// chunk of b is over the burst, c has a token of its own).
	if want := []time.Duration{0, 1, time.Second, time.Second + 1}; !cmp.Equal(times, want) {
		t.Fatalf("record times after t0: got %v, want %v (messages %q)", times, want, rec.messages())
	}
}

func TestCapture_StateRestore(t *testing.T) {
	clock := &fakeClock{t: time.Unix(1000, 0)}
	first, rec1, _ := newCapture(t, logs.CaptureOptions{Now: clock.Now})
	first.Line(meta, logs.StreamStdout, []byte("one"))
	first.Line(meta, logs.StreamStderr, []byte(logs.ReqStartMarker("r1", "t1")))
	first.Line(meta, logs.StreamStderr, []byte("two"))
	st := first.State(meta.Instance)
	if want := (logs.InstanceState{Seq: 2, Last: rec1.recs[1].Time, Open: map[string]map[string]string{"stderr": {"r1": "t1"}}}); !cmp.Equal(st, want) {
		t.Fatalf("State: got %+v, want %+v", st, want)
	}
	// Another Capture restored from the state goes on as the first would.
	first.Line(meta, logs.StreamStderr, []byte("three"))
	second, rec2, _ := newCapture(t, logs.CaptureOptions{Now: clock.Now})
	second.Restore(meta.Instance, st)
	second.Line(meta, logs.StreamStderr, []byte("three"))
	if diff := cmp.Diff(rec1.recs[2], rec2.recs[0]); diff != "" {
		t.Fatalf("the line after the restore (-first +restored):\n%s", diff)
	}
}
