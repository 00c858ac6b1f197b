// Package cli implements lantern, the command-line client of Lantern.
//
// # Commands
//
// The verbs and flags follow Fission's CLI so that its users keep their
// habits: env [environment], fn [function], route [httptrigger, ht] and
// version. Each command group lives in its own file (env.go, fn.go,
// route.go, version.go); output formatting is in output.go and the mapping of
// errors to "Error:" / "Try:" lines and exit codes in errors.go.
//
// # Exit codes
//
// 0 on success, 1 when a command fails, 2 on a usage error (unknown or
// missing flag), 130 when interrupted.
//
// # Dependencies
//
// cli imports api and client only. It never imports store or a component;
// it talks to the controller and the router over HTTP.
package cli
