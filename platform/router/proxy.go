package router

import (
	"context"
	"errors"
	"io"
	"log"
	"net/http"
	"net/http/httputil"
	"net/url"
	"syscall"
	"time"

	"github.com/lantern-faas/lantern/platform/api"
	"github.com/lantern-faas/lantern/platform/internal/httpx"
)

// target is what a request resolved to.
type target struct {
	ns, name, subpath string
	params            map[string]string
}

// errFunctionTimeout cancels a call that did not answer within fntimeout.
var errFunctionTimeout = errors.New("function timeout")

// call is the per-attempt state shared with the reverse proxy's hooks.
type call struct {
	fn      *api.Function
	be      *backend
	tgt     target
	err     error
	started bool // response headers arrived
	timer   *time.Timer
}

type callKey struct{}

func (s *Server) serveFunction(w http.ResponseWriter, r *http.Request, tgt target) {
	fn := s.objs.Function(tgt.ns, tgt.name)
	if fn == nil {
		writeError(w, r, httpx.Errorf(http.StatusNotFound, "function %q not found in namespace %q", tgt.name, tgt.ns))
		return
	}
	if r.ContentLength > s.cfg.MaxBodyBytes {
		writeError(w, r, httpx.Errorf(http.StatusRequestEntityTooLarge, "request body of %d bytes is larger than the limit of %d bytes", r.ContentLength, s.cfg.MaxBodyBytes))
		return
	}
	body := &trackingBody{rc: http.MaxBytesReader(w, r.Body, s.cfg.MaxBodyBytes)}
	if r.Body == nil || r.Body == http.NoBody {
		body = nil
	} else {
		r.Body = body
	}
	rec := s.metrics.start(fn)
	defer rec.done()

	// fntimeout bounds the time to the response's headers; a stream that
	// has started runs for as long as the client stays.
	ctx, cancel := context.WithCancelCause(r.Context())
	defer cancel(nil)
	b := s.balancerFor(fn)
	for attempt := 0; ; attempt++ {
		timer := time.AfterFunc(fn.Spec.FunctionTimeoutDuration(), func() { cancel(errFunctionTimeout) })
		be, err := b.acquire(ctx, fn)
		if err != nil {
			timer.Stop()
			if context.Cause(ctx) == errFunctionTimeout {
				err = httpx.Errorf(http.StatusGatewayTimeout, "function %q got no instance within its timeout of %ds", fn.Metadata.Name, fn.Spec.FunctionTimeout)
			}
			if r.Context().Err() == nil {
				writeError(w, r, err)
			}
			return
		}
		c := &call{fn: fn, be: be, tgt: tgt, timer: timer}
		s.proxyOnce(w, r.WithContext(context.WithValue(ctx, callKey{}, c)), b)
		if c.err == nil {
			return
		}
		if isDialError(c.err) && (body == nil || !body.touched) && attempt < s.cfg.MaxRetries {
			// The instance is gone: forget it, let the poolmgr clean up, retry.
			s.logger.Warn("instance unreachable, retrying", "function", fn.Metadata.Name, "instance", be.ID, "err", c.err)
			b.drop(be.ID)
			go s.removeInstance(be.ID, api.ReasonCrash)
			continue
		}
		s.proxyFailed(w, r, ctx, c)
		return
	}
}

// proxyFailed answers for an attempt that got no response.
func (s *Server) proxyFailed(w http.ResponseWriter, r *http.Request, ctx context.Context, c *call) {
	name := c.fn.Metadata.Name
	var mbe *http.MaxBytesError
	switch {
	case context.Cause(ctx) == errFunctionTimeout:
		// The instance may be stuck: recycle it.
		s.balancerFor(c.fn).drop(c.be.ID)
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

func (s *Server) newProxy() *httputil.ReverseProxy {
	return &httputil.ReverseProxy{
		Transport:     s.transport,
		FlushInterval: -1, // stream: flush every write
		ErrorLog:      log.New(io.Discard, "", 0),
		Rewrite: func(pr *httputil.ProxyRequest) {
			c := pr.In.Context().Value(callKey{}).(*call)
			fn := c.fn
			pr.Out.URL.Scheme = "http"
			pr.Out.URL.Host = c.be.Address
			pr.Out.URL.Path = c.tgt.subpath
			pr.Out.URL.RawPath = ""
			pr.Out.Host = pr.In.Host
			pr.SetXForwarded()
			h := pr.Out.Header
			h.Set("X-Forwarded-Host", pr.In.Host)
			h.Set("X-Lantern-Function-Name", fn.Metadata.Name)
			h.Set("X-Lantern-Function-Namespace", fn.Metadata.Namespace)
			h.Set("X-Lantern-Function-Resourceversion", fn.Metadata.ResourceVersion)
			h.Set("X-Fission-Function-Name", fn.Metadata.Name)
			h.Set("X-Fission-Function-Namespace", fn.Metadata.Namespace)
			h.Set("X-Fission-Function-Uid", fn.Metadata.UID)
			h.Set("X-Fission-Function-Resourceversion", fn.Metadata.ResourceVersion)
			h.Set("X-Fission-Full-Url", pr.In.URL.RequestURI())
			for k, v := range c.tgt.params {
				h.Set("X-Fission-Params-"+k, v)
				h.Set("X-Lantern-Param-"+k, v)
			}
		},
		ModifyResponse: func(resp *http.Response) error {
			c := resp.Request.Context().Value(callKey{}).(*call)
			c.timer.Stop()
			c.started = true
			resp.Header.Set(httpx.RequestIDHeader, resp.Request.Header.Get(httpx.RequestIDHeader))
			return nil
		},
		ErrorHandler: func(_ http.ResponseWriter, r *http.Request, err error) {
			r.Context().Value(callKey{}).(*call).err = err
		},
	}
}

// proxyOnce makes one attempt. The slot is released even when the proxy
// aborts the response (http.ErrAbortHandler) because the client left.
func (s *Server) proxyOnce(w http.ResponseWriter, r *http.Request, b *balancer) {
	c := r.Context().Value(callKey{}).(*call)
	defer b.release(c.be)
	defer c.timer.Stop()
	s.proxy.ServeHTTP(w, r)
}

// isDialError reports a failure to connect, the only error safe to retry.
func isDialError(err error) bool {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	return errors.Is(err, syscall.ECONNREFUSED)
}

// trackingBody notes whether any of the request body was read, so that a
// retry never resends a half-consumed body. Close is ignored: the transport
// closes bodies on errors, and a retry needs it open.
type trackingBody struct {
	rc      io.ReadCloser
	touched bool
}

func (t *trackingBody) Read(p []byte) (int, error) {
	t.touched = true
	return t.rc.Read(p)
}

func (t *trackingBody) Close() error { return nil }
