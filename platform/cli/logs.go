package cli

import (
	"fmt"
	"io"
	"net/url"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/lantern-faas/lantern/platform/api"
)

// logsFlags are the filters of fn logs.
type logsFlags struct {
	name, since, instance, requestID, traceID, grep, stream string
	follow, detail                                          bool
	count                                                   int
}

func (f *logsFlags) params() url.Values {
	v := url.Values{}
	set := func(k, val string) {
		if val != "" {
			v.Set(k, val)
		}
	}
	set("since", f.since)
	set("instance", f.instance)
	set("request_id", f.requestID)
	set("trace_id", f.traceID)
	set("contains", f.grep)
	set("stream", f.stream)
	v.Set("limit", strconv.Itoa(f.count))
	return v
}

func (a *app) newFnLogsCmd() *cobra.Command {
	f := &logsFlags{}
	cmd := &cobra.Command{
		Use:     "logs",
		Aliases: []string{"log"},
		Short:   "Show what a function printed, newest last; -f follows new lines as they come",
		Args:    noArgs,
	}
	nameFlag(cmd, &f.name, "function", true)
	fl := cmd.Flags()
	fl.BoolVarP(&f.follow, "follow", "f", false, "keep streaming new lines as the function prints them")
	fl.StringVar(&f.since, "since", "", "only lines newer than this: a duration (10m) or an RFC 3339 time")
	fl.IntVar(&f.count, "recordcount", 20, "how many of the newest lines to show")
	fl.BoolVarP(&f.detail, "detail", "d", false, "show the instance, stream and request of every line")
	fl.StringVar(&f.instance, "instance", "", "only lines of this instance")
	fl.StringVar(&f.requestID, "request-id", "", "only lines printed while serving this request (X-Lantern-Request-Id)")
	fl.StringVar(&f.traceID, "trace-id", "", "only lines of this trace")
	fl.StringVar(&f.grep, "grep", "", "only lines containing this text")
	fl.StringVar(&f.stream, "stream", "", "only stdout or stderr")
	cmd.RunE = a.run(func(cmd *cobra.Command) error {
		p := a.newLogPrinter(f.detail)
		if f.follow {
			err := a.controller().FollowLogs(cmd.Context(), a.namespace, f.name, f.params(), p.print)
			if cmd.Context().Err() != nil {
				return nil // Ctrl-C ends following
			}
			return a.explain(err, "follow the logs of", "fn", f.name)
		}
		ctx, cancel := a.apiContext(cmd)
		defer cancel()
		params := f.params()
		params.Set("desc", "true") // the newest N ...
		recs, err := a.controller().Logs(ctx, a.namespace, f.name, params)
		if err != nil {
			return a.explain(err, "get the logs of", "fn", f.name)
		}
		for i := len(recs) - 1; i >= 0; i-- { // ... printed oldest first
			if err := p.print(recs[i]); err != nil {
				return err
			}
		}
		if len(recs) == 0 && a.output == "table" {
			fmt.Fprintf(a.stderr, "no log lines of %q match\n", f.name)
		}
		return nil
	})
	return cmd
}

// logPrinter writes log lines as text, or one JSON object per line.
type logPrinter struct {
	w      io.Writer
	json   bool
	detail bool
	ts     func(time.Time) string
}

func (a *app) newLogPrinter(detail bool) *logPrinter {
	return &logPrinter{w: a.stdout, json: a.output == "json" || a.output == "yaml", detail: detail,
		ts: func(t time.Time) string { return t.Local().Format("2006-01-02T15:04:05.000Z07:00") }}
}

func (p *logPrinter) print(r api.LogRecord) error {
	var err error
	switch {
	case p.json:
		err = writeJSONLine(p.w, r)
	case p.detail:
		_, err = fmt.Fprintf(p.w, "[%s] %s %s %s %s\n", p.ts(r.Time), r.Instance, r.Stream, orDash(r.RequestID), r.Message)
	default:
		_, err = fmt.Fprintf(p.w, "[%s] %s\n", p.ts(r.Time), r.Message)
	}
	return err
}
