package logs

import (
	"bytes"
	"maps"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// InstanceMeta identifies the instance a line comes from.
type InstanceMeta struct {
	Namespace   string
	Function    string
	Environment string
	Instance    string
}

// CaptureOptions tune a Capture. Zero fields take the values of
// DefaultCaptureOptions.
type CaptureOptions struct {
	// RateLimit is the sustained number of lines per second kept per function
	// (across its instances); lines above it are dropped and counted. A
	// negative value disables rate limiting.
	RateLimit float64
	// Burst is the number of lines a function may print at once above the
	// sustained rate.
	Burst int
	// MaxLineBytes is the largest message of one Record; longer lines are
	// split into chunks ending with ContinuedMarker.
	MaxLineBytes int
	// MaxLineChunks caps the chunks of one line; the rest of a longer line is
	// dropped (reason too_long) and the last chunk ends with TruncatedMarker.
	MaxLineChunks int
	// Registerer receives the metrics; nil means no metrics.
	Registerer prometheus.Registerer
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// DefaultCaptureOptions returns the defaults: 1000 lines/s per function with
// a burst of 5000, 64 KiB per record, at most 16 chunks (1 MiB) per line.
func DefaultCaptureOptions() CaptureOptions {
	return CaptureOptions{RateLimit: 1000, Burst: 5000, MaxLineBytes: 64 << 10, MaxLineChunks: 16, Now: time.Now}
}

func (o CaptureOptions) withDefaults() CaptureOptions {
	d := DefaultCaptureOptions()
	if o.RateLimit == 0 {
		o.RateLimit = d.RateLimit
	}
	if o.Burst <= 0 {
		o.Burst = d.Burst
	}
	if o.MaxLineBytes <= 0 {
		o.MaxLineBytes = d.MaxLineBytes
	}
	o.MaxLineBytes = max(o.MaxLineBytes, 4*len(ContinuedMarker))
	if o.MaxLineChunks <= 0 {
		o.MaxLineChunks = d.MaxLineChunks
	}
	if o.Now == nil {
		o.Now = d.Now
	}
	return o
}

// Capture turns raw instance output lines into Records and hands them to its
// output function. It never blocks beyond the output function, which must
// itself not block (Shipper.Ship does not). Safe for concurrent use.
type Capture struct {
	opts CaptureOptions
	out  func(Record)
	m    *captureMetrics

	mu        sync.Mutex
	instances map[string]*instanceState
	limiters  map[[2]string]*tokenBucket
}

// instanceState is what Capture remembers about one instance.
type instanceState struct {
	mu   sync.Mutex
	seq  uint64
	last time.Time
	// open holds, per stream, the open request IDs → trace IDs. Each
	// stream is framed by its own markers: the two pipes are read apart, so
	// only markers on the same stream order lines reliably.
	open map[string]map[string]string
	// limiter is its function's rate limit, shared by the function's
	// instances, for the function of limKey (an instance prints for its
	// environment before it is specialized); nil when lines are not
	// limited.
	limiter *tokenBucket
	limKey  [2]string
}

// InstanceState is what a Capture keeps of an instance between its lines:
// its last sequence number and time, and the requests open on each stream.
// Restored in another Capture (after a restart) that reads on from the
// same point of the instance's output, it numbers, times and attributes
// the next lines as the first Capture would have.
type InstanceState struct {
	Seq  uint64    `json:"seq"`
	Last time.Time `json:"last,omitzero"`
	// Open maps a stream to its open request IDs and their trace IDs.
	Open map[string]map[string]string `json:"open,omitempty"`
}

// NewCapture returns a Capture that calls out, in capture order per instance,
// for every record. out is called with the instance's lock held: it must not
// block or call back into the Capture.
func NewCapture(opts CaptureOptions, out func(Record)) *Capture {
	return &Capture{
		opts:      opts.withDefaults(),
		out:       out,
		m:         newCaptureMetrics(opts.Registerer),
		instances: make(map[string]*instanceState),
		limiters:  make(map[[2]string]*tokenBucket),
	}
}

// Line captures one line that the instance printed on stream (StreamStdout or
// StreamStderr). A trailing newline is removed. Marker lines (MarkerPrefix)
// update request attribution and are not emitted. text is not retained.
func (c *Capture) Line(meta InstanceMeta, stream string, text []byte) {
	c.LineAt(meta, stream, text, time.Time{})
}

// LineAt is Line for output read after the fact, such as a container's log
// file: at, when the instance printed the line, is the record's time (kept
// strictly increasing per instance) and the rate limiter's clock, so that
// reading a backlog neither re-times its lines nor drops them for being
// read quickly. A zero at is now.
func (c *Capture) LineAt(meta InstanceMeta, stream string, text []byte, at time.Time) {
	text = trimNewline(text)
	st := c.instance(meta.Instance)
	if bytes.HasPrefix(text, []byte(MarkerPrefix)) {
		if m, ok := parseMarker(text); ok {
			st.apply(stream, m)
			return
		}
	}
	chunks, truncated := splitLine(text, c.opts.MaxLineBytes, c.opts.MaxLineChunks)
	if truncated {
		c.m.tooLong.Inc()
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	c.limit(st, meta, at)
	requestID, traceID := st.attribution(stream)
	for _, msg := range chunks {
		now := at
		if now.IsZero() {
			now = c.opts.Now()
		}
		if st.limiter != nil && !st.limiter.allow(now) {
			c.m.rateLimited.Inc()
			continue
		}
		// Strictly increasing per instance, so (instance, time) is unique.
		if !now.After(st.last) {
			now = st.last.Add(time.Nanosecond)
		}
		st.last = now
		st.seq++
		c.out(Record{
			Time:        now,
			Namespace:   meta.Namespace,
			Function:    meta.Function,
			Environment: meta.Environment,
			Instance:    meta.Instance,
			Stream:      stream,
			Message:     msg,
			RequestID:   requestID,
			TraceID:     traceID,
			Seq:         st.seq,
		})
		c.m.captured.Inc()
	}
}

// MaxLineLen is the longest line the Capture keeps whole (in chunks);
// the rest of a longer one is dropped.
func (c *Capture) MaxLineLen() int { return c.opts.MaxLineBytes * c.opts.MaxLineChunks }

// State returns what the Capture keeps of an instance, to Restore later.
func (c *Capture) State(instance string) InstanceState {
	st := c.instance(instance)
	st.mu.Lock()
	defer st.mu.Unlock()
	out := InstanceState{Seq: st.seq, Last: st.last}
	for stream, open := range st.open {
		if len(open) == 0 {
			continue
		}
		if out.Open == nil {
			out.Open = make(map[string]map[string]string)
		}
		out.Open[stream] = maps.Clone(open)
	}
	return out
}

// Restore makes the Capture go on from s for an instance, as a Capture
// that saved s with State would have.
func (c *Capture) Restore(instance string, s InstanceState) {
	st := c.instance(instance)
	st.mu.Lock()
	defer st.mu.Unlock()
	st.seq, st.last = s.Seq, s.Last
	st.open = make(map[string]map[string]string, len(s.Open))
	for stream, open := range s.Open {
		st.open[stream] = maps.Clone(open)
	}
}

// Forget drops what the Capture remembers about an instance (sequence number,
// open requests). Call it when the instance is gone.
func (c *Capture) Forget(instance string) {
	c.mu.Lock()
	delete(c.instances, instance)
	c.mu.Unlock()
}

// instance returns what the Capture keeps of an instance, made on its
// first line.
func (c *Capture) instance(id string) *instanceState {
	c.mu.Lock()
	defer c.mu.Unlock()
	st, ok := c.instances[id]
	if !ok {
		st = &instanceState{open: make(map[string]map[string]string)}
		c.instances[id] = st
	}
	return st
}

// limit gives st the rate limiter of the function meta names, found once
// per function the instance prints for (its environment's, then the one it
// is specialized for). st.mu must be held.
func (c *Capture) limit(st *instanceState, meta InstanceMeta, at time.Time) {
	key := [2]string{meta.Namespace, meta.Function}
	if c.opts.RateLimit < 0 || (st.limiter != nil && st.limKey == key) {
		return
	}
	c.mu.Lock()
	b, ok := c.limiters[key]
	if !ok {
		if at.IsZero() {
			at = c.opts.Now()
		}
		b = newTokenBucket(c.opts.RateLimit, c.opts.Burst, at)
		c.limiters[key] = b
	}
	c.mu.Unlock()
	st.limiter, st.limKey = b, key
}

// apply records a request starting or ending on one stream.
func (st *instanceState) apply(stream string, m marker) {
	st.mu.Lock()
	defer st.mu.Unlock()
	open := st.open[stream]
	if open == nil {
		open = make(map[string]string)
		st.open[stream] = open
	}
	switch m.command {
	case markerReqStart:
		open[m.requestID] = m.traceID
	case markerReqEnd:
		delete(open, m.requestID)
	}
}

// attribution returns the request the instance is serving according to
// stream's markers, if exactly one.
func (st *instanceState) attribution(stream string) (requestID, traceID string) {
	open := st.open[stream]
	if len(open) != 1 {
		return "", ""
	}
	for id, trace := range open {
		return id, trace
	}
	return "", ""
}
