package api

import "time"

// Headers of asynchronous calls.
const (
	// InvokeModeHeader set to "async" makes the router queue the call and
	// answer 202 at once.
	InvokeModeHeader = "X-Lantern-Invoke-Mode"
	// CallbackHeader names a URL that receives the invocation's outcome as
	// JSON (an Invocation) once it succeeded or failed for good.
	CallbackHeader = "X-Lantern-Callback-Url"
	// InvocationIDHeader carries the ID of an asynchronous invocation, on
	// the 202 answer and on the calls of the function.
	InvocationIDHeader = "X-Lantern-Invocation-Id"
)

// Invocation statuses.
const (
	InvocationQueued    = "queued"
	InvocationRunning   = "running"
	InvocationRetrying  = "retrying"
	InvocationSucceeded = "succeeded"
	// InvocationFailed is an invocation that failed after its last retry;
	// it is in the dead-letter list and can be replayed.
	InvocationFailed = "failed"
)

// AsyncRequest is a call to run later, as the router queues it.
type AsyncRequest struct {
	Namespace string              `json:"namespace"`
	Function  string              `json:"function"`
	Method    string              `json:"method"`
	Subpath   string              `json:"subpath,omitempty"`
	Query     string              `json:"query,omitempty"`
	Header    map[string][]string `json:"header,omitempty"`
	Body      []byte              `json:"body,omitempty"`
	// CallbackURL receives the outcome, if set.
	CallbackURL string `json:"callbackUrl,omitempty"`
	// RequestID is the ID of the accepting request.
	RequestID string `json:"requestId,omitempty"`
}

// Invocation is the state and outcome of an asynchronous call.
type Invocation struct {
	ID        string `json:"id"`
	Namespace string `json:"namespace"`
	Function  string `json:"function"`
	Method    string `json:"method"`
	Subpath   string `json:"subpath,omitempty"`
	Status    string `json:"status"`
	// Attempts is how many times the function was called.
	Attempts    int       `json:"attempts"`
	MaxAttempts int       `json:"maxAttempts"`
	Replays     int       `json:"replays,omitempty"`
	CreatedAt   time.Time `json:"createdAt"`
	UpdatedAt   time.Time `json:"updatedAt"`
	// Duration is how long the last attempt took.
	Duration time.Duration `json:"duration,omitempty"`
	// ResponseStatus is the HTTP status of the last attempt's answer.
	ResponseStatus int `json:"responseStatus,omitempty"`
	// Response is the start of the last answer's body.
	Response string `json:"response,omitempty"`
	// RequestID is the request ID (and trace ID) of the last attempt: look
	// up its logs with 'lantern fn logs --request-id'.
	RequestID string `json:"requestId,omitempty"`
	// AcceptRequestID is the request ID of the request that queued it.
	AcceptRequestID string `json:"acceptRequestId,omitempty"`
	Error           string `json:"error,omitempty"`
	CallbackURL     string `json:"callbackUrl,omitempty"`
}
