package embedded

import (
	"context"
	"encoding/binary"
	"fmt"

	bolt "go.etcd.io/bbolt"

	"github.com/lantern-faas/lantern/logs"
)

// evictChunk bounds the records dropped per transaction by retention.
const evictChunk = 10000

// Write implements logs.Sink. It stores recs in one transaction, applies
// retention, and then publishes recs to the hub.
func (s *Store) Write(ctx context.Context, recs []logs.Record) error {
	if len(recs) == 0 {
		return nil
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	var over bool
	err := s.db.Update(func(tx *bolt.Tx) error {
		rb, tb, mb := tx.Bucket(bucketRecords), tx.Bucket(bucketByTime), tx.Bucket(bucketMeta)
		rb.FillPercent, tb.FillPercent = 0.9, 0.9 // mostly appended in key order
		size := getSize(mb)
		for _, r := range recs {
			rk, val := recordKey(r), encodeRecord(r)
			tk := timeKey(r, rk)
			if old := rb.Get(rk); old != nil {
				size -= int64(len(rk) + len(old) + len(tk))
			}
			if err := rb.Put(rk, val); err != nil {
				return err
			}
			if err := tb.Put(tk, nil); err != nil {
				return err
			}
			size += int64(len(rk) + len(val) + len(tk))
		}
		over = size > s.maxBytes
		return putSize(mb, size)
	})
	if err != nil {
		return fmt.Errorf("write %d log records: %w", len(recs), err)
	}
	for over {
		if over, err = s.evict(); err != nil {
			return fmt.Errorf("log retention: %w", err)
		}
	}
	s.hub.Publish(recs)
	return nil
}

// evict drops the oldest records until 90% of MaxBytes is used, at most
// evictChunk per call; it reports whether more must go.
func (s *Store) evict() (more bool, err error) {
	target := s.maxBytes / 10 * 9
	err = s.db.Update(func(tx *bolt.Tx) error {
		rb, tb, mb := tx.Bucket(bucketRecords), tx.Bucket(bucketByTime), tx.Bucket(bucketMeta)
		size := getSize(mb)
		c := tb.Cursor()
		n := 0
		for tk, _ := c.First(); tk != nil && size > target; tk, _ = c.First() {
			if n == evictChunk {
				more = true
				break
			}
			rk := tk[8:]
			if v := rb.Get(rk); v != nil {
				size -= int64(len(rk) + len(v))
				if err := rb.Delete(rk); err != nil {
					return err
				}
			}
			size -= int64(len(tk))
			if err := c.Delete(); err != nil {
				return err
			}
			n++
		}
		return putSize(mb, max(size, 0))
	})
	return more, err
}

func getSize(mb *bolt.Bucket) int64 {
	if v := mb.Get(keyBytes); len(v) == 8 {
		return int64(binary.BigEndian.Uint64(v))
	}
	return 0
}

func putSize(mb *bolt.Bucket, n int64) error {
	return mb.Put(keyBytes, binary.BigEndian.AppendUint64(nil, uint64(n)))
}
