package logs

import (
	"bytes"
	"compress/gzip"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/fluent/fluent-logger-golang/fluent"
	"github.com/google/go-cmp/cmp"
	"github.com/tinylib/msgp/msgp"
)

var fwdTime = time.Date(2026, 3, 1, 12, 0, 0, 123456789, time.UTC)

var fwdRecord = Record{Time: fwdTime, Namespace: "default", Function: "hello", Environment: "python",
	Instance: "hello-1", Stream: StreamStderr, Message: "héllo \"world\"", RequestID: "r1", TraceID: "t1", Seq: 42}

// fluentBitRecord is what a foreign sender might send: a plain map with
// unknown fields, "log" instead of "message" and seq as a string.
var fluentBitRecord = map[string]any{
	"namespace": "default", "function": "hello", "instance": "hello-2", "stream": "stdout",
	"log": "from fluent bit", "seq": "7", "kubernetes": map[string]any{"pod": "x"}, "level": 3,
}

var fluentBitWant = Record{Namespace: "default", Function: "hello", Instance: "hello-2", Stream: StreamStdout,
	Message: "from fluent bit", Seq: 7}

func decodeAll(t *testing.T, b []byte) []forwardMessage {
	t.Helper()
	r := msgp.NewReader(bytes.NewReader(b))
	var out []forwardMessage
	for {
		m, err := readForward(r)
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatalf("readForward: %v", err)
		}
		out = append(out, m)
	}
}

func mustMarshal(t *testing.T, m msgp.Marshaler) []byte {
	t.Helper()
	b, err := m.MarshalMsg(nil)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestReadForward_Message(t *testing.T) {
	wantSecond := fluentBitWant
	wantSecond.Time = time.Unix(fwdTime.Unix(), 0).UTC()
	// Bytes produced by fluent-logger-golang's own encoders: MessageExt is
	// what it sends with SubSecondPrecision, Message without.
	var stream []byte
	stream = append(stream, mustMarshal(t, &fluent.MessageExt{Tag: ForwardTag, Time: fluent.EventTime(fwdTime),
		Record: wireRecord(fwdRecord), Option: map[string]string{"chunk": "abc=="}})...)
	stream = append(stream, mustMarshal(t, &fluent.Message{Tag: "fluentbit", Time: fwdTime.Unix(),
		Record: fluentBitRecord, Option: nil})...)

	got := decodeAll(t, stream)
	want := []forwardMessage{
		{tag: ForwardTag, records: []Record{fwdRecord}, chunk: "abc=="},
		{tag: "fluentbit", records: []Record{wantSecond}},
	}
	if diff := cmp.Diff(want, got, cmp.AllowUnexported(forwardMessage{})); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestReadForward_Forward(t *testing.T) {
	second := fwdRecord
	second.Seq, second.Message = 43, "second"
	msg := &fluent.Forward{Tag: ForwardTag, Entries: []fluent.Entry{
		{Time: fwdTime.Unix(), Record: wireRecord(fwdRecord)},
		{Time: fwdTime.Unix(), Record: fluentBitRecord},
	}, Option: map[string]string{"chunk": "c1", "size": "2"}}
	b := mustMarshal(t, msg)
	// And a Forward message whose entries carry EventTime, as Fluent Bit sends.
	ext := msgp.AppendArrayHeader(nil, 3)
	ext = msgp.AppendString(ext, ForwardTag)
	ext = msgp.AppendArrayHeader(ext, 1)
	ext = appendEntry(ext, second)
	ext = msgp.AppendMapHeader(ext, 0)

	got := decodeAll(t, append(b, ext...))
	first := fwdRecord
	first.Time = time.Unix(fwdTime.Unix(), 0).UTC()
	fb := fluentBitWant
	fb.Time = first.Time
	want := []forwardMessage{
		{tag: ForwardTag, records: []Record{first, fb}, chunk: "c1"},
		{tag: ForwardTag, records: []Record{second}},
	}
	if diff := cmp.Diff(want, got, cmp.AllowUnexported(forwardMessage{})); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestReadForward_PackedForward(t *testing.T) {
	var entries []byte
	var want []Record
	for i := range 50 {
		r := fwdRecord
		r.Seq = uint64(i + 1)
		r.Time = fwdTime.Add(time.Duration(i))
		if i%2 == 0 {
			entries = appendEntry(entries, r) // EventTime entries
		} else {
			entries = append(entries, mustMarshal(t, &fluent.Entry{Time: r.Time.Unix(), Record: wireRecord(r)})...)
			r.Time = time.Unix(r.Time.Unix(), 0).UTC()
		}
		want = append(want, r)
	}
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	_, _ = zw.Write(entries)
	_ = zw.Close()

	packed := func(blob []byte, bin bool, opts map[string]string) []byte {
		b := msgp.AppendArrayHeader(nil, 3)
		b = msgp.AppendString(b, ForwardTag)
		if bin {
			b = msgp.AppendBytes(b, blob)
		} else {
			b = msgp.AppendStringFromBytes(b, blob) // older senders use str
		}
		b = msgp.AppendMapHeader(b, uint32(len(opts)))
		for k, v := range opts {
			b = msgp.AppendString(b, k)
			b = msgp.AppendString(b, v)
		}
		return b
	}
	tests := []struct {
		name  string
		bytes []byte
		chunk string
	}{
		{"Bin", packed(entries, true, map[string]string{"chunk": "p1", "size": "50"}), "p1"},
		{"Str", packed(entries, false, nil), ""},
		{"Gzip", packed(gz.Bytes(), true, map[string]string{"compressed": "gzip", "chunk": "p2"}), "p2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := decodeAll(t, tt.bytes)
			wantMsg := []forwardMessage{{tag: ForwardTag, records: want, chunk: tt.chunk}}
			if diff := cmp.Diff(wantMsg, got, cmp.AllowUnexported(forwardMessage{})); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestReadForward_Malformed(t *testing.T) {
	good := mustMarshal(t, &fluent.MessageExt{Tag: "t", Time: fluent.EventTime(fwdTime), Record: wireRecord(fwdRecord)})
	tests := []struct {
		name string
		b    []byte
	}{
		{"NotArray", msgp.AppendString(nil, "hello")},
		{"ShortArray", msgp.AppendString(msgp.AppendArrayHeader(nil, 1), "t")},
		{"Truncated", good[:len(good)-3]},
		{"BadTime", msgp.AppendMapHeader(msgp.AppendBool(msgp.AppendString(msgp.AppendArrayHeader(nil, 3), "t"), true), 0)},
		{"BadCompression", msgp.AppendString(msgp.AppendString(msgp.AppendMapHeader(
			msgp.AppendBytes(msgp.AppendString(msgp.AppendArrayHeader(nil, 3), "t"), []byte{1}), 1), "compressed"), "zstd")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := readForward(msgp.NewReader(bytes.NewReader(tt.b)))
			if err == nil || errors.Is(err, io.EOF) {
				t.Errorf("readForward = %v, want an error", err)
			}
		})
	}
}

// TestWireRecord_RoundTrip checks the spool's entry encoding.
func TestWireRecord_RoundTrip(t *testing.T) {
	got, err := readEntry(msgp.NewReader(bytes.NewReader(appendEntry(nil, fwdRecord))))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(fwdRecord, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}
