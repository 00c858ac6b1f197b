package api

import "time"

// FunctionStatus is what the platform observes of a function: the status
// subresource of the Function custom resource on Kubernetes.
type FunctionStatus struct {
	// ReadyInstances is the number of specialized instances serving it.
	ReadyInstances int `json:"readyInstances"`
	// LastColdStart is when its last successful specialization began.
	LastColdStart *time.Time `json:"lastColdStart,omitempty"`
	// LastError is the error of its last cold start, empty when that one
	// worked.
	LastError string `json:"lastError"`
}

// EnvironmentStatus is what the platform observes of an environment's
// pool: the status subresource of the Environment custom resource.
type EnvironmentStatus struct {
	// ReadyInstances is the number of warm generic instances ready to be
	// specialized.
	ReadyInstances int `json:"readyInstances"`
	// LastError is why the last generic instance failed to start, empty
	// when the last start worked.
	LastError string `json:"lastError"`
}
