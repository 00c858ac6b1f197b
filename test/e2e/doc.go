// Package e2e holds Lantern's end-to-end tests. They build the real
// lanternd and lantern binaries, start lanternd on free loopback ports with
// its own data folder, and drive it as a user would: through the CLI, the
// REST API and the router, with the real Python, Node.js and binary
// runtimes. Functions used by the tests live in test/fixtures/functions.
//
// The runtimes' dependencies must be installed first:
//
//	bash platform/environments/setup.sh
//
// Then run them with plain go test (no build tag):
//
//	go test -race -count=1 ./test/e2e/...
//
// Environment knobs: LANTERN_E2E_RACE=0 builds the binaries without the
// race detector (faster); LANTERN_E2E_KEEP=1 keeps the build folder.
package e2e
