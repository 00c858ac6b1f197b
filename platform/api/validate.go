package api

import (
	"fmt"
	"net/http"
	"regexp"
	"strings"
)

// ValidationError reports one invalid field. Field is a dotted path such as
// "spec.environment"; Hint, when set, says how to fix it.
type ValidationError struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

func (e *ValidationError) Error() string { return e.Field + ": " + e.Message }

func invalid(field, format string, args ...any) error {
	return &ValidationError{Field: field, Message: fmt.Sprintf(format, args...)}
}

var nameRE = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)

// MaxNameLength is the longest name of an object (a DNS-1123 label).
const MaxNameLength = 63

// ValidateName checks that s is a DNS-1123 label, the rule Kubernetes applies
// to object names, so that every object can later become a CRD.
func ValidateName(field, s string) error {
	switch {
	case s == "":
		return invalid(field, "must not be empty")
	case len(s) > MaxNameLength:
		return invalid(field, "%q is %d characters long, at most %d are allowed", s, len(s), MaxNameLength)
	case !nameRE.MatchString(s):
		return invalid(field, "%q is not a valid name: use lowercase letters, digits and '-', starting and ending with a letter or digit", s)
	}
	return nil
}

func validateMeta(m *Metadata) error {
	if err := ValidateName("metadata.name", m.Name); err != nil {
		return err
	}
	return ValidateName("metadata.namespace", m.Namespace)
}

// Runtimes built into Lantern.
var Runtimes = []string{"python", "nodejs", "binary"}

// Validate checks an environment after SetDefaults.
func (e *Environment) Validate() error {
	if err := validateMeta(&e.Metadata); err != nil {
		return err
	}
	s := &e.Spec
	switch {
	case s.Runtime == "" && s.Command == "" && s.Image == "":
		return invalid("spec.runtime", "set a runtime (%s) or a command", strings.Join(Runtimes, ", "))
	case s.Runtime != "" && s.Command != "":
		return invalid("spec.command", "set either a runtime or a command, not both")
	case s.Runtime != "" && !contains(Runtimes, s.Runtime):
		return invalid("spec.runtime", "unknown runtime %q: use one of %s, or --command for a custom runtime", s.Runtime, strings.Join(Runtimes, ", "))
	case s.Version != 1 && s.Version != 2 && s.Version != 3:
		return invalid("spec.version", "must be 1, 2 or 3, not %d", s.Version)
	case s.Poolsize < 0 || s.Poolsize > 1000:
		return invalid("spec.poolsize", "must be between 0 and 1000, not %d", s.Poolsize)
	}
	for i, kv := range s.Env {
		if k, _, ok := strings.Cut(kv, "="); !ok || k == "" {
			return invalid(fmt.Sprintf("spec.env[%d]", i), "%q is not KEY=VALUE", kv)
		}
	}
	return nil
}

// Validate checks a function after SetDefaults. It does not check that the
// environment exists; the controller does.
func (f *Function) Validate() error {
	if err := validateMeta(&f.Metadata); err != nil {
		return err
	}
	s := &f.Spec
	if err := ValidateName("spec.environment", s.Environment); err != nil {
		return err
	}
	checks := []struct {
		field     string
		v, lo, hi int
	}{
		{"spec.concurrency", s.Concurrency, 1, 100000},
		{"spec.requestsPerPod", s.RequestsPerPod, 1, 100000},
		{"spec.idletimeout", s.IdleTimeout, 1, 7 * 24 * 3600},
		{"spec.functionTimeout", s.FunctionTimeout, 1, 24 * 3600},
		{"spec.specializationTimeout", s.SpecializationTimeout, 1, 3600},
	}
	for _, c := range checks {
		if c.v < c.lo || c.v > c.hi {
			return invalid(c.field, "must be between %d and %d, not %d", c.lo, c.hi, c.v)
		}
	}
	if strings.ContainsAny(s.Entrypoint, " \t\n/\\") {
		return invalid("spec.entrypoint", "%q must look like module.function", s.Entrypoint)
	}
	return nil
}

// Validate checks an HTTP trigger after SetDefaults.
func (t *HTTPTrigger) Validate() error {
	if err := validateMeta(&t.Metadata); err != nil {
		return err
	}
	s := &t.Spec
	switch {
	case s.RelativeURL == "" && s.Prefix == "":
		return invalid("spec.relativeurl", "set a URL (--url) or a prefix (--prefix)")
	case s.RelativeURL != "" && s.Prefix != "":
		return invalid("spec.prefix", "set either a URL or a prefix, not both")
	}
	for _, p := range []struct{ field, v string }{{"spec.relativeurl", s.RelativeURL}, {"spec.prefix", s.Prefix}} {
		if p.v == "" {
			continue
		}
		if err := validatePath(p.field, p.v); err != nil {
			return err
		}
	}
	if s.Prefix != "" && strings.Contains(s.Prefix, "{") {
		return invalid("spec.prefix", "a prefix cannot hold {param} segments")
	}
	for i, m := range s.Methods {
		if !contains(methods, m) {
			return invalid(fmt.Sprintf("spec.methods[%d]", i), "unknown method %q: use one of %s", m, strings.Join(methods, ", "))
		}
	}
	return ValidateName("spec.functionref.name", s.FunctionRef.Name)
}

var methods = []string{
	http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut,
	http.MethodPatch, http.MethodDelete, http.MethodOptions,
}

// ReservedPrefixes are router paths no trigger may claim.
var ReservedPrefixes = []string{"/fn/", "/async/", "/fission-function/", "/router-healthz", "/_version", "/metrics"}

func validatePath(field, p string) error {
	if !strings.HasPrefix(p, "/") {
		return invalid(field, "%q must start with /", p)
	}
	if strings.ContainsAny(p, "?# \t\n") {
		return invalid(field, "%q must be a path without query, fragment or spaces", p)
	}
	for _, r := range ReservedPrefixes {
		if p == strings.TrimSuffix(r, "/") || strings.HasPrefix(p, r) {
			return invalid(field, "%q is reserved by the router", p)
		}
	}
	for _, seg := range strings.Split(p, "/") {
		if strings.ContainsAny(seg, "{}") {
			if len(seg) < 3 || seg[0] != '{' || seg[len(seg)-1] != '}' || strings.ContainsAny(seg[1:len(seg)-1], "{}") {
				return invalid(field, "segment %q: a parameter must be a whole segment like {id}", seg)
			}
		}
	}
	return nil
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
