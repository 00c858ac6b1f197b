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
