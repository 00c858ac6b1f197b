package podlogs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"

	"github.com/lantern-faas/lantern/logs"
	"github.com/lantern-faas/lantern/logs/cri"
	"github.com/lantern-faas/lantern/platform/instance/kubepods"
)

// Config says which pods' logs a Tailer reads, where, and how often.
type Config struct {
	// Dir is the node's pod log folder, /var/log/pods.
	Dir string
	// Node is the node's name: only its pods are read.
	Node string
	// Namespace of the pool pods.
	Namespace string
	// StateDir keeps a checkpoint a pod.
	StateDir string
	// Interval between looks at the files (250 ms).
	Interval time.Duration
	// Settle is how long a line of a pod not marked specialized waits for
	// the mark before it is taken as its environment's (10 s): longer than
	// a specialization and its mark reaching the node take.
	Settle time.Duration
	// Linger is how long a deleted pod's files are still read before the
	// pod is read to its end and forgotten (5 s): a pod deleted by force
	// leaves the API before the kubelet stops its containers.
	Linger time.Duration
	// Capture tunes the lines' capture (rate limit, line lengths); its
	// zero fields get logs.NewCapture's defaults.
	Capture logs.CaptureOptions
}

// DefaultConfig returns the defaults of the zero fields.
func DefaultConfig() Config {
	return Config{Dir: "/var/log/pods", Interval: 250 * time.Millisecond, Settle: 10 * time.Second, Linger: 5 * time.Second}
}

// Validate reports a missing required field.
func (c Config) Validate() error {
	switch {
	case c.Dir == "":
		return errors.New("no pod log folder")
	case c.Node == "":
		return errors.New("no node name: only the node's own pods can be read")
	case c.StateDir == "":
		return errors.New("no state folder for the read positions")
	}
	return nil
}

// Output takes records, waiting while its queue is full; an error stops
// the Tailer (logs.Collector.Add).
type Output func(ctx context.Context, recs []logs.Record) error

// maxPerPass bounds the entries read from one pod in a pass, so that a
// busy pod does not hold up the others.
const maxPerPass = 20000

// Tailer reads the logs of the pool pods of one node. Update and Delete
// tell it about pods (Watch does from an informer), Run reads, Written
// tells it what the store holds, Close saves where it stands.
type Tailer struct {
	cfg     Config
	joinMax int // the longest line joined: longer, the capture truncates it
	out     Output
	log     *slog.Logger
	m       *metrics
	capture *logs.Capture
	batch   []logs.Record // the records of one pod's pass, in capture order
	synced  chan struct{}

	mu      sync.Mutex
	pods    map[string]*pod   // by UID
	written map[string]uint64 // instance → the highest seq the store holds
}

// pod is what the Tailer knows of one pod.
type pod struct {
	// Under Tailer.mu.
	namespace, name, uid string
	id                   Identity
	gone                 bool      // deleted (or absent at the start): read to the end
	goneAt               time.Time // when it was seen deleted; zero: long before
	seen                 bool      // in the API since the Tailer started

	// The reading loop's own.
	fl      *cri.Follower
	joiner  cri.Joiner
	start   checkpoint // where reading starts
	pending []snapshot // read, not yet all stored
	ended   bool       // gone and read to its end
	failing bool       // the last look at its files failed
}

// snapshot is the checkpoint after a pass, good once the store holds the
// instance's records up to seq.
type snapshot struct {
	seq uint64
	cp  checkpoint
}

// New returns a Tailer that sends records to out, picking up the
// checkpoints in cfg.StateDir.
func New(cfg Config, out Output, logger *slog.Logger, reg prometheus.Registerer) (*Tailer, error) {
	d := DefaultConfig()
	if cfg.Dir == "" {
		cfg.Dir = d.Dir
	}
	if cfg.Interval <= 0 {
		cfg.Interval = d.Interval
	}
	if cfg.Settle <= 0 {
		cfg.Settle = d.Settle
	}
	if cfg.Linger <= 0 {
		cfg.Linger = d.Linger
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if err := os.MkdirAll(cfg.StateDir, 0o700); err != nil {
		return nil, fmt.Errorf("pod logs state folder: %w", err)
	}
	t := &Tailer{cfg: cfg, out: out, log: logger, m: newMetrics(reg), synced: make(chan struct{}),
		pods: map[string]*pod{}, written: map[string]uint64{}}
	copts := cfg.Capture
	copts.Registerer = reg
	t.capture = logs.NewCapture(copts, func(r logs.Record) { t.batch = append(t.batch, r) })
	t.joinMax = t.capture.MaxLineLen() + 1
	cps, bad, err := loadCheckpoints(cfg.StateDir)
	if err != nil {
		return nil, fmt.Errorf("pod logs checkpoints: %w", err)
	}
	for _, err := range bad {
		t.log.Warn("pod log checkpoint unreadable: its pod is read from its start", "err", err)
	}
	for _, cp := range cps {
		p := &pod{namespace: cp.Namespace, name: cp.Pod, uid: cp.UID, id: cp.Identity, start: *cp}
		t.pods[cp.UID] = p
		t.written[cp.Identity.Instance] = cp.Capture.Seq
	}
	return t, nil
}

// Update tells the Tailer about a pod it should read (added or changed).
func (t *Tailer) Update(o *corev1.Pod) { t.observe(o, false) }

// Delete tells the Tailer a pod is gone: it is read to its end and
// forgotten.
func (t *Tailer) Delete(o *corev1.Pod) { t.observe(o, true) }

func (t *Tailer) observe(o *corev1.Pod, deleted bool) {
	id, ok := identityOf(o, time.Now())
	if !ok || o.Spec.NodeName != t.cfg.Node {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	p := t.pods[string(o.UID)]
	if p == nil { // a pod seen first deleted is read all the same
		p = &pod{namespace: o.Namespace, name: o.Name, uid: string(o.UID), id: id,
			start: checkpoint{Namespace: o.Namespace, Pod: o.Name, UID: string(o.UID)}}
		t.pods[p.uid] = p
		t.written[id.Instance] = 0
	}
	p.id, p.seen = merge(p.id, id), true
	if deleted && !p.gone {
		p.gone, p.goneAt = true, time.Now()
	}
}

// Synced tells the Tailer that it has been told of every pod that exists:
// the pods of its checkpoints it has not been told of were deleted while
// nobody read, and are read to their end. Run reads once Synced.
func (t *Tailer) Synced() {
	t.mu.Lock()
	defer t.mu.Unlock()
	select {
	case <-t.synced:
		return // told before
	default:
	}
	for _, p := range t.pods {
		if !p.seen {
			p.gone = true
		}
	}
	close(t.synced)
}

// Written tells the Tailer that the store holds recs (logs.Collector's
// SetWritten): the checkpoints before them can be kept.
func (t *Tailer) Written(recs []logs.Record) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, r := range recs {
		if s, ok := t.written[r.Instance]; ok && r.Seq > s {
			t.written[r.Instance] = r.Seq
		}
	}
}

// Run reads the pods' logs until ctx ends or out fails; it returns nil
// when ctx ends. Call Close once out's records are stored, to keep the
// last checkpoints.
func (t *Tailer) Run(ctx context.Context) error {
	select {
	case <-ctx.Done():
		return nil
	case <-t.synced:
	}
	tick := time.NewTicker(t.cfg.Interval)
	defer tick.Stop()
	for {
		if err := t.pass(ctx); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}

// Close keeps the checkpoints of what the store holds and closes the
// files.
func (t *Tailer) Close() error {
	t.commit()
	for _, p := range t.list() {
		if p.fl != nil {
			p.fl.Close()
		}
	}
	return nil
}

// list returns the pods, for the reading loop.
func (t *Tailer) list() []*pod {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]*pod, 0, len(t.pods))
	for _, p := range t.pods {
		out = append(out, p)
	}
	return out
}

// pass reads every pod once and keeps the checkpoints the store allows.
func (t *Tailer) pass(ctx context.Context) error {
	pods := t.list()
	t.m.pods.Set(float64(len(pods)))
	for _, p := range pods {
		if p.ended {
			continue
		}
		if err := t.read(ctx, p); err != nil {
			return err
		}
	}
	t.commit()
	return nil
}

// read reads what is new in one pod's log and hands its records out.
func (t *Tailer) read(ctx context.Context, p *pod) error {
	t.mu.Lock()
	id, gone := p.id, p.gone
	// A deleted pod's files are read on for Linger, then to their end.
	final := gone && time.Since(p.goneAt) >= t.cfg.Linger
	t.mu.Unlock()
	if p.fl == nil {
		dir := filepath.Join(t.cfg.Dir, key(p.namespace, p.name, p.uid), kubepods.Container)
		p.fl = cri.NewFollower(dir, p.start.Position)
		p.joiner.Max = t.joinMax
		p.joiner.Restore(p.start.Partial)
		t.capture.Restore(id.Instance, p.start.Capture)
	}
	if final {
		p.fl.Done()
	}
	// Lines a pod not (yet) marked printed in the last Settle wait for the
	// mark, in the file.
	hold := time.Now().Add(-t.cfg.Settle)
	moved, end := false, false
	for range maxPerPass {
		e, err := p.fl.Peek()
		if errors.Is(err, cri.ErrMalformed) {
			t.m.malformed.Inc()
			moved = true
			continue
		}
		if err != nil {
			end = errors.Is(err, io.EOF)
			if !end && !p.failing {
				t.log.Warn("read a pod's log", "pod", p.namespace+"/"+p.name, "err", err)
			}
			p.failing = !end
			break
		}
		if !gone && !id.Specialized() && e.Time.After(hold) {
			break
		}
		_, _ = p.fl.Next()
		moved = true
		t.m.entries.Inc()
		if l, ok := p.joiner.Add(e); ok {
			t.emit(id, l)
		}
	}
	if final && end {
		for _, l := range p.joiner.Pending() { // the container ended mid-line
			t.emit(id, l)
		}
		p.ended, moved = true, true
	}
	if len(t.batch) > 0 {
		err := t.out(ctx, t.batch)
		t.batch = t.batch[:0]
		if err != nil {
			return fmt.Errorf("pod logs: hand lines to the collector: %w", err)
		}
	}
	if moved {
		st := t.capture.State(id.Instance)
		p.pending = append(p.pending, snapshot{seq: st.Seq, cp: checkpoint{Namespace: p.namespace, Pod: p.name, UID: p.uid,
			Position: p.fl.Position(), Partial: p.joiner.State(), Capture: st}})
	}
	return nil
}

// emit captures one line with the identity it belongs to.
func (t *Tailer) emit(id Identity, l cri.Line) {
	t.capture.LineAt(id.Attribute(l.Time), l.Stream, l.Text, l.Time)
}

// commit moves each pod's checkpoint to its last snapshot whose records
// the store holds, saves the checkpoints that moved, and forgets the pods
// read to their end whose records are all stored.
func (t *Tailer) commit() {
	var save []*checkpoint
	var done []*pod
	t.mu.Lock()
	for _, p := range t.pods {
		w := t.written[p.id.Instance]
		n := 0
		for n < len(p.pending) && p.pending[n].seq <= w {
			n++
		}
		var cp *checkpoint // the newest the store has written
		if n > 0 {
			c := p.pending[n-1].cp
			cp = &c
			p.pending = p.pending[n:]
		}
		switch {
		case p.ended && len(p.pending) == 0:
			done = append(done, p)
			delete(t.pods, p.uid)
			delete(t.written, p.id.Instance)
		case cp != nil:
			cp.Identity = p.id
			save = append(save, cp)
		}
	}
	t.mu.Unlock()
	for _, cp := range save {
		if err := cp.save(t.cfg.StateDir); err != nil {
			t.log.Warn("keep a pod log checkpoint", "pod", cp.Namespace+"/"+cp.Pod, "err", err)
		}
	}
	for _, p := range done {
		if err := removeCheckpoint(t.cfg.StateDir, key(p.namespace, p.name, p.uid)); err != nil {
			t.log.Warn("remove a pod log checkpoint", "pod", p.namespace+"/"+p.name, "err", err)
		}
		if p.fl != nil {
			p.fl.Close()
		}
		t.capture.Forget(p.id.Instance)
		t.log.Debug("pod log read to its end", "pod", p.namespace+"/"+p.name)
	}
}
