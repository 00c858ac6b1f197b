package cli

import (
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/lantern-faas/lantern/platform/api"
	"github.com/lantern-faas/lantern/platform/client"
)

// asyncClient returns a client of the invocations API, which lanternd all
// serves on the API's address.
func (a *app) asyncClient() *client.Async { return client.NewAsync(a.server, &http.Client{}) }

func (a *app) newFnInvocationsCmd() *cobra.Command {
	var (
		name, status, id string
		limit            int
	)
	cmd := &cobra.Command{
		Use:   "invocations",
		Short: "List a function's asynchronous invocations, or show one with --id",
		Long: `List a function's asynchronous invocations (calls made with the header
X-Lantern-Invoke-Mode: async or through /async/<namespace>/<function>),
newest first. --status failed lists the dead letters, which
'lantern fn replay --id ID' queues again. The request ID of an attempt
finds its logs: 'lantern fn logs --name NAME --request-id ID'.`,
		Example: `  lantern fn invocations --name resize
  lantern fn invocations --name resize --status failed
  lantern fn invocations --id 4bf92f3577b34da6a3ce929d0e0e4736`,
		Args: noArgs,
	}
	cmd.Flags().StringVar(&name, "name", "", "function whose invocations to list")
	cmd.Flags().StringVar(&status, "status", "", "only invocations with this status: queued, running, retrying, succeeded, failed")
	cmd.Flags().StringVar(&id, "id", "", "show this invocation")
	cmd.Flags().IntVar(&limit, "limit", 50, "most invocations to list")
	cmd.RunE = a.run(func(cmd *cobra.Command) error {
		ctx, cancel := a.apiContext(cmd)
		defer cancel()
		if id != "" {
			inv, err := a.asyncClient().Invocation(ctx, id)
			if err != nil {
				return a.explain(err, "get", "invocation", id)
			}
			return a.print(inv, func(tb *table) { tb.details(a.invocationDetails(inv)) })
		}
		if name == "" {
			return usageErrorf("give the function with --name, or an invocation with --id")
		}
		list, err := a.asyncClient().Invocations(ctx, a.namespace, name, status, limit)
		if err != nil {
			return a.explain(err, "list invocations of", "fn", name)
		}
		if list == nil {
			list = []api.Invocation{}
		}
		return a.print(list, func(tb *table) {
			tb.row("ID", "STATUS", "ATTEMPTS", "CODE", "DURATION", "AGE", "REQUEST ID")
			for _, inv := range list {
				tb.row(inv.ID, inv.Status, fmt.Sprintf("%d/%d", inv.Attempts, inv.MaxAttempts), number(inv.ResponseStatus),
					durationOrDash(inv.Duration), age(a.now(), inv.CreatedAt), orDash(inv.RequestID))
			}
		})
	})
	return cmd
}

func (a *app) invocationDetails(inv *api.Invocation) []field {
	return []field{
		{"ID", inv.ID},
		{"Function", inv.Namespace + "/" + inv.Function},
		{"Request", inv.Method + " " + orDash(inv.Subpath)},
		{"Status", inv.Status},
		{"Attempts", fmt.Sprintf("%d of %d", inv.Attempts, inv.MaxAttempts)},
		{"Replays", strconv.Itoa(inv.Replays)},
		{"Response status", number(inv.ResponseStatus)},
		{"Duration", durationOrDash(inv.Duration)},
		{"Error", orDash(inv.Error)},
		{"Request ID", orDash(inv.RequestID)},
		{"Callback", orDash(inv.CallbackURL)},
		{"Created", a.timestamp(inv.CreatedAt)},
		{"Updated", a.timestamp(inv.UpdatedAt)},
		{"Response", orDash(inv.Response)},
	}
}

func (a *app) newFnReplayCmd() *cobra.Command {
	var id string
	cmd := &cobra.Command{
		Use:     "replay",
		Short:   "Queue a failed asynchronous invocation (a dead letter) again",
		Example: `  lantern fn replay --id 4bf92f3577b34da6a3ce929d0e0e4736`,
		Args:    noArgs,
	}
	cmd.Flags().StringVar(&id, "id", "", "invocation to replay")
	_ = cmd.MarkFlagRequired("id")
	cmd.RunE = a.run(func(cmd *cobra.Command) error {
		ctx, cancel := a.apiContext(cmd)
		defer cancel()
		inv, err := a.asyncClient().Replay(ctx, id)
		if err != nil {
			return a.explain(err, "replay", "invocation", id)
		}
		return a.done(inv, "invocation %s queued again (replay %d)", quote(inv.ID), inv.Replays)
	})
	return cmd
}

func durationOrDash(d time.Duration) string {
	if d == 0 {
		return "-"
	}
	return d.Round(time.Millisecond).String()
}
