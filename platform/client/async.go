package client

import (
	"context"
	"net/http"
	"net/url"
	"strconv"

	"github.com/lantern-faas/lantern/platform/api"
)

// Async is a client of the invocations API of asynchronous calls, served
// by lanternd all on the API's address and by the async role.
type Async struct{ base }

// NewAsync returns a client for the invocations API at baseURL.
func NewAsync(baseURL string, hc *http.Client) *Async { return &Async{newBase(baseURL, hc)} }

// Enqueue queues a call; the router uses it to reach the async role.
func (a *Async) Enqueue(ctx context.Context, req api.AsyncRequest) (*api.Invocation, error) {
	var out api.Invocation
	return &out, a.do(ctx, http.MethodPost, "/v1/invocations", req, &out)
}

// Invocation returns one invocation.
func (a *Async) Invocation(ctx context.Context, id string) (*api.Invocation, error) {
	var out api.Invocation
	return &out, a.do(ctx, http.MethodGet, "/v1/invocations/"+url.PathEscape(id), nil, &out)
}

// Invocations lists invocations, newest first; empty filters match all.
func (a *Async) Invocations(ctx context.Context, ns, fn, status string, limit int) ([]api.Invocation, error) {
	q := url.Values{}
	for k, v := range map[string]string{"namespace": ns, "function": fn, "status": status} {
		if v != "" {
			q.Set(k, v)
		}
	}
	if limit > 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	var out []api.Invocation
	return out, a.do(ctx, http.MethodGet, "/v1/invocations?"+q.Encode(), nil, &out)
}

// Replay queues a failed invocation again.
func (a *Async) Replay(ctx context.Context, id string) (*api.Invocation, error) {
	var out api.Invocation
	return &out, a.do(ctx, http.MethodPost, "/v1/invocations/"+url.PathEscape(id)+"/replay", nil, &out)
}
