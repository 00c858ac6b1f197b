// Package boltstore is the embedded implementation of store.Store: one bbolt
// file under lanternd's --data-dir holding every object, every package blob
// and the resource-version counter.
//
// Layout: the "objects" bucket maps "kind/namespace/name" to an 8-byte
// big-endian resource version followed by the object's JSON; its bucket
// sequence is the single resource-version counter, so versions keep
// increasing across restarts. The "blobs" bucket maps a checksum to content.
// Every write is one bbolt transaction, fsynced unless Options.NoSync is set.
//
// Watchers are fanned out in process: a write publishes its event after
// commit while holding the lock that Watch takes to snapshot and register, so
// a watcher sees every change after its snapshot exactly once, in commit
// order. A Deleted event carries the deleted object's key and last value with
// the new resource version the deletion consumed.
//
// It imports only store, bbolt and the standard library; in particular it does
// not import api: values are opaque bytes.
package boltstore
