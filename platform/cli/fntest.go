package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/lantern-faas/lantern/platform/api"
)

// DefaultTestTimeout bounds fn test.
const DefaultTestTimeout = 60 * time.Second

// fnTestFlags are the flags of fn test.
type fnTestFlags struct {
	name    string
	method  string
	body    string
	headers []string
	query   []string
	timeout time.Duration
	subpath string
}

func (a *app) newFnTestCmd() *cobra.Command {
	var f fnTestFlags
	cmd := &cobra.Command{
		Use:   "test",
		Short: "Call a function through the router and print its answer",
		Long: `Call a function through the router (LANTERN_ROUTER_URL, default ` + DefaultRouterURL + `)
at /fn/<namespace>/<name> and print the body of its answer. An answer with a
status of 400 or more makes the command fail.`,
		Example: `  lantern fn test --name hello
  lantern fn test --name hello --method POST -b '{"a":1}' -H Content-Type:application/json
  lantern fn test --name api --subpath /users/42 -q verbose=1`,
		Args: noArgs,
	}
	nameFlag(cmd, &f.name, "function", true)
	fl := cmd.Flags()
	fl.StringVar(&f.method, "method", http.MethodGet, "HTTP method")
	fl.StringVarP(&f.body, "body", "b", "", "request body")
	fl.StringArrayVarP(&f.headers, "header", "H", nil, "request header, key:value (repeatable)")
	fl.StringArrayVarP(&f.query, "query", "q", nil, "query parameter, key=value (repeatable)")
	fl.DurationVarP(&f.timeout, "timeout", "t", DefaultTestTimeout, "how long to wait for the whole answer")
	fl.StringVar(&f.subpath, "subpath", "", "path appended to the function's URL, like /users/42")
	cmd.RunE = a.run(func(cmd *cobra.Command) error { return a.fnTest(cmd, &f) })
	return cmd
}

func (a *app) fnTest(cmd *cobra.Command, f *fnTestFlags) error {
	router := strings.TrimRight(a.getenv("LANTERN_ROUTER_URL"), "/")
	if router == "" {
		router = DefaultRouterURL
	}
	ctx := cmd.Context()
	if f.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, f.timeout)
		defer cancel()
	}
	req, err := f.request(ctx, router, a.namespace)
	if err != nil {
		return err
	}
	hc := &http.Client{
		// Show the function's own answer, not where it redirects to.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	resp, err := hc.Do(req)
	if err != nil {
		return f.transportError(cmd.Context(), ctx, router, err)
	}
	defer resp.Body.Close()
	if _, err := io.Copy(a.stdout, resp.Body); err != nil {
		if ctx.Err() != nil {
			return f.transportError(cmd.Context(), ctx, router, err)
		}
		return fmt.Errorf("read the answer of function %s: %w", f.name, err)
	}
	if resp.StatusCode >= 400 {
		a.showRequestLogs(cmd.Context(), f.name, resp.Header.Get(api.RequestIDHeader))
		return fmt.Errorf("function %s answered %d %s", f.name, resp.StatusCode, http.StatusText(resp.StatusCode))
	}
	return nil
}

// showRequestLogs prints, on stderr, what the function printed while it
// served the failed request. Lines take a moment to be stored, so it looks
// a few times; a platform without logs shows nothing.
func (a *app) showRequestLogs(ctx context.Context, name, requestID string) {
	if requestID == "" {
		return
	}
	params := url.Values{"request_id": {requestID}, "limit": {"200"}}
	for try := 0; try < 6; try++ {
		if try > 0 {
			select {
			case <-ctx.Done():
				return
			case <-time.After(250 * time.Millisecond):
			}
		}
		qctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		recs, err := a.controller().Logs(qctx, a.namespace, name, params)
		cancel()
		if err != nil {
			return
		}
		if len(recs) > 0 {
			fmt.Fprintf(a.stderr, "--- logs of request %s ---\n", requestID)
			for _, r := range recs {
				fmt.Fprintf(a.stderr, "[%s] %s\n", r.Stream, r.Message)
			}
			return
		}
	}
}

// request builds the request to the function at router.
func (f *fnTestFlags) request(ctx context.Context, router, ns string) (*http.Request, error) {
	target := router + "/fn/" + url.PathEscape(ns) + "/" + url.PathEscape(f.name)
	if f.subpath != "" && !strings.HasPrefix(f.subpath, "/") {
		target += "/"
	}
	target += f.subpath
	if len(f.query) > 0 {
		q := url.Values{}
		for _, kv := range f.query {
			k, v, _ := strings.Cut(kv, "=")
			if k == "" {
				return nil, usageErrorf("invalid query parameter %q: use -q key=value", kv)
			}
			q.Add(k, v)
		}
		sep := "?"
		if strings.Contains(f.subpath, "?") {
			sep = "&"
		}
		target += sep + q.Encode()
	}
	var body io.Reader
	if f.body != "" {
		body = strings.NewReader(f.body)
	}
	req, err := http.NewRequestWithContext(ctx, strings.ToUpper(f.method), target, body)
	if err != nil {
		return nil, usageErrorf("invalid request: %w", err)
	}
	for _, kv := range f.headers {
		k, v, ok := strings.Cut(kv, ":")
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		if !ok || k == "" {
			return nil, usageErrorf("invalid header %q: use -H key:value", kv)
		}
		if strings.EqualFold(k, "Host") {
			req.Host = v
			continue
		}
		req.Header.Add(k, v)
	}
	return req, nil
}

// transportError explains a failed call: interrupted, timed out, or the
// router is not there.
func (f *fnTestFlags) transportError(parent, ctx context.Context, router string, err error) error {
	switch {
	case parent.Err() != nil:
		return parent.Err()
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		return withHint(fmt.Errorf("function %s did not answer within %s", f.name, f.timeout),
			"raise -t/--timeout, or check the function's logs")
	}
	return withHint(fmt.Errorf("cannot reach the router at %s: %s", router, connectCause(err)),
		"start it with 'make run' or set LANTERN_ROUTER_URL")
}
