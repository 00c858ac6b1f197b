package cli

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/lantern-faas/lantern/platform/api"
)

func (a *app) newEnvCmd() *cobra.Command {
	cmd := newGroupCmd("env", []string{"environment"}, "Manage environments (language runtimes)")
	cmd.AddCommand(
		a.newEnvCreateCmd(),
		a.newEnvGetCmd(),
		a.newEnvListCmd(),
		a.newEnvUpdateCmd(),
		a.newEnvDeleteCmd(),
	)
	return cmd
}

// envFlags are the flags of env create and env update.
type envFlags struct {
	name        string
	runtime     string
	command     string
	image       string
	poolsize    int
	version     int
	keepArchive bool
	env         []string
}

func (f *envFlags) register(cmd *cobra.Command) {
	nameFlag(cmd, &f.name, "environment", true)
	fl := cmd.Flags()
	fl.StringVar(&f.runtime, "runtime", "", "built-in runtime: "+strings.Join(api.Runtimes, ", "))
	fl.StringVar(&f.command, "command", "", "command line that starts a custom runtime (instead of --runtime)")
	fl.StringVar(&f.image, "image", "", "container image of the runtime (used on Kubernetes)")
	fl.IntVar(&f.poolsize, "poolsize", api.DefaultPoolsize, "number of warm generic instances")
	fl.IntVar(&f.version, "version", api.DefaultEnvVersion, "runtime contract version: 1, 2 or 3")
	fl.BoolVar(&f.keepArchive, "keeparchive", false, "keep zip packages unextracted")
	fl.StringArrayVar(&f.env, "env", nil, "environment variable of instances, KEY=VALUE (repeatable; on update it replaces the list)")
	aliasFlags(cmd, map[string]string{"runtime-env": "env"})
}

// apply copies the flags to spec: all of them, or only those given on the
// command line when onlyChanged is set.
func (f *envFlags) apply(cmd *cobra.Command, s *api.EnvironmentSpec, onlyChanged bool) {
	set := func(name string) bool { return !onlyChanged || cmd.Flags().Changed(name) }
	if set("runtime") {
		s.Runtime = f.runtime
		if onlyChanged && !cmd.Flags().Changed("command") {
			s.Command = "" // a runtime replaces a custom command
		}
	}
	if set("command") {
		s.Command = f.command
		if onlyChanged && !cmd.Flags().Changed("runtime") {
			s.Runtime = "" // a custom command replaces a runtime
		}
	}
	if set("image") {
		s.Image = f.image
	}
	if set("poolsize") {
		s.Poolsize = f.poolsize
	}
	if set("version") {
		s.Version = f.version
	}
	if set("keeparchive") {
		s.KeepArchive = f.keepArchive
	}
	if set("env") {
		s.Env = f.env
	}
}

func (a *app) newEnvCreateCmd() *cobra.Command {
	var f envFlags
	cmd := &cobra.Command{
		Use:   "create",
		Short: "Create an environment",
		Example: `  lantern env create --name python --runtime python
  lantern env create --name custom --command './server --port $PORT' --poolsize 1`,
		Args: noArgs,
	}
	f.register(cmd)
	cmd.RunE = a.run(func(cmd *cobra.Command) error {
		env := &api.Environment{
			Kind:     api.KindEnvironment,
			Metadata: api.Metadata{Name: f.name, Namespace: a.namespace},
		}
		f.apply(cmd, &env.Spec, false)
		ctx, cancel := a.apiContext(cmd)
		defer cancel()
		if err := a.controller().Create(ctx, env); err != nil {
			return a.explain(err, "create", "env", f.name)
		}
		return a.done(env, "environment %s created", quote(env.Metadata.Name))
	})
	return cmd
}

func (a *app) newEnvUpdateCmd() *cobra.Command {
	var f envFlags
	cmd := &cobra.Command{
		Use:     "update",
		Short:   "Change an environment; only the flags given are changed",
		Example: `  lantern env update --name python --poolsize 5`,
		Args:    noArgs,
	}
	f.register(cmd)
	cmd.RunE = a.run(func(cmd *cobra.Command) error {
		ctx, cancel := a.apiContext(cmd)
		defer cancel()
		c := a.controller()
		env := &api.Environment{}
		if err := c.Get(ctx, a.namespace, f.name, env); err != nil {
			return a.explain(err, "get", "env", f.name)
		}
		f.apply(cmd, &env.Spec, true)
		if err := c.Update(ctx, env); err != nil {
			return a.explain(err, "update", "env", f.name)
		}
		return a.done(env, "environment %s updated", quote(env.Metadata.Name))
	})
	return cmd
}

func (a *app) newEnvGetCmd() *cobra.Command {
	var name string
	cmd := &cobra.Command{
		Use:   "get",
		Short: "Show an environment",
		Args:  noArgs,
	}
	nameFlag(cmd, &name, "environment", true)
	cmd.RunE = a.run(func(cmd *cobra.Command) error {
		ctx, cancel := a.apiContext(cmd)
		defer cancel()
		env := &api.Environment{}
		if err := a.controller().Get(ctx, a.namespace, name, env); err != nil {
			return a.explain(err, "get", "env", name)
		}
		return a.print(env, func(t *table) { t.details(a.envDetails(env)) })
	})
	return cmd
}

func (a *app) envDetails(e *api.Environment) []field {
	s := &e.Spec
	return []field{
		{"Name", e.Metadata.Name},
		{"Namespace", e.Metadata.Namespace},
		{"Runtime", s.Runtime},
		{"Command", s.Command},
		{"Image", s.Image},
		{"Version", number(s.Version)},
		{"Poolsize", fmt.Sprint(s.Poolsize)},
		{"Keep archive", fmt.Sprint(s.KeepArchive)},
		{"Env", strings.Join(s.Env, " ")},
		{"Resource version", e.Metadata.ResourceVersion},
		{"Created", a.timestamp(e.Metadata.CreatedAt)},
		{"Updated", a.timestamp(e.Metadata.UpdatedAt)},
	}
}

func (a *app) newEnvListCmd() *cobra.Command {
	var all bool
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List environments",
		Args:  noArgs,
	}
	allNamespacesFlag(cmd, &all)
	cmd.RunE = a.run(func(cmd *cobra.Command) error {
		ctx, cancel := a.apiContext(cmd)
		defer cancel()
		envs, err := a.controller().ListEnvironments(ctx, a.listNamespace(all))
		if err != nil {
			return err
		}
		if envs == nil {
			envs = []api.Environment{}
		}
		return a.print(envs, func(t *table) {
			t.row(withNamespace(all, "NAMESPACE", "NAME", "RUNTIME", "POOLSIZE", "VERSION", "AGE")...)
			for _, e := range envs {
				t.row(withNamespace(all, e.Metadata.Namespace,
					e.Metadata.Name, envRuntime(&e.Spec), fmt.Sprint(e.Spec.Poolsize),
					number(e.Spec.Version), age(a.now(), e.Metadata.CreatedAt))...)
			}
		})
	})
	return cmd
}

// envRuntime names the runtime of an environment for the list view.
func envRuntime(s *api.EnvironmentSpec) string {
	switch {
	case s.Runtime != "":
		return s.Runtime
	case s.Command != "":
		return "custom"
	case s.Image != "":
		return "image"
	}
	return "-"
}

func (a *app) newEnvDeleteCmd() *cobra.Command {
	return newDeleteCmd(a, api.KindEnvironment, "Delete an environment", "environment", "env", "environment")
}
