package controller

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/lantern-faas/lantern/platform/api"
	"github.com/lantern-faas/lantern/platform/internal/httpx"
	"github.com/lantern-faas/lantern/platform/store"
)

// watch streams every object, a SYNCED marker, then every change, as NDJSON.
// Components build their caches from it instead of polling.
func (c *Controller) watch(ctx echo.Context) error {
	rctx, cancel := httpx.StreamContext(ctx.Request().Context())
	defer cancel()
	recs, events, err := c.store.Watch(rctx)
	if err != nil {
		return err
	}
	s := httpx.NewNDJSON(ctx.Response())
	for _, r := range recs {
		ev, err := toEvent(api.EventAdded, r)
		if err != nil {
			return err
		}
		if err := s.Send(ev); err != nil {
			return nil
		}
	}
	if err := s.Send(api.Event{Type: api.EventSynced}); err != nil {
		return nil
	}
	for {
		select {
		case <-rctx.Done():
			return nil
		case e, ok := <-events:
			if !ok {
				return nil // the watcher fell behind or the store closed: the client re-watches
			}
			t := api.EventModified
			if e.Type == store.Deleted {
				t = api.EventDeleted
			}
			ev, err := toEvent(t, e.Record)
			if err != nil {
				c.logger.Error("watch", "err", err)
				continue
			}
			if err := s.Send(ev); err != nil {
				return nil
			}
		}
	}
}

// toEvent wraps a record, with its resource version set, in an event.
func toEvent(t api.EventType, r store.Record) (api.Event, error) {
	obj, err := decodeAny(r)
	if err != nil {
		return api.Event{}, err
	}
	b, err := json.Marshal(obj)
	return api.Event{Type: t, Kind: r.Key.Kind, Object: b}, err
}

// getPackage serves a function's code package.
func (c *Controller) getPackage(ctx echo.Context) error {
	rctx := ctx.Request().Context()
	fns := &kind[api.Function, *api.Function]{c: c, name: api.KindFunction}
	fn, err := fns.load(rctx, ctx.Param("ns"), ctx.Param("name"))
	if err != nil {
		return err
	}
	data, err := c.store.GetBlob(rctx, fn.Spec.Package.Checksum)
	if errors.Is(err, store.ErrNotFound) {
		return httpx.Errorf(http.StatusNotFound, "package %s of function %q is missing", fn.Spec.Package.Checksum, fn.Metadata.Name)
	}
	if err != nil {
		return err
	}
	h := ctx.Response().Header()
	h.Set("X-Lantern-Checksum", fn.Spec.Package.Checksum)
	h.Set("Content-Disposition", fmt.Sprintf("attachment; filename=%q", fn.Spec.Package.Filename))
	return ctx.Blob(http.StatusOK, "application/octet-stream", data)
}

// getColdStarts serves a function's recent cold starts from the poolmgr.
func (c *Controller) getColdStarts(ctx echo.Context) error {
	rctx := ctx.Request().Context()
	if err := c.poolFor(ctx); err != nil {
		return err
	}
	out, err := c.pool.ColdStarts(rctx, ctx.Param("ns"), ctx.Param("name"))
	if err != nil {
		return err
	}
	return ctx.JSON(http.StatusOK, out)
}

// getInstances serves a function's instances from the poolmgr, in its
// order: oldest first.
func (c *Controller) getInstances(ctx echo.Context) error {
	if err := c.poolFor(ctx); err != nil {
		return err
	}
	all, err := c.pool.ListInstances(ctx.Request().Context())
	if err != nil {
		return err
	}
	ns, name := ctx.Param("ns"), ctx.Param("name")
	out := []api.Instance{}
	for _, in := range all {
		if in.Namespace == ns && in.Function == name {
			out = append(out, in)
		}
	}
	return ctx.JSON(http.StatusOK, out)
}

// poolFor checks that the request's function exists and that the
// controller knows the poolmgr.
func (c *Controller) poolFor(ctx echo.Context) error {
	fns := &kind[api.Function, *api.Function]{c: c, name: api.KindFunction}
	if _, err := fns.load(ctx.Request().Context(), ctx.Param("ns"), ctx.Param("name")); err != nil {
		return err
	}
	if c.pool == nil {
		return httpx.Errorf(http.StatusServiceUnavailable, "this controller does not know the poolmgr").
			WithHint("start the controller with --poolmgr-url")
	}
	return nil
}
