package cli

import (
	"context"

	"github.com/spf13/cobra"

	"github.com/lantern-faas/lantern/platform/api"
	"github.com/lantern-faas/lantern/platform/client"
)

// kindFlags are the flags of a kind's create and update commands, which
// set the fields of its spec S.
type kindFlags[S any] interface {
	register(cmd *cobra.Command, create bool)
	apply(cmd *cobra.Command, s *S, onlyChanged bool)
	objectName() string
}

// newUpdateCmd is the update command of a kind whose flags set its spec:
// it reads the object, changes the fields whose flags were given, and
// writes it back (a stale read is refused by the server, not overwritten).
func newUpdateCmd[T any, P interface {
	*T
	api.Object
}, S any](a *app, f kindFlags[S], noun, short, example string, spec func(P) *S) *cobra.Command {
	cmd := &cobra.Command{Use: "update", Short: short, Example: example, Args: noArgs}
	f.register(cmd, false)
	cmd.RunE = a.run(func(cmd *cobra.Command) error {
		ctx, cancel := a.apiContext(cmd)
		defer cancel()
		c := a.controller()
		name := f.objectName()
		var obj P = new(T)
		if err := c.Get(ctx, a.namespace, name, obj); err != nil {
			return a.explain(err, "get", noun, name)
		}
		f.apply(cmd, spec(obj), true)
		if err := c.Update(ctx, obj); err != nil {
			return a.explain(err, "update", noun, name)
		}
		return a.done(obj, noun+" %s updated", quote(obj.GetMetadata().Name))
	})
	return cmd
}

// newListCmd is the list command of a kind: a table with header's columns
// (and NAMESPACE first with --all-namespaces), or the objects with -o.
func newListCmd[T any, P interface {
	*T
	api.Object
}](a *app, short string, list func(c *client.Controller, ctx context.Context, ns string) ([]T, error),
	header []string, row func(P) []string) *cobra.Command {
	var all bool
	cmd := &cobra.Command{Use: "list", Short: short, Args: noArgs}
	allNamespacesFlag(cmd, &all)
	cmd.RunE = a.run(func(cmd *cobra.Command) error {
		ctx, cancel := a.apiContext(cmd)
		defer cancel()
		objs, err := list(a.controller(), ctx, a.listNamespace(all))
		if err != nil {
			return err
		}
		if objs == nil {
			objs = []T{}
		}
		return a.print(objs, func(tb *table) {
			tb.row(withNamespace(all, "NAMESPACE", header...)...)
			for i := range objs {
				var o P = &objs[i]
				tb.row(withNamespace(all, o.GetMetadata().Namespace, row(o)...)...)
			}
		})
	})
	return cmd
}

// newDeleteCmd is a kind's delete command: --name names the object (flag
// says what it is), explainAs is how errors name the kind, noun how the
// confirmation does.
func newDeleteCmd(a *app, kind, short, flag, explainAs, noun string) *cobra.Command {
	var name string
	cmd := &cobra.Command{Use: "delete", Short: short, Args: noArgs}
	nameFlag(cmd, &name, flag, true)
	cmd.RunE = a.run(func(cmd *cobra.Command) error {
		ctx, cancel := a.apiContext(cmd)
		defer cancel()
		if err := a.controller().Delete(ctx, kind, a.namespace, name); err != nil {
			return a.explain(err, "delete", explainAs, name)
		}
		a.printf("%s %s deleted", noun, quote(name))
		return nil
	})
	return cmd
}
