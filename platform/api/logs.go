package api

import "time"

// LogRecord is one line a function printed, as the logs API returns it.
type LogRecord struct {
	Time        time.Time `json:"time"`
	Namespace   string    `json:"namespace"`
	Function    string    `json:"function"`
	Environment string    `json:"environment,omitempty"`
	Instance    string    `json:"instance"`
	Stream      string    `json:"stream"`
	Message     string    `json:"message"`
	RequestID   string    `json:"requestId,omitempty"`
	TraceID     string    `json:"traceId,omitempty"`
	Seq         uint64    `json:"seq"`
}
