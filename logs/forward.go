package logs

import (
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"time"

	"github.com/tinylib/msgp/msgp"
)

// Limits on what one forward-protocol message may hold.
const (
	maxPackedBytes = 64 << 20
	maxEntries     = 1 << 20
)

// errForward wraps malformed input.
var errForward = errors.New("malformed forward message")

// forwardMessage is one decoded forward-protocol message.
type forwardMessage struct {
	tag     string
	records []Record
	// chunk is the "chunk" option: when set, the sender waits for an ack.
	chunk string
}

// forwardOptions are the options of a message that the collector uses.
type forwardOptions struct {
	chunk      string
	compressed string
}

// readForward reads the next message from r: Message mode
// [tag, time, record, option?], Forward mode [tag, [[time, record]...],
// option?], or (Compressed)PackedForward mode [tag, bin, option?] where bin
// holds concatenated entries, gzipped when option.compressed is "gzip". It
// returns io.EOF at a clean end of stream.
func readForward(r *msgp.Reader) (forwardMessage, error) {
	var msg forwardMessage
	n, err := r.ReadArrayHeader()
	if err != nil {
		return msg, err
	}
	if n < 2 || n > 4 {
		return msg, fmt.Errorf("%w: array of %d elements", errForward, n)
	}
	if msg.tag, err = readStringish(r); err != nil {
		return msg, fmt.Errorf("read tag: %w", err)
	}
	typ, err := r.NextType()
	if err != nil {
		return msg, fmt.Errorf("read mode: %w", err)
	}
	rest := n - 2
	var opts forwardOptions
	switch typ {
	case msgp.ArrayType: // Forward
		if msg.records, err = readEntries(r); err != nil {
			return msg, err
		}
	case msgp.BinType, msgp.StrType: // PackedForward
		blob, err := readBlob(r, typ)
		if err != nil {
			return msg, fmt.Errorf("read packed entries: %w", err)
		}
		if opts, err = readOptions(r, rest); err != nil {
			return msg, err
		}
		if msg.records, err = unpackEntries(blob, opts.compressed); err != nil {
			return msg, err
		}
		msg.chunk = opts.chunk
		return msg, nil
	default: // Message
		if rest < 1 {
			return msg, fmt.Errorf("%w: message without record", errForward)
		}
		rec, err := readTimeAndRecord(r)
		if err != nil {
			return msg, err
		}
		msg.records = []Record{rec}
		rest--
	}
	if opts, err = readOptions(r, rest); err != nil {
		return msg, err
	}
	msg.chunk = opts.chunk
	return msg, nil
}

// readEntries reads Forward mode's array of [time, record] entries.
func readEntries(r *msgp.Reader) ([]Record, error) {
	n, err := r.ReadArrayHeader()
	if err != nil {
		return nil, fmt.Errorf("read entries: %w", err)
	}
	if n > maxEntries {
		return nil, fmt.Errorf("%w: %d entries", errForward, n)
	}
	recs := make([]Record, 0, min(n, 1024))
	for range n {
		rec, err := readEntry(r)
		if err != nil {
			return nil, err
		}
		recs = append(recs, rec)
	}
	return recs, nil
}

// readEntry reads one [time, record] entry.
func readEntry(r *msgp.Reader) (Record, error) {
	n, err := r.ReadArrayHeader()
	if err != nil {
		return Record{}, fmt.Errorf("read entry: %w", err)
	}
	if n < 2 {
		return Record{}, fmt.Errorf("%w: entry of %d elements", errForward, n)
	}
	rec, err := readTimeAndRecord(r)
	if err != nil {
		return Record{}, err
	}
	for range n - 2 {
		if err := r.Skip(); err != nil {
			return Record{}, fmt.Errorf("read entry: %w", err)
		}
	}
	return rec, nil
}

func readTimeAndRecord(r *msgp.Reader) (Record, error) {
	t, err := readTime(r)
	if err != nil {
		return Record{}, fmt.Errorf("read time: %w", err)
	}
	rec, err := readRecord(r)
	if err != nil {
		return Record{}, fmt.Errorf("read record: %w", err)
	}
	rec.Time = t
	return rec, nil
}

// unpackEntries decodes PackedForward's concatenated entries.
func unpackEntries(blob []byte, compressed string) ([]Record, error) {
	var src io.Reader = bytes.NewReader(blob)
	switch compressed {
	case "", "text":
	case "gzip":
		zr, err := gzip.NewReader(src)
		if err != nil {
			return nil, fmt.Errorf("read compressed entries: %w", err)
		}
		defer zr.Close()
		src = io.LimitReader(zr, maxPackedBytes*4)
	default:
		return nil, fmt.Errorf("%w: unknown compression %q", errForward, compressed)
	}
	r := msgp.NewReader(src)
	var recs []Record
	for {
		if _, err := r.NextType(); errors.Is(err, io.EOF) {
			return recs, nil
		}
		rec, err := readEntry(r)
		if err != nil {
			return nil, err
		}
		if len(recs) == maxEntries {
			return nil, fmt.Errorf("%w: more than %d packed entries", errForward, maxEntries)
		}
		recs = append(recs, rec)
	}
}

// readOptions reads the optional option map (n is 0 or 1 elements left).
func readOptions(r *msgp.Reader, n uint32) (forwardOptions, error) {
	var o forwardOptions
	if n == 0 {
		return o, nil
	}
	if r.IsNil() {
		return o, r.ReadNil()
	}
	sz, err := r.ReadMapHeader()
	if err != nil {
		return o, fmt.Errorf("read options: %w", err)
	}
	for range sz {
		key, err := r.ReadMapKeyPtr()
		if err != nil {
			return o, fmt.Errorf("read options: %w", err)
		}
		switch string(key) {
		case "chunk":
			o.chunk, err = readStringish(r)
		case "compressed":
			o.compressed, err = readStringish(r)
		default:
			err = r.Skip()
		}
		if err != nil {
			return o, fmt.Errorf("read options: %w", err)
		}
	}
	return o, nil
}

// readTime reads an integer (seconds), a float (seconds) or an EventTime.
func readTime(r *msgp.Reader) (time.Time, error) {
	typ, err := r.NextType()
	if err != nil {
		return time.Time{}, err
	}
	switch typ {
	case msgp.IntType:
		s, err := r.ReadInt64()
		return time.Unix(s, 0).UTC(), err
	case msgp.UintType:
		s, err := r.ReadUint64()
		return time.Unix(int64(min(s, math.MaxInt64)), 0).UTC(), err
	case msgp.Float64Type, msgp.Float32Type:
		f, err := r.ReadFloat64()
		sec, frac := math.Modf(f)
		return time.Unix(int64(sec), int64(frac*1e9)).UTC(), err
	case msgp.ExtensionType:
		typ, data, err := r.ReadExtensionRaw()
		if err != nil {
			return time.Time{}, err
		}
		if typ != eventTimeExt {
			return time.Time{}, fmt.Errorf("%w: time extension type %d", errForward, typ)
		}
		var et eventTime
		if err := et.UnmarshalBinary(data); err != nil {
			return time.Time{}, err
		}
		return time.Time(et), nil
	default:
		return time.Time{}, fmt.Errorf("%w: time of type %s", errForward, typ)
	}
}

// readRecord reads a record map. Unknown fields are skipped.
func readRecord(r *msgp.Reader) (Record, error) {
	var rec Record
	sz, err := r.ReadMapHeader()
	if err != nil {
		return rec, err
	}
	var log string
	for range sz {
		key, err := r.ReadMapKeyPtr()
		if err != nil {
			return rec, err
		}
		var dst *string
		switch string(key) {
		case fieldNamespace:
			dst = &rec.Namespace
		case fieldFunction:
			dst = &rec.Function
		case fieldEnvironment:
			dst = &rec.Environment
		case fieldInstance:
			dst = &rec.Instance
		case fieldStream:
			dst = &rec.Stream
		case fieldMessage:
			dst = &rec.Message
		case fieldRequestID:
			dst = &rec.RequestID
		case fieldTraceID:
			dst = &rec.TraceID
		case fieldLog:
			dst = &log
		case fieldSeq:
			if rec.Seq, err = readUintish(r); err != nil {
				return rec, fmt.Errorf("field seq: %w", err)
			}
			continue
		default:
			if err := r.Skip(); err != nil {
				return rec, err
			}
			continue
		}
		if *dst, err = readStringish(r); err != nil {
			return rec, fmt.Errorf("field %s: %w", key, err)
		}
	}
	if rec.Message == "" {
		rec.Message = log
	}
	return rec, nil
}

// readStringish reads a str or bin as a string, a nil as "", and a scalar in
// its usual text form; maps, arrays and extensions are skipped as "".
func readStringish(r *msgp.Reader) (string, error) {
	typ, err := r.NextType()
	if err != nil {
		return "", err
	}
	switch typ {
	case msgp.StrType, msgp.BinType:
		b, err := readBlob(r, typ)
		return string(b), err
	case msgp.NilType:
		return "", r.ReadNil()
	case msgp.IntType:
		i, err := r.ReadInt64()
		return strconv.FormatInt(i, 10), err
	case msgp.UintType:
		u, err := r.ReadUint64()
		return strconv.FormatUint(u, 10), err
	case msgp.Float64Type, msgp.Float32Type:
		f, err := r.ReadFloat64()
		return strconv.FormatFloat(f, 'g', -1, 64), err
	case msgp.BoolType:
		b, err := r.ReadBool()
		return strconv.FormatBool(b), err
	default:
		return "", r.Skip()
	}
}

// readUintish reads a non-negative integer given as an int, uint, float or
// decimal string.
func readUintish(r *msgp.Reader) (uint64, error) {
	typ, err := r.NextType()
	if err != nil {
		return 0, err
	}
	switch typ {
	case msgp.UintType:
		return r.ReadUint64()
	case msgp.IntType:
		i, err := r.ReadInt64()
		return uint64(max(i, 0)), err
	case msgp.Float64Type, msgp.Float32Type:
		f, err := r.ReadFloat64()
		return uint64(max(f, 0)), err
	default:
		s, err := readStringish(r)
		if err != nil || s == "" {
			return 0, err
		}
		return strconv.ParseUint(s, 10, 64)
	}
}

// readBlob reads a str or bin of bounded size.
func readBlob(r *msgp.Reader, typ msgp.Type) ([]byte, error) {
	var sz uint32
	var err error
	if typ == msgp.BinType {
		sz, err = r.ReadBytesHeader()
	} else {
		sz, err = r.ReadStringHeader()
	}
	if err != nil {
		return nil, err
	}
	if sz > maxPackedBytes {
		return nil, fmt.Errorf("%w: %d-byte string", errForward, sz)
	}
	b := make([]byte, sz)
	if _, err := io.ReadFull(r, b); err != nil {
		return nil, err
	}
	return b, nil
}
