package async

import "errors"

// ErrNotFound is returned by Get and Replay for an unknown invocation ID.
var ErrNotFound = errors.New("invocation not found")

// ErrNotFailed is returned by Replay for an invocation that is not in the
// dead-letter list.
var ErrNotFailed = errors.New("invocation has not failed")

// ErrUnavailable is returned when the queue cannot be reached.
var ErrUnavailable = errors.New("the async queue is unavailable")
