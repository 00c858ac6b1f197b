// Package instance defines where function instances run: the Runtime seam
// the poolmgr starts generic instances through. Implementations live in
// subpackages named after what they run on (process: local processes).
//
// It imports only api.
package instance

import (
	"context"
	"fmt"
	"time"

	"github.com/lantern-faas/lantern/platform/api"
)

// Runtime starts generic instances of environments.
type Runtime interface {
	// Start starts one generic instance of env and returns once it accepts
	// connections, or with the reason it could not start.
	Start(ctx context.Context, env *api.Environment, opts StartOptions) (Process, error)
}

// StartOptions are per-instance settings.
type StartOptions struct {
	ID string
	// Output receives each line the instance prints, without its newline.
	// It must not block for long.
	Output func(stream string, line []byte)
}

// Process is one running instance.
type Process interface {
	// Address is host:port of the instance's HTTP server.
	Address() string
	// CodeDir is the folder code is loaded into, as the loader sees it.
	CodeDir() string
	// PID is the operating system process ID, or 0.
	PID() int
	// Done is closed when the instance has exited.
	Done() <-chan struct{}
	// Err says why the instance exited; valid once Done is closed.
	Err() error
	// Stop asks the instance to exit, killing it after grace, and waits.
	Stop(grace time.Duration)
	// Tail returns the last lines the instance printed, for error messages.
	Tail() string
}

// Adopted is an instance a Runtime found still running from a previous run
// of the poolmgr.
type Adopted struct {
	ID      string
	Process Process
	// The environment it was started for, at EnvVersion (see Version).
	EnvNamespace, EnvName, EnvVersion string
	// The function it was specialized for, at FunctionVersion (see
	// Version); empty for a generic instance.
	FunctionName, FunctionVersion string
}

// Version identifies what an object was when an instance was started or
// specialized: its UID and generation, which change when it is recreated
// or its spec changes (not when only its status does).
func Version(m *api.Metadata) string {
	return fmt.Sprintf("%s/%d", m.UID, m.Generation)
}

// Adopter is a Runtime whose instances outlive the poolmgr (pods): Adopt
// hands over those of the previous run, once.
type Adopter interface {
	Adopt() []Adopted
}

// Marker is a Process that records the function it was specialized for, so
// that the next run of the poolmgr can adopt it, and since when (the start
// of its specialization), so that its output can be told apart: before,
// its environment's; after, the function's.
type Marker interface {
	MarkSpecialized(ctx context.Context, fn *api.Function, since time.Time) error
}
