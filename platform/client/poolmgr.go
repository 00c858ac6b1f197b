package client

import (
	"context"
	"net/http"
	"net/url"

	"github.com/lantern-faas/lantern/platform/api"
)

// Poolmgr is a client of the poolmgr's instance API.
type Poolmgr struct{ base }

// NewPoolmgr returns a client for the poolmgr at baseURL.
func NewPoolmgr(baseURL string, hc *http.Client) *Poolmgr {
	return &Poolmgr{newBase(baseURL, hc)}
}

// GetInstance returns a specialized instance of a function that is not in
// req.Exclude, specializing a new one when needed.
func (p *Poolmgr) GetInstance(ctx context.Context, req api.InstanceRequest) (*api.Instance, error) {
	var inst api.Instance
	if err := p.do(ctx, http.MethodPost, "/v1/instances", req, &inst); err != nil {
		return nil, err
	}
	return &inst, nil
}

// RemoveInstance asks the poolmgr to stop an instance, for a reason such as
// api.ReasonTimeout.
func (p *Poolmgr) RemoveInstance(ctx context.Context, id, reason string) error {
	return p.do(ctx, http.MethodDelete, "/v1/instances/"+url.PathEscape(id)+"?reason="+url.QueryEscape(reason), nil, nil)
}

// ReportActivity tells the poolmgr which instances are in use.
func (p *Poolmgr) ReportActivity(ctx context.Context, acts []api.InstanceActivity) error {
	return p.do(ctx, http.MethodPost, "/v1/activity", acts, nil)
}

// ListInstances lists every instance the poolmgr runs.
func (p *Poolmgr) ListInstances(ctx context.Context) ([]api.Instance, error) {
	var out []api.Instance
	return out, p.do(ctx, http.MethodGet, "/v1/instances", nil, &out)
}

// WatchInstances streams instance events (removals) until ctx ends.
func (p *Poolmgr) WatchInstances(ctx context.Context, fn func(api.InstanceEvent) error) error {
	return stream(ctx, p.base, "/v1/instances/watch", fn)
}

// ColdStarts returns a function's recent cold starts, newest first.
func (p *Poolmgr) ColdStarts(ctx context.Context, ns, name string) ([]api.ColdStart, error) {
	var out []api.ColdStart
	return out, p.do(ctx, http.MethodGet, "/v1/namespaces/"+url.PathEscape(nsOr(ns))+"/functions/"+url.PathEscape(name)+"/coldstarts", nil, &out)
}
