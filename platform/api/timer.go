package api

import "strings"

// KindTimeTrigger is the kind of a TimeTrigger.
const KindTimeTrigger = "TimeTrigger"

// DefaultTimerMethod is the method a timer calls its function with, as in
// Fission.
const DefaultTimerMethod = "POST"

// TimeTrigger calls a function on a cron schedule.
type TimeTrigger struct {
	Kind     string          `json:"kind"`
	Metadata Metadata        `json:"metadata"`
	Spec     TimeTriggerSpec `json:"spec"`
}

// TimeTriggerSpec says when which function is called.
type TimeTriggerSpec struct {
	// Cron is a cron expression with an optional seconds field
	// ("*/5 * * * * *", "0 * * * *") or a descriptor ("@every 10s",
	// "@hourly"). Times are UTC.
	Cron string `json:"cron"`
	// Method is the HTTP method of the call; default POST.
	Method string `json:"method,omitempty"`
	// Subpath is appended to the function's internal route; default "/".
	Subpath     string      `json:"subpath,omitempty"`
	FunctionRef FunctionRef `json:"functionref"`
}

// GetMetadata implements Object.
func (t *TimeTrigger) GetMetadata() *Metadata { return &t.Metadata }

// GetKind implements Object.
func (t *TimeTrigger) GetKind() string { return KindTimeTrigger }

// SetDefaults fills zero fields with their defaults.
func (t *TimeTrigger) SetDefaults() {
	t.Kind = KindTimeTrigger
	if t.Metadata.Namespace == "" {
		t.Metadata.Namespace = DefaultNamespace
	}
	if t.Spec.Method == "" {
		t.Spec.Method = DefaultTimerMethod
	}
	t.Spec.Method = strings.ToUpper(t.Spec.Method)
	if t.Spec.Subpath == "" {
		t.Spec.Subpath = "/"
	}
	if !strings.HasPrefix(t.Spec.Subpath, "/") {
		t.Spec.Subpath = "/" + t.Spec.Subpath
	}
	if t.Spec.FunctionRef.Type == "" {
		t.Spec.FunctionRef.Type = "name"
	}
}

// Validate checks a timer after SetDefaults. The cron expression is only
// checked for presence here: the controller parses it with the scheduler's
// parser, so that what is accepted is exactly what runs.
func (t *TimeTrigger) Validate() error {
	if err := validateMeta(&t.Metadata); err != nil {
		return err
	}
	s := &t.Spec
	if strings.TrimSpace(s.Cron) == "" {
		return invalid("spec.cron", "set a cron expression (--cron \"*/5 * * * *\", \"@every 10s\", \"@hourly\")")
	}
	if !contains(methods, s.Method) {
		return invalid("spec.method", "unknown method %q: use one of %s", s.Method, strings.Join(methods, ", "))
	}
	if strings.ContainsAny(s.Subpath, "?# \t\n") {
		return invalid("spec.subpath", "%q must be a path without query, fragment or spaces", s.Subpath)
	}
	if s.FunctionRef.Type != "name" {
		return invalid("spec.functionref.type", "%q is not supported: use name", s.FunctionRef.Type)
	}
	return ValidateName("spec.functionref.name", s.FunctionRef.Name)
}
