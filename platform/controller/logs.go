package controller

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/lantern-faas/lantern/logs"
	"github.com/lantern-faas/lantern/platform/api"
	"github.com/lantern-faas/lantern/platform/internal/httpx"
)

// WithLogs serves function logs from r (the log store in this process).
func WithLogs(r logs.Reader) Option { return func(c *Controller) { c.logs = r } }

// WithLogsProxy serves function logs by forwarding to the logger role at
// base (http://host:port), after checking the function exists.
func WithLogsProxy(base *url.URL) Option {
	return func(c *Controller) {
		p := httputil.NewSingleHostReverseProxy(base)
		p.FlushInterval = -1 // follow streams
		c.logsProxy = p
	}
}

// getLogs serves GET /v1/namespaces/:ns/functions/:name/logs.
func (c *Controller) getLogs(ctx echo.Context) error {
	fns := &kind[api.Function, *api.Function]{c: c, name: api.KindFunction}
	if _, err := fns.load(ctx.Request().Context(), ctx.Param("ns"), ctx.Param("name")); err != nil {
		return err
	}
	switch {
	case c.logs != nil:
		return ServeLogs(ctx.Response(), ctx.Request(), c.logs, ctx.Param("ns"), ctx.Param("name"))
	case c.logsProxy != nil:
		c.logsProxy.ServeHTTP(ctx.Response(), ctx.Request())
		return nil
	}
	return httpx.Errorf(http.StatusServiceUnavailable, "function logs are not available: no log store is configured").
		WithHint("start the controller with --logger-url")
}

// ServeLogs answers a logs query from r: a JSON array, or with follow=true
// an NDJSON stream that pushes new lines as they are written. The logger
// role serves it too.
func ServeLogs(w http.ResponseWriter, req *http.Request, r logs.Reader, ns, name string) error {
	q, follow, err := parseLogQuery(req.URL.Query(), time.Now())
	if err != nil {
		httpx.WriteError(w, req, err)
		return nil
	}
	q.Namespace, q.Function = ns, name
	if err := q.Validate(); err != nil {
		var qe *logs.QueryError
		if errors.As(err, &qe) {
			err = &api.ValidationError{Field: qe.Field, Message: qe.Reason}
		}
		httpx.WriteError(w, req, err)
		return nil
	}
	if !follow {
		recs, err := r.Query(req.Context(), q)
		if err != nil {
			httpx.WriteError(w, req, fmt.Errorf("query logs: %w", err))
			return nil
		}
		out := make([]api.LogRecord, len(recs))
		for i, rec := range recs {
			out[i] = toAPI(rec)
		}
		w.Header().Set("Content-Type", "application/json")
		return writeJSON(w, out)
	}
	fctx, cancel := httpx.StreamContext(req.Context())
	defer cancel()
	s := httpx.NewNDJSON(w)
	err = r.Follow(fctx, q, func(rec logs.Record) error { return s.Send(toAPI(rec)) })
	if err != nil && fctx.Err() == nil {
		_ = s.Send(api.ErrorBody{Code: "internal", Message: err.Error()})
	}
	return nil
}

// parseLogQuery reads since/until (RFC 3339 or a duration back from now),
// limit, instance, stream, request_id, trace_id, contains, desc, follow.
func parseLogQuery(v url.Values, now time.Time) (logs.Query, bool, error) {
	q := logs.Query{Limit: logs.DefaultQueryLimit, Instance: v.Get("instance"), Stream: v.Get("stream"),
		RequestID: v.Get("request_id"), TraceID: v.Get("trace_id"), Contains: v.Get("contains")}
	var err error
	if q.Since, err = parseTime("since", v.Get("since"), now); err != nil {
		return q, false, err
	}
	if q.Until, err = parseTime("until", v.Get("until"), now); err != nil {
		return q, false, err
	}
	if s := v.Get("limit"); s != "" {
		if q.Limit, err = strconv.Atoi(s); err != nil {
			return q, false, &api.ValidationError{Field: "limit", Message: fmt.Sprintf("%q is not a number", s)}
		}
	}
	desc, err := parseBool("desc", v.Get("desc"))
	if err != nil {
		return q, false, err
	}
	q.Desc = desc
	follow, err := parseBool("follow", v.Get("follow"))
	return q, follow, err
}

func parseTime(field, s string, now time.Time) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if d, err := time.ParseDuration(s); err == nil {
		if d < 0 {
			d = -d
		}
		return now.Add(-d), nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, &api.ValidationError{Field: field, Message: fmt.Sprintf("%q is neither a duration (10m) nor an RFC 3339 time", s)}
	}
	return t, nil
}

func parseBool(field, s string) (bool, error) {
	if s == "" {
		return false, nil
	}
	b, err := strconv.ParseBool(strings.ToLower(s))
	if err != nil {
		return false, &api.ValidationError{Field: field, Message: fmt.Sprintf("%q is not true or false", s)}
	}
	return b, nil
}

func toAPI(r logs.Record) api.LogRecord {
	return api.LogRecord{Time: r.Time, Namespace: r.Namespace, Function: r.Function, Environment: r.Environment,
		Instance: r.Instance, Stream: r.Stream, Message: r.Message, RequestID: r.RequestID, TraceID: r.TraceID, Seq: r.Seq}
}
