package router

import (
	"net/textproto"
	"sort"
	"strings"

	"github.com/lantern-faas/lantern/platform/api"
)

// route is one HTTP trigger, compiled.
type route struct {
	ns, function string
	methods      map[string]bool
	segments     []string // exact and param routes
	hasParams    bool
	// paramHeaders names the header of each parameter (X-Fission-Params-Id
	// for {id}), made once rather than on every call.
	paramHeaders map[string]string
	prefix       string // prefix routes
	keepPrefix   bool
}

// table is an immutable route table, swapped whole on every change.
type table struct {
	exact    map[string][]*route
	params   []*route
	prefixes []*route // longest first
}

func buildTable(triggers []*api.HTTPTrigger) *table {
	t := &table{exact: map[string][]*route{}}
	sort.Slice(triggers, func(i, j int) bool {
		a, b := triggers[i].Metadata, triggers[j].Metadata
		return a.Namespace+"/"+a.Name < b.Namespace+"/"+b.Name
	})
	for _, tr := range triggers {
		s := tr.Spec
		r := &route{ns: tr.Metadata.Namespace, function: s.FunctionRef.Name, methods: map[string]bool{}, keepPrefix: s.KeepPrefix}
		for _, m := range s.Methods {
			r.methods[m] = true
		}
		if len(s.Methods) == 0 {
			r.methods["GET"] = true
		}
		switch {
		case s.Prefix != "":
			r.prefix = strings.TrimSuffix(s.Prefix, "/")
			t.prefixes = append(t.prefixes, r)
		case strings.Contains(s.RelativeURL, "{"):
			r.segments, r.hasParams = splitPath(s.RelativeURL), true
			r.paramHeaders = map[string]string{}
			for _, seg := range r.segments {
				if name, ok := paramName(seg); ok {
					r.paramHeaders[name] = textproto.CanonicalMIMEHeaderKey(paramHeaderPrefix + name)
				}
			}
			t.params = append(t.params, r)
		default:
			p := cleanPath(s.RelativeURL)
			t.exact[p] = append(t.exact[p], r)
		}
	}
	sort.SliceStable(t.prefixes, func(i, j int) bool { return len(t.prefixes[i].prefix) > len(t.prefixes[j].prefix) })
	return t
}

// match is the outcome of a lookup.
type match struct {
	r       *route
	params  map[string]string
	subpath string
}

// lookup finds the route for a request. found reports whether any route
// has the path, so that a method mismatch can answer 405.
func (t *table) lookup(method, path string) (m match, found bool) {
	p := cleanPath(path)
	for _, r := range t.exact[p] {
		found = true
		if r.methods[method] {
			return match{r: r, subpath: "/"}, true
		}
	}
	if len(t.params) > 0 {
		segs := splitPath(p)
		for _, r := range t.params {
			params, ok := matchParams(r.segments, segs)
			if !ok {
				continue
			}
			found = true
			if r.methods[method] {
				return match{r: r, params: params, subpath: "/"}, true
			}
		}
	}
	for _, r := range t.prefixes {
		if p != r.prefix && !strings.HasPrefix(p, r.prefix+"/") && r.prefix != "" {
			continue
		}
		found = true
		if !r.methods[method] {
			continue
		}
		sub := path
		if !r.keepPrefix {
			sub = strings.TrimPrefix(path, r.prefix)
		}
		if sub == "" || sub[0] != '/' {
			sub = "/" + sub
		}
		return match{r: r, subpath: sub}, true
	}
	return match{}, found
}

func matchParams(pattern, segs []string) (map[string]string, bool) {
	if len(pattern) != len(segs) {
		return nil, false
	}
	var params map[string]string
	for i, p := range pattern {
		if name, ok := paramName(p); ok {
			if segs[i] == "" {
				return nil, false
			}
			if params == nil {
				params = map[string]string{}
			}
			params[name] = segs[i]
			continue
		}
		if p != segs[i] {
			return nil, false
		}
	}
	return params, true
}

// paramName returns the name of a {name} segment.
func paramName(seg string) (string, bool) {
	if len(seg) > 2 && seg[0] == '{' && seg[len(seg)-1] == '}' {
		return seg[1 : len(seg)-1], true
	}
	return "", false
}

func splitPath(p string) []string { return strings.Split(strings.Trim(cleanPath(p), "/"), "/") }

func cleanPath(p string) string {
	if len(p) > 1 {
		p = strings.TrimSuffix(p, "/")
	}
	if p == "" {
		return "/"
	}
	return p
}
