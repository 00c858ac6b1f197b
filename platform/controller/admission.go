package controller

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"path"
	"sort"
	"strings"

	"github.com/lantern-faas/lantern/platform/api"
	"github.com/lantern-faas/lantern/platform/internal/httpx"
	"github.com/lantern-faas/lantern/platform/schedule"
	"github.com/lantern-faas/lantern/platform/store"
)

// environmentExists checks the environment a function names exists.
func (c *Controller) environmentExists(ctx context.Context, obj api.Object) error {
	fn := obj.(*api.Function)
	ns := fn.Metadata.Namespace
	if _, err := c.store.Get(ctx, store.Key{Kind: api.KindEnvironment, Namespace: ns, Name: fn.Spec.Environment}); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return (&httpx.Error{Status: http.StatusBadRequest, Field: "spec.environment",
				Message: fmt.Sprintf("spec.environment: environment %q not found in namespace %q", fn.Spec.Environment, ns)}).
				WithHint("create it with 'lantern env create --name " + fn.Spec.Environment + " --runtime python', or see 'lantern env list'")
		}
		return err
	}
	return nil
}

// admitFunction stores the code package of a function the REST API writes
// (its environment was checked before).
func (c *Controller) admitFunction(ctx context.Context, obj, old api.Object) error {
	fn := obj.(*api.Function)
	code := fn.Code
	fn.Code = nil
	if code == nil {
		if old == nil {
			return &api.ValidationError{Field: "code", Message: "a new function needs code (--code FILE)"}
		}
		fn.Spec.Package = old.(*api.Function).Spec.Package
		return nil
	}
	pkg, err := c.checkCode(code)
	if err != nil {
		return err
	}
	if err := c.store.PutBlob(ctx, pkg.Checksum, code.Data); err != nil {
		return fmt.Errorf("store package: %w", err)
	}
	fn.Spec.Package = pkg
	return nil
}

// checkCode validates an uploaded package and describes it.
func (c *Controller) checkCode(code *api.Code) (api.Package, error) {
	name := path.Base(strings.ReplaceAll(code.Filename, "\\", "/"))
	switch {
	case code.Filename == "" || name == "." || name == "/" || name == "..":
		return api.Package{}, &api.ValidationError{Field: "code.filename", Message: "must name the uploaded file"}
	case len(code.Data) == 0:
		return api.Package{}, &api.ValidationError{Field: "code.data", Message: fmt.Sprintf("%s is empty", name)}
	case int64(len(code.Data)) > c.cfg.MaxCodeBytes:
		return api.Package{}, &httpx.Error{Status: http.StatusRequestEntityTooLarge, Field: "code.data",
			Message: fmt.Sprintf("code.data: %s is %d bytes, the limit is %d", name, len(code.Data), c.cfg.MaxCodeBytes)}
	}
	sum := sha256.Sum256(code.Data)
	pkg := api.Package{Filename: name, Checksum: hex.EncodeToString(sum[:]), Size: int64(len(code.Data))}
	if bytes.HasPrefix(code.Data, []byte("PK\x03\x04")) || strings.HasSuffix(strings.ToLower(name), ".zip") {
		if err := checkZip(code.Data); err != nil {
			return api.Package{}, &api.ValidationError{Field: "code.data", Message: fmt.Sprintf("%s: %v", name, err)}
		}
		pkg.Archive = true
	}
	return pkg, nil
}

// checkZip rejects archives a fetcher would refuse: unreadable ones and
// entries that escape the extraction folder.
func checkZip(data []byte) error {
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		return fmt.Errorf("not a valid zip archive: %w", err)
	}
	for _, f := range zr.File {
		n := strings.ReplaceAll(f.Name, "\\", "/")
		if strings.HasPrefix(n, "/") || n == ".." || strings.HasPrefix(n, "../") || strings.Contains(n, "/../") || strings.HasSuffix(n, "/..") {
			return fmt.Errorf("entry %q escapes the package folder", f.Name)
		}
	}
	return nil
}

// functionExists checks the function a trigger calls exists.
func (c *Controller) functionExists(ctx context.Context, obj api.Object) error {
	ns, name := obj.GetMetadata().Namespace, functionOf(obj)
	if _, err := c.store.Get(ctx, store.Key{Kind: api.KindFunction, Namespace: ns, Name: name}); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return (&httpx.Error{Status: http.StatusBadRequest, Field: "spec.functionref.name",
				Message: fmt.Sprintf("spec.functionref.name: function %q not found in namespace %q", name, ns)}).
				WithHint("create it first with 'lantern fn create', or see 'lantern fn list'")
		}
		return err
	}
	return nil
}

// checkTimer checks the cron expression with the timer's own parser, then
// the function.
func (c *Controller) checkTimer(ctx context.Context, obj api.Object) error {
	t := obj.(*api.TimeTrigger)
	if _, err := schedule.Parse(t.Spec.Cron); err != nil {
		return &api.ValidationError{Field: "spec.cron", Message: err.Error()}
	}
	return c.functionExists(ctx, obj)
}

// functionOf returns the name of the function a trigger calls.
func functionOf(obj api.Object) string {
	switch t := obj.(type) {
	case *api.HTTPTrigger:
		return t.Spec.FunctionRef.Name
	case *api.TimeTrigger:
		return t.Spec.FunctionRef.Name
	case *api.MessageQueueTrigger:
		return t.Spec.FunctionRef.Name
	}
	return ""
}

// environmentInUse refuses to delete an environment functions use.
func (c *Controller) environmentInUse(ctx context.Context, obj api.Object) error {
	m := obj.GetMetadata()
	users, err := referrers(ctx, c.store, m.Namespace, func(f *api.Function) bool { return f.Spec.Environment == m.Name })
	if err != nil || len(users) == 0 {
		return err
	}
	return httpx.Errorf(http.StatusConflict, "environment %q is used by function(s) %s", m.Name, strings.Join(users, ", ")).
		WithHint("delete those functions first")
}

// functionInUse refuses to delete a function triggers point at.
func (c *Controller) functionInUse(ctx context.Context, obj api.Object) error {
	m := obj.GetMetadata()
	uses := func(ref api.FunctionRef) bool { return ref.Name == m.Name }
	routes, err := referrers(ctx, c.store, m.Namespace, func(t *api.HTTPTrigger) bool { return uses(t.Spec.FunctionRef) })
	if err != nil {
		return err
	}
	timers, err := referrers(ctx, c.store, m.Namespace, func(t *api.TimeTrigger) bool { return uses(t.Spec.FunctionRef) })
	if err != nil {
		return err
	}
	mqts, err := referrers(ctx, c.store, m.Namespace, func(t *api.MessageQueueTrigger) bool { return uses(t.Spec.FunctionRef) })
	if err != nil {
		return err
	}
	var users, hints []string
	for _, u := range []struct {
		names      []string
		what, verb string
	}{{routes, "route(s)", "route"}, {timers, "timer(s)", "timer"}, {mqts, "message queue trigger(s)", "mqt"}} {
		if len(u.names) > 0 {
			users = append(users, u.what+" "+strings.Join(u.names, ", "))
			hints = append(hints, "'lantern "+u.verb+" delete --name ...'")
		}
	}
	if len(users) == 0 {
		return nil
	}
	return httpx.Errorf(http.StatusConflict, "function %q is used by %s", m.Name, strings.Join(users, " and ")).
		WithHint("delete those triggers first (" + strings.Join(hints, ", ") + ")")
}

// functionDeleted drops the package blob when no other function uses it.
func (c *Controller) functionDeleted(ctx context.Context, obj api.Object) {
	c.gcBlob(ctx, obj.(*api.Function).Spec.Package.Checksum)
}

// functionWritten drops the blob a write replaced (old nil for a create
// that failed, new nil when the write failed).
func (c *Controller) functionWritten(ctx context.Context, old, new api.Object) {
	var was, now string
	if old != nil {
		was = old.(*api.Function).Spec.Package.Checksum
	}
	if new != nil {
		now = new.(*api.Function).Spec.Package.Checksum
	}
	if was != "" && was != now {
		c.gcBlob(ctx, was)
	}
}

// gcBlob deletes a package blob no function uses.
func (c *Controller) gcBlob(ctx context.Context, sum string) {
	if sum == "" {
		return
	}
	users, err := referrers(ctx, c.store, "", func(f *api.Function) bool { return f.Spec.Package.Checksum == sum })
	if err == nil && len(users) == 0 {
		if err := c.store.DeleteBlob(ctx, sum); err != nil {
			c.logger.Warn("delete package blob", "checksum", sum, "err", err)
		}
	}
}

// referrers lists the names of objects of type P in ns that match.
func referrers[T any, P object[T]](ctx context.Context, st store.Store, ns string, match func(P) bool) ([]string, error) {
	var zero T
	recs, err := st.List(ctx, P(&zero).GetKind(), ns)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, r := range recs {
		obj, err := decode[T, P](r)
		if err != nil {
			return nil, err
		}
		if match(obj) {
			names = append(names, r.Key.Name)
		}
	}
	sort.Strings(names)
	return names, nil
}
