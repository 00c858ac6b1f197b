package influx

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/lantern-faas/lantern/logs"
)

// Flux cannot bind parameters on InfluxDB OSS, so values are written as
// string literals with every byte outside a small safe set as a \xNN escape;
// no quote, backslash or ${ can end or interpolate the literal.
func fluxString(s string) string {
	var b strings.Builder
	b.Grow(len(s) + 2)
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte(" -_.:/@", c) >= 0 {
			b.WriteByte(c)
			continue
		}
		fmt.Fprintf(&b, `\x%02x`, c)
	}
	b.WriteByte('"')
	return b.String()
}

// fluxTime is a time literal; zero times give the bounds of InfluxDB's range.
func fluxTime(t time.Time, zero string) string {
	if t.IsZero() {
		return zero
	}
	return t.UTC().Format(time.RFC3339Nano)
}

// buildFlux returns the Flux query for q.
func buildFlux(bucket string, q logs.Query) string {
	var b strings.Builder
	if q.Contains != "" {
		b.WriteString("import \"strings\"\n")
	}
	fmt.Fprintf(&b, "from(bucket: %s)\n", fluxString(bucket))
	fmt.Fprintf(&b, "  |> range(start: %s, stop: %s)\n",
		fluxTime(q.Since, "1970-01-01T00:00:00Z"), fluxTime(q.Until, "2262-01-01T00:00:00Z"))
	fmt.Fprintf(&b, "  |> filter(fn: (r) => r._measurement == %s and r.namespace == %s and r.function == %s",
		fluxString(Measurement), fluxString(q.Namespace), fluxString(q.Function))
	if !q.Until.IsZero() { // Flux 0.65 in InfluxDB 1.8 treats range's stop as inclusive
		fmt.Fprintf(&b, " and r._time < %s", fluxTime(q.Until, ""))
	}
	if q.Instance != "" {
		fmt.Fprintf(&b, " and r.instance == %s", fluxString(q.Instance))
	}
	if q.Stream != "" {
		fmt.Fprintf(&b, " and r.stream == %s", fluxString(q.Stream))
	}
	b.WriteString(")\n")
	b.WriteString("  |> pivot(rowKey: [\"_time\"], columnKey: [\"_field\"], valueColumn: \"_value\")\n")
	var post []string
	if q.RequestID != "" {
		post = append(post, "r.request_id == "+fluxString(q.RequestID))
	}
	if q.TraceID != "" {
		post = append(post, "r.trace_id == "+fluxString(q.TraceID))
	}
	if q.Contains != "" {
		post = append(post, "strings.containsStr(v: r.message, substr: "+fluxString(q.Contains)+")")
	}
	if len(post) > 0 {
		fmt.Fprintf(&b, "  |> filter(fn: (r) => %s)\n", strings.Join(post, " and "))
	}
	// limit() applies per table: group() first for a global limit.
	fmt.Fprintf(&b, "  |> group()\n  |> sort(columns: [\"_time\", \"instance\", \"seq\"], desc: %t)\n  |> limit(n: %d)\n", q.Desc, q.Limit)
	return b.String()
}

func (s *Store) queryFlux(ctx context.Context, q logs.Query) ([]logs.Record, error) {
	res, err := s.client.QueryAPI(s.cfg.Org).Query(ctx, buildFlux(s.cfg.Bucket, q))
	if err != nil {
		return nil, fmt.Errorf("flux: %w", err)
	}
	defer res.Close()
	var out []logs.Record
	for res.Next() {
		v := res.Record().Values()
		r := logs.Record{
			Time:        res.Record().Time().UTC(),
			Namespace:   str(v["namespace"]),
			Function:    str(v["function"]),
			Environment: str(v["environment"]),
			Instance:    str(v["instance"]),
			Stream:      str(v["stream"]),
			Message:     str(v["message"]),
			RequestID:   str(v["request_id"]),
			TraceID:     str(v["trace_id"]),
		}
		if n, ok := v["seq"].(int64); ok {
			r.Seq = uint64(n)
		}
		out = append(out, r)
	}
	if err := res.Err(); err != nil {
		return nil, fmt.Errorf("flux: %w", err)
	}
	return out, nil // in reader order: the query sorts by time, instance, seq
}

func str(v any) string {
	s, _ := v.(string)
	return s
}
