package logs

import (
	"fmt"
	"strings"
	"time"
)

// Stream names a line's output stream.
const (
	StreamStdout = "stdout"
	StreamStderr = "stderr"
)

// Query limits.
const (
	// MaxQueryLimit is the largest Query.Limit accepted.
	MaxQueryLimit = 10000
	// DefaultQueryLimit is a sensible Limit for callers that have none.
	DefaultQueryLimit = 100
)

// Record is one captured line of function output.
type Record struct {
	// Time is when the line was captured. Capture keeps it strictly increasing
	// per instance, so (Instance, Time) identifies a line.
	Time        time.Time
	Namespace   string
	Function    string
	Environment string
	Instance    string
	// Stream is StreamStdout or StreamStderr.
	Stream  string
	Message string
	// RequestID and TraceID attribute the line to the request the instance
	// was serving, when exactly one was open.
	RequestID string
	TraceID   string
	// Seq is a per-instance, monotonically increasing capture sequence number.
	// (Instance, Seq) identifies a line; it is used to drop resent duplicates
	// and to order lines with equal timestamps.
	Seq uint64
}

// Less orders records by time, then instance, then seq: the order in which
// every reader returns them (reversed for Query.Desc).
func (r Record) Less(o Record) bool {
	if !r.Time.Equal(o.Time) {
		return r.Time.Before(o.Time)
	}
	if r.Instance != o.Instance {
		return r.Instance < o.Instance
	}
	return r.Seq < o.Seq
}

// Query selects records of one function.
type Query struct {
	// Namespace and Function are required.
	Namespace string
	Function  string
	// Since (inclusive) and Until (exclusive) bound the time range; zero
	// values leave that side open.
	Since time.Time
	Until time.Time
	// Limit is the maximum number of records returned, 1..MaxQueryLimit.
	Limit int
	// Optional exact-match filters.
	Instance  string
	Stream    string // "", StreamStdout or StreamStderr
	RequestID string
	TraceID   string
	// Contains keeps the lines whose message contains this substring
	// (case-sensitive).
	Contains string
	// Desc returns the newest records first; the limit then keeps the newest.
	Desc bool
}

// Validate reports the first problem with q as a *QueryError.
func (q Query) Validate() error {
	switch {
	case strings.TrimSpace(q.Namespace) == "":
		return &QueryError{Field: "namespace", Reason: "is required"}
	case strings.TrimSpace(q.Function) == "":
		return &QueryError{Field: "function", Reason: "is required"}
	case q.Limit < 1 || q.Limit > MaxQueryLimit:
		return &QueryError{Field: "limit", Reason: fmt.Sprintf("must be between 1 and %d (got %d)", MaxQueryLimit, q.Limit)}
	case !q.Since.IsZero() && !q.Until.IsZero() && !q.Until.After(q.Since):
		return &QueryError{Field: "until", Reason: fmt.Sprintf("must be after since (since %s, until %s)",
			q.Since.Format(time.RFC3339Nano), q.Until.Format(time.RFC3339Nano))}
	case q.Stream != "" && q.Stream != StreamStdout && q.Stream != StreamStderr:
		return &QueryError{Field: "stream", Reason: fmt.Sprintf("must be %q, %q or empty (got %q)", StreamStdout, StreamStderr, q.Stream)}
	}
	return nil
}

// Matches reports whether r satisfies every filter of q except Limit.
func (q Query) Matches(r Record) bool {
	switch {
	case r.Namespace != q.Namespace || r.Function != q.Function:
		return false
	case !q.Since.IsZero() && r.Time.Before(q.Since):
		return false
	case !q.Until.IsZero() && !r.Time.Before(q.Until):
		return false
	case q.Instance != "" && r.Instance != q.Instance:
		return false
	case q.Stream != "" && r.Stream != q.Stream:
		return false
	case q.RequestID != "" && r.RequestID != q.RequestID:
		return false
	case q.TraceID != "" && r.TraceID != q.TraceID:
		return false
	case q.Contains != "" && !strings.Contains(r.Message, q.Contains):
		return false
	}
	return true
}
