package podlogs

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/lantern-faas/lantern/logs"
	"github.com/lantern-faas/lantern/platform/instance/kubepods"
)

// TagPrefix starts the tag of pool pod lines a node agent forwards:
// Fluentd's in_tail with `tag lantern.pod.*` tags each line with its
// file's path, dots for slashes
// (lantern.pod.var.log.pods.<namespace>_<pod>_<uid>.runtime.0.log).
const TagPrefix = "lantern.pod."

// Forwarded attributes the pool pod lines a node agent (Fluentd) tails
// and forwards to the collector: records with a stream, a message and the
// line's CRI time, and the file in their tag. It knows the pods from an
// informer on the namespace (WatchForwarded) and attributes a line as the
// Tailer does; a line of a pod not marked yet waits in memory (the agent
// has its acknowledgement) for Settle, at most maxHeld lines in all.
//
// It gives weaker guarantees than the Tailer, which reads the files
// itself: the agent's acknowledgement comes once a line is queued, and a
// line the agent sends again is stored again.
type Forwarded struct {
	namespace string
	settle    time.Duration
	out       Output
	log       *slog.Logger

	mu      sync.Mutex // also serializes the capture: out collects its records
	capture *logs.Capture
	batch   []logs.Record
	pods    map[types.UID]*fwdPod
}

type fwdPod struct {
	// id is what the API says of the pod, or, until it is seen there, what
	// its name and folder tell.
	id      Identity
	known   bool          // seen in the API
	goneAt  time.Time     // deleted at; its identity is kept a while for late lines
	held    []logs.Record // lines waiting for the pod's mark
	lastUse time.Time
}

// maxHeld bounds the lines waiting for marks; beyond, the oldest go on as
// their environment's.
const maxHeld = 20000

// forgetAfter is how long a deleted pod's identity is kept for the agent's
// late lines.
const forgetAfter = 10 * time.Minute

// NewForwarded returns a Forwarded for the pool pods of namespace; lines
// released after waiting go to out.
func NewForwarded(namespace string, settle time.Duration, out Output, logger *slog.Logger, reg prometheus.Registerer) *Forwarded {
	if settle <= 0 {
		settle = DefaultConfig().Settle
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	f := &Forwarded{namespace: namespace, settle: settle, out: out, log: logger, pods: map[types.UID]*fwdPod{}}
	f.capture = logs.NewCapture(logs.CaptureOptions{Registerer: reg}, func(r logs.Record) { f.batch = append(f.batch, r) })
	return f
}

// Update tells f about a pool pod (added or changed).
func (f *Forwarded) Update(o *corev1.Pod) { f.observe(o, false) }

// Delete tells f a pool pod is gone; its identity is kept a while.
func (f *Forwarded) Delete(o *corev1.Pod) { f.observe(o, true) }

func (f *Forwarded) observe(o *corev1.Pod, deleted bool) {
	id, ok := identityOf(o, time.Now())
	if !ok {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	p := f.pods[o.UID]
	if p == nil {
		p = &fwdPod{}
		f.pods[o.UID] = p
	}
	p.id, p.known, p.lastUse = merge(p.id, id), true, time.Now()
	if deleted && p.goneAt.IsZero() {
		p.goneAt = time.Now()
	}
}

// Rewrite is the collector's rewrite (logs.Collector.SetRewrite): records
// of a TagPrefix tag are attributed (or wait); others pass unchanged.
func (f *Forwarded) Rewrite(tag string, recs []logs.Record) []logs.Record {
	rest, ok := strings.CutPrefix(tag, TagPrefix)
	if !ok {
		return recs
	}
	ns, pod, uid, ok := parseTag(rest)
	if !ok || ns != f.namespace {
		f.log.Debug("forwarded lines dropped: not a pool pod's runtime log", "tag", tag)
		return nil
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	p := f.pods[types.UID(uid)]
	if p == nil {
		p = &fwdPod{id: Identity{Instance: strings.TrimPrefix(pod, kubepods.PodNamePrefix), EnvironmentNamespace: ns}}
		f.pods[types.UID(uid)] = p
	}
	p.lastUse = time.Now()
	hold := time.Now().Add(-f.settle)
	for _, r := range recs {
		// Wait for the mark while the pod is not marked, not gone and the
		// line is recent, or lines of the pod already wait (in order).
		if len(p.held) > 0 || (p.goneAt.IsZero() && !p.id.Specialized() && r.Time.After(hold)) {
			p.held = append(p.held, r)
			continue
		}
		f.emit(p, r)
	}
	out := f.batch
	f.batch = nil
	return out
}

// emit captures one forwarded line with its pod's identity. f.mu must be
// held.
func (f *Forwarded) emit(p *fwdPod, r logs.Record) {
	f.capture.LineAt(p.id.Attribute(r.Time), r.Stream, []byte(r.Message), r.Time)
}

// Run releases the lines that waited, once their pod is marked, gone or
// the lines older than Settle, and forgets pods gone long ago, until ctx
// ends.
func (f *Forwarded) Run(ctx context.Context) error {
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
		if recs := f.release(time.Now()); len(recs) > 0 {
			if err := f.out(ctx, recs); err != nil {
				if ctx.Err() != nil {
					return nil
				}
				return err
			}
		}
	}
}

// release returns the records of the lines that need not wait any more.
func (f *Forwarded) release(now time.Time) []logs.Record {
	f.mu.Lock()
	defer f.mu.Unlock()
	held := 0
	for _, p := range f.pods {
		held += len(p.held)
	}
	hold := now.Add(-f.settle)
	for uid, p := range f.pods {
		n := 0
		for n < len(p.held) && (p.id.Specialized() || !p.goneAt.IsZero() || !p.held[n].Time.After(hold) || held > maxHeld) {
			f.emit(p, p.held[n])
			n++
			held--
		}
		p.held = p.held[n:]
		if len(p.held) == 0 && now.Sub(p.lastUse) > forgetAfter && (!p.goneAt.IsZero() || !p.known) {
			delete(f.pods, uid)
			f.capture.Forget(p.id.Instance)
		}
	}
	out := f.batch
	f.batch = nil
	return out
}

// parseTag reads namespace, pod and UID from a forwarded file's path
// (the tag after TagPrefix): the part before the runtime container's
// folder, <namespace>_<pod>_<uid>.
func parseTag(path string) (ns, pod, uid string, ok bool) {
	parts := strings.Split(path, ".")
	for i := len(parts) - 2; i >= 0; i-- {
		if parts[i+1] != kubepods.Container {
			continue
		}
		f := strings.Split(parts[i], "_")
		if len(f) == 3 && f[0] != "" && f[1] != "" && f[2] != "" {
			return f[0], f[1], f[2], true
		}
	}
	return "", "", "", false
}
