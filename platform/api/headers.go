package api

// Headers every component agrees on.
const (
	// RequestIDHeader carries a call's request ID (its trace ID when
	// traced): on every answer of the router, to functions, and in the
	// function's logs.
	RequestIDHeader = "X-Lantern-Request-Id"
	// TriggerHeader names the kind of trigger of an internal call (timer,
	// mqt, async, test); the router labels its metrics with it.
	TriggerHeader = "X-Lantern-Trigger"
	// AttemptHeader numbers the attempts of a call a trigger retries
	// (message queue triggers, asynchronous calls).
	AttemptHeader = "X-Lantern-Attempt"
)
