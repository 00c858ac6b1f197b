// Package store defines where Lantern's state lives: the Store interface, its
// sentinel errors, and typed helpers over it. Implementations live in
// subpackages named after what they wrap (boltstore for the embedded bbolt
// file); storetest is the contract suite every implementation passes.
//
// It imports only api and the standard library.
package store
