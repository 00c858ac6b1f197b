package router

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/textproto"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"go.opentelemetry.io/otel/trace"
)

// writeRequest writes the request sent to the instance for r: its head
// (the caller's headers without hop-by-hop ones, then the Fission headers
// functions already read, and the trace context) and its body.
//
// The head is written straight into the connection's buffer. Building an
// http.Request for it meant a copy of the header map and a sort of its
// keys on every call: about a tenth of the router's time per call.
func (s *Server) writeRequest(ctx context.Context, bw *bufio.Writer, r *http.Request, c *call) error {
	fn := c.fn
	u := url.URL{Path: c.tgt.subpath, RawQuery: r.URL.RawQuery}
	bw.WriteString(r.Method)
	bw.WriteByte(' ')
	bw.WriteString(u.RequestURI())
	bw.WriteString(" HTTP/1.1\r\nHost: ")
	bw.WriteString(headerValue(r.Host))
	bw.WriteString("\r\n")

	// The function joins the trace when it is recorded or the caller has
	// one; X-Lantern-Request-Id carries the trace ID either way.
	inject := trace.SpanContextFromContext(ctx).IsSampled() || c.callerTrace
	conn := connectionTokens(r.Header)
	for k, vs := range r.Header {
		if ownHeader(k) || hopHeaders[k] || (inject && s.traceFields[k]) || isParamHeader(c.tgt, k) || slices.Contains(conn, k) {
			continue
		}
		for _, v := range vs {
			writeHeader(bw, k, v)
		}
	}

	writeHeader(bw, "X-Fission-Function-Name", fn.Metadata.Name)
	writeHeader(bw, "X-Fission-Function-Namespace", fn.Metadata.Namespace)
	writeHeader(bw, "X-Fission-Function-Uid", fn.Metadata.UID)
	writeHeader(bw, "X-Fission-Function-Resourceversion", fn.Metadata.ResourceVersion)
	writeHeader(bw, "X-Fission-Full-Url", r.URL.RequestURI())
	xff := r.Header.Get("X-Forwarded-For")
	if ip, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		if xff != "" {
			xff += ", " + ip
		} else {
			xff = ip
		}
	}
	if xff != "" {
		writeHeader(bw, "X-Forwarded-For", xff)
	}
	for k, v := range c.tgt.params {
		writeHeader(bw, c.tgt.paramHeaders[k], v)
	}
	if inject {
		s.prop.Inject(ctx, headerWriter{bw})
	}

	if r.Body == nil || r.Body == http.NoBody {
		_, err := bw.WriteString("\r\n")
		return err
	}
	if r.ContentLength > 0 {
		bw.WriteString("Content-Length: ")
		bw.WriteString(strconv.FormatInt(r.ContentLength, 10))
		bw.WriteString("\r\n\r\n")
		n, err := io.Copy(bw, io.LimitReader(r.Body, r.ContentLength))
		if err == nil && n < r.ContentLength {
			err = fmt.Errorf("request body ended after %d of its %d bytes: %w", n, r.ContentLength, io.ErrUnexpectedEOF)
		}
		return err
	}
	// A body of unknown length goes chunked, as it came.
	bw.WriteString("Transfer-Encoding: chunked\r\n\r\n")
	cw := httputil.NewChunkedWriter(bw)
	bp := buffers.Get().(*[]byte)
	defer buffers.Put(bp)
	if _, err := io.CopyBuffer(cw, r.Body, *bp); err != nil {
		return err
	}
	if err := cw.Close(); err != nil {
		return err
	}
	_, err := bw.WriteString("\r\n")
	return err
}

// hasTraceContext reports whether h carries a field of the trace
// propagator: without one, extracting would find nothing.
func (s *Server) hasTraceContext(h http.Header) bool {
	for k := range s.traceFields {
		if _, ok := h[k]; ok {
			return true
		}
	}
	return false
}

// isParamHeader reports whether k (canonical) is the header of one of the
// route's parameters: the router's value replaces the caller's.
func isParamHeader(tgt target, k string) bool {
	for _, h := range tgt.paramHeaders {
		if h == k {
			return true
		}
	}
	return false
}

// paramHeaderPrefix names a route parameter's header: X-Fission-Params-Id
// for {id}.
const paramHeaderPrefix = "X-Fission-Params-"

// ownHeader reports a header the router writes itself, whatever the caller
// sent (canonical names).
func ownHeader(k string) bool {
	switch k {
	case "Host", "Content-Length", "Expect", "X-Forwarded-For",
		"X-Fission-Function-Name", "X-Fission-Function-Namespace", "X-Fission-Function-Uid",
		"X-Fission-Function-Resourceversion", "X-Fission-Full-Url":
		return true
	}
	return false
}

func writeHeader(bw *bufio.Writer, k, v string) {
	bw.WriteString(k)
	bw.WriteString(": ")
	bw.WriteString(headerValue(v))
	bw.WriteString("\r\n")
}

// headerValue makes v safe as one header line: a route parameter comes
// from the decoded path, where %0D%0A is a line break.
func headerValue(v string) string {
	if strings.ContainsAny(v, "\r\n") {
		return strings.NewReplacer("\r", " ", "\n", " ").Replace(v)
	}
	return v
}

// headerWriter is the carrier the propagator injects the trace context
// through: each field becomes a header line.
type headerWriter struct{ bw *bufio.Writer }

func (h headerWriter) Get(string) string { return "" }

func (h headerWriter) Set(k, v string) {
	writeHeader(h.bw, textproto.CanonicalMIMEHeaderKey(k), v)
}

func (h headerWriter) Keys() []string { return nil }
