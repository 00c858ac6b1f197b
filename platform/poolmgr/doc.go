// Package poolmgr keeps warm pools of generic instances per environment,
// specializes an instance on a function's first call, scales a function up
// to its concurrency, and reaps idle, crashed and outdated instances.
//
// It starts instances through instance.Runtime and loads code through its
// Loader interface; it must not import controller, router or fetcher.
package poolmgr
