package router

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net/http"
	"net/url"
	"sync"
	"syscall"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/lantern-faas/lantern/platform/api"
	"github.com/lantern-faas/lantern/platform/internal/httpx"
)

// target is what a request resolved to.
type target struct {
	ns, name, subpath string
	trigger           string
	params            map[string]string // route parameters by name
	paramHeaders      map[string]string // their header names, by name
}

// errFunctionTimeout cancels a call that did not answer within fntimeout.
var errFunctionTimeout = errors.New("function timeout")

// call is the per-attempt state shared with the reverse proxy's hooks.
type call struct {
	rec   *recorder
	fn    *api.Function
	be    *backend
	tgt   target
	err   error
	timer *time.Timer
	// callerTrace: the caller sent a trace context, which the function
	// continues.
	callerTrace bool
}

func (s *Server) serveFunction(w http.ResponseWriter, r *http.Request, tgt target) {
	// A caller's trace continues through Lantern; a malformed traceparent
	// is ignored and starts a new trace.
	ctx := r.Context()
	callerTrace := s.hasTraceContext(r.Header)
	if callerTrace {
		ctx = s.prop.Extract(ctx, propagation.HeaderCarrier(r.Header))
	}
	ctx, span := s.tracer.Start(ctx, "router.request", serverSpan...)
	defer span.End()
	if span.IsRecording() {
		span.SetAttributes(attribute.String("http.request.method", r.Method),
			attribute.String("lantern.namespace", tgt.ns), attribute.String("lantern.function", tgt.name))
	}
	if sc := span.SpanContext(); sc.HasTraceID() {
		id := sc.TraceID().String()
		r.Header.Set(httpx.RequestIDHeader, id)
		w.Header().Set(httpx.RequestIDHeader, id)
	} else {
		httpx.SetRequestID(w, r) // tracing is off
	}
	fn, err := s.function(ctx, tgt)
	if err != nil {
		span.SetStatus(codes.Error, "function not found")
		writeError(w, r, err)
		return
	}
	rw := &statusWriter{ResponseWriter: w}
	rec := s.metrics.start(fn, tgt.trigger, r.Method)
	defer func() {
		rec.done(rw.code(), rw.size, span.SpanContext())
		if span.IsRecording() {
			span.SetAttributes(attribute.Int("http.response.status_code", rw.code()))
			if rw.code() >= 500 {
				span.SetStatus(codes.Error, http.StatusText(rw.code()))
			}
		}
	}()
	s.callFunction(ctx, rw, r, fn, tgt, rec, callerTrace)
}

// function returns the target's function, waiting a moment for one
// created just before the call (see retryFresh).
func (s *Server) function(ctx context.Context, tgt target) (*api.Function, error) {
	fn, _ := retryFresh(ctx, s, func() (*api.Function, bool) {
		f := s.objs.Function(tgt.ns, tgt.name)
		return f, f != nil
	})
	if fn == nil {
		return nil, httpx.Errorf(http.StatusNotFound, "function %q not found in namespace %q", tgt.name, tgt.ns)
	}
	return fn, nil
}

// callFunction acquires an instance and proxies, retrying on another
// instance when connecting fails.
func (s *Server) callFunction(ctx context.Context, w http.ResponseWriter, r *http.Request, fn *api.Function, tgt target, rec *recorder, callerTrace bool) {
	if r.ContentLength > s.cfg.MaxBodyBytes {
		writeError(w, r, httpx.Errorf(http.StatusRequestEntityTooLarge, "request body of %d bytes is larger than the limit of %d bytes", r.ContentLength, s.cfg.MaxBodyBytes))
		return
	}
	var body *trackingBody
	if r.Body != nil && r.Body != http.NoBody {
		body = &trackingBody{rc: http.MaxBytesReader(w, r.Body, s.cfg.MaxBodyBytes)}
		r.Body = body
	}
	// fntimeout bounds the time to the response's headers; a stream that
	// has started runs for as long as the client stays.
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	b := s.balancerFor(fn)
	resent := false
	for attempt := 0; ; attempt++ {
		timer := time.AfterFunc(fn.Spec.FunctionTimeoutDuration(), func() { cancel(errFunctionTimeout) })
		actx, aspan := s.child(ctx, "router.get_instance")
		be, hit, err := b.acquire(actx, fn)
		if aspan.IsRecording() {
			aspan.SetAttributes(attribute.Bool("lantern.cache_hit", hit))
		}
		if !hit {
			rec.cacheMiss()
		}
		if err != nil {
			aspan.SetStatus(codes.Error, err.Error())
			aspan.End()
			timer.Stop()
			if context.Cause(ctx) == errFunctionTimeout {
				err = httpx.Errorf(http.StatusGatewayTimeout, "function %q got no instance within its timeout of %ds", fn.Metadata.Name, fn.Spec.FunctionTimeout)
			}
			if r.Context().Err() == nil {
				writeError(w, r, err)
			}
			return
		}
		if aspan.IsRecording() {
			aspan.SetAttributes(attribute.String("lantern.instance", be.ID))
		}
		aspan.End()
		c := &call{fn: fn, be: be, tgt: tgt, timer: timer, rec: rec, callerTrace: callerTrace}
		pctx, pspan := s.child(ctx, "router.proxy", clientSpan...)
		if pspan.IsRecording() {
			pspan.SetAttributes(attribute.String("lantern.instance", be.ID), attribute.Int("lantern.attempt", attempt))
		}
		s.proxyOnce(pctx, w, r, b, c)
		if c.err != nil {
			pspan.SetStatus(codes.Error, c.err.Error())
		}
		pspan.End()
		if c.err == nil {
			return
		}
		retry := isDialError(c.err) && (body == nil || !body.touched)
		if !retry && !resent && body == nil && idempotent(r.Method) && isConnLost(c.err) {
			// An idempotent call without a body whose connection died before
			// any answer (an instance killed while idle) is resent once.
			retry, resent = true, true
		}
		if retry && attempt < s.cfg.MaxRetries {
			// The instance is gone: forget it, let the poolmgr clean up, retry.
			s.logger.WarnContext(ctx, "instance unreachable, retrying", "function", fn.Metadata.Name, "instance", be.ID, "err", c.err)
			b.drop(be.ID)
			s.upstreams.closeIdle(be.Address)
			go s.removeInstance(be.ID, api.ReasonCrash)
			continue
		}
		s.proxyFailed(w, r, ctx, c)
		return
	}
}

// child starts a span under the call's span when that one is recorded; an
// unrecorded call (most of them, at the default sampling) costs no more
// spans than its own.
func (s *Server) child(ctx context.Context, name string, opts ...trace.SpanStartOption) (context.Context, trace.Span) {
	if !trace.SpanFromContext(ctx).IsRecording() {
		return ctx, noSpan
	}
	return s.tracer.Start(ctx, name, opts...)
}

// Span kinds, made once and passed as slices: an option or a variadic
// slice made per call is an allocation.
var (
	serverSpan = []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKindServer)}
	clientSpan = []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKindClient)}
)

// noSpan is a span that records nothing.
var noSpan = trace.SpanFromContext(context.Background())

// proxyFailed answers for an attempt that got no response.
func (s *Server) proxyFailed(w http.ResponseWriter, r *http.Request, ctx context.Context, c *call) {
	name := c.fn.Metadata.Name
	var mbe *http.MaxBytesError
	switch {
	case context.Cause(ctx) == errFunctionTimeout:
		// The instance may be stuck: recycle it.
		s.balancerFor(c.fn).drop(c.be.ID)
		s.upstreams.closeIdle(c.be.Address)
		go s.removeInstance(c.be.ID, api.ReasonTimeout)
		writeError(w, r, httpx.Errorf(http.StatusGatewayTimeout, "function %q did not answer within its timeout of %ds", name, c.fn.Spec.FunctionTimeout).
			WithHint("raise it with 'lantern fn update --fntimeout N'"))
	case r.Context().Err() != nil:
		// The client went away; the upstream call was cancelled with it.
	case errors.As(c.err, &mbe):
		writeError(w, r, httpx.Errorf(http.StatusRequestEntityTooLarge, "request body is larger than the limit of %d bytes", mbe.Limit))
	default:
		writeError(w, r, httpx.Errorf(http.StatusBadGateway, "function %q failed before answering: %v (the instance may have crashed; see its logs)", name, c.err))
	}
}

func (s *Server) removeInstance(id, reason string) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.instances.RemoveInstance(ctx, id, reason); err != nil {
		s.logger.Debug("remove instance", "instance", id, "err", err)
	}
}

// proxyOnce makes one attempt on c.be and streams the answer to w. It sets
// c.err when no response arrived. The slot is released even when the
// response is aborted because the instance broke off mid-stream.
func (s *Server) proxyOnce(ctx context.Context, w http.ResponseWriter, r *http.Request, b *balancer, c *call) {
	defer b.release(c.be)
	defer c.timer.Stop()
	hasBody := r.Body != nil && r.Body != http.NoBody
	var (
		uc   *upConn
		resp *http.Response
		stop func() bool
		err  error
	)
	for try := 0; ; try++ {
		if uc, err = s.upstreams.get(ctx, c.be.Address); err != nil {
			c.err = err
			return
		}
		c.rec.forwarded()
		resp, stop, err = uc.roundTrip(ctx, r, func(bw *bufio.Writer) error { return s.writeRequest(ctx, bw, r, c) })
		if err == nil {
			break
		}
		stop()
		_ = uc.Close()
		// A kept-alive connection the instance had closed: once, on a
		// fresh connection, if nothing of the body was sent.
		if uc.reused && try == 0 && isConnLost(err) && !hasBody {
			continue
		}
		if tb, ok := r.Body.(*trackingBody); ok && tb.err != nil {
			err = tb.err // reading the caller's body failed (too large, cut off)
		}
		c.err = err
		return
	}
	c.timer.Stop() // the answer started: the stream may run as long as the client stays
	removeHopHeaders(resp.Header)
	resp.Header.Del(httpx.RequestIDHeader) // the router already set its own
	wh := w.Header()
	for k, v := range resp.Header {
		wh[k] = v
	}
	w.WriteHeader(resp.StatusCode)
	copyErr := copyBody(w, resp)
	_ = resp.Body.Close()
	stop()
	if copyErr == nil && !resp.Close && ctx.Err() == nil {
		s.upstreams.put(uc)
		return
	}
	_ = uc.Close()
	if copyErr != nil && r.Context().Err() == nil {
		// The instance broke off mid-answer: abort the client's response so
		// it cannot look complete.
		panic(http.ErrAbortHandler)
	}
}

// copyBody copies the response body. A body of unknown length (chunked,
// server-sent events) is flushed chunk by chunk so that streams reach the
// client as they are produced; a body of known length is written through.
func copyBody(w http.ResponseWriter, resp *http.Response) error {
	bp := buffers.Get().(*[]byte)
	defer buffers.Put(bp)
	buf := *bp
	stream := resp.ContentLength < 0
	rc := http.NewResponseController(w)
	for {
		n, err := resp.Body.Read(buf)
		if n > 0 {
			if _, werr := w.Write(buf[:n]); werr != nil {
				return werr
			}
			if stream {
				_ = rc.Flush()
			}
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// isDialError reports a failure to connect, the only error safe to retry.
func isDialError(err error) bool {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	return errors.Is(err, syscall.ECONNREFUSED)
}

// isConnLost reports a connection that broke before any response.
func isConnLost(err error) bool {
	return errors.Is(err, syscall.ECONNRESET) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.EPIPE)
}

func idempotent(method string) bool {
	return method == http.MethodGet || method == http.MethodHead || method == http.MethodOptions
}

// trackingBody notes whether any of the request body was read, so that a
// retry never resends a half-consumed body. Close is ignored: the transport
// closes bodies on errors, and a retry needs it open.
type trackingBody struct {
	rc      io.ReadCloser
	touched bool
	err     error // the last read error other than EOF
}

func (t *trackingBody) Read(p []byte) (int, error) {
	t.touched = true
	n, err := t.rc.Read(p)
	if err != nil && err != io.EOF {
		t.err = err
	}
	return n, err
}

func (t *trackingBody) Close() error { return nil }

// statusWriter records the status and body size of a response. It unwraps
// for http.ResponseController, so flushing (streaming) still works.
type statusWriter struct {
	http.ResponseWriter
	status int
	size   int64
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(p)
	w.size += int64(n)
	return n, err
}

func (w *statusWriter) Flush() { _ = http.NewResponseController(w.ResponseWriter).Flush() }

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// code is the status sent, or 499 when the client left before any.
func (w *statusWriter) code() int {
	if w.status == 0 {
		return 499
	}
	return w.status
}

// buffers are the copy buffers of responses.
var buffers = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}
