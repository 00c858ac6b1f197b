package influx

import (
	"context"
	"errors"
	"fmt"
	ihttp "github.com/influxdata/influxdb-client-go/v2/api/http"
	"net/http"

	"github.com/lantern-faas/lantern/logs"
)

// Write implements logs.Sink: one blocking write of all recs, then a publish
// to the hub. A 400 (malformed points, field type conflict) is a
// *logs.PermanentError; anything else is worth retrying.
func (s *Store) Write(ctx context.Context, recs []logs.Record) error {
	if len(recs) == 0 {
		return nil
	}
	buf := make([]byte, 0, len(recs)*(len(recs[0].Message)+160))
	taken := make(map[pointKey]uint64, len(recs))
	for i, r := range recs {
		if i > 0 {
			buf = append(buf, '\n')
		}
		buf = appendLine(buf, r, pointTime(r, taken))
	}
	if err := s.writer.WriteRecord(ctx, string(buf)); err != nil {
		err = fmt.Errorf("write %d log records to influxdb: %w", len(recs), err)
		var he *ihttp.Error
		if errors.As(err, &he) && he.StatusCode == http.StatusBadRequest {
			return logs.Permanent(err)
		}
		return err
	}
	s.hub.Publish(recs)
	return nil
}

// pointKey identifies a point: its tags and timestamp.
type pointKey struct {
	namespace, function, environment, instance, stream string
	nanos                                              int64
}

// pointTime returns r's timestamp in ns. Should a batch hold two records with
// the same tags and timestamp but different seqs (a sender that does not keep
// times unique per instance), the later one is moved 1ns on rather than
// overwriting the other.
func pointTime(r logs.Record, taken map[pointKey]uint64) int64 {
	k := pointKey{r.Namespace, r.Function, r.Environment, r.Instance, r.Stream, r.Time.UnixNano()}
	for {
		seq, ok := taken[k]
		if !ok || seq == r.Seq {
			break
		}
		k.nanos++
	}
	taken[k] = r.Seq
	return k.nanos
}
