package store

import (
	"context"
	"errors"
)

// ErrNotFound is returned by Get, Update and Delete when no object has the
// given kind, namespace and name, and by GetBlob for an unknown checksum.
var ErrNotFound = errors.New("not found")

// ErrConflict is returned by Create when the object already exists, and by
// Update when the caller's resource version is not the stored one.
var ErrConflict = errors.New("conflict")

// Key names one object.
type Key struct {
	Kind      string
	Namespace string
	Name      string
}

// Record is one stored object: its key, its resource version, and its JSON.
type Record struct {
	Key             Key
	ResourceVersion uint64
	Value           []byte
}

// EventType says what happened to a record.
type EventType int

// Event types.
const (
	Put EventType = iota + 1
	Deleted
)

// Event is a change delivered to watchers.
type Event struct {
	Type   EventType
	Record Record
}

// Store keeps objects and package blobs durably. All methods are safe for
// concurrent use.
type Store interface {
	// Create stores a new object and returns its resource version. It
	// returns ErrConflict if the key exists.
	Create(ctx context.Context, key Key, value []byte) (uint64, error)
	// Update replaces an object. If ifVersion is non-zero and differs from
	// the stored version it returns ErrConflict; ErrNotFound if missing.
	Update(ctx context.Context, key Key, value []byte, ifVersion uint64) (uint64, error)
	// Get returns one object or ErrNotFound.
	Get(ctx context.Context, key Key) (Record, error)
	// List returns the objects of a kind in a namespace, sorted by name; an
	// empty namespace lists every namespace.
	List(ctx context.Context, kind, namespace string) ([]Record, error)
	// Delete removes an object and returns what it held, or ErrNotFound.
	Delete(ctx context.Context, key Key) (Record, error)

	// PutBlob stores content under its checksum (idempotent).
	PutBlob(ctx context.Context, checksum string, data []byte) error
	// GetBlob returns the content stored under checksum, or ErrNotFound.
	GetBlob(ctx context.Context, checksum string) ([]byte, error)
	// DeleteBlob removes a blob; a missing blob is not an error.
	DeleteBlob(ctx context.Context, checksum string) error

	// Watch returns the current records of every kind and a channel of the
	// changes that follow them, in order, until ctx ends. A watcher that
	// falls too far behind has its channel closed and must watch again.
	Watch(ctx context.Context) ([]Record, <-chan Event, error)

	// Close releases the store.
	Close() error
}
