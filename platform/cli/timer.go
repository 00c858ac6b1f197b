package cli

import (
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/lantern-faas/lantern/platform/api"
	"github.com/lantern-faas/lantern/platform/client"
	"github.com/lantern-faas/lantern/platform/schedule"
)

func (a *app) newTimerCmd() *cobra.Command {
	cmd := newGroupCmd("timer", []string{"timetrigger", "tt"}, "Manage timers: functions called on a cron schedule")
	cmd.AddCommand(
		a.newTimerCreateCmd(),
		a.newTimerGetCmd(),
		a.newTimerListCmd(),
		a.newTimerUpdateCmd(),
		a.newTimerDeleteCmd(),
		a.newTimerShowScheduleCmd(),
	)
	return cmd
}

// timerFlags are the flags of timer create and timer update.
type timerFlags struct {
	name     string
	function string
	cron     string
	method   string
	subpath  string
}

func (f *timerFlags) objectName() string { return f.name }

func (f *timerFlags) register(cmd *cobra.Command, create bool) {
	what := "timer (default <function>-<random>)"
	if !create {
		what = "timer"
	}
	nameFlag(cmd, &f.name, what, !create)
	fl := cmd.Flags()
	fl.StringVar(&f.function, "function", "", "function the timer calls")
	fl.StringVar(&f.cron, "cron", "", `schedule in UTC: cron fields with optional seconds ("*/5 * * * * *", "0 3 * * *") or "@every 10s", "@hourly"`)
	fl.StringVar(&f.method, "method", api.DefaultTimerMethod, "HTTP method of the call")
	fl.StringVar(&f.subpath, "subpath", "/", "path after the function's URL")
	if create {
		_ = cmd.MarkFlagRequired("function")
		_ = cmd.MarkFlagRequired("cron")
	}
}

// apply copies the flags to s: all, or those given when onlyChanged is set.
func (f *timerFlags) apply(cmd *cobra.Command, s *api.TimeTriggerSpec, onlyChanged bool) {
	set := func(name string) bool { return !onlyChanged || cmd.Flags().Changed(name) }
	if set("function") {
		s.FunctionRef = api.FunctionRef{Type: "name", Name: f.function}
	}
	if set("cron") {
		s.Cron = f.cron
	}
	if set("method") {
		s.Method = strings.ToUpper(strings.TrimSpace(f.method))
	}
	if set("subpath") {
		s.Subpath = slashed(f.subpath)
	}
}

func (a *app) newTimerCreateCmd() *cobra.Command {
	var f timerFlags
	cmd := &cobra.Command{
		Use:   "create",
		Short: "Call a function on a cron schedule",
		Example: `  lantern timer create --name nightly --function report --cron "0 3 * * *"
  lantern timer create --function ping --cron "@every 10s" --method GET --subpath /health`,
		Args: noArgs,
	}
	f.register(cmd, true)
	cmd.RunE = a.run(func(cmd *cobra.Command) error {
		name := f.name
		if name == "" {
			name = f.function + "-" + randomSuffix(6)
		}
		t := &api.TimeTrigger{Kind: api.KindTimeTrigger, Metadata: api.Metadata{Name: name, Namespace: a.namespace}}
		f.apply(cmd, &t.Spec, false)
		ctx, cancel := a.apiContext(cmd)
		defer cancel()
		if err := a.controller().Create(ctx, t); err != nil {
			return a.explain(err, "create", "timer", name)
		}
		return a.done(t, "timer %s created: %q -> %s %s of function %s", quote(t.Metadata.Name), t.Spec.Cron,
			t.Spec.Method, t.Spec.Subpath, quote(t.Spec.FunctionRef.Name))
	})
	return cmd
}

func (a *app) newTimerUpdateCmd() *cobra.Command {
	return newUpdateCmd(a, &timerFlags{}, "timer", "Change a timer; only the flags given are changed",
		`  lantern timer update --name nightly --cron "0 4 * * *"`,
		func(t *api.TimeTrigger) *api.TimeTriggerSpec { return &t.Spec })
}

func (a *app) newTimerGetCmd() *cobra.Command {
	var name string
	cmd := &cobra.Command{Use: "get", Short: "Show a timer and its next runs", Args: noArgs}
	nameFlag(cmd, &name, "timer", true)
	cmd.RunE = a.run(func(cmd *cobra.Command) error {
		ctx, cancel := a.apiContext(cmd)
		defer cancel()
		t := &api.TimeTrigger{}
		if err := a.controller().Get(ctx, a.namespace, name, t); err != nil {
			return a.explain(err, "get", "timer", name)
		}
		return a.print(t, func(tb *table) {
			s := &t.Spec
			next := "-"
			if sch, err := schedule.Parse(s.Cron); err == nil {
				if n := schedule.NextN(sch, a.now(), 1); len(n) == 1 {
					next = n[0].Format(time.RFC3339)
				}
			}
			tb.details([]field{
				{"Name", t.Metadata.Name},
				{"Namespace", t.Metadata.Namespace},
				{"Cron", s.Cron},
				{"Next run", next},
				{"Method", s.Method},
				{"Subpath", s.Subpath},
				{"Function", s.FunctionRef.Name},
				{"Resource version", t.Metadata.ResourceVersion},
				{"Created", a.timestamp(t.Metadata.CreatedAt)},
				{"Updated", a.timestamp(t.Metadata.UpdatedAt)},
			})
		})
	})
	return cmd
}

func (a *app) newTimerListCmd() *cobra.Command {
	return newListCmd(a, "List timers", (*client.Controller).ListTimeTriggers,
		[]string{"NAME", "CRON", "METHOD", "SUBPATH", "FUNCTION", "AGE"},
		func(t *api.TimeTrigger) []string {
			return []string{t.Metadata.Name, t.Spec.Cron, t.Spec.Method, t.Spec.Subpath, t.Spec.FunctionRef.Name, age(a.now(), t.Metadata.CreatedAt)}
		})
}

func (a *app) newTimerDeleteCmd() *cobra.Command {
	return newDeleteCmd(a, api.KindTimeTrigger, "Delete a timer", "timer", "timer", "timer")
}

func (a *app) newTimerShowScheduleCmd() *cobra.Command {
	var (
		expr  string
		count int
	)
	cmd := &cobra.Command{
		Use:     "showschedule",
		Short:   "Print the next runs of a cron expression (no server needed)",
		Example: `  lantern timer showschedule --cron "*/5 * * * * *"`,
		Args:    noArgs,
	}
	cmd.Flags().StringVar(&expr, "cron", "", "cron expression, as for timer create")
	cmd.Flags().IntVar(&count, "round", 5, "how many runs to print")
	_ = cmd.MarkFlagRequired("cron")
	cmd.RunE = a.run(func(cmd *cobra.Command) error {
		s, err := schedule.Parse(expr)
		if err != nil {
			return withHint(err, `use 5 or 6 fields ("*/5 * * * * *" has seconds first) or a descriptor like "@every 10s" or "@hourly"`)
		}
		runs := schedule.NextN(s, a.now(), max(count, 1))
		return a.print(runs, func(tb *table) {
			tb.row("#", "TIME (UTC)", "IN")
			for i, r := range runs {
				tb.row(number(i+1), r.Format(time.RFC3339), r.Sub(a.now()).Round(time.Second).String())
			}
		})
	})
	return cmd
}
