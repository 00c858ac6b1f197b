package cli

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/lantern-faas/lantern/platform/api"
	"github.com/lantern-faas/lantern/platform/client"
)

// Defaults of the global flags and environment variables.
const (
	DefaultServerURL = "http://127.0.0.1:8889"
	DefaultRouterURL = "http://127.0.0.1:8888"
	DefaultTimeout   = 30 * time.Second
)

// Main runs lantern with args (without the program name) and returns the
// process exit code: 0 on success, 1 when the command failed, 2 on a usage
// error. Environment variables are read only through getenv.
func Main(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, getenv func(string) string) int {
	a := &app{
		stdin:  stdin,
		stdout: stdout,
		stderr: stderr,
		getenv: getenv,
		now:    time.Now,
	}
	root := a.newRootCmd()
	root.SetArgs(args)
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	cmd, err := root.ExecuteContextC(ctx)
	return a.report(cmd, err)
}

// app holds the global flags and the injected process environment of one
// run of lantern.
type app struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	getenv         func(string) string
	now            func() time.Time

	server    string
	namespace string
	output    string
	timeout   time.Duration

	// running is set once a command's RunE starts: errors before it are
	// usage errors.
	running bool
}

func (a *app) newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:   "lantern",
		Short: "Manage functions, environments and routes of a Lantern server",
		Long: `lantern manages the functions, environments and HTTP routes of a Lantern
server. Its verbs and flags follow Fission's CLI.

  lantern env create --name python --runtime python
  lantern fn create --name hello --env python --code hello.py
  lantern route create --function hello --url /hello
  lantern fn test --name hello`,
		SilenceUsage:      true,
		SilenceErrors:     true,
		PersistentPreRunE: a.checkGlobalFlags,
	}
	server := a.getenv("LANTERN_URL")
	if server == "" {
		server = DefaultServerURL
	}
	pf := root.PersistentFlags()
	pf.StringVar(&a.server, "server", server, "URL of the Lantern API (env LANTERN_URL)")
	pf.StringVarP(&a.namespace, "namespace", "n", api.DefaultNamespace, "namespace of the objects")
	pf.StringVarP(&a.output, "output", "o", "table", "output format: table, json or yaml")
	pf.DurationVar(&a.timeout, "timeout", DefaultTimeout, "timeout of each API call")
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return &usageError{err: err} })
	root.AddCommand(a.newEnvCmd(), a.newFnCmd(), a.newRouteCmd(), a.newTimerCmd(), a.newMQTCmd(), a.newVersionCmd())
	return root
}

func (a *app) checkGlobalFlags(*cobra.Command, []string) error {
	switch a.output {
	case "table", "json", "yaml":
	default:
		return usageErrorf("invalid output format %q for -o: use table, json or yaml", a.output)
	}
	if a.namespace == "" {
		return usageErrorf("--namespace must not be empty")
	}
	if err := api.ValidateName("--namespace", a.namespace); err != nil {
		return &usageError{err: err}
	}
	return nil
}

// run wraps a command's body so that its errors count as runtime errors.
func (a *app) run(fn func(cmd *cobra.Command) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, _ []string) error {
		a.running = true
		return fn(cmd)
	}
}

// controller returns a client of the API at --server.
func (a *app) controller() *client.Controller {
	return client.NewController(a.server, &http.Client{})
}

// apiContext bounds one API call by --timeout.
func (a *app) apiContext(cmd *cobra.Command) (context.Context, context.CancelFunc) {
	if a.timeout <= 0 {
		return context.WithCancel(cmd.Context())
	}
	return context.WithTimeout(cmd.Context(), a.timeout)
}

// newGroupCmd returns a command that only holds subcommands.
func newGroupCmd(use string, aliases []string, short string) *cobra.Command {
	return &cobra.Command{
		Use:     use,
		Aliases: aliases,
		Short:   short,
		Args:    noArgs,
		// Suggest "list" for "lst" as cobra does for top-level commands.
		SuggestionsMinimumDistance: 2,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return cmd.Help()
		},
	}
}

// noArgs rejects positional arguments: names are given with --name, as in
// Fission.
func noArgs(cmd *cobra.Command, args []string) error {
	if len(args) == 0 {
		return nil
	}
	if cmd.HasSubCommands() {
		err := &usageError{err: fmt.Errorf("unknown command %q for %q", args[0], cmd.CommandPath())}
		if s := cmd.SuggestionsFor(args[0]); len(s) > 0 {
			err.hint = "did you mean '" + cmd.CommandPath() + " " +
				strings.Join(s, "' or '"+cmd.CommandPath()+" ") + "'?"
		}
		return err
	}
	if cmd.Flags().Lookup("name") != nil {
		return usageErrorf("unexpected argument %q: give the name with --name", args[0])
	}
	return usageErrorf("unexpected argument %q", args[0])
}

// aliasFlags makes old or short flag names equivalent to the given ones
// (--entry for --entrypoint).
func aliasFlags(cmd *cobra.Command, aliases map[string]string) {
	cmd.Flags().SetNormalizeFunc(func(_ *pflag.FlagSet, name string) pflag.NormalizedName {
		if to, ok := aliases[name]; ok {
			name = to
		}
		return pflag.NormalizedName(name)
	})
}

// nameFlag adds the --name flag; required marks it required.
func nameFlag(cmd *cobra.Command, p *string, what string, required bool) {
	cmd.Flags().StringVar(p, "name", "", "name of the "+what)
	if required {
		_ = cmd.MarkFlagRequired("name")
	}
}

// quote formats a name as Fission's CLI does in its messages.
func quote(s string) string { return "'" + s + "'" }

// printf writes a status line to stdout in table mode only, so that json and
// yaml output stay parseable.
func (a *app) printf(format string, args ...any) {
	if a.output != "table" {
		return
	}
	msg := fmt.Sprintf(format, args...)
	if !strings.HasSuffix(msg, "\n") {
		msg += "\n"
	}
	_, _ = io.WriteString(a.stdout, msg)
}

// done reports a created or updated object: a status line in table mode,
// the object itself with -o json or yaml.
func (a *app) done(obj any, format string, args ...any) error {
	if a.output == "table" {
		a.printf(format, args...)
		return nil
	}
	return a.print(obj, nil)
}

// allNamespacesFlag adds -A/--all-namespaces to a list command.
func allNamespacesFlag(cmd *cobra.Command, p *bool) {
	cmd.Flags().BoolVarP(p, "all-namespaces", "A", false, "list the objects of every namespace")
}

// listNamespace is the namespace to list: "" lists them all.
func (a *app) listNamespace(all bool) string {
	if all {
		return ""
	}
	return a.namespace
}
