package cli

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/lantern-faas/lantern/platform/internal/version"
)

// versions is the output of lantern version.
type versions struct {
	Client string `json:"client"`
	Server string `json:"server,omitempty"`
	// ServerError says why the server's version is unknown.
	ServerError string `json:"serverError,omitempty"`
}

func (a *app) newVersionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the versions of lantern and of the server",
		Args:  noArgs,
		RunE: a.run(func(cmd *cobra.Command) error {
			ctx, cancel := a.apiContext(cmd)
			defer cancel()
			v := versions{Client: version.Version}
			server, err := a.controller().Version(ctx)
			if err != nil {
				if cmd.Context().Err() != nil {
					return cmd.Context().Err()
				}
				// The client's version is still worth printing.
				msg, _ := a.describe(err)
				v.ServerError = msg
			}
			v.Server = server
			return a.print(v, func(t *table) {
				t.row("Client:", v.Client)
				if v.ServerError != "" {
					t.row("Server:", "unknown ("+v.ServerError+")")
					return
				}
				t.row("Server:", fmt.Sprintf("%s (%s)", v.Server, a.server))
			})
		}),
	}
}
