package cli

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/lantern-faas/lantern/platform/api"
)

func (a *app) newFnColdStartsCmd() *cobra.Command {
	var name string
	var count int
	cmd := &cobra.Command{
		Use:   "coldstarts",
		Short: "Show a function's recent cold starts as a waterfall of their phases",
		Args:  noArgs,
	}
	nameFlag(cmd, &name, "function", true)
	cmd.Flags().IntVarP(&count, "count", "c", 10, "how many of the most recent cold starts to show")
	cmd.RunE = a.run(func(cmd *cobra.Command) error {
		ctx, cancel := a.apiContext(cmd)
		defer cancel()
		list, err := a.controller().ColdStarts(ctx, a.namespace, name)
		if err != nil {
			return a.explain(err, "get cold starts of", "fn", name)
		}
		if count > 0 && len(list) > count {
			list = list[:count]
		}
		if a.output == "json" || a.output == "yaml" {
			return a.print(list, nil)
		}
		if len(list) == 0 {
			_, err := fmt.Fprintf(a.stdout, "no cold starts of %q yet: call it with 'lantern fn test --name %s'\n", name, name)
			return err
		}
		return writeWaterfall(a.stdout, list, a.timestamp)
	})
	return cmd
}

// waterfallWidth is the width of the bars, in characters.
const waterfallWidth = 40

// writeWaterfall draws each cold start as a bar split into its phases, all
// on the scale of the slowest: acquire (a), fetch (f), specialize (s).
func writeWaterfall(w io.Writer, list []api.ColdStart, ts func(time.Time) string) error {
	var longest time.Duration
	for _, cs := range list {
		longest = max(longest, cs.Total)
	}
	if longest <= 0 {
		longest = time.Millisecond
	}
	scale := func(d time.Duration) int {
		if d <= 0 {
			return 0
		}
		return max(1, int(float64(d)/float64(longest)*waterfallWidth+0.5))
	}
	t := newTable(w)
	t.row("TIME", "OUTCOME", "TOTAL", "ACQUIRE", "FETCH", "SPECIALIZE", "PHASES (a=acquire f=fetch s=specialize)", "TRACE")
	for _, cs := range list {
		bar := strings.Repeat("a", scale(cs.Acquire)) + strings.Repeat("f", scale(cs.Fetch)) + strings.Repeat("s", scale(cs.Specialize))
		if len(bar) > waterfallWidth+3 {
			bar = bar[:waterfallWidth+3]
		}
		t.row(ts(cs.Time), cs.Outcome, ms(cs.Total), ms(cs.Acquire), ms(cs.Fetch), ms(cs.Specialize), "|"+bar, orDash(cs.TraceID))
	}
	if err := t.flush(); err != nil {
		return err
	}
	for _, cs := range list {
		if cs.Error != "" {
			fmt.Fprintf(w, "\n%s %s: %s\n", ts(cs.Time), cs.Outcome, cs.Error)
			break
		}
	}
	return nil
}

func ms(d time.Duration) string {
	return fmt.Sprintf("%.1fms", float64(d.Microseconds())/1000)
}
