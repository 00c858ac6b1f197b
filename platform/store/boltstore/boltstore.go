package boltstore

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/lantern-faas/lantern/platform/store"
)

var _ store.Store = (*Store)(nil)

// Bucket names.
const (
	objectsBucket = "objects"
	blobsBucket   = "blobs"
)

// versionLen is the size of the resource version that prefixes every stored
// object.
const versionLen = 8

// Defaults for Options.
const (
	DefaultTimeout     = time.Second
	DefaultWatchBuffer = 1024
)

// Options tune Open. The zero value, like a nil *Options, gives the defaults.
type Options struct {
	// Timeout is how long Open waits for the file lock held by another
	// process before failing; DefaultTimeout if zero.
	Timeout time.Duration
	// NoSync skips fsync after each write. Only for tests and benchmarks: a
	// crash may lose or corrupt recent writes.
	NoSync bool
	// WatchBuffer is the number of events a watcher may fall behind before
	// its channel is closed; DefaultWatchBuffer if zero.
	WatchBuffer int
}

// Store is a store.Store kept in one bbolt file. Its methods are safe for
// concurrent use.
type Store struct {
	db     *bolt.DB
	buffer int

	// mu serializes writes with their publication and with Watch, so that
	// events are published in commit order and a watcher's snapshot and
	// registration see the same point in that order. Reads do not take it.
	mu       sync.Mutex
	watchers map[*watcher]struct{}
	closed   bool
}

type watcher struct {
	ch   chan store.Event
	stop func() bool // unregisters the context.AfterFunc
}

// Open opens, or creates, the store at path, creating its parent directory if
// missing. It fails if another process holds the file.
func Open(path string, opts *Options) (*Store, error) {
	var o Options
	if opts != nil {
		o = *opts
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	if o.WatchBuffer <= 0 {
		o.WatchBuffer = DefaultWatchBuffer
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("open state store %s: %w", path, err)
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: o.Timeout, NoSync: o.NoSync})
	if errors.Is(err, bolt.ErrTimeout) {
		return nil, fmt.Errorf("open state store %s: is another lanternd running with the same --data-dir? %w", path, err)
	}
	if err != nil {
		return nil, fmt.Errorf("open state store %s: %w", path, err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, name := range []string{objectsBucket, blobsBucket} {
			if _, err := tx.CreateBucketIfNotExists([]byte(name)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("open state store %s: %w", path, err)
	}
	return &Store{db: db, buffer: o.WatchBuffer, watchers: make(map[*watcher]struct{})}, nil
}

// Create stores a new object and returns its resource version, or
// store.ErrConflict if the key exists.
func (s *Store) Create(ctx context.Context, key store.Key, value []byte) (uint64, error) {
	rec, err := s.write(ctx, key, func(b *bolt.Bucket, k []byte) (store.Record, error) {
		if b.Get(k) != nil {
			return store.Record{}, store.ErrConflict
		}
		return put(b, key, k, value)
	})
	if err != nil {
		return 0, fmt.Errorf("create %s: %w", keyString(key), err)
	}
	return rec.ResourceVersion, nil
}

// Update replaces an object and returns its new resource version. If
// ifVersion is non-zero the update is a compare-and-swap: it fails with
// store.ErrConflict unless the stored version is ifVersion. It returns
// store.ErrNotFound if the object is missing.
func (s *Store) Update(ctx context.Context, key store.Key, value []byte, ifVersion uint64) (uint64, error) {
	rec, err := s.write(ctx, key, func(b *bolt.Bucket, k []byte) (store.Record, error) {
		old := b.Get(k)
		if old == nil {
			return store.Record{}, store.ErrNotFound
		}
		if v := binary.BigEndian.Uint64(old); ifVersion != 0 && v != ifVersion {
			return store.Record{}, fmt.Errorf("version is %d, not %d: %w", v, ifVersion, store.ErrConflict)
		}
		return put(b, key, k, value)
	})
	if err != nil {
		return 0, fmt.Errorf("update %s: %w", keyString(key), err)
	}
	return rec.ResourceVersion, nil
}

// Delete removes an object and returns what it held (with the resource
// version it had), or store.ErrNotFound.
func (s *Store) Delete(ctx context.Context, key store.Key) (store.Record, error) {
	var deleted store.Record
	_, err := s.write(ctx, key, func(b *bolt.Bucket, k []byte) (store.Record, error) {
		old := b.Get(k)
		if old == nil {
			return store.Record{}, store.ErrNotFound
		}
		deleted = decode(key, old)
		if err := b.Delete(k); err != nil {
			return store.Record{}, err
		}
		// A deletion consumes a version too, so that watchers see strictly
		// increasing versions.
		v, err := b.NextSequence()
		if err != nil {
			return store.Record{}, err
		}
		return store.Record{Key: key, ResourceVersion: v, Value: deleted.Value}, nil
	})
	if err != nil {
		return store.Record{}, fmt.Errorf("delete %s: %w", keyString(key), err)
	}
	return deleted, nil
}

// write runs fn in a write transaction on the objects bucket and, once it
// has committed, publishes the record fn returns: a Deleted event if the key
// is gone, a Put event otherwise.
func (s *Store) write(ctx context.Context, key store.Key, fn func(b *bolt.Bucket, k []byte) (store.Record, error)) (store.Record, error) {
	if err := ctx.Err(); err != nil {
		return store.Record{}, err
	}
	k, err := encodeKey(key)
	if err != nil {
		return store.Record{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var (
		rec store.Record
		typ = store.Put
	)
	err = s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte(objectsBucket))
		var err error
		rec, err = fn(b, k)
		if err == nil && b.Get(k) == nil {
			typ = store.Deleted
		}
		return err
	})
	if err != nil {
		return store.Record{}, err
	}
	s.publish(store.Event{Type: typ, Record: rec})
	return rec, nil
}

// put stores value under k with the next resource version.
func put(b *bolt.Bucket, key store.Key, k, value []byte) (store.Record, error) {
	v, err := b.NextSequence()
	if err != nil {
		return store.Record{}, err
	}
	buf := make([]byte, versionLen+len(value))
	binary.BigEndian.PutUint64(buf, v)
	copy(buf[versionLen:], value)
	if err := b.Put(k, buf); err != nil {
		return store.Record{}, err
	}
	return store.Record{Key: key, ResourceVersion: v, Value: buf[versionLen:]}, nil
}

// publish sends ev to every watcher; s.mu must be held. A watcher whose
// buffer is full is dropped rather than blocking the writer.
func (s *Store) publish(ev store.Event) {
	for w := range s.watchers {
		select {
		case w.ch <- ev:
		default:
			s.drop(w)
		}
	}
}

// drop unregisters w and closes its channel; s.mu must be held.
func (s *Store) drop(w *watcher) {
	if _, ok := s.watchers[w]; !ok {
		return
	}
	delete(s.watchers, w)
	w.stop()
	close(w.ch)
}

// Get returns one object or store.ErrNotFound.
func (s *Store) Get(ctx context.Context, key store.Key) (store.Record, error) {
	if err := ctx.Err(); err != nil {
		return store.Record{}, err
	}
	k, err := encodeKey(key)
	if err != nil {
		return store.Record{}, fmt.Errorf("get %s: %w", keyString(key), err)
	}
	var rec store.Record
	err = s.db.View(func(tx *bolt.Tx) error {
		v := tx.Bucket([]byte(objectsBucket)).Get(k)
		if v == nil {
			return store.ErrNotFound
		}
		rec = decode(key, v)
		return nil
	})
	if err != nil {
		return store.Record{}, fmt.Errorf("get %s: %w", keyString(key), err)
	}
	return rec, nil
}

// List returns the objects of a kind in a namespace, sorted by name; an
// empty namespace lists every namespace, sorted by name then namespace.
func (s *Store) List(ctx context.Context, kind, namespace string) ([]store.Record, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if kind == "" || strings.Contains(kind, "/") || strings.Contains(namespace, "/") {
		return nil, fmt.Errorf("list %s/%s: invalid kind or namespace", kind, namespace)
	}
	prefix := []byte(kind + "/")
	if namespace != "" {
		prefix = []byte(kind + "/" + namespace + "/")
	}
	var recs []store.Record
	err := s.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket([]byte(objectsBucket)).Cursor()
		for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
			key, err := decodeKey(k)
			if err != nil {
				return err
			}
			recs = append(recs, decode(key, v))
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list %s/%s: %w", kind, namespace, err)
	}
	if namespace == "" {
		// Keys sort by namespace first.
		slices.SortFunc(recs, func(a, b store.Record) int {
			if c := strings.Compare(a.Key.Name, b.Key.Name); c != 0 {
				return c
			}
			return strings.Compare(a.Key.Namespace, b.Key.Namespace)
		})
	}
	return recs, nil
}

// PutBlob stores data under checksum. Storing a checksum that is already
// present does nothing.
func (s *Store) PutBlob(ctx context.Context, checksum string, data []byte) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if checksum == "" {
		return errors.New("put blob: empty checksum")
	}
	// Skip the write transaction, and its fsync, if the blob is present.
	var present bool
	err := s.db.View(func(tx *bolt.Tx) error {
		present = tx.Bucket([]byte(blobsBucket)).Get([]byte(checksum)) != nil
		return nil
	})
	if err == nil && !present {
		err = s.db.Update(func(tx *bolt.Tx) error {
			b := tx.Bucket([]byte(blobsBucket))
			if b.Get([]byte(checksum)) != nil {
				return nil
			}
			// Put keeps its value until commit; copy to be safe from
			// callers reusing data concurrently.
			return b.Put([]byte(checksum), bytes.Clone(data))
		})
	}
	if err != nil {
		return fmt.Errorf("put blob %s: %w", checksum, err)
	}
	return nil
}

// GetBlob returns the content stored under checksum, or store.ErrNotFound.
func (s *Store) GetBlob(ctx context.Context, checksum string) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var data []byte
	err := s.db.View(func(tx *bolt.Tx) error {
		v := tx.Bucket([]byte(blobsBucket)).Get([]byte(checksum))
		if v == nil {
			return store.ErrNotFound
		}
		data = make([]byte, len(v))
		copy(data, v)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("get blob %s: %w", checksum, err)
	}
	return data, nil
}

// DeleteBlob removes a blob; a missing blob is not an error.
func (s *Store) DeleteBlob(ctx context.Context, checksum string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if checksum == "" {
		return nil
	}
	err := s.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket([]byte(blobsBucket)).Delete([]byte(checksum))
	})
	if err != nil {
		return fmt.Errorf("delete blob %s: %w", checksum, err)
	}
	return nil
}

// Watch returns every record, sorted by kind, namespace and name, and a
// channel carrying each change committed after that snapshot, in commit
// order. The channel is closed when ctx ends, when the store is closed, or
// when the watcher falls Options.WatchBuffer events behind; callers tell the
// last case by ctx.Err() being nil and must watch again. Event values are
// shared between watchers and must not be modified.
func (s *Store) Watch(ctx context.Context) ([]store.Record, <-chan store.Event, error) {
	if err := ctx.Err(); err != nil {
		return nil, nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, nil, fmt.Errorf("watch: %w", bolt.ErrDatabaseNotOpen)
	}
	var recs []store.Record
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket([]byte(objectsBucket)).ForEach(func(k, v []byte) error {
			key, err := decodeKey(k)
			if err != nil {
				return err
			}
			recs = append(recs, decode(key, v))
			return nil
		})
	})
	if err != nil {
		return nil, nil, fmt.Errorf("watch: %w", err)
	}
	w := &watcher{ch: make(chan store.Event, s.buffer)}
	w.stop = context.AfterFunc(ctx, func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		s.drop(w)
	})
	s.watchers[w] = struct{}{}
	return recs, w.ch, nil
}

// Close closes every watcher's channel and the database file. Closing a
// closed store does nothing.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	for w := range s.watchers {
		s.drop(w)
	}
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("close state store %s: %w", s.db.Path(), err)
	}
	return nil
}

// encodeKey returns the bucket key of key: "kind/namespace/name". Every part
// must be non-empty and free of '/', so that keys are unambiguous and a
// prefix scan of "kind/namespace/" finds exactly one namespace.
func encodeKey(key store.Key) ([]byte, error) {
	for _, p := range []struct{ field, value string }{
		{"kind", key.Kind}, {"namespace", key.Namespace}, {"name", key.Name},
	} {
		if p.value == "" {
			return nil, fmt.Errorf("invalid key: empty %s", p.field)
		}
		if strings.Contains(p.value, "/") {
			return nil, fmt.Errorf("invalid key: %s %q contains '/'", p.field, p.value)
		}
	}
	return []byte(keyString(key)), nil
}

func decodeKey(k []byte) (store.Key, error) {
	parts := strings.SplitN(string(k), "/", 3)
	if len(parts) != 3 {
		return store.Key{}, fmt.Errorf("corrupt key %q", k)
	}
	return store.Key{Kind: parts[0], Namespace: parts[1], Name: parts[2]}, nil
}

// decode copies a stored object out of the transaction's memory.
func decode(key store.Key, v []byte) store.Record {
	return store.Record{
		Key:             key,
		ResourceVersion: binary.BigEndian.Uint64(v),
		Value:           bytes.Clone(v[versionLen:]),
	}
}

func keyString(k store.Key) string {
	return k.Kind + "/" + k.Namespace + "/" + k.Name
}
