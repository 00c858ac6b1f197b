package router

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/lantern-faas/lantern/platform/api"
)

func trigger(name, fn, url, prefix string, keepPrefix bool, methods ...string) *api.HTTPTrigger {
	return &api.HTTPTrigger{
		Metadata: api.Metadata{Namespace: "default", Name: name},
		Spec: api.HTTPTriggerSpec{RelativeURL: url, Prefix: prefix, KeepPrefix: keepPrefix, Methods: methods,
			FunctionRef: api.FunctionRef{Name: fn}},
	}
}

func TestTable_Lookup(t *testing.T) {
	tbl := buildTable([]*api.HTTPTrigger{
		trigger("hello", "hello", "/hello", "", false),
		trigger("hello-post", "hello-post", "/hello", "", false, "POST"),
		trigger("special", "special", "/api/special", "", false),
		trigger("user", "user", "/users/{id}", "", false, "GET", "DELETE"),
		trigger("post", "post", "/users/{id}/posts/{post}", "", false),
		trigger("me", "me", "/users/me", "", false),
		trigger("api", "api", "", "/api", false),
		trigger("apiv2", "apiv2", "", "/api/v2/", true),
		trigger("static", "static", "", "/static/", false, "GET", "HEAD"),
	})
	tests := []struct {
		name       string
		method     string
		path       string
		wantFn     string // "" for no route
		wantParams map[string]string
		wantSub    string
		wantFound  bool
	}{
		{"Exact", "GET", "/hello", "hello", nil, "/", true},
		{"ExactTrailingSlash", "GET", "/hello/", "hello", nil, "/", true},
		{"ExactOtherMethod", "POST", "/hello", "hello-post", nil, "/", true},
		{"ExactMethodMismatch", "PUT", "/hello", "", nil, "", true},
		{"ExactCaseSensitive", "GET", "/Hello", "", nil, "", false},
		{"ExactBeatsPrefix", "GET", "/api/special", "special", nil, "/", true},
		{"ExactBeatsParam", "GET", "/users/me", "me", nil, "/", true},
		{"Param", "GET", "/users/42", "user", map[string]string{"id": "42"}, "/", true},
		{"ParamTrailingSlash", "DELETE", "/users/42/", "user", map[string]string{"id": "42"}, "/", true},
		{"ParamMethodMismatch", "POST", "/users/42", "", nil, "", true},
		{"TwoParams", "GET", "/users/42/posts/7", "post", map[string]string{"id": "42", "post": "7"}, "/", true},
		{"ParamEmptySegment", "GET", "/users//posts/7", "", nil, "", false},
		{"ParamTooFewSegments", "GET", "/users", "", nil, "", false},
		{"ParamTooManySegments", "GET", "/users/42/posts/7/x", "", nil, "", false},
		{"Prefix", "GET", "/api/x/y", "api", nil, "/x/y", true},
		{"PrefixItself", "GET", "/api", "api", nil, "/", true},
		{"PrefixSlash", "GET", "/api/", "api", nil, "/", true},
		{"PrefixNotASegment", "GET", "/apix", "", nil, "", false},
		{"LongestPrefixKeepPrefix", "GET", "/api/v2/items", "apiv2", nil, "/api/v2/items", true},
		{"LongestPrefixItself", "GET", "/api/v2", "apiv2", nil, "/api/v2", true},
		{"ShorterPrefixBeside", "GET", "/api/v2x", "api", nil, "/v2x", true},
		{"PrefixMethodMismatch", "POST", "/static/a.css", "", nil, "", true},
		{"PrefixSecondMethod", "HEAD", "/static/a.css", "static", nil, "/a.css", true},
		{"NoMatch", "GET", "/nothing", "", nil, "", false},
		{"Root", "GET", "/", "", nil, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, found := tbl.lookup(tt.method, tt.path)
			if found != tt.wantFound {
				t.Errorf("found: got %v, want %v", found, tt.wantFound)
			}
			var gotFn string
			if m.r != nil {
				gotFn = m.r.function
			}
			if gotFn != tt.wantFn {
				t.Fatalf("function: got %q, want %q", gotFn, tt.wantFn)
			}
			if m.r == nil {
				return
			}
			if diff := cmp.Diff(tt.wantParams, m.params); diff != "" {
				t.Errorf("params (-want +got):\n%s", diff)
			}
			if m.subpath != tt.wantSub {
				t.Errorf("subpath: got %q, want %q", m.subpath, tt.wantSub)
			}
		})
	}
}

func TestTable_Lookup_CatchAll(t *testing.T) {
	tbl := buildTable([]*api.HTTPTrigger{
		trigger("all", "all", "", "/", false),
		trigger("all-kept", "all-kept", "", "/", true, "POST"),
	})
	tests := []struct {
		name    string
		method  string
		path    string
		wantFn  string
		wantSub string
	}{
		{"Root", "GET", "/", "all", "/"},
		{"Deep", "GET", "/a/b", "all", "/a/b"},
		{"KeepPrefix", "POST", "/a/b", "all-kept", "/a/b"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, found := tbl.lookup(tt.method, tt.path)
			if !found || m.r == nil {
				t.Fatalf("lookup: got found %v, route %v, want a route", found, m.r)
			}
			if m.r.function != tt.wantFn || m.subpath != tt.wantSub {
				t.Errorf("route: got %q %q, want %q %q", m.r.function, m.subpath, tt.wantFn, tt.wantSub)
			}
		})
	}
}

func TestInternalRoute(t *testing.T) {
	tests := []struct {
		path                      string
		wantNS, wantName, wantSub string
		wantOK                    bool
	}{
		{"/fn/ns/name", "ns", "name", "/", true},
		{"/fn/ns/name/", "ns", "name", "/", true},
		{"/fn/ns/name/sub/path", "ns", "name", "/sub/path", true},
		{"/fission-function/name", "default", "name", "/", true},
		{"/fission-function/ns/name", "ns", "name", "/", true},
		{"/fission-function/ns/name/x", "ns", "name", "/x", true},
		{"/fission-function/ns/name/x/y", "ns", "name", "/x/y", true},
		{"/fn/", "", "", "", false},
		{"/fn/ns", "", "", "", false},
		{"/fn/ns/", "", "", "", false},
		{"/fn//name", "", "", "", false},
		{"/fn", "", "", "", false},
		{"/fission-function/", "", "", "", false},
		{"/fission-function//name", "", "", "", false},
		{"/fission-function", "", "", "", false},
		{"/function/ns/name", "", "", "", false},
		{"/", "", "", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			ns, name, sub, ok := internalRoute(tt.path)
			if ok != tt.wantOK {
				t.Fatalf("ok: got %v, want %v", ok, tt.wantOK)
			}
			if ns != tt.wantNS || name != tt.wantName || sub != tt.wantSub {
				t.Errorf("route: got (%q, %q, %q), want (%q, %q, %q)", ns, name, sub, tt.wantNS, tt.wantName, tt.wantSub)
			}
		})
	}
}
