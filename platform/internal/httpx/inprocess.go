package httpx

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
)

// InProcess is an http.RoundTripper that hands each request to a handler in
// the same process. `lanternd all` gives it to the queue triggers, the timer
// and the asynchronous deliveries, so that their calls reach the router
// without a loopback connection: no second TCP hop, no request written and
// parsed twice. The callers still speak HTTP, as they do to a router of
// their own in separate roles.
//
// The handler sees a server request. The answer streams through a pipe as
// the handler writes it; closing the response body cancels the handler's
// context, as a client hanging up does.
type InProcess struct {
	handler atomic.Pointer[http.Handler]
}

// ErrNotServing is what a round trip returns before Serve: the handler is
// not ready, as a server not yet listening refuses connections.
var ErrNotServing = errors.New("in-process handler not serving yet")

// Serve makes h answer the requests from now on.
func (p *InProcess) Serve(h http.Handler) { p.handler.Store(&h) }

// RoundTrip runs req through the handler and returns once the handler has
// written its status (or returned).
func (p *InProcess) RoundTrip(req *http.Request) (*http.Response, error) {
	hp := p.handler.Load()
	if hp == nil {
		if req.Body != nil {
			_ = req.Body.Close()
		}
		return nil, ErrNotServing
	}
	ctx, cancel := context.WithCancel(req.Context())
	sreq := req.Clone(ctx)
	sreq.RequestURI = req.URL.RequestURI()
	if sreq.Host == "" {
		sreq.Host = req.URL.Host
	}
	sreq.RemoteAddr = "127.0.0.1:0" // what the router saw over loopback: functions get the same X-Forwarded-For
	sreq.Proto, sreq.ProtoMajor, sreq.ProtoMinor = "HTTP/1.1", 1, 1
	switch {
	case sreq.Body == nil || sreq.Body == http.NoBody:
		sreq.Body, sreq.ContentLength = http.NoBody, 0
	case sreq.ContentLength == 0:
		sreq.ContentLength = -1 // a client's 0 with a body means unknown
	}
	pr, pw := io.Pipe()
	// A cancelled request ends the pipe, as a transport closes its
	// connection: the handler's writes fail instead of waiting for a reader.
	context.AfterFunc(ctx, func() { _ = pr.CloseWithError(ctx.Err()) })
	w := &pipeResponse{header: http.Header{}, pw: pw, wrote: make(chan struct{})}
	go func() {
		defer sreq.Body.Close() // as a server does once the handler returns
		defer func() {
			if v := recover(); v != nil {
				err := fmt.Errorf("handler panicked: %v", v)
				if v == http.ErrAbortHandler {
					err = io.ErrUnexpectedEOF // the handler broke off its answer
				}
				w.fail(err)
				return
			}
			w.WriteHeader(http.StatusOK)
			_ = pw.Close()
		}()
		(*hp).ServeHTTP(w, sreq)
	}()
	select {
	case <-w.wrote:
	case <-ctx.Done():
		cancel()
		return nil, ctx.Err()
	}
	if w.err != nil {
		cancel()
		_ = pr.Close()
		return nil, w.err
	}
	size := int64(-1)
	if n, err := strconv.ParseInt(w.sent.Get("Content-Length"), 10, 64); err == nil {
		size = n
	}
	return &http.Response{
		Status: fmt.Sprintf("%d %s", w.status, http.StatusText(w.status)), StatusCode: w.status,
		Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: w.sent, Body: &pipeBody{PipeReader: pr, cancel: cancel}, ContentLength: size, Request: req,
	}, nil
}

// pipeResponse is the handler's ResponseWriter: the status and a snapshot
// of the headers at WriteHeader, then the body into the pipe.
type pipeResponse struct {
	header http.Header
	pw     *io.PipeWriter

	once   sync.Once
	wrote  chan struct{} // closed once status, sent or err is set
	status int
	sent   http.Header
	err    error // the handler failed before any status
}

func (w *pipeResponse) Header() http.Header { return w.header }

func (w *pipeResponse) WriteHeader(code int) {
	if code >= 100 && code < 200 {
		return // informational answers are not passed on
	}
	w.once.Do(func() {
		w.status, w.sent = code, w.header.Clone()
		close(w.wrote)
	})
}

func (w *pipeResponse) Write(p []byte) (int, error) {
	w.WriteHeader(http.StatusOK)
	return w.pw.Write(p)
}

// Flush sends the status if none went yet; the body needs nothing more:
// every write already waits for the reader.
func (w *pipeResponse) Flush() { w.WriteHeader(http.StatusOK) }

// fail ends the answer with err: a round trip that has no status yet
// returns err, a body being read ends with it.
func (w *pipeResponse) fail(err error) {
	w.once.Do(func() {
		w.err = err
		close(w.wrote)
	})
	_ = w.pw.CloseWithError(err)
}

// pipeBody is the response body; closing it cancels the handler's context.
type pipeBody struct {
	*io.PipeReader
	cancel context.CancelFunc
}

func (b *pipeBody) Close() error {
	b.cancel()
	return b.PipeReader.Close()
}
