package influx

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/lantern-faas/lantern/logs"
)

// influxqlColumns are selected in this order.
var influxqlColumns = []string{"message", "request_id", "trace_id", "seq", "environment", "instance", "stream"}

// buildInfluxQL returns the statement and its bound parameters for q. Every
// value from q travels as a parameter; only the limit is formatted in.
func buildInfluxQL(q logs.Query) (string, map[string]any) {
	params := map[string]any{"namespace": q.Namespace, "function": q.Function}
	var b strings.Builder
	b.WriteString("SELECT ")
	for i, c := range influxqlColumns {
		if i > 0 {
			b.WriteString(",")
		}
		b.WriteString(strconv.Quote(c))
	}
	fmt.Fprintf(&b, " FROM %q WHERE \"namespace\" = $namespace AND \"function\" = $function", Measurement)
	if !q.Since.IsZero() {
		b.WriteString(" AND time >= $since")
		params["since"] = q.Since.UnixNano()
	}
	if !q.Until.IsZero() {
		b.WriteString(" AND time < $until")
		params["until"] = q.Until.UnixNano()
	}
	for _, f := range [...][2]string{
		{"instance", q.Instance},
		{"stream", q.Stream},
		{"request_id", q.RequestID},
		{"trace_id", q.TraceID},
	} {
		if f[1] != "" {
			fmt.Fprintf(&b, " AND %q = $%s", f[0], f[0])
			params[f[0]] = f[1]
		}
	}
	if q.Contains != "" {
		b.WriteString(` AND "message" =~ $contains`)
		params["contains"] = map[string]any{"regex": regexp.QuoteMeta(q.Contains)}
	}
	b.WriteString(" ORDER BY time")
	if q.Desc {
		b.WriteString(" DESC")
	}
	fmt.Fprintf(&b, " LIMIT %d", q.Limit)
	return b.String(), params
}

// influxqlResponse is the JSON body of /query.
type influxqlResponse struct {
	Results []struct {
		Series []struct {
			Columns []string `json:"columns"`
			Values  [][]any  `json:"values"`
		} `json:"series"`
		Error string `json:"error"`
	} `json:"results"`
	Error string `json:"error"`
}

func (s *Store) queryInfluxQL(ctx context.Context, q logs.Query) ([]logs.Record, error) {
	stmt, params := buildInfluxQL(q)
	resp, err := s.influxQL(ctx, stmt, params)
	if err != nil {
		return nil, err
	}
	var out []logs.Record
	for _, res := range resp.Results {
		for _, series := range res.Series {
			for _, row := range series.Values {
				r, err := rowRecord(series.Columns, row)
				if err != nil {
					return nil, err
				}
				r.Namespace, r.Function = q.Namespace, q.Function
				out = append(out, r)
			}
		}
	}
	sortRecords(out, q.Desc)
	return out, nil
}

// influxQL runs statements over /query (epoch=ns) and returns the decoded
// response, or the first error it reports.
func (s *Store) influxQL(ctx context.Context, stmt string, params map[string]any) (*influxqlResponse, error) {
	form := url.Values{"q": {stmt}, "db": {s.database}, "epoch": {"ns"}}
	if s.rp != "" {
		form.Set("rp", s.rp)
	}
	if len(params) > 0 {
		p, err := json.Marshal(params)
		if err != nil {
			return nil, err
		}
		form.Set("params", string(p))
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(s.cfg.URL, "/")+"/query",
		strings.NewReader(form.Encode()))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if s.cfg.Token != "" {
		req.Header.Set("Authorization", "Token "+s.cfg.Token)
	}
	res, err := s.http.Do(req)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		return nil, fmt.Errorf("read influxql response: %w", err)
	}
	var out influxqlResponse
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if err := dec.Decode(&out); err != nil {
		return nil, fmt.Errorf("influxql: status %d: %s", res.StatusCode, bytes.TrimSpace(body))
	}
	if out.Error != "" {
		return nil, fmt.Errorf("influxql: status %d: %s", res.StatusCode, out.Error)
	}
	for _, r := range out.Results {
		if r.Error != "" {
			return nil, fmt.Errorf("influxql: %s", r.Error)
		}
	}
	if res.StatusCode/100 != 2 {
		return nil, fmt.Errorf("influxql: status %d", res.StatusCode)
	}
	return &out, nil
}

// rowRecord converts one row of columns time + influxqlColumns.
func rowRecord(cols []string, row []any) (logs.Record, error) {
	var r logs.Record
	for i, c := range cols {
		if i >= len(row) || row[i] == nil {
			continue
		}
		v := row[i]
		switch c {
		case "time":
			n, err := toInt64(v)
			if err != nil {
				return r, fmt.Errorf("influxql time: %w", err)
			}
			r.Time = time.Unix(0, n).UTC()
		case "seq":
			n, err := toInt64(v)
			if err != nil {
				return r, fmt.Errorf("influxql seq: %w", err)
			}
			r.Seq = uint64(n)
		default:
			s, _ := v.(string)
			switch c {
			case "message":
				r.Message = s
			case "request_id":
				r.RequestID = s
			case "trace_id":
				r.TraceID = s
			case "environment":
				r.Environment = s
			case "instance":
				r.Instance = s
			case "stream":
				r.Stream = s
			}
		}
	}
	return r, nil
}

func toInt64(v any) (int64, error) {
	switch n := v.(type) {
	case json.Number:
		return n.Int64()
	case float64:
		return int64(n), nil
	default:
		return 0, fmt.Errorf("unexpected %T", v)
	}
}

// sortRecords puts recs in reader order: time, instance, seq (reversed for
// desc). InfluxQL orders by time only.
func sortRecords(recs []logs.Record, desc bool) {
	sort.SliceStable(recs, func(i, j int) bool {
		if desc {
			return recs[j].Less(recs[i])
		}
		return recs[i].Less(recs[j])
	})
}

// EnsureDatabase creates the InfluxDB 1.8 database (CREATE DATABASE is a
// no-op when it exists). The retention policy named in Bucket, if any, must
// already exist.
func (s *Store) EnsureDatabase(ctx context.Context) error {
	if s.database == "" {
		return fmt.Errorf("ensure influxdb database: no database in bucket %q", s.cfg.Bucket)
	}
	stmt := "CREATE DATABASE " + quoteIdent(s.database)
	if _, err := s.influxQL(ctx, stmt, nil); err != nil {
		return fmt.Errorf("ensure influxdb database %q: %w", s.database, err)
	}
	return nil
}

// quoteIdent double-quotes an InfluxQL identifier.
func quoteIdent(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
}
