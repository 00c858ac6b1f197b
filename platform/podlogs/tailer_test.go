package podlogs

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/lantern-faas/lantern/logs"
	"github.com/lantern-faas/lantern/logs/cri"
	"github.com/lantern-faas/lantern/logs/logstest"
	"github.com/lantern-faas/lantern/platform/instance/kubepods"
)

// node is a node's pod log folder written as a kubelet does, a store, and
// the Tailers reading into it.
type node struct {
	t     testing.TB
	dir   string
	state string
	store *logstest.Memory
	// hold, when set, keeps what the Tailer hands out from the store (a
	// collector that has not written it yet).
	mu   sync.Mutex
	hold bool
	held []logs.Record
}

func newNode(t *testing.T) *node {
	return &node{t: t, dir: t.TempDir(), state: t.TempDir(), store: logstest.NewMemory()}
}

// tailer starts a Tailer on the node's folder and state, with Settle an
// hour and Linger 100 ms.
func (n *node) tailer() *Tailer {
	var tl *Tailer
	out := func(ctx context.Context, recs []logs.Record) error {
		recs = slices.Clone(recs)
		n.mu.Lock()
		defer n.mu.Unlock()
		if n.hold {
			n.held = append(n.held, recs...)
			return nil
		}
		_ = n.store.Write(ctx, recs)
		tl.Written(recs)
		return nil
	}
	tl, err := New(Config{Dir: n.dir, Node: "node-a", Namespace: "lantern", StateDir: n.state, Settle: time.Hour, Linger: 100 * time.Millisecond,
		Capture: logs.CaptureOptions{RateLimit: -1}}, out, nil, nil)
	if err != nil {
		n.t.Fatal(err)
	}
	return tl
}

// write appends entries to a pod's runtime log.
func (n *node) write(p *corev1.Pod, entries ...cri.Entry) {
	dir := filepath.Join(n.dir, key(p.Namespace, p.Name, string(p.UID)), kubepods.Container)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		n.t.Fatal(err)
	}
	f, err := os.OpenFile(filepath.Join(dir, "0.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		n.t.Fatal(err)
	}
	defer f.Close()
	var b []byte
	for _, e := range entries {
		b = cri.Append(b, e)
	}
	if _, err := f.Write(b); err != nil {
		n.t.Fatal(err)
	}
}

func entry(at time.Time, stream, msg string) cri.Entry {
	return cri.Entry{Time: at, Stream: stream, Message: []byte(msg)}
}

// lines returns the stored records as "function/instance: message".
func (n *node) lines() []string {
	var out []string
	for _, r := range n.store.All() {
		out = append(out, fmt.Sprintf("%s/%s: %s", r.Function, r.Instance, r.Message))
	}
	return out
}

func pass(t *testing.T, tl *Tailer) {
	t.Helper()
	if err := tl.pass(t.Context()); err != nil {
		t.Fatal(err)
	}
}

// TestTailer_Attribution: what a pool pod prints before its specialization
// is its environment's, what it prints after the function's, however late
// the mark arrives; a line of a pod not marked waits for the mark.
func TestTailer_Attribution(t *testing.T) {
	n := newNode(t)
	tl := n.tailer()
	now := time.Now().UTC()
	pod := poolPod("a", "a", "", time.Time{})
	old := now.Add(-2 * time.Hour) // older than Settle: the environment's without a mark
	n.write(pod, entry(old, "stderr", "runtime listening"))
	tl.Update(pod)
	tl.Synced()
	pass(t, tl)
	if got, want := n.lines(), []string{"/python-a: runtime listening"}; !slices.Equal(got, want) {
		t.Fatalf("an old line of a pool pod: got %v, want %v", got, want)
	}
	// Specialized at now-30s; the mark is not there yet: the pod's new
	// lines wait.
	since := now.Add(-30 * time.Second)
	n.write(pod, entry(since.Add(-time.Second), "stdout", "still the pool's"), entry(since, "stdout", "the function's first"),
		entry(since.Add(time.Second), "stderr", "\x1elantern:req-start r1 t1"), entry(since.Add(2*time.Second), "stderr", "in r1")) // markers frame their own stream
	pass(t, tl)
	if got := n.lines(); len(got) != 1 {
		t.Fatalf("lines of a pod not marked yet: got %v, want them held", got)
	}
	tl.Update(poolPod("a", "a", "hello", since))
	pass(t, tl)
	want := []string{"/python-a: runtime listening", "/python-a: still the pool's", "hello/python-a: the function's first", "hello/python-a: in r1"}
	if got := n.lines(); !slices.Equal(got, want) {
		t.Fatalf("after the mark: got %v, want %v", got, want)
	}
	var reqs []string
	for _, r := range n.store.All() {
		reqs = append(reqs, r.RequestID)
	}
	if !slices.Equal(reqs, []string{"", "", "", "r1"}) {
		t.Errorf("request IDs: got %q, want the marker's on the last line", reqs)
	}
	// Records are timed by when the lines were printed.
	if got := n.store.All()[2].Time; !got.Equal(since) {
		t.Errorf("time of the function's first line: got %v, want %v", got, since)
	}
}

// TestTailer_Restart stops a Tailer whose records were handed out but not
// stored (a collector that died with them): the next Tailer reads them
// again, numbered and timed the same, so each is stored once.
func TestTailer_Restart(t *testing.T) {
	n := newNode(t)
	now := time.Now().UTC().Add(-time.Minute)
	pod := poolPod("a", "a", "hello", now)
	var es []cri.Entry
	for i := range 10 {
		es = append(es, entry(now.Add(time.Duration(i)*time.Millisecond), "stdout", fmt.Sprintf("line %d", i)))
	}
	es[3].Time = es[2].Time // two lines in the same nanosecond
	es[5] = cri.Entry{Time: es[5].Time, Stream: "stdout", Partial: true, Message: []byte("long ")}
	n.write(pod, es[:6]...)

	first := n.tailer()
	first.Update(pod)
	first.Synced()
	pass(t, first)
	n.mu.Lock()
	n.hold = true // from here, the collector loses what it gets
	n.mu.Unlock()
	n.write(pod, es[6:8]...)
	pass(t, first)
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	n.mu.Lock()
	lost := len(n.held)
	n.hold, n.held = false, nil
	n.mu.Unlock()
	if lost != 2 {
		t.Fatalf("records handed out and not stored: got %d, want 2", lost)
	}

	n.write(pod, es[8:]...)
	second := n.tailer()
	second.Update(pod)
	second.Synced()
	pass(t, second)
	recs := n.store.All()
	var got []string
	for _, r := range recs {
		got = append(got, fmt.Sprintf("%d %s", r.Seq, r.Message))
	}
	want := []string{"1 line 0", "2 line 1", "3 line 2", "4 line 3", "5 line 4", "6 long line 6", "7 line 7", "8 line 8", "9 line 9"}
	if !slices.Equal(got, want) {
		t.Fatalf("stored after the restart: got %v, want %v", got, want)
	}
	if !recs[3].Time.After(recs[2].Time) {
		t.Errorf("lines of the same nanosecond: times %v and %v, want the second 1 ns later", recs[2].Time, recs[3].Time)
	}
}

// TestTailer_Deleted reads a deleted pod to its end, a line the container
// did not end included, then forgets it; a pod deleted while no Tailer
// ran is read to its end too.
func TestTailer_Deleted(t *testing.T) {
	n := newNode(t)
	now := time.Now().UTC()
	a, b := poolPod("a", "a", "hello", now.Add(-time.Minute)), poolPod("b", "b", "hello", now.Add(-time.Minute))
	n.write(a, entry(now, "stdout", "a 1"))
	n.write(b, entry(now, "stdout", "b 1"))
	first := n.tailer()
	first.Update(a)
	first.Update(b)
	first.Synced()
	pass(t, first)
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	// While no Tailer runs, both print their last lines, and b is deleted.
	n.write(a, entry(now.Add(time.Millisecond), "stdout", "a 2"))
	n.write(b, entry(now.Add(time.Millisecond), "stdout", "b 2"), cri.Entry{Time: now.Add(2 * time.Millisecond), Stream: "stdout", Partial: true, Message: []byte("b cut")})

	second := n.tailer()
	second.Update(a) // b is not in the API any more
	second.Synced()
	pass(t, second)
	n.write(a, entry(now.Add(2*time.Millisecond), "stdout", "a 3"))
	second.Delete(a)
	pass(t, second)
	// Deleted by force, a pod leaves the API before its containers stop:
	// its files are read on for Linger.
	n.write(a, entry(now.Add(3*time.Millisecond), "stdout", "a 4"))
	pass(t, second)
	if len(second.list()) != 1 {
		t.Fatalf("pods followed: got %d, want a, deleted and lingering", len(second.list()))
	}
	time.Sleep(100 * time.Millisecond)
	pass(t, second)
	pass(t, second) // forgets what is read and stored
	want := []string{"hello/python-a: a 1", "hello/python-b: b 1", "hello/python-a: a 2", "hello/python-b: b 2", "hello/python-a: a 3",
		"hello/python-b: b cut", "hello/python-a: a 4"}
	if got := n.lines(); !slices.Equal(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	if left, _ := os.ReadDir(n.state); len(left) != 0 {
		t.Errorf("checkpoints left after both pods were read to their end: %v", left)
	}
	if len(second.list()) != 0 {
		t.Errorf("pods still followed: %d", len(second.list()))
	}
}

// BenchmarkTailer reads a pod's log of b.N lines (about 100 bytes each,
// specialized pod) into the in-memory store.
func BenchmarkTailer(b *testing.B) {
	n := &node{t: b, dir: b.TempDir(), state: b.TempDir(), store: logstest.NewMemory()}
	pod := poolPod("a", "a", "hello", time.Now().Add(-time.Hour))
	at := time.Now().Add(-time.Minute)
	var es []cri.Entry
	for i := range b.N {
		es = append(es, entry(at.Add(time.Duration(i)), "stdout", fmt.Sprintf("line %08d of the benchmark, with some text to make it about a hundred bytes long", i)))
	}
	n.write(pod, es...)
	tl := n.tailer()
	tl.Update(pod)
	tl.Synced()
	b.ResetTimer()
	for n.store.Len() < b.N {
		if err := tl.pass(context.Background()); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "lines/s")
}
