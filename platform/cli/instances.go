package cli

import (
	"fmt"

	"github.com/spf13/cobra"
)

// newFnInstancesCmd lists a function's instances; Fission users know it as
// "fn pods".
func (a *app) newFnInstancesCmd() *cobra.Command {
	var name string
	cmd := &cobra.Command{
		Use:     "instances",
		Aliases: []string{"pods"},
		Short:   "List the instances serving a function: state, address, process, age, cold start",
		Args:    noArgs,
	}
	nameFlag(cmd, &name, "function", true)
	cmd.RunE = a.run(func(cmd *cobra.Command) error {
		ctx, cancel := a.apiContext(cmd)
		defer cancel()
		list, err := a.controller().Instances(ctx, a.namespace, name)
		if err != nil {
			return a.explain(err, "list instances of", "fn", name)
		}
		if len(list) == 0 && a.output != "json" && a.output != "yaml" {
			_, err := fmt.Fprintf(a.stdout, "no instances of %q: its first call specializes one ('lantern fn test --name %s')\n", name, name)
			return err
		}
		return a.print(list, func(t *table) {
			t.row("ID", "STATE", "ADDRESS", "PID", "AGE", "COLD START")
			for _, in := range list {
				t.row(in.ID, in.State, in.Address, number(in.PID), age(a.now(), in.CreatedAt), ms(in.ColdStart))
			}
		})
	})
	return cmd
}
