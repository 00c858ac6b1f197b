package logs

import (
	"errors"
	"fmt"
)

// ErrInvalidQuery is matched (errors.Is) by every *QueryError, which
// Query.Validate and the readers return for a query they cannot run.
var ErrInvalidQuery = errors.New("invalid query")

// ErrClosed is returned by operations on a Shipper, Collector or store after
// Close.
var ErrClosed = errors.New("closed")

// QueryError says which Query field is invalid and why.
type QueryError struct {
	Field  string
	Reason string
}

func (e *QueryError) Error() string {
	return fmt.Sprintf("invalid query: %s %s", e.Field, e.Reason)
}

// Is makes errors.Is(err, ErrInvalidQuery) true.
func (e *QueryError) Is(target error) bool { return target == ErrInvalidQuery }

// PermanentError marks a Sink error that retrying cannot fix (for example
// points the database rejects as malformed). The Collector drops such a batch,
// counting it as dropped with reason "rejected", instead of retrying forever.
type PermanentError struct {
	Err error
}

// Permanent wraps err as a *PermanentError; Permanent(nil) is nil.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &PermanentError{Err: err}
}

func (e *PermanentError) Error() string { return e.Err.Error() }
func (e *PermanentError) Unwrap() error { return e.Err }

// IsPermanent reports whether err is or wraps a *PermanentError.
func IsPermanent(err error) bool {
	var p *PermanentError
	return errors.As(err, &p)
}
