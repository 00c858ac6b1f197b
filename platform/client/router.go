package client

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"

	"github.com/lantern-faas/lantern/platform/api"
)

// Headers of calls made by triggers other than HTTP.
const (
	TriggerHeader   = api.TriggerHeader
	RequestIDHeader = api.RequestIDHeader
)

// MaxResultBytes bounds the response body a Router call keeps.
const MaxResultBytes = 16 << 20

// Router calls functions through the router's internal route
// /fn/{namespace}/{name}, so that triggers other than HTTP get the same
// cold starts, concurrency limits, metrics and logs as HTTP calls.
type Router struct{ base }

// NewRouter returns a client for the router at baseURL
// (http://127.0.0.1:8888). A nil hc uses a client that keeps many idle
// connections to the router, for queue triggers' throughput.
func NewRouter(baseURL string, hc *http.Client) *Router {
	if hc == nil {
		tr := &http.Transport{
			Proxy:               nil,
			DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			MaxIdleConns:        1024,
			MaxIdleConnsPerHost: 1024,
			// A burst of deliveries opens many; once it is over they go
			// soon, with the goroutines and buffers each holds on both ends.
			IdleConnTimeout: 5 * time.Second,
		}
		hc = &http.Client{Transport: tr}
	}
	return &Router{newBase(baseURL, hc)}
}

// Call is one call of a function.
type Call struct {
	Namespace, Function string
	// Method defaults to POST; Subpath to "/".
	Method, Subpath string
	// Query is the raw query string, without '?'.
	Query string
	// Trigger is the kind of trigger, sent in TriggerHeader.
	Trigger string
	// Header is sent as is; a RequestIDHeader in it is kept.
	Header http.Header
	Body   []byte
}

// Result is a function's answer.
type Result struct {
	Status    int
	Header    http.Header
	Body      []byte
	RequestID string
	Duration  time.Duration
}

// Call calls a function and returns its answer, whatever its status. An
// error means no answer came (the router is unreachable, ctx ended).
func (r *Router) Call(ctx context.Context, c Call) (Result, error) {
	method, sub := c.Method, c.Subpath
	if method == "" {
		method = http.MethodPost
	}
	if !strings.HasPrefix(sub, "/") {
		sub = "/" + sub
	}
	u := r.url + "/fn/" + url.PathEscape(c.Namespace) + "/" + url.PathEscape(c.Function) + sub
	if c.Query != "" {
		u += "?" + c.Query
	}
	req, err := http.NewRequestWithContext(ctx, method, u, bytes.NewReader(c.Body))
	if err != nil {
		return Result{}, err
	}
	for k, v := range c.Header {
		req.Header[k] = v
	}
	if c.Trigger != "" {
		req.Header.Set(TriggerHeader, c.Trigger)
	}
	otel.GetTextMapPropagator().Inject(ctx, propagation.HeaderCarrier(req.Header))
	start := time.Now()
	resp, err := r.hc.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return Result{}, ctx.Err()
		}
		return Result{}, &ConnectError{URL: r.url, Err: err}
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, MaxResultBytes))
	if err != nil {
		return Result{}, fmt.Errorf("read the answer of %s/%s: %w", c.Namespace, c.Function, err)
	}
	return Result{Status: resp.StatusCode, Header: resp.Header, Body: body,
		RequestID: resp.Header.Get(RequestIDHeader), Duration: time.Since(start)}, nil
}
