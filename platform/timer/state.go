package timer

import (
	"fmt"
	"os"
	"path/filepath"
	"time"

	bolt "go.etcd.io/bbolt"
)

var ticksBucket = []byte("last-fired")

// ticks remembers the last fired tick of every timer (by UID), so that a
// restart never fires a tick again.
type ticks struct{ db *bolt.DB }

func openTicks(dir string) (*ticks, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("create the timer state folder: %w", err)
	}
	db, err := bolt.Open(filepath.Join(dir, "ticks.db"), 0o600, &bolt.Options{Timeout: 5 * time.Second})
	if err != nil {
		return nil, fmt.Errorf("open the timer state in %s: %w", dir, err)
	}
	if err := db.Update(func(tx *bolt.Tx) error {
		_, err := tx.CreateBucketIfNotExists(ticksBucket)
		return err
	}); err != nil {
		_ = db.Close()
		return nil, err
	}
	return &ticks{db: db}, nil
}

// last returns the last tick fired for uid, or the zero time.
func (t *ticks) last(uid string) time.Time {
	var out time.Time
	_ = t.db.View(func(tx *bolt.Tx) error {
		if v := tx.Bucket(ticksBucket).Get([]byte(uid)); v != nil {
			_ = out.UnmarshalBinary(v)
		}
		return nil
	})
	return out
}

// claim records tick as fired for uid. It returns false, recording
// nothing, when a tick at or after it was already fired.
func (t *ticks) claim(uid string, tick time.Time) (bool, error) {
	ok := false
	err := t.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(ticksBucket)
		if v := b.Get([]byte(uid)); v != nil {
			var prev time.Time
			if prev.UnmarshalBinary(v) == nil && !tick.After(prev) {
				return nil
			}
		}
		v, err := tick.UTC().MarshalBinary()
		if err != nil {
			return err
		}
		ok = true
		return b.Put([]byte(uid), v)
	})
	return ok, err
}

// forget drops the ticks of timers not in keep.
func (t *ticks) forget(keep map[string]bool) error {
	return t.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(ticksBucket)
		var drop [][]byte
		_ = b.ForEach(func(k, _ []byte) error {
			if !keep[string(k)] {
				drop = append(drop, append([]byte(nil), k...))
			}
			return nil
		})
		for _, k := range drop {
			if err := b.Delete(k); err != nil {
				return err
			}
		}
		return nil
	})
}

func (t *ticks) close() error { return t.db.Close() }
