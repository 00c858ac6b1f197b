package cli

import (
	"fmt"
	"math/rand/v2"
	"strings"

	"github.com/spf13/cobra"

	"github.com/lantern-faas/lantern/platform/api"
	"github.com/lantern-faas/lantern/platform/client"
)

func (a *app) newRouteCmd() *cobra.Command {
	cmd := newGroupCmd("route", []string{"httptrigger", "ht"}, "Manage HTTP routes (triggers) to functions")
	cmd.AddCommand(
		a.newRouteCreateCmd(),
		a.newRouteGetCmd(),
		a.newRouteListCmd(),
		a.newRouteUpdateCmd(),
		a.newRouteDeleteCmd(),
	)
	return cmd
}

// routeFlags are the flags of route create and route update.
type routeFlags struct {
	name       string
	url        string
	prefix     string
	keepPrefix bool
	methods    []string
	function   string
}

func (f *routeFlags) objectName() string { return f.name }

func (f *routeFlags) register(cmd *cobra.Command, create bool) {
	what := "route (default <function>-<random>)"
	if !create {
		what = "route"
	}
	nameFlag(cmd, &f.name, what, !create)
	fl := cmd.Flags()
	fl.StringVar(&f.url, "url", "", "exact path to match, which may hold {param} segments, like /users/{id}")
	fl.StringVar(&f.prefix, "prefix", "", "path prefix to match, like /api")
	fl.BoolVar(&f.keepPrefix, "keepprefix", false, "pass the whole path to the function, not the part after --prefix")
	fl.StringSliceVar(&f.methods, "method", []string{"GET"}, "HTTP method (repeatable)")
	fl.StringVar(&f.function, "function", "", "function the route calls")
	if create {
		_ = cmd.MarkFlagRequired("function")
	}
}

// apply copies the flags to s: all of them, or only those given on the
// command line when onlyChanged is set.
func (f *routeFlags) apply(cmd *cobra.Command, s *api.HTTPTriggerSpec, onlyChanged bool) {
	changed := cmd.Flags().Changed
	set := func(name string) bool { return !onlyChanged || changed(name) }
	if set("url") {
		s.RelativeURL = slashed(f.url)
		if onlyChanged && !changed("prefix") {
			s.Prefix = "" // a URL replaces a prefix
		}
	}
	if set("prefix") {
		s.Prefix = slashed(f.prefix)
		if onlyChanged && !changed("url") {
			s.RelativeURL = "" // a prefix replaces a URL
		}
	}
	if set("keepprefix") {
		s.KeepPrefix = f.keepPrefix
	}
	if set("method") {
		s.Methods = make([]string, len(f.methods))
		for i, m := range f.methods {
			s.Methods[i] = strings.ToUpper(strings.TrimSpace(m))
		}
	}
	if set("function") {
		s.FunctionRef = api.FunctionRef{Type: "name", Name: f.function}
	}
}

// slashed adds the leading slash Fission users may leave out.
func slashed(p string) string {
	if p == "" || strings.HasPrefix(p, "/") {
		return p
	}
	return "/" + p
}

func (a *app) newRouteCreateCmd() *cobra.Command {
	var f routeFlags
	cmd := &cobra.Command{
		Use:   "create",
		Short: "Route HTTP requests to a function",
		Example: `  lantern route create --function hello --url /hello
  lantern route create --name users --function users --url '/users/{id}' --method GET --method DELETE
  lantern route create --function api --prefix /api --keepprefix`,
		Args: noArgs,
	}
	f.register(cmd, true)
	cmd.RunE = a.run(func(cmd *cobra.Command) error {
		name := f.name
		if name == "" {
			name = f.function + "-" + randomSuffix(6)
		}
		t := &api.HTTPTrigger{
			Kind:     api.KindHTTPTrigger,
			Metadata: api.Metadata{Name: name, Namespace: a.namespace},
		}
		f.apply(cmd, &t.Spec, false)
		ctx, cancel := a.apiContext(cmd)
		defer cancel()
		if err := a.controller().Create(ctx, t); err != nil {
			return a.explain(err, "create", "route", name)
		}
		return a.done(t, "route %s created: %s %s -> function %s", quote(t.Metadata.Name),
			strings.Join(t.Spec.Methods, ","), routePath(&t.Spec), quote(t.Spec.FunctionRef.Name))
	})
	return cmd
}

// randomSuffix returns n random lowercase letters and digits.
func randomSuffix(n int) string {
	const chars = "abcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, n)
	for i := range b {
		b[i] = chars[rand.IntN(len(chars))]
	}
	return string(b)
}

func (a *app) newRouteUpdateCmd() *cobra.Command {
	return newUpdateCmd(a, &routeFlags{}, "route", "Change a route; only the flags given are changed",
		`  lantern route update --name hello-x1y2z3 --method GET --method POST`,
		func(t *api.HTTPTrigger) *api.HTTPTriggerSpec { return &t.Spec })
}

func (a *app) newRouteGetCmd() *cobra.Command {
	var name string
	cmd := &cobra.Command{
		Use:   "get",
		Short: "Show a route",
		Args:  noArgs,
	}
	nameFlag(cmd, &name, "route", true)
	cmd.RunE = a.run(func(cmd *cobra.Command) error {
		ctx, cancel := a.apiContext(cmd)
		defer cancel()
		t := &api.HTTPTrigger{}
		if err := a.controller().Get(ctx, a.namespace, name, t); err != nil {
			return a.explain(err, "get", "route", name)
		}
		return a.print(t, func(tb *table) { tb.details(a.routeDetails(t)) })
	})
	return cmd
}

func (a *app) routeDetails(t *api.HTTPTrigger) []field {
	s := &t.Spec
	return []field{
		{"Name", t.Metadata.Name},
		{"Namespace", t.Metadata.Namespace},
		{"Methods", strings.Join(s.Methods, ", ")},
		{"URL", s.RelativeURL},
		{"Prefix", s.Prefix},
		{"Keep prefix", fmt.Sprint(s.KeepPrefix)},
		{"Function", s.FunctionRef.Name},
		{"Resource version", t.Metadata.ResourceVersion},
		{"Created", a.timestamp(t.Metadata.CreatedAt)},
		{"Updated", a.timestamp(t.Metadata.UpdatedAt)},
	}
}

// routePath is the path a route matches, with prefixes shown as /p/*.
func routePath(s *api.HTTPTriggerSpec) string {
	if s.Prefix != "" {
		return strings.TrimSuffix(s.Prefix, "/") + "/*"
	}
	return orDash(s.RelativeURL)
}

func (a *app) newRouteListCmd() *cobra.Command {
	return newListCmd(a, "List routes", (*client.Controller).ListHTTPTriggers,
		[]string{"NAME", "METHODS", "URL", "FUNCTION", "AGE"},
		func(t *api.HTTPTrigger) []string {
			methods := strings.Join(t.Spec.Methods, ",")
			if methods == "" {
				methods = "GET"
			}
			return []string{t.Metadata.Name, methods, routePath(&t.Spec), t.Spec.FunctionRef.Name, age(a.now(), t.Metadata.CreatedAt)}
		})
}

func (a *app) newRouteDeleteCmd() *cobra.Command {
	return newDeleteCmd(a, api.KindHTTPTrigger, "Delete a route", "route", "route", "route")
}
