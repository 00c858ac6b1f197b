package api

import "time"

// Instance is a specialized function instance as the poolmgr hands it out.
type Instance struct {
	ID string `json:"id"`
	// Address is host:port of the instance's HTTP server.
	Address     string `json:"address"`
	Namespace   string `json:"namespace"`
	Function    string `json:"function"`
	Environment string `json:"environment"`
	// ResourceVersion is the function's version the instance runs.
	ResourceVersion string    `json:"resourceVersion"`
	State           string    `json:"state,omitempty"`
	PID             int       `json:"pid,omitempty"`
	CreatedAt       time.Time `json:"createdAt"`
	SpecializedAt   time.Time `json:"specializedAt,omitempty"`
	// ColdStart is how long this instance took to acquire and specialize.
	ColdStart time.Duration `json:"coldStart,omitempty"`
}

// Instance states.
const (
	StateIdle         = "idle"         // generic, in a pool
	StateSpecializing = "specializing" // loading a function
	StateReady        = "ready"        // specialized, serving
	StateRetiring     = "retiring"     // being removed
)

// InstanceRequest asks the poolmgr for an instance of a function.
type InstanceRequest struct {
	Namespace string `json:"namespace"`
	Function  string `json:"function"`
	// Exclude lists instances the caller already has; the poolmgr returns
	// another specialized one or specializes a new one.
	Exclude []string `json:"exclude,omitempty"`
}

// InstanceActivity is what a router reports about an instance it uses.
type InstanceActivity struct {
	ID       string    `json:"id"`
	InFlight int       `json:"inFlight"`
	LastUsed time.Time `json:"lastUsed"`
}

// InstanceEvent tells routers that an instance is gone or going. An
// instance watch starts with an EventSynced whose Live lists every
// instance's ID at that moment: a router that reconnects forgets the
// instances it cached that are no longer there, and keeps the rest.
type InstanceEvent struct {
	Type     EventType `json:"type"`
	Instance Instance  `json:"instance"`
	Reason   string    `json:"reason,omitempty"`
	Live     []string  `json:"live,omitempty"`
}

// Reasons an instance goes away.
const (
	ReasonIdle    = "idle"
	ReasonCrash   = "crash"
	ReasonTimeout = "timeout"
	ReasonDeleted = "deleted"
	ReasonUpdated = "updated"
	ReasonFailed  = "failed"
)

// ColdStart is one specialization, phase by phase.
type ColdStart struct {
	Time       time.Time     `json:"time"`
	Outcome    string        `json:"outcome"` // ok, error, timeout
	Instance   string        `json:"instance,omitempty"`
	Total      time.Duration `json:"total"`
	Acquire    time.Duration `json:"acquire"`
	Fetch      time.Duration `json:"fetch"`
	Specialize time.Duration `json:"specialize"`
	TraceID    string        `json:"traceId,omitempty"`
	Error      string        `json:"error,omitempty"`
}
