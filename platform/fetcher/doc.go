// Package fetcher loads a function's code into an instance: it downloads the
// package (cached on disk by checksum, verified against it), places or safely
// extracts it in the instance's code folder, and calls the runtime contract's
// specialize endpoint.
//
// It imports api, api/runtime and the standard library; the poolmgr uses it
// through its own Loader interface, wired in cmd/lanternd.
package fetcher
