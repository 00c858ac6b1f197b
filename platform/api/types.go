package api

import "time"

// Kinds of objects the controller stores.
const (
	KindEnvironment = "Environment"
	KindFunction    = "Function"
	KindHTTPTrigger = "HTTPTrigger"
)

// DefaultNamespace is used when a request names no namespace.
const DefaultNamespace = "default"

// Metadata identifies an object. Name and Namespace are chosen by the user;
// UID, ResourceVersion and the timestamps are set by the controller.
type Metadata struct {
	Name            string            `json:"name"`
	Namespace       string            `json:"namespace"`
	UID             string            `json:"uid,omitempty"`
	ResourceVersion string            `json:"resourceVersion,omitempty"`
	Generation      int64             `json:"generation,omitempty"`
	Labels          map[string]string `json:"labels,omitempty"`
	CreatedAt       time.Time         `json:"createdAt,omitempty"`
	UpdatedAt       time.Time         `json:"updatedAt,omitempty"`
}

// Object is anything the store keeps.
type Object interface {
	GetMetadata() *Metadata
	GetKind() string
}

// Environment is a language runtime: a command that starts a generic
// instance speaking the Fission runtime contract.
type Environment struct {
	Kind     string          `json:"kind"`
	Metadata Metadata        `json:"metadata"`
	Spec     EnvironmentSpec `json:"spec"`
}

// EnvironmentSpec describes how to start generic instances.
type EnvironmentSpec struct {
	// Runtime names a built-in runtime: python, nodejs or binary.
	// Exactly one of Runtime and Command is set.
	Runtime string `json:"runtime,omitempty"`
	// Command is a shell command line that starts a custom runtime. It must
	// listen on 127.0.0.1:$PORT and implement the specialize contract.
	Command string `json:"command,omitempty"`
	// Image is the container image of the runtime on Kubernetes.
	Image string `json:"image,omitempty"`
	// Version is the runtime contract version: 1 (POST /specialize, code in
	// userfunc/user) or 2 (POST /v2/specialize with a JSON body). Default 2.
	Version int `json:"version,omitempty"`
	// Poolsize is the number of warm generic instances kept ready.
	Poolsize int `json:"poolsize,omitempty"`
	// KeepArchive keeps zip packages unextracted.
	KeepArchive bool `json:"keeparchive,omitempty"`
	// Env is extra environment for instances, KEY=VALUE.
	Env []string `json:"env,omitempty"`
}

// Function is user code bound to an environment.
type Function struct {
	Kind     string       `json:"kind"`
	Metadata Metadata     `json:"metadata"`
	Spec     FunctionSpec `json:"spec"`
	// Code is only set on create and update requests: the package bytes.
	// The controller stores it apart and fills Spec.Package.
	Code *Code `json:"code,omitempty"`
}

// Code is a function's package as uploaded by the CLI.
type Code struct {
	// Filename is the base name of the uploaded file (hello.py, fn.zip).
	Filename string `json:"filename"`
	// Data is the file's content (base64 in JSON).
	Data []byte `json:"data"`
}

// FunctionSpec configures a function.
type FunctionSpec struct {
	Environment string  `json:"environment"`
	Package     Package `json:"package"`
	// Entrypoint is passed to the runtime as functionName (main.main,
	// index.hello). Empty lets the runtime choose its default.
	Entrypoint string `json:"entrypoint,omitempty"`
	// Concurrency is the most instances the function may have.
	Concurrency int `json:"concurrency,omitempty"`
	// RequestsPerPod is the most in-flight requests one instance holds.
	RequestsPerPod int `json:"requestsPerPod,omitempty"`
	// IdleTimeout is the seconds an unused instance lives.
	IdleTimeout int `json:"idletimeout,omitempty"`
	// FunctionTimeout is the seconds one call may take.
	FunctionTimeout int `json:"functionTimeout,omitempty"`
	// SpecializationTimeout is the seconds specialization may take.
	SpecializationTimeout int `json:"specializationTimeout,omitempty"`
}

// Package describes the stored code of a function.
type Package struct {
	Filename string `json:"filename"`
	// Checksum is the hex SHA-256 of the package bytes.
	Checksum string `json:"checksum"`
	Size     int64  `json:"size"`
	// Archive is true when the package is a zip archive.
	Archive bool `json:"archive,omitempty"`
}

// HTTPTrigger maps HTTP requests to a function.
type HTTPTrigger struct {
	Kind     string          `json:"kind"`
	Metadata Metadata        `json:"metadata"`
	Spec     HTTPTriggerSpec `json:"spec"`
}

// HTTPTriggerSpec says which requests reach which function.
type HTTPTriggerSpec struct {
	// RelativeURL is an exact path, which may hold {param} segments.
	RelativeURL string `json:"relativeurl,omitempty"`
	// Prefix matches every path under it. Exactly one of RelativeURL and
	// Prefix is set.
	Prefix string `json:"prefix,omitempty"`
	// KeepPrefix passes the full path to the function instead of the part
	// after the prefix.
	KeepPrefix bool `json:"keepPrefix,omitempty"`
	// Methods lists the HTTP methods; empty means GET.
	Methods     []string    `json:"methods,omitempty"`
	FunctionRef FunctionRef `json:"functionref"`
}

// FunctionRef names a function in the trigger's namespace.
type FunctionRef struct {
	Type string `json:"type,omitempty"`
	Name string `json:"name"`
}

// GetMetadata implements Object.
func (e *Environment) GetMetadata() *Metadata { return &e.Metadata }

// GetKind implements Object.
func (e *Environment) GetKind() string { return KindEnvironment }

// GetMetadata implements Object.
func (f *Function) GetMetadata() *Metadata { return &f.Metadata }

// GetKind implements Object.
func (f *Function) GetKind() string { return KindFunction }

// GetMetadata implements Object.
func (t *HTTPTrigger) GetMetadata() *Metadata { return &t.Metadata }

// GetKind implements Object.
func (t *HTTPTrigger) GetKind() string { return KindHTTPTrigger }
