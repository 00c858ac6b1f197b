package controller_test

import (
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/lantern-faas/lantern/platform/api"
	"github.com/lantern-faas/lantern/platform/client"
	"github.com/lantern-faas/lantern/platform/controller"
)

func TestController_CRUD(t *testing.T) {
	ts := newTestServer(t, controller.Config{})
	c, ctx := ts.Client, t.Context()

	t.Run("Environment", func(t *testing.T) {
		env := newEnv("default", "python")
		mustCreate(t, c, env)
		checkCreated(t, env.GetMetadata())
		var got api.Environment
		if err := c.Get(ctx, "default", "python", &got); err != nil {
			t.Fatalf("Get: got %v, want nil", err)
		}
		if diff := cmp.Diff(env, &got); diff != "" {
			t.Errorf("Get (-created +got):\n%s", diff)
		}
		list, err := c.ListEnvironments(ctx, "default")
		if err != nil {
			t.Fatalf("ListEnvironments: got %v, want nil", err)
		}
		if diff := cmp.Diff([]api.Environment{*env}, list); diff != "" {
			t.Errorf("ListEnvironments (-want +got):\n%s", diff)
		}
		upd := newEnv("default", "python")
		upd.Spec.Poolsize = 7
		if err := c.Update(ctx, upd); err != nil {
			t.Fatalf("Update: got %v, want nil", err)
		}
		if got, want := upd.Spec.Poolsize, 7; got != want {
			t.Errorf("updated poolsize: got %d, want %d", got, want)
		}
		checkUpdated(t, env.GetMetadata(), upd.GetMetadata())
	})

	t.Run("Function", func(t *testing.T) {
		fn := newFn("default", "hello", "python", []byte("def main(): return 'hi'\n"))
		mustCreate(t, c, fn)
		checkCreated(t, fn.GetMetadata())
		sum := sha256.Sum256([]byte("def main(): return 'hi'\n"))
		want := api.Package{Filename: "hello.py", Checksum: hex.EncodeToString(sum[:]), Size: 24}
		if diff := cmp.Diff(want, fn.Spec.Package); diff != "" {
			t.Errorf("created package (-want +got):\n%s", diff)
		}
		var got api.Function
		if err := c.Get(ctx, "default", "hello", &got); err != nil {
			t.Fatalf("Get: got %v, want nil", err)
		}
		if got.Code != nil {
			t.Errorf("stored function code: got %+v, want nil (code is stored apart)", got.Code)
		}
		fn.Code = nil
		if diff := cmp.Diff(fn, &got); diff != "" {
			t.Errorf("Get (-created +got):\n%s", diff)
		}
		list, err := c.ListFunctions(ctx, "default")
		if err != nil {
			t.Fatalf("ListFunctions: got %v, want nil", err)
		}
		if got, want := len(list), 1; got != want {
			t.Errorf("len(ListFunctions): got %d, want %d", got, want)
		}
	})

	t.Run("HTTPTrigger", func(t *testing.T) {
		tr := newTrigger("default", "hello", "hello", "/hello")
		mustCreate(t, c, tr)
		checkCreated(t, tr.GetMetadata())
		var got api.HTTPTrigger
		if err := c.Get(ctx, "default", "hello", &got); err != nil {
			t.Fatalf("Get: got %v, want nil", err)
		}
		if diff := cmp.Diff(tr, &got); diff != "" {
			t.Errorf("Get (-created +got):\n%s", diff)
		}
		upd := newTrigger("default", "hello", "hello", "/hi/{name}")
		upd.Spec.Methods = []string{"GET", "POST"}
		if err := c.Update(ctx, upd); err != nil {
			t.Fatalf("Update: got %v, want nil", err)
		}
		checkUpdated(t, tr.GetMetadata(), upd.GetMetadata())
	})

	t.Run("Delete", func(t *testing.T) {
		// Dependents first: route, function, environment.
		for _, k := range []struct {
			kind string
			obj  api.Object
		}{
			{api.KindHTTPTrigger, &api.HTTPTrigger{}},
			{api.KindFunction, &api.Function{}},
			{api.KindEnvironment, &api.Environment{}},
		} {
			name := "hello"
			if k.kind == api.KindEnvironment {
				name = "python"
			}
			if err := c.Delete(ctx, k.kind, "default", name); err != nil {
				t.Fatalf("Delete %s: got %v, want nil", k.kind, err)
			}
			if err := c.Get(ctx, "default", name, k.obj); !client.IsNotFound(err) {
				t.Errorf("Get %s after Delete: got %v, want a 404", k.kind, err)
			}
		}
	})
}

// checkCreated checks the metadata the controller sets on create.
func checkCreated(t *testing.T, m *api.Metadata) {
	t.Helper()
	if m.UID == "" || m.ResourceVersion == "" || m.CreatedAt.IsZero() {
		t.Errorf("created metadata: got uid %q, resourceVersion %q, createdAt %v, want all set", m.UID, m.ResourceVersion, m.CreatedAt)
	}
	if got, want := m.Generation, int64(1); got != want {
		t.Errorf("created generation: got %d, want %d", got, want)
	}
}

// checkUpdated checks an update kept identity and bumped versions.
func checkUpdated(t *testing.T, before, after *api.Metadata) {
	t.Helper()
	if got, want := after.UID, before.UID; got != want {
		t.Errorf("uid after update: got %q, want %q", got, want)
	}
	if got, want := after.CreatedAt, before.CreatedAt; !got.Equal(want) {
		t.Errorf("createdAt after update: got %v, want %v", got, want)
	}
	if got, want := after.Generation, before.Generation+1; got != want {
		t.Errorf("generation after update: got %d, want %d", got, want)
	}
	if got, old := rv(t, after.ResourceVersion), rv(t, before.ResourceVersion); got <= old {
		t.Errorf("resourceVersion after update: got %d, want more than %d", got, old)
	}
}

func rv(t *testing.T, s string) uint64 {
	t.Helper()
	v, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		t.Fatalf("resourceVersion %q: got %v, want a number", s, err)
	}
	return v
}

func TestController_Defaults(t *testing.T) {
	ts := newTestServer(t, controller.Config{})
	env := newEnv("", "python")
	fn := newFn("", "hello", "python", []byte("x"))
	tr := newTrigger("", "hello", "hello", "/hello")
	mustCreate(t, ts.Client, env, fn, tr)

	tests := []struct {
		name      string
		got, want any
	}{
		{"EnvNamespace", env.Metadata.Namespace, "default"},
		{"EnvKind", env.Kind, api.KindEnvironment},
		{"EnvPoolsize", env.Spec.Poolsize, 3},
		{"EnvVersion", env.Spec.Version, 2},
		{"FnConcurrency", fn.Spec.Concurrency, 500},
		{"FnRequestsPerPod", fn.Spec.RequestsPerPod, 1},
		{"FnIdleTimeout", fn.Spec.IdleTimeout, 120},
		{"FnFunctionTimeout", fn.Spec.FunctionTimeout, 60},
		{"FnSpecializationTimeout", fn.Spec.SpecializationTimeout, 120},
		{"TriggerMethods", tr.Spec.Methods, []string{"GET"}},
		{"TriggerFunctionRefType", tr.Spec.FunctionRef.Type, "name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, tt.got); diff != "" {
				t.Errorf("default (-want +got):\n%s", diff)
			}
		})
	}
}

func TestController_Create_Invalid(t *testing.T) {
	ts := newTestServer(t, controller.Config{})
	mustCreate(t, ts.Client, newEnv("default", "python"), newFn("default", "hello", "python", []byte("x")))
	const (
		envs = "/v1/namespaces/default/environments"
		fns  = "/v1/namespaces/default/functions"
		trs  = "/v1/namespaces/default/httptriggers"
	)
	env := func(name, runtime, command string) string {
		return jsonOf(t, api.Environment{Metadata: api.Metadata{Name: name}, Spec: api.EnvironmentSpec{Runtime: runtime, Command: command}})
	}
	trigger := func(url, prefix, fn string, methods ...string) string {
		return jsonOf(t, api.HTTPTrigger{Metadata: api.Metadata{Name: "t"},
			Spec: api.HTTPTriggerSpec{RelativeURL: url, Prefix: prefix, Methods: methods, FunctionRef: api.FunctionRef{Name: fn}}})
	}
	fnOn := func(envName string) string { return jsonOf(t, newFn("", "f", envName, []byte("x"))) }

	tests := []struct {
		name      string
		path      string
		body      string
		wantField string // "" when the error names no field
	}{
		{"NameUppercase", envs, env("Python", "python", ""), "metadata.name"},
		{"NameUnderscore", envs, env("my_env", "python", ""), "metadata.name"},
		{"NameTooLong", envs, env(strings.Repeat("a", 64), "python", ""), "metadata.name"},
		{"NameEmpty", envs, env("", "python", ""), "metadata.name"},
		{"BadRuntime", envs, env("e", "cobol", ""), "spec.runtime"},
		{"NoRuntime", envs, env("e", "", ""), "spec.runtime"},
		{"RuntimeAndCommand", envs, env("e", "python", "./server"), "spec.command"},
		{"NamespaceMismatch", envs, `{"metadata":{"name":"e","namespace":"other"},"spec":{"runtime":"python"}}`, "metadata.namespace"},
		{"FunctionUnknownEnv", fns, fnOn("ruby"), "spec.environment"},
		{"FunctionNoCode", fns, `{"metadata":{"name":"f"},"spec":{"environment":"python"}}`, "code"},
		{"BadMethod", trs, trigger("/x", "", "hello", "GET", "FETCH"), "spec.methods[1]"},
		{"ReservedFn", trs, trigger("/fn/default/hello", "", "hello"), "spec.relativeurl"},
		{"ReservedFnPrefix", trs, trigger("", "/fn/", "hello"), "spec.prefix"},
		{"ReservedFissionFunction", trs, trigger("/fission-function/hello", "", "hello"), "spec.relativeurl"},
		{"ReservedHealthz", trs, trigger("/router-healthz", "", "hello"), "spec.relativeurl"},
		{"ParamUnclosed", trs, trigger("/users/{id", "", "hello"), "spec.relativeurl"},
		{"ParamPartSegment", trs, trigger("/users/x{id}", "", "hello"), "spec.relativeurl"},
		{"ParamEmpty", trs, trigger("/users/{}", "", "hello"), "spec.relativeurl"},
		{"ParamNested", trs, trigger("/users/{{id}}", "", "hello"), "spec.relativeurl"},
		{"ParamInPrefix", trs, trigger("", "/users/{id}", "hello"), "spec.prefix"},
		{"URLAndPrefix", trs, trigger("/a", "/b", "hello"), "spec.prefix"},
		{"NoURL", trs, trigger("", "", "hello"), "spec.relativeurl"},
		{"TriggerUnknownFunction", trs, trigger("/x", "", "nope"), "spec.functionref.name"},
		{"MalformedJSON", envs, `{"metadata": {"name": "e"`, ""},
		{"SyntaxError", envs, `{"metadata": nope}`, ""},
		{"NotJSON", envs, `hello`, ""},
		{"UnknownField", envs, `{"metadata":{"name":"e"},"spec":{"runtime":"python"},"colour":"blue"}`, ""},
		{"UnknownNestedField", envs, `{"metadata":{"name":"e"},"spec":{"runtime":"python","poolsiz":3}}`, ""},
		{"WrongType", envs, `{"metadata":{"name":"e"},"spec":{"runtime":"python","poolsize":"three"}}`, "spec.poolsize"},
		{"EmptyBody", envs, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := ts.doString(t, http.MethodPost, tt.path, tt.body)
			if got, want := resp.Status, http.StatusBadRequest; got != want {
				t.Fatalf("status: got %d, want %d (body %s)", got, want, resp.Body)
			}
			eb := resp.errorBody(t)
			if got, want := eb.Field, tt.wantField; got != want {
				t.Errorf("field: got %q, want %q (message %q)", got, want, eb.Message)
			}
			if got, want := eb.Code, "invalid"; got != want {
				t.Errorf("code: got %q, want %q", got, want)
			}
			if eb.Message == "" || eb.RequestID == "" {
				t.Errorf("message, request_id: got %q, %q, want both set", eb.Message, eb.RequestID)
			}
		})
	}
	// Nothing invalid was stored.
	list, err := ts.Client.ListEnvironments(t.Context(), "")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := len(list), 1; got != want {
		t.Errorf("environments after invalid creates: got %d, want %d", got, want)
	}
}

func TestController_NotFound(t *testing.T) {
	ts := newTestServer(t, controller.Config{})
	mustCreate(t, ts.Client, newEnv("default", "python"))
	tests := []struct {
		name   string
		method string
		path   string
		body   string
	}{
		{"GetEnvironment", http.MethodGet, "/v1/namespaces/default/environments/nope", ""},
		{"GetEnvironmentOtherNamespace", http.MethodGet, "/v1/namespaces/other/environments/python", ""},
		{"GetFunction", http.MethodGet, "/v1/namespaces/default/functions/nope", ""},
		{"GetHTTPTrigger", http.MethodGet, "/v1/namespaces/default/httptriggers/nope", ""},
		{"GetPackage", http.MethodGet, "/v1/namespaces/default/functions/nope/package", ""},
		{"DeleteFunction", http.MethodDelete, "/v1/namespaces/default/functions/nope", ""},
		{"DeleteEnvironment", http.MethodDelete, "/v1/namespaces/default/environments/nope", ""},
		{"UpdateEnvironment", http.MethodPut, "/v1/namespaces/default/environments/nope", `{"metadata":{"name":"nope"},"spec":{"runtime":"python"}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := ts.doString(t, tt.method, tt.path, tt.body)
			if got, want := resp.Status, http.StatusNotFound; got != want {
				t.Fatalf("status: got %d, want %d (body %s)", got, want, resp.Body)
			}
			if got, want := resp.errorBody(t).Code, "not_found"; got != want {
				t.Errorf("code: got %q, want %q", got, want)
			}
		})
	}
}

func TestController_Conflict(t *testing.T) {
	ts := newTestServer(t, controller.Config{})
	c, ctx := ts.Client, t.Context()
	mustCreate(t, c, newEnv("default", "python"), newFn("default", "hello", "python", []byte("x")),
		newTrigger("default", "hello", "hello", "/hello"))

	tests := []struct {
		name string
		do   func() error
	}{
		{"DuplicateEnvironment", func() error { return c.Create(ctx, newEnv("default", "python")) }},
		{"DuplicateFunction", func() error { return c.Create(ctx, newFn("default", "hello", "python", []byte("y"))) }},
		{"DuplicateHTTPTrigger", func() error { return c.Create(ctx, newTrigger("default", "hello", "hello", "/other")) }},
		{"DeleteEnvironmentInUse", func() error { return c.Delete(ctx, api.KindEnvironment, "default", "python") }},
		{"DeleteFunctionInUse", func() error { return c.Delete(ctx, api.KindFunction, "default", "hello") }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.do()
			if got, want := client.StatusOf(err), http.StatusConflict; got != want {
				t.Fatalf("status: got %d (%v), want %d", got, err, want)
			}
		})
	}
	// Nothing was deleted.
	var fn api.Function
	if err := c.Get(ctx, "default", "hello", &fn); err != nil {
		t.Errorf("Get function after refused delete: got %v, want nil", err)
	}
	if got, want := fn.Spec.Package.Size, int64(1); got != want {
		t.Errorf("package size after duplicate create: got %d, want %d (the original)", got, want)
	}
	// Once the dependents are gone the deletes succeed, in order.
	for _, d := range []struct{ kind, name string }{
		{api.KindHTTPTrigger, "hello"}, {api.KindFunction, "hello"}, {api.KindEnvironment, "python"},
	} {
		if err := c.Delete(ctx, d.kind, "default", d.name); err != nil {
			t.Errorf("Delete %s after its dependents: got %v, want nil", d.kind, err)
		}
	}
}

func TestController_Update(t *testing.T) {
	ts := newTestServer(t, controller.Config{})
	c, ctx := ts.Client, t.Context()
	created := newFn("default", "hello", "python", []byte("v1"))
	mustCreate(t, c, newEnv("default", "python"), created)
	created.Code = nil

	t.Run("KeepsPackageWithoutCode", func(t *testing.T) {
		// As the CLI sends it: no code, no package.
		upd := newFn("default", "hello", "python", nil)
		upd.Code = nil
		upd.Spec.FunctionTimeout = 5
		time.Sleep(2 * time.Millisecond) // updatedAt must move
		if err := c.Update(ctx, upd); err != nil {
			t.Fatalf("Update: got %v, want nil", err)
		}
		checkUpdated(t, &created.Metadata, &upd.Metadata)
		if !upd.Metadata.UpdatedAt.After(created.Metadata.UpdatedAt) {
			t.Errorf("updatedAt: got %v, want after %v", upd.Metadata.UpdatedAt, created.Metadata.UpdatedAt)
		}
		var got api.Function
		if err := c.Get(ctx, "default", "hello", &got); err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(created.Spec.Package, got.Spec.Package); diff != "" {
			t.Errorf("package after update without code (-want +got):\n%s", diff)
		}
		if got, want := got.Spec.FunctionTimeout, 5; got != want {
			t.Errorf("functionTimeout: got %d, want %d", got, want)
		}
		if diff := cmp.Diff(upd, &got); diff != "" {
			t.Errorf("Get after Update (-update answer +got):\n%s", diff)
		}
	})

	t.Run("NewCode", func(t *testing.T) {
		upd := newFn("default", "hello", "python", []byte("v2"))
		if err := c.Update(ctx, upd); err != nil {
			t.Fatalf("Update: got %v, want nil", err)
		}
		sum := sha256.Sum256([]byte("v2"))
		if got, want := upd.Spec.Package.Checksum, hex.EncodeToString(sum[:]); got != want {
			t.Errorf("checksum: got %s, want %s", got, want)
		}
		if got, want := upd.Metadata.Generation, int64(3); got != want {
			t.Errorf("generation: got %d, want %d", got, want)
		}
	})

	t.Run("StaleResourceVersion", func(t *testing.T) {
		stale := *created // resourceVersion of the create, two updates ago
		stale.Spec.FunctionTimeout = 9
		err := c.Update(ctx, &stale)
		if got, want := client.StatusOf(err), http.StatusConflict; got != want {
			t.Fatalf("status: got %d (%v), want %d", got, err, want)
		}
		var got api.Function
		if err := c.Get(ctx, "default", "hello", &got); err != nil {
			t.Fatal(err)
		}
		if got.Spec.FunctionTimeout == 9 {
			t.Errorf("functionTimeout after refused update: got 9, want unchanged")
		}
	})

	t.Run("NameMismatch", func(t *testing.T) {
		resp := ts.doString(t, http.MethodPut, "/v1/namespaces/default/functions/hello",
			`{"metadata":{"name":"other"},"spec":{"environment":"python"}}`)
		if got, want := resp.Status, http.StatusBadRequest; got != want {
			t.Fatalf("status: got %d, want %d", got, want)
		}
		if got, want := resp.errorBody(t).Field, "metadata.name"; got != want {
			t.Errorf("field: got %q, want %q", got, want)
		}
	})

	t.Run("UnknownEnvironment", func(t *testing.T) {
		upd := *created
		upd.Metadata.ResourceVersion = ""
		upd.Spec.Environment = "ruby"
		err := c.Update(ctx, &upd)
		if got, want := client.StatusOf(err), http.StatusBadRequest; got != want {
			t.Fatalf("status: got %d (%v), want %d", got, err, want)
		}
	})
}

func TestController_List(t *testing.T) {
	ts := newTestServer(t, controller.Config{})
	for _, ns := range []string{"default", "team-a"} {
		mustCreate(t, ts.Client, newEnv(ns, "python"), newFn(ns, "hello", "python", []byte("x")),
			newFn(ns, "bye", "python", []byte("x")), newTrigger(ns, "hello", "hello", "/hello"))
	}
	names := func(fns []api.Function) []string {
		var out []string
		for _, f := range fns {
			out = append(out, f.Metadata.Namespace+"/"+f.Metadata.Name)
		}
		sort.Strings(out) // the store sorts by name only
		return out
	}
	tests := []struct {
		name string
		ns   string
		want []string
	}{
		{"AllNamespaces", "", []string{"default/bye", "default/hello", "team-a/bye", "team-a/hello"}},
		{"OneNamespace", "team-a", []string{"team-a/bye", "team-a/hello"}},
		{"EmptyNamespace", "team-b", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fns, err := ts.Client.ListFunctions(t.Context(), tt.ns)
			if err != nil {
				t.Fatalf("ListFunctions(%q): got %v, want nil", tt.ns, err)
			}
			if diff := cmp.Diff(tt.want, names(fns)); diff != "" {
				t.Errorf("ListFunctions(%q) (-want +got):\n%s", tt.ns, diff)
			}
		})
	}
	t.Run("RawEmptyListIsArray", func(t *testing.T) {
		resp := ts.do(t, http.MethodGet, "/v1/namespaces/team-b/httptriggers", nil)
		if got, want := strings.TrimSpace(string(resp.Body)), "[]"; got != want {
			t.Errorf("body: got %q, want %q", got, want)
		}
	})
	t.Run("TriggersAcrossNamespaces", func(t *testing.T) {
		trs, err := ts.Client.ListHTTPTriggers(t.Context(), "")
		if err != nil {
			t.Fatal(err)
		}
		if got, want := len(trs), 2; got != want {
			t.Errorf("len(ListHTTPTriggers): got %d, want %d", got, want)
		}
	})
}

func TestController_Persistence(t *testing.T) {
	ts := newTestServer(t, controller.Config{})
	env := newEnv("default", "python")
	fn := newFn("default", "hello", "python", []byte("persisted code"))
	tr := newTrigger("default", "hello", "hello", "/hello")
	mustCreate(t, ts.Client, env, fn, tr)
	fn.Code = nil
	ts.Close()

	ts2 := openTestServer(t, controller.Config{}, ts.path)
	ctx := t.Context()
	var gotEnv api.Environment
	var gotFn api.Function
	var gotTr api.HTTPTrigger
	for _, o := range []api.Object{&gotEnv, &gotFn, &gotTr} {
		name := "hello"
		if o.GetKind() == api.KindEnvironment {
			name = "python"
		}
		if err := ts2.Client.Get(ctx, "default", name, o); err != nil {
			t.Fatalf("Get %s after reopen: got %v, want nil", o.GetKind(), err)
		}
	}
	if diff := cmp.Diff(env, &gotEnv); diff != "" {
		t.Errorf("environment after reopen (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(fn, &gotFn); diff != "" {
		t.Errorf("function after reopen (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(tr, &gotTr); diff != "" {
		t.Errorf("trigger after reopen (-want +got):\n%s", diff)
	}
	resp := ts2.do(t, http.MethodGet, "/v1/namespaces/default/functions/hello/package", nil)
	if got, want := string(resp.Body), "persisted code"; got != want {
		t.Errorf("package after reopen: got %q, want %q", got, want)
	}
	// Resource versions keep increasing across restarts.
	upd := newEnv("default", "python")
	if err := ts2.Client.Update(ctx, upd); err != nil {
		t.Fatal(err)
	}
	if got, last := rv(t, upd.Metadata.ResourceVersion), rv(t, tr.Metadata.ResourceVersion); got <= last {
		t.Errorf("resourceVersion after reopen: got %d, want more than %d", got, last)
	}
}
