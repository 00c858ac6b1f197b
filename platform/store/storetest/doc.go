// Package storetest is the contract suite every store.Store implementation
// passes: call Run from the implementation's tests with a function that opens
// a new, empty store.
//
// It imports only store, the standard library and go-cmp. It must not import
// any implementation (implementations import it from their tests), nor api:
// values are opaque bytes.
package storetest
