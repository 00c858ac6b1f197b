package logs

import (
	"encoding/binary"
	"fmt"
	"time"

	"github.com/tinylib/msgp/msgp"
)

// Field names of a record in a forward-protocol message. Fluent Bit and
// Fluentd senders that use the same names interoperate.
const (
	fieldNamespace   = "namespace"
	fieldFunction    = "function"
	fieldEnvironment = "environment"
	fieldInstance    = "instance"
	fieldStream      = "stream"
	fieldMessage     = "message"
	fieldRequestID   = "request_id"
	fieldTraceID     = "trace_id"
	fieldSeq         = "seq"
	// fieldLog is Fluent Bit's and Docker's name for the line; it is used
	// when message is absent.
	fieldLog = "log"
)

// ForwardTag is the tag the Shipper sends records under.
const ForwardTag = "lantern.function"

// eventTimeExt is the forward protocol's EventTime extension type.
const eventTimeExt = 0

// wireRecord is a Record encoded as a forward-protocol record map. It
// implements msgp.Marshaler, which fluent-logger-golang uses as is.
type wireRecord Record

// MarshalMsg appends the record map to b.
func (w wireRecord) MarshalMsg(b []byte) ([]byte, error) {
	b = msgp.AppendMapHeader(b, 9)
	for _, kv := range [...][2]string{
		{fieldNamespace, w.Namespace},
		{fieldFunction, w.Function},
		{fieldEnvironment, w.Environment},
		{fieldInstance, w.Instance},
		{fieldStream, w.Stream},
		{fieldMessage, w.Message},
		{fieldRequestID, w.RequestID},
		{fieldTraceID, w.TraceID},
	} {
		b = msgp.AppendString(b, kv[0])
		b = msgp.AppendString(b, kv[1])
	}
	b = msgp.AppendString(b, fieldSeq)
	return msgp.AppendUint64(b, w.Seq), nil
}

// eventTime is the forward protocol's EventTime: seconds and nanoseconds as
// two big-endian uint32s in extension type 0.
type eventTime time.Time

func (t *eventTime) ExtensionType() int8 { return eventTimeExt }
func (t *eventTime) Len() int            { return 8 }

func (t *eventTime) MarshalBinaryTo(b []byte) error {
	tm := time.Time(*t)
	binary.BigEndian.PutUint32(b[0:4], uint32(tm.Unix()))
	binary.BigEndian.PutUint32(b[4:8], uint32(tm.Nanosecond()))
	return nil
}

func (t *eventTime) UnmarshalBinary(b []byte) error {
	if len(b) != 8 {
		return fmt.Errorf("event time: %d bytes, want 8", len(b))
	}
	sec := binary.BigEndian.Uint32(b[0:4])
	nsec := binary.BigEndian.Uint32(b[4:8])
	*t = eventTime(time.Unix(int64(sec), int64(nsec)).UTC())
	return nil
}

// appendEntry appends r as a forward-protocol entry, [EventTime, record], to
// b. The spool stores records in this form.
func appendEntry(b []byte, r Record) []byte {
	b = msgp.AppendArrayHeader(b, 2)
	et := eventTime(r.Time)
	b, _ = msgp.AppendExtension(b, &et) // cannot fail for a fixed-size extension
	b, _ = wireRecord(r).MarshalMsg(b)
	return b
}

// appendAck appends the acknowledgement of a chunk: {"ack": chunk}.
func appendAck(b []byte, chunk string) []byte {
	b = msgp.AppendMapHeader(b, 1)
	b = msgp.AppendString(b, "ack")
	return msgp.AppendString(b, chunk)
}
