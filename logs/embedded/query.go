package embedded

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"

	bolt "go.etcd.io/bbolt"

	"github.com/lantern-faas/lantern/logs"
)

// Query implements logs.Reader with a range scan over the function's keys.
func (s *Store) Query(ctx context.Context, q logs.Query) ([]logs.Record, error) {
	if err := q.Validate(); err != nil {
		return nil, err
	}
	prefix := functionPrefix(q.Namespace, q.Function)
	start := append(bytes.Clone(prefix), make([]byte, 8)...)
	if !q.Since.IsZero() {
		binary.BigEndian.PutUint64(start[len(prefix):], sortableTime(q.Since))
	}
	end := append(bytes.Clone(prefix), 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff)
	if !q.Until.IsZero() {
		end = binary.BigEndian.AppendUint64(bytes.Clone(prefix), sortableTime(q.Until))
	}
	var out []logs.Record
	err := s.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketRecords).Cursor()
		var k, v []byte
		step := c.Next
		if q.Desc {
			step = c.Prev
			if k, v = c.Seek(end); k == nil {
				k, v = c.Last()
			} else {
				k, v = c.Prev()
			}
		} else {
			k, v = c.Seek(start)
		}
		for n := 0; k != nil && bytes.Compare(k, start) >= 0 && bytes.Compare(k, end) < 0; k, v = step() {
			if n++; n%4096 == 0 && ctx.Err() != nil {
				return ctx.Err()
			}
			r, err := decodeRecord(v)
			if err != nil {
				return fmt.Errorf("key %q: %w", k, err)
			}
			if !q.Matches(r) {
				continue
			}
			out = append(out, r)
			if len(out) == q.Limit {
				break
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("query logs of %s/%s: %w", q.Namespace, q.Function, err)
	}
	return out, nil
}
