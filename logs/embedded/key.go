package embedded

import (
	"encoding/binary"
	"errors"
	"math"
	"time"

	"github.com/lantern-faas/lantern/logs"
)

// recordKey is namespace 0x00 function 0x00 time(8) instance 0x00 seq(8):
// records of one function sort by time, then instance, then seq.
func recordKey(r logs.Record) []byte {
	k := functionPrefix(r.Namespace, r.Function)
	k = binary.BigEndian.AppendUint64(k, sortableTime(r.Time))
	k = append(k, r.Instance...)
	k = append(k, 0)
	return binary.BigEndian.AppendUint64(k, r.Seq)
}

func functionPrefix(namespace, function string) []byte {
	k := make([]byte, 0, len(namespace)+len(function)+2+8+32+1+8)
	k = append(k, namespace...)
	k = append(k, 0)
	k = append(k, function...)
	return append(k, 0)
}

// sortableTime maps a time to a uint64 whose big-endian bytes sort like the
// time (nanoseconds since 1970 with the sign bit flipped).
func sortableTime(t time.Time) uint64 {
	return uint64(t.UnixNano()) ^ (1 << 63)
}

// timeKey prefixes the record key with its time, for the retention index.
func timeKey(r logs.Record, rk []byte) []byte {
	k := make([]byte, 0, 8+len(rk))
	k = binary.BigEndian.AppendUint64(k, sortableTime(r.Time))
	return append(k, rk...)
}

// encodeRecord encodes every field, so that decoding needs no key.
func encodeRecord(r logs.Record) []byte {
	n := 8 + 10 + len(r.Namespace) + len(r.Function) + len(r.Environment) + len(r.Instance) +
		len(r.Stream) + len(r.Message) + len(r.RequestID) + len(r.TraceID) + 8*2
	b := make([]byte, 0, n)
	b = binary.BigEndian.AppendUint64(b, uint64(r.Time.UnixNano()))
	b = binary.AppendUvarint(b, r.Seq)
	for _, s := range [...]string{r.Namespace, r.Function, r.Environment, r.Instance, r.Stream, r.Message, r.RequestID, r.TraceID} {
		b = binary.AppendUvarint(b, uint64(len(s)))
		b = append(b, s...)
	}
	return b
}

var errCorrupt = errors.New("corrupt record")

func decodeRecord(b []byte) (logs.Record, error) {
	var r logs.Record
	if len(b) < 8 {
		return r, errCorrupt
	}
	r.Time = time.Unix(0, int64(binary.BigEndian.Uint64(b))).UTC()
	b = b[8:]
	seq, n := binary.Uvarint(b)
	if n <= 0 {
		return r, errCorrupt
	}
	r.Seq, b = seq, b[n:]
	for _, dst := range [...]*string{&r.Namespace, &r.Function, &r.Environment, &r.Instance, &r.Stream, &r.Message, &r.RequestID, &r.TraceID} {
		l, n := binary.Uvarint(b)
		if n <= 0 || l > uint64(len(b)-n) || l > math.MaxInt32 {
			return r, errCorrupt
		}
		*dst, b = string(b[n:n+int(l)]), b[n+int(l):]
	}
	return r, nil
}
