package influx

import (
	"strconv"
	"strings"

	"github.com/lantern-faas/lantern/logs"
)

// The client's line-protocol encoder escapes tabs and newlines in string
// fields as \t and \n, which InfluxDB stores literally; so lines are encoded
// here, escaping only what line protocol requires.
var (
	tagEscaper = strings.NewReplacer(",", `\,`, "=", `\=`, " ", `\ `,
		"\n", `\ `, "\r", `\ `, "\t", `\ `, `\`, `\\`) // tags are identifiers: no control characters
	fieldEscaper = strings.NewReplacer(`\`, `\\`, `"`, `\"`)
)

// appendLine appends r as a line of line protocol with the timestamp nanos.
func appendLine(b []byte, r logs.Record, nanos int64) []byte {
	b = append(b, Measurement...)
	for _, t := range [...][2]string{ // in key order
		{"environment", r.Environment},
		{"function", r.Function},
		{"instance", r.Instance},
		{"namespace", r.Namespace},
		{"stream", r.Stream},
	} {
		if t[1] != "" {
			b = append(b, ',')
			b = append(b, t[0]...)
			b = append(b, '=')
			b = append(b, tagEscaper.Replace(t[1])...)
		}
	}
	b = appendStringField(append(b, ' '), "message", r.Message)
	if r.RequestID != "" {
		b = appendStringField(append(b, ','), "request_id", r.RequestID)
	}
	b = append(b, ",seq="...)
	b = strconv.AppendInt(b, int64(r.Seq), 10) // 1.8 has no unsigned integers
	b = append(b, 'i')
	if r.TraceID != "" {
		b = appendStringField(append(b, ','), "trace_id", r.TraceID)
	}
	b = append(b, ' ')
	return strconv.AppendInt(b, nanos, 10)
}

func appendStringField(b []byte, key, val string) []byte {
	b = append(b, key...)
	b = append(b, `="`...)
	b = append(b, fieldEscaper.Replace(val)...)
	return append(b, '"')
}
