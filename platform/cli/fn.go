package cli

import (
	"fmt"
	"net/http"

	"github.com/spf13/cobra"

	"github.com/lantern-faas/lantern/platform/api"
	"github.com/lantern-faas/lantern/platform/client"
)

func (a *app) newFnCmd() *cobra.Command {
	cmd := newGroupCmd("fn", []string{"function"}, "Manage functions")
	cmd.AddCommand(
		a.newFnCreateCmd(),
		a.newFnGetCmd(),
		a.newFnListCmd(),
		a.newFnUpdateCmd(),
		a.newFnDeleteCmd(),
		a.newFnTestCmd(),
		a.newFnColdStartsCmd(),
		a.newFnInstancesCmd(),
		a.newFnLogsCmd(),
		a.newFnInvocationsCmd(),
		a.newFnReplayCmd(),
	)
	return cmd
}

// fnFlags are the flags of fn create and fn update.
type fnFlags struct {
	name                  string
	env                   string
	code                  string
	entrypoint            string
	concurrency           int
	requestsPerPod        int
	idleTimeout           int
	fnTimeout             int
	specializationTimeout int
}

func (f *fnFlags) register(cmd *cobra.Command, create bool) {
	nameFlag(cmd, &f.name, "function", true)
	fl := cmd.Flags()
	fl.StringVar(&f.env, "env", "", "environment the function runs in")
	fl.StringVar(&f.code, "code", "", "the code: a source file, an executable, a .zip, or a directory (zipped)")
	fl.StringVar(&f.entrypoint, "entrypoint", "", "entry point passed to the runtime, like main.handler (alias --entry)")
	fl.IntVar(&f.concurrency, "concurrency", api.DefaultConcurrency, "most instances of the function")
	fl.IntVar(&f.requestsPerPod, "requestsperpod", api.DefaultRequestsPerPod, "most concurrent requests of one instance")
	fl.IntVar(&f.idleTimeout, "idletimeout", api.DefaultIdleTimeout, "seconds an unused instance lives")
	fl.IntVar(&f.fnTimeout, "fntimeout", api.DefaultFunctionTimeout, "seconds one call may take")
	fl.IntVar(&f.specializationTimeout, "specializationtimeout", api.DefaultSpecializationTimeout, "seconds loading the code may take")
	aliasFlags(cmd, map[string]string{"entry": "entrypoint"})
	if create {
		_ = cmd.MarkFlagRequired("env")
		_ = cmd.MarkFlagRequired("code")
	}
}

// loadCode reads --code when it is given (always on create). It runs before
// any API call so that a bad path fails fast.
func (f *fnFlags) loadCode(cmd *cobra.Command, onlyChanged bool) (*api.Code, error) {
	if onlyChanged && !cmd.Flags().Changed("code") {
		return nil, nil
	}
	return readCode(f.code)
}

// apply copies the flags but --code to s: all of them, or only those given
// on the command line when onlyChanged is set.
func (f *fnFlags) apply(cmd *cobra.Command, s *api.FunctionSpec, onlyChanged bool) {
	set := func(name string) bool { return !onlyChanged || cmd.Flags().Changed(name) }
	if set("env") {
		s.Environment = f.env
	}
	if set("entrypoint") {
		s.Entrypoint = f.entrypoint
	}
	if set("concurrency") {
		s.Concurrency = f.concurrency
	}
	if set("requestsperpod") {
		s.RequestsPerPod = f.requestsPerPod
	}
	if set("idletimeout") {
		s.IdleTimeout = f.idleTimeout
	}
	if set("fntimeout") {
		s.FunctionTimeout = f.fnTimeout
	}
	if set("specializationtimeout") {
		s.SpecializationTimeout = f.specializationTimeout
	}
}

func (a *app) newFnCreateCmd() *cobra.Command {
	var f fnFlags
	cmd := &cobra.Command{
		Use:   "create",
		Short: "Create a function from a file, a zip or a directory",
		Example: `  lantern fn create --name hello --env python --code hello.py
  lantern fn create --name api --env nodejs --code ./api --entrypoint index.handler`,
		Args: noArgs,
	}
	f.register(cmd, true)
	cmd.RunE = a.run(func(cmd *cobra.Command) error {
		fn := &api.Function{
			Kind:     api.KindFunction,
			Metadata: api.Metadata{Name: f.name, Namespace: a.namespace},
		}
		code, err := f.loadCode(cmd, false)
		if err != nil {
			return err
		}
		fn.Code = code
		f.apply(cmd, &fn.Spec, false)
		ctx, cancel := a.apiContext(cmd)
		defer cancel()
		if err := a.controller().Create(ctx, fn); err != nil {
			return a.explainFn(err, "create", f.name, fn.Spec.Environment)
		}
		fn.Code = nil
		return a.done(fn, "function %s created", quote(fn.Metadata.Name))
	})
	return cmd
}

func (a *app) newFnUpdateCmd() *cobra.Command {
	var f fnFlags
	cmd := &cobra.Command{
		Use:   "update",
		Short: "Change a function; only the flags given are changed",
		Example: `  lantern fn update --name hello --code hello.py
  lantern fn update --name hello --fntimeout 10`,
		Args: noArgs,
	}
	f.register(cmd, false)
	cmd.RunE = a.run(func(cmd *cobra.Command) error {
		code, err := f.loadCode(cmd, true)
		if err != nil {
			return err
		}
		ctx, cancel := a.apiContext(cmd)
		defer cancel()
		c := a.controller()
		fn := &api.Function{}
		if err := c.Get(ctx, a.namespace, f.name, fn); err != nil {
			return a.explain(err, "get", "fn", f.name)
		}
		f.apply(cmd, &fn.Spec, true)
		fn.Code = code // nil keeps the stored package
		if err := c.Update(ctx, fn); err != nil {
			return a.explainFn(err, "update", f.name, fn.Spec.Environment)
		}
		fn.Code = nil
		return a.done(fn, "function %s updated", quote(fn.Metadata.Name))
	})
	return cmd
}

// explainFn adds hints to a create or update error: a missing environment
// is the likely cause of a 404.
func (a *app) explainFn(err error, op, name, env string) error {
	if client.StatusOf(err) == http.StatusNotFound {
		return withHint(err, fmt.Sprintf("check that environment %s exists with 'lantern env list -n %s'", quote(env), a.namespace))
	}
	return a.explain(err, op, "fn", name)
}

func (a *app) newFnGetCmd() *cobra.Command {
	var name string
	cmd := &cobra.Command{
		Use:   "get",
		Short: "Show a function",
		Args:  noArgs,
	}
	nameFlag(cmd, &name, "function", true)
	cmd.RunE = a.run(func(cmd *cobra.Command) error {
		ctx, cancel := a.apiContext(cmd)
		defer cancel()
		fn := &api.Function{}
		if err := a.controller().Get(ctx, a.namespace, name, fn); err != nil {
			return a.explain(err, "get", "fn", name)
		}
		fn.Code = nil
		return a.print(fn, func(t *table) { t.details(a.fnDetails(fn)) })
	})
	return cmd
}

func (a *app) fnDetails(fn *api.Function) []field {
	s := &fn.Spec
	pkg := ""
	if p := s.Package; p.Filename != "" || p.Size != 0 {
		pkg = fmt.Sprintf("%s (%d bytes", p.Filename, p.Size)
		if p.Archive {
			pkg += ", zip"
		}
		if len(p.Checksum) >= 12 {
			pkg += ", sha256 " + p.Checksum[:12]
		}
		pkg += ")"
	}
	return []field{
		{"Name", fn.Metadata.Name},
		{"Namespace", fn.Metadata.Namespace},
		{"Environment", s.Environment},
		{"Package", pkg},
		{"Entrypoint", s.Entrypoint},
		{"Concurrency", number(s.Concurrency)},
		{"Requests per pod", number(s.RequestsPerPod)},
		{"Idle timeout", seconds(s.IdleTimeout)},
		{"Function timeout", seconds(s.FunctionTimeout)},
		{"Specialization timeout", seconds(s.SpecializationTimeout)},
		{"Resource version", fn.Metadata.ResourceVersion},
		{"Created", a.timestamp(fn.Metadata.CreatedAt)},
		{"Updated", a.timestamp(fn.Metadata.UpdatedAt)},
	}
}

func (a *app) newFnListCmd() *cobra.Command {
	var all bool
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List functions",
		Args:  noArgs,
	}
	allNamespacesFlag(cmd, &all)
	cmd.RunE = a.run(func(cmd *cobra.Command) error {
		ctx, cancel := a.apiContext(cmd)
		defer cancel()
		fns, err := a.controller().ListFunctions(ctx, a.listNamespace(all))
		if err != nil {
			return err
		}
		if fns == nil {
			fns = []api.Function{}
		}
		for i := range fns {
			fns[i].Code = nil
		}
		return a.print(fns, func(t *table) {
			t.row(withNamespace(all, "NAMESPACE",
				"NAME", "ENV", "ENTRYPOINT", "CONCURRENCY", "RPP", "IDLE", "TIMEOUT", "AGE")...)
			for _, fn := range fns {
				s := &fn.Spec
				t.row(withNamespace(all, fn.Metadata.Namespace,
					fn.Metadata.Name, s.Environment, orDash(s.Entrypoint), number(s.Concurrency),
					number(s.RequestsPerPod), seconds(s.IdleTimeout), seconds(s.FunctionTimeout),
					age(a.now(), fn.Metadata.CreatedAt))...)
			}
		})
	})
	return cmd
}

func (a *app) newFnDeleteCmd() *cobra.Command {
	return newDeleteCmd(a, api.KindFunction, "Delete a function", "function", "fn", "function")
}
