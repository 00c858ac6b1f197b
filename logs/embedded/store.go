package embedded

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/lantern-faas/lantern/logs"
)

// FileName is the database file inside Config.Dir.
const FileName = "logs.db"

// Bucket names.
var (
	bucketRecords = []byte("records") // key: see recordKey; value: see encodeRecord
	bucketByTime  = []byte("by_time") // key: time + record key; value: empty
	bucketMeta    = []byte("meta")
	keyBytes      = []byte("bytes") // logical bytes stored, uint64
)

// Config configures a Store.
type Config struct {
	// Dir holds the database file. Required.
	Dir string
	// MaxBytes bounds the stored data (keys and values of both indexes; the
	// file itself may be somewhat larger). When a write exceeds it, the
	// oldest records are dropped until 90% of it is used. Default 1 GiB.
	MaxBytes int64
}

// DefaultMaxBytes is the default Config.MaxBytes.
const DefaultMaxBytes = 1 << 30

// Store is an embedded log store. Safe for concurrent use.
type Store struct {
	db       *bolt.DB
	maxBytes int64
	hub      *logs.Hub
}

var (
	_ logs.Sink   = (*Store)(nil)
	_ logs.Reader = (*Store)(nil)
)

// New opens (creating if needed) the store in cfg.Dir.
func New(cfg Config) (*Store, error) {
	if cfg.Dir == "" {
		return nil, errors.New("embedded log store dir is required")
	}
	if cfg.MaxBytes <= 0 {
		cfg.MaxBytes = DefaultMaxBytes
	}
	if err := os.MkdirAll(cfg.Dir, 0o750); err != nil {
		return nil, fmt.Errorf("create log store dir: %w", err)
	}
	path := filepath.Join(cfg.Dir, FileName)
	db, err := bolt.Open(path, 0o640, &bolt.Options{Timeout: 5 * time.Second})
	if err != nil {
		return nil, fmt.Errorf("open log store %s: %w", path, err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{bucketRecords, bucketByTime, bucketMeta} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("init log store %s: %w", path, err)
	}
	return &Store{db: db, maxBytes: cfg.MaxBytes, hub: logs.NewHub()}, nil
}

// Close closes the database.
func (s *Store) Close() error { return s.db.Close() }

// Follow implements logs.Reader.
func (s *Store) Follow(ctx context.Context, q logs.Query, fn func(logs.Record) error) error {
	return logs.Follow(ctx, s.hub, s, q, fn)
}

// Bytes returns the logical size of the stored data, the quantity MaxBytes
// bounds.
func (s *Store) Bytes() (int64, error) {
	var n int64
	err := s.db.View(func(tx *bolt.Tx) error {
		n = getSize(tx.Bucket(bucketMeta))
		return nil
	})
	return n, err
}
