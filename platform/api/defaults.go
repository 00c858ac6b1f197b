package api

import "time"

// Defaults applied when a field is zero.
const (
	DefaultPoolsize              = 3
	DefaultEnvVersion            = 2
	DefaultConcurrency           = 500
	DefaultRequestsPerPod        = 1
	DefaultIdleTimeout           = 120
	DefaultFunctionTimeout       = 60
	DefaultSpecializationTimeout = 120
)

// SetDefaults fills zero fields with their defaults.
func (e *Environment) SetDefaults() {
	e.Kind = KindEnvironment
	if e.Metadata.Namespace == "" {
		e.Metadata.Namespace = DefaultNamespace
	}
	if e.Spec.Version == 0 {
		e.Spec.Version = DefaultEnvVersion
	}
	if e.Spec.Poolsize == 0 {
		e.Spec.Poolsize = DefaultPoolsize
	}
}

// SetDefaults fills zero fields with their defaults.
func (f *Function) SetDefaults() {
	f.Kind = KindFunction
	if f.Metadata.Namespace == "" {
		f.Metadata.Namespace = DefaultNamespace
	}
	s := &f.Spec
	if s.Concurrency == 0 {
		s.Concurrency = DefaultConcurrency
	}
	if s.RequestsPerPod == 0 {
		s.RequestsPerPod = DefaultRequestsPerPod
	}
	if s.IdleTimeout == 0 {
		s.IdleTimeout = DefaultIdleTimeout
	}
	if s.FunctionTimeout == 0 {
		s.FunctionTimeout = DefaultFunctionTimeout
	}
	if s.SpecializationTimeout == 0 {
		s.SpecializationTimeout = DefaultSpecializationTimeout
	}
}

// SetDefaults fills zero fields with their defaults.
func (t *HTTPTrigger) SetDefaults() {
	t.Kind = KindHTTPTrigger
	if t.Metadata.Namespace == "" {
		t.Metadata.Namespace = DefaultNamespace
	}
	if len(t.Spec.Methods) == 0 {
		t.Spec.Methods = []string{"GET"}
	}
	if t.Spec.FunctionRef.Type == "" {
		t.Spec.FunctionRef.Type = "name"
	}
}

// Durations as time.Duration.

// IdleTimeoutDuration returns the idle timeout.
func (s *FunctionSpec) IdleTimeoutDuration() time.Duration {
	return time.Duration(s.IdleTimeout) * time.Second
}

// FunctionTimeoutDuration returns the per-call timeout.
func (s *FunctionSpec) FunctionTimeoutDuration() time.Duration {
	return time.Duration(s.FunctionTimeout) * time.Second
}

// SpecializationTimeoutDuration returns the specialization timeout.
func (s *FunctionSpec) SpecializationTimeoutDuration() time.Duration {
	return time.Duration(s.SpecializationTimeout) * time.Second
}
