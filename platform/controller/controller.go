package controller

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/lantern-faas/lantern/logs"
	"github.com/lantern-faas/lantern/platform/api"
	"github.com/lantern-faas/lantern/platform/internal/httpx"
	"github.com/lantern-faas/lantern/platform/internal/version"
	"github.com/lantern-faas/lantern/platform/store"
)

// Config is the controller's user-facing configuration.
type Config struct {
	// MaxCodeBytes is the largest function package accepted.
	MaxCodeBytes int64
}

// DefaultConfig returns the defaults.
func DefaultConfig() Config {
	return Config{MaxCodeBytes: 64 << 20}
}

// Controller is the REST API server.
type Controller struct {
	cfg    Config
	store  store.Store
	logger *slog.Logger
	echo   *echo.Echo
	reg    prometheus.Registerer
	// pool answers the coldstarts and instances endpoints; nil when no
	// poolmgr is known.
	pool      PoolSource
	metrics   *metrics
	logs      logs.Reader
	logsProxy http.Handler
	// kinds are the rules of each kind, by kind name, for Review.
	kinds map[string]reviewer
	// seen is waited for before a write is answered; nil: not waited for.
	seen Seen
}

// Seen tells when the components have seen a write: the object of kind
// at resource version rv or later, or (gone) its deletion, the deleted
// object being at rv. The informer the router and the poolmgr share in
// `lanternd all` satisfies it.
type Seen interface {
	WaitFor(ctx context.Context, kind, ns, name string, rv uint64, gone bool) error
}

// seenWait bounds how long an answered write waits for the components.
const seenWait = 2 * time.Second

// PoolSource is what the controller shows of the poolmgr: a function's
// recent cold starts, and the instances. The poolmgr (in one process) or
// its client satisfies it.
type PoolSource interface {
	ColdStarts(ctx context.Context, ns, name string) ([]api.ColdStart, error)
	// ListInstances lists every instance, oldest first.
	ListInstances(ctx context.Context) ([]api.Instance, error)
}

// Option sets an optional dependency of the controller.
type Option func(*Controller)

// WithRegisterer registers the API's metrics with reg.
func WithRegisterer(reg prometheus.Registerer) Option { return func(c *Controller) { c.reg = reg } }

// WithPool serves /functions/{name}/coldstarts and /instances from src.
func WithPool(src PoolSource) Option { return func(c *Controller) { c.pool = src } }

// WithSeen answers a write only once s has seen it (at most 2 s): the
// next call to the router then meets the new code, route or deletion.
func WithSeen(s Seen) Option { return func(c *Controller) { c.seen = s } }

// New returns a controller over st.
func New(cfg Config, st store.Store, logger *slog.Logger, opts ...Option) *Controller {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if cfg.MaxCodeBytes <= 0 {
		cfg.MaxCodeBytes = DefaultConfig().MaxCodeBytes
	}
	c := &Controller{cfg: cfg, store: st, logger: logger}
	for _, o := range opts {
		o(c)
	}
	c.metrics = newMetrics(c, c.reg)
	c.echo = c.routes()
	return c
}

// Handler returns the API's HTTP handler.
func (c *Controller) Handler() http.Handler { return httpx.NewRequestIDHandler(c.echo) }

func (c *Controller) routes() *echo.Echo {
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.HTTPErrorHandler = httpx.EchoErrorHandler(c.logger)
	e.Use(c.metrics.middleware)
	// base64 inflates code by 4/3; leave room for the JSON around it.
	limit := c.cfg.MaxCodeBytes*4/3 + 1<<20
	e.Use(func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(ctx echo.Context) error {
			r := ctx.Request()
			if r.ContentLength > limit {
				return httpx.Errorf(http.StatusRequestEntityTooLarge, "request body of %d bytes is larger than the limit of %d bytes", r.ContentLength, limit)
			}
			r.Body = http.MaxBytesReader(ctx.Response(), r.Body, limit)
			return next(ctx)
		}
	})
	e.GET("/healthz", func(ctx echo.Context) error { return ctx.String(http.StatusOK, "ok\n") })
	e.GET("/v1/version", func(ctx echo.Context) error {
		return ctx.JSON(http.StatusOK, map[string]string{"version": version.Version})
	})
	e.GET("/v1/watch", c.watch)

	envs := &kind[api.Environment, *api.Environment]{c: c, name: api.KindEnvironment, resource: "environments",
		beforeDelete: c.environmentInUse}
	fns := &kind[api.Function, *api.Function]{c: c, name: api.KindFunction, resource: "functions",
		check: c.environmentExists, admit: c.admitFunction, beforeDelete: c.functionInUse,
		afterDelete: c.functionDeleted, afterWrite: c.functionWritten}
	trs := &kind[api.HTTPTrigger, *api.HTTPTrigger]{c: c, name: api.KindHTTPTrigger, resource: "httptriggers",
		check: c.functionExists}
	timers := &kind[api.TimeTrigger, *api.TimeTrigger]{c: c, name: api.KindTimeTrigger, resource: "timetriggers",
		check: c.checkTimer}
	mqts := &kind[api.MessageQueueTrigger, *api.MessageQueueTrigger]{c: c, name: api.KindMessageQueueTrigger,
		resource: "messagequeuetriggers", check: c.functionExists}
	c.kinds = map[string]reviewer{}
	for _, k := range []interface {
		reviewer
		register(*echo.Echo)
	}{envs, fns, trs, timers, mqts} {
		k.register(e)
		c.kinds[k.kindName()] = k
	}
	e.GET("/v1/namespaces/:ns/functions/:name/package", c.getPackage)
	e.GET("/v1/namespaces/:ns/functions/:name/coldstarts", c.getColdStarts)
	e.GET("/v1/namespaces/:ns/functions/:name/instances", c.getInstances)
	e.GET("/v1/namespaces/:ns/functions/:name/logs", c.getLogs)
	return e
}

// object is what every stored kind implements.
type object[T any] interface {
	*T
	api.Object
	SetDefaults()
	Validate() error
}

// kind serves the CRUD endpoints of one object kind.
type kind[T any, P object[T]] struct {
	c        *Controller
	name     string
	resource string
	// check, if set, checks a valid object against the rest of the state
	// (the objects it refers to) without changing anything. The REST API
	// runs it before each write, the admission webhook (Review) before
	// writes made with kubectl.
	check func(ctx context.Context, obj api.Object) error
	// admit, if set, completes an object the REST API is about to write
	// (it stores a function's code); old is nil on create.
	admit func(ctx context.Context, obj, old api.Object) error
	// beforeDelete returns an error if the object must not be deleted; the
	// REST API and Review run it.
	beforeDelete func(ctx context.Context, obj api.Object) error
	afterDelete  func(ctx context.Context, obj api.Object)
	// afterWrite runs after a create or update, with what was replaced:
	// for a failed create, old is the object that was refused.
	afterWrite func(ctx context.Context, old, new api.Object)
}

func (k *kind[T, P]) register(e *echo.Echo) {
	e.GET("/v1/"+k.resource, k.list)
	base := "/v1/namespaces/:ns/" + k.resource
	e.GET(base, k.list)
	e.POST(base, k.create)
	e.GET(base+"/:name", k.get)
	e.PUT(base+"/:name", k.update)
	e.DELETE(base+"/:name", k.delete)
}

func (k *kind[T, P]) key(ns, name string) store.Key {
	return store.Key{Kind: k.name, Namespace: ns, Name: name}
}

func (k *kind[T, P]) list(ctx echo.Context) error {
	recs, err := k.c.store.List(ctx.Request().Context(), k.name, ctx.Param("ns"))
	if err != nil {
		return err
	}
	out := make([]P, 0, len(recs))
	for _, r := range recs {
		obj, err := decode[T, P](r)
		if err != nil {
			return err
		}
		out = append(out, obj)
	}
	return ctx.JSON(http.StatusOK, out)
}

func (k *kind[T, P]) load(ctx context.Context, ns, name string) (P, error) {
	r, err := k.c.store.Get(ctx, k.key(ns, name))
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return nil, httpx.Errorf(http.StatusNotFound, "%s %q not found in namespace %q", lower(k.name), name, ns)
		}
		return nil, err
	}
	return decode[T, P](r)
}

func (k *kind[T, P]) get(ctx echo.Context) error {
	obj, err := k.load(ctx.Request().Context(), ctx.Param("ns"), ctx.Param("name"))
	if err != nil {
		return err
	}
	return ctx.JSON(http.StatusOK, obj)
}

// bind decodes the body strictly: unknown fields are errors.
func (k *kind[T, P]) bind(ctx echo.Context) (P, error) {
	var obj P = new(T)
	dec := json.NewDecoder(ctx.Request().Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(obj); err != nil {
		var (
			se  *json.SyntaxError
			ute *json.UnmarshalTypeError
			mbe *http.MaxBytesError
		)
		if errors.As(err, &se) || errors.As(err, &ute) || errors.As(err, &mbe) {
			return nil, err
		}
		if errors.Is(err, io.EOF) {
			return nil, httpx.Errorf(http.StatusBadRequest, "request body is empty: send the %s as JSON", lower(k.name))
		}
		return nil, httpx.Errorf(http.StatusBadRequest, "malformed JSON body: %v", err)
	}
	m := obj.GetMetadata()
	ns := ctx.Param("ns")
	if m.Namespace != "" && m.Namespace != ns {
		return nil, &api.ValidationError{Field: "metadata.namespace", Message: fmt.Sprintf("%q does not match the namespace %q of the URL", m.Namespace, ns)}
	}
	m.Namespace = ns
	obj.SetDefaults()
	return obj, nil
}

func (k *kind[T, P]) create(ctx echo.Context) error {
	rctx := ctx.Request().Context()
	obj, err := k.bind(ctx)
	if err != nil {
		return err
	}
	if err := obj.Validate(); err != nil {
		return err
	}
	if err := k.checkRefs(rctx, obj); err != nil {
		return err
	}
	if k.admit != nil {
		if err := k.admit(rctx, obj, nil); err != nil {
			return err
		}
	}
	m := obj.GetMetadata()
	now := time.Now().UTC()
	m.UID, m.CreatedAt, m.UpdatedAt, m.Generation, m.ResourceVersion = httpx.NewID(), now, now, 1, ""
	rv, err := k.c.store.Create(rctx, k.key(m.Namespace, m.Name), mustJSON(obj))
	if err != nil && k.afterWrite != nil {
		// Drop what admission stored for the refused object, unless in use.
		k.afterWrite(rctx, obj, nil)
	}
	if errors.Is(err, store.ErrConflict) {
		return httpx.Errorf(http.StatusConflict, "%s %q already exists in namespace %q", lower(k.name), m.Name, m.Namespace).
			WithHint("use update, or delete it first")
	}
	if err != nil {
		return err
	}
	m.ResourceVersion = strconv.FormatUint(rv, 10)
	k.c.waitSeen(rctx, k.name, m.Namespace, m.Name, rv, false)
	k.c.logger.Info("created", "kind", k.name, "namespace", m.Namespace, "name", m.Name)
	return ctx.JSON(http.StatusCreated, obj)
}

func (k *kind[T, P]) update(ctx echo.Context) error {
	rctx := ctx.Request().Context()
	obj, err := k.bind(ctx)
	if err != nil {
		return err
	}
	m := obj.GetMetadata()
	if m.Name == "" {
		m.Name = ctx.Param("name")
	}
	if m.Name != ctx.Param("name") {
		return &api.ValidationError{Field: "metadata.name", Message: fmt.Sprintf("%q does not match the name %q of the URL", m.Name, ctx.Param("name"))}
	}
	if err := obj.Validate(); err != nil {
		return err
	}
	old, err := k.load(rctx, m.Namespace, m.Name)
	if err != nil {
		return err
	}
	var ifVersion uint64
	if m.ResourceVersion != "" {
		if ifVersion, err = strconv.ParseUint(m.ResourceVersion, 10, 64); err != nil {
			return &api.ValidationError{Field: "metadata.resourceVersion", Message: fmt.Sprintf("%q is not a version", m.ResourceVersion)}
		}
	}
	if err := k.checkRefs(rctx, obj); err != nil {
		return err
	}
	if k.admit != nil {
		if err := k.admit(rctx, obj, old); err != nil {
			return err
		}
	}
	om := old.GetMetadata()
	m.UID, m.CreatedAt, m.UpdatedAt, m.Generation, m.ResourceVersion = om.UID, om.CreatedAt, time.Now().UTC(), om.Generation+1, ""
	rv, err := k.c.store.Update(rctx, k.key(m.Namespace, m.Name), mustJSON(obj), ifVersion)
	if k.afterWrite != nil {
		if err != nil {
			k.afterWrite(rctx, obj, old) // the new package was not kept
		} else {
			k.afterWrite(rctx, old, obj)
		}
	}
	if errors.Is(err, store.ErrConflict) {
		return httpx.Errorf(http.StatusConflict, "%s %q was changed by someone else (version %d)", lower(k.name), m.Name, ifVersion).
			WithHint("get it again and retry")
	}
	if err != nil {
		return err
	}
	m.ResourceVersion = strconv.FormatUint(rv, 10)
	k.c.waitSeen(rctx, k.name, m.Namespace, m.Name, rv, false)
	k.c.logger.Info("updated", "kind", k.name, "namespace", m.Namespace, "name", m.Name)
	return ctx.JSON(http.StatusOK, obj)
}

func (k *kind[T, P]) delete(ctx echo.Context) error {
	rctx := ctx.Request().Context()
	obj, err := k.load(rctx, ctx.Param("ns"), ctx.Param("name"))
	if err != nil {
		return err
	}
	if k.beforeDelete != nil {
		if err := k.beforeDelete(rctx, obj); err != nil {
			return err
		}
	}
	m := obj.GetMetadata()
	deleted, err := k.c.store.Delete(rctx, k.key(m.Namespace, m.Name))
	if err != nil {
		return err
	}
	k.c.waitSeen(rctx, k.name, m.Namespace, m.Name, deleted.ResourceVersion, true)
	if k.afterDelete != nil {
		k.afterDelete(rctx, obj)
	}
	k.c.logger.Info("deleted", "kind", k.name, "namespace", m.Namespace, "name", m.Name)
	return ctx.JSON(http.StatusOK, obj)
}

// waitSeen waits, if asked to, until the components have seen a write.
// The write stands either way: past the bound the answer goes out, and
// the components catch up as their watch delivers it.
func (c *Controller) waitSeen(ctx context.Context, kind, ns, name string, rv uint64, gone bool) {
	if c.seen == nil {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, seenWait)
	defer cancel()
	if err := c.seen.WaitFor(ctx, kind, ns, name, rv, gone); err != nil {
		c.logger.Warn("answering a write the router and poolmgr have not seen yet", "err", err)
	}
}

// decode turns a record into a typed object with its resource version.
func decode[T any, P object[T]](r store.Record) (P, error) {
	var obj P = new(T)
	return obj, decodeInto(r, obj)
}

// decodeAny decodes a stored record of any kind.
func decodeAny(r store.Record) (api.Object, error) {
	obj, ok := api.NewObject(r.Key.Kind)
	if !ok {
		return nil, fmt.Errorf("unknown kind %q", r.Key.Kind)
	}
	return obj, decodeInto(r, obj)
}

// decodeInto decodes r into obj and sets its resource version.
func decodeInto(r store.Record, obj api.Object) error {
	if err := json.Unmarshal(r.Value, obj); err != nil {
		return fmt.Errorf("decode stored %s %s/%s: %w", r.Key.Kind, r.Key.Namespace, r.Key.Name, err)
	}
	obj.GetMetadata().ResourceVersion = strconv.FormatUint(r.ResourceVersion, 10)
	return nil
}

func writeJSON(w http.ResponseWriter, v any) error {
	return json.NewEncoder(w).Encode(v)
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("encode %T: %v", v, err)) // only plain structs are encoded
	}
	return b
}
