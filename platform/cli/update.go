package cli

import (
	"github.com/spf13/cobra"

	"github.com/lantern-faas/lantern/platform/api"
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
