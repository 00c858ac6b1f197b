// Package testenv holds the helpers the end-to-end test packages
// (test/e2e, test/tracing, test/observability) share to run Lantern's
// binaries as child processes: finding the module root, building lanternd
// and lantern, picking free loopback ports, starting and stopping processes
// whose output goes to a log file, and a clean environment for them.
//
// Each test package keeps what is its own (e2e's port-ownership check,
// tracing's Jaeger, observability's Prometheus) next to its tests.
package testenv
