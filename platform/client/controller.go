package client

import (
	"context"
	"io"
	"net/http"
	"net/url"

	"github.com/lantern-faas/lantern/platform/api"
)

// Controller is a client of the controller's REST API.
type Controller struct{ base }

// NewController returns a client for the API at baseURL
// (http://127.0.0.1:8889). A nil hc uses a default client.
func NewController(baseURL string, hc *http.Client) *Controller {
	return &Controller{newBase(baseURL, hc)}
}

// URL returns the API's base URL.
func (c *Controller) URL() string { return c.url }

// Resource paths by kind.
var resources = map[string]string{
	api.KindEnvironment: "environments",
	api.KindFunction:    "functions",
	api.KindHTTPTrigger: "httptriggers",
	api.KindTimeTrigger: "timetriggers",

	api.KindMessageQueueTrigger: "messagequeuetriggers",
}

func objPath(kind, ns, name string) string {
	p := "/v1/namespaces/" + url.PathEscape(ns) + "/" + resources[kind]
	if name != "" {
		p += "/" + url.PathEscape(name)
	}
	return p
}

func listPath(kind, ns string) string {
	if ns == "" {
		return "/v1/" + resources[kind]
	}
	return objPath(kind, ns, "")
}

// Create creates obj and fills it with the stored object.
func (c *Controller) Create(ctx context.Context, obj api.Object) error {
	m := obj.GetMetadata()
	return c.do(ctx, http.MethodPost, objPath(obj.GetKind(), nsOr(m.Namespace), ""), obj, obj)
}

// Update replaces obj (matched by name) and fills it with the stored object.
// A non-empty resourceVersion makes the update conditional.
func (c *Controller) Update(ctx context.Context, obj api.Object) error {
	m := obj.GetMetadata()
	return c.do(ctx, http.MethodPut, objPath(obj.GetKind(), nsOr(m.Namespace), m.Name), obj, obj)
}

// Get reads one object into out, whose kind selects the resource.
func (c *Controller) Get(ctx context.Context, ns, name string, out api.Object) error {
	return c.do(ctx, http.MethodGet, objPath(out.GetKind(), nsOr(ns), name), nil, out)
}

// Delete removes one object of kind.
func (c *Controller) Delete(ctx context.Context, kind, ns, name string) error {
	return c.do(ctx, http.MethodDelete, objPath(kind, nsOr(ns), name), nil, nil)
}

// ListEnvironments lists environments; ns "" lists every namespace.
func (c *Controller) ListEnvironments(ctx context.Context, ns string) ([]api.Environment, error) {
	var out []api.Environment
	return out, c.do(ctx, http.MethodGet, listPath(api.KindEnvironment, ns), nil, &out)
}

// ListFunctions lists functions; ns "" lists every namespace.
func (c *Controller) ListFunctions(ctx context.Context, ns string) ([]api.Function, error) {
	var out []api.Function
	return out, c.do(ctx, http.MethodGet, listPath(api.KindFunction, ns), nil, &out)
}

// ListHTTPTriggers lists HTTP triggers; ns "" lists every namespace.
func (c *Controller) ListHTTPTriggers(ctx context.Context, ns string) ([]api.HTTPTrigger, error) {
	var out []api.HTTPTrigger
	return out, c.do(ctx, http.MethodGet, listPath(api.KindHTTPTrigger, ns), nil, &out)
}

// ListTimeTriggers lists timers; ns "" lists every namespace.
func (c *Controller) ListTimeTriggers(ctx context.Context, ns string) ([]api.TimeTrigger, error) {
	var out []api.TimeTrigger
	return out, c.do(ctx, http.MethodGet, listPath(api.KindTimeTrigger, ns), nil, &out)
}

// ListMessageQueueTriggers lists message queue triggers; ns "" lists every
// namespace.
func (c *Controller) ListMessageQueueTriggers(ctx context.Context, ns string) ([]api.MessageQueueTrigger, error) {
	var out []api.MessageQueueTrigger
	return out, c.do(ctx, http.MethodGet, listPath(api.KindMessageQueueTrigger, ns), nil, &out)
}

// MQTriggerStatusPath is where lanternd all (on the API's address) and the
// mqtrigger role (on its --metrics-addr) serve the triggers' status.
const MQTriggerStatusPath = "/v1/mqtrigger/status"

// MQTriggerStatuses returns the status of every message queue trigger, as
// served by lanternd all.
func (c *Controller) MQTriggerStatuses(ctx context.Context) ([]api.MQTriggerStatus, error) {
	var out []api.MQTriggerStatus
	return out, c.do(ctx, http.MethodGet, MQTriggerStatusPath, nil, &out)
}

// Package downloads a function's package. The caller closes the reader and
// verifies the checksum it expects.
func (c *Controller) Package(ctx context.Context, ns, name string) (io.ReadCloser, error) {
	resp, err := c.send(ctx, http.MethodGet, objPath(api.KindFunction, nsOr(ns), name)+"/package", nil)
	if err != nil {
		return nil, err
	}
	return resp.Body, nil
}

// Watch streams every object (ADDED events), then SYNCED, then changes,
// calling fn for each until ctx ends or the stream breaks.
func (c *Controller) Watch(ctx context.Context, fn func(api.Event) error) error {
	return stream(ctx, c.base, "/v1/watch", fn)
}

// Version returns the server's version string.
func (c *Controller) Version(ctx context.Context) (string, error) {
	var v struct {
		Version string `json:"version"`
	}
	if err := c.do(ctx, http.MethodGet, "/v1/version", nil, &v); err != nil {
		return "", err
	}
	return v.Version, nil
}

func nsOr(ns string) string {
	if ns == "" {
		return api.DefaultNamespace
	}
	return ns
}

// ColdStarts returns a function's recent cold starts, newest first.
func (c *Controller) ColdStarts(ctx context.Context, ns, name string) ([]api.ColdStart, error) {
	var out []api.ColdStart
	return out, c.do(ctx, http.MethodGet, objPath(api.KindFunction, nsOr(ns), name)+"/coldstarts", nil, &out)
}

// Instances returns a function's instances, oldest first.
func (c *Controller) Instances(ctx context.Context, ns, name string) ([]api.Instance, error) {
	var out []api.Instance
	return out, c.do(ctx, http.MethodGet, objPath(api.KindFunction, nsOr(ns), name)+"/instances", nil, &out)
}

// Logs returns a function's log lines matching params (since, until, limit,
// instance, stream, request_id, trace_id, contains, desc).
func (c *Controller) Logs(ctx context.Context, ns, name string, params url.Values) ([]api.LogRecord, error) {
	var out []api.LogRecord
	return out, c.do(ctx, http.MethodGet, objPath(api.KindFunction, nsOr(ns), name)+"/logs?"+params.Encode(), nil, &out)
}

// FollowLogs calls fn with the matching lines, then with every new line as
// it is written, until ctx ends.
func (c *Controller) FollowLogs(ctx context.Context, ns, name string, params url.Values, fn func(api.LogRecord) error) error {
	p := url.Values{}
	for k, v := range params {
		p[k] = v
	}
	p.Set("follow", "true")
	return stream(ctx, c.base, objPath(api.KindFunction, nsOr(ns), name)+"/logs?"+p.Encode(), fn)
}
