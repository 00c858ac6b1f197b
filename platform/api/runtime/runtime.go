// Package runtime is the contract between Lantern and language runtimes: the
// Fission environment contract, so Fission functions run unchanged.
//
// A generic instance is an HTTP server. It accepts POST /v2/specialize with a
// LoadRequest (or POST /specialize with no body for contract version 1, code
// at <userfunc>/user), and afterwards serves every method and path as the
// function. Any status below 300 is a successful specialization.
package runtime

// Environment variables Lantern sets for every instance it starts locally.
const (
	// EnvPort is the TCP port the instance must listen on (127.0.0.1).
	EnvPort = "PORT"
	// EnvUserfunc is the folder the code is loaded into (Fission's /userfunc).
	EnvUserfunc = "USERFUNC_DIR"
)

// Paths of the contract.
const (
	PathSpecializeV1 = "/specialize"
	PathSpecializeV2 = "/v2/specialize"
	PathHealthz      = "/healthz"
)

// LoadRequest is the body of POST /v2/specialize.
type LoadRequest struct {
	// FilePath is the code: a file, or a folder when a zip was extracted.
	FilePath string `json:"filepath"`
	// FunctionName is the entrypoint (module.func).
	FunctionName string `json:"functionName"`
	URL          string `json:"url"`
	// FunctionMetadata mirrors Fission's untagged ObjectMeta field.
	FunctionMetadata *FunctionMetadata `json:"FunctionMetadata,omitempty"`
	EnvVersion       int               `json:"envVersion"`
}

// FunctionMetadata identifies the function being loaded.
type FunctionMetadata struct {
	Name            string `json:"name"`
	Namespace       string `json:"namespace"`
	UID             string `json:"uid,omitempty"`
	ResourceVersion string `json:"resourceVersion,omitempty"`
}
