package logstest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/lantern-faas/lantern/logs"
)

// Store is what the contract covers: a sink that can be read back.
type Store interface {
	logs.Sink
	logs.Reader
}

// Run runs the contract suite. open returns a new, empty store for each
// subtest.
func Run(t *testing.T, open func(t *testing.T) Store) {
	t.Run("Query", func(t *testing.T) { testQuery(t, open(t)) })
	t.Run("Write_Idempotent", func(t *testing.T) { testIdempotent(t, open(t)) })
	t.Run("Write_SameTimeSameInstance", func(t *testing.T) { testSameTime(t, open(t)) })
	t.Run("Query_ErrInvalidQuery", func(t *testing.T) { testInvalid(t, open(t)) })
	t.Run("Follow", func(t *testing.T) { testFollow(t, open(t)) })
	t.Run("Follow_CatchUp", func(t *testing.T) { testFollowCatchUp(t, open(t)) })
}

// Base is the time of the first record of Dataset.
var Base = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// Special is a message with characters that need escaping in line protocol,
// InfluxQL, Flux and regular expressions.
const Special = "quote \" backslash \\ comma, eq= tab\temoji 🚀 dollar ${x} regex .*(a) slash /b/ newline\nend"

// Dataset returns 36 records of default/hello from three instances (three
// share each timestamp), plus records of default/other and team-b/hello
// that no default/hello query may return.
func Dataset() []logs.Record {
	var recs []logs.Record
	seq := map[string]uint64{}
	for i := range 36 {
		inst := fmt.Sprintf("hello-%c", 'a'+i%3)
		seq[inst]++
		r := logs.Record{
			Time:        Base.Add(time.Duration(i/3) * time.Millisecond),
			Namespace:   "default",
			Function:    "hello",
			Environment: "python",
			Instance:    inst,
			Stream:      []string{logs.StreamStdout, logs.StreamStderr}[i%2],
			Message:     fmt.Sprintf("line %02d from %s", i, inst),
			Seq:         seq[inst],
		}
		if i%4 != 3 {
			r.RequestID = fmt.Sprintf("req-%d", i/8)
			r.TraceID = fmt.Sprintf("%032x", i/8+1)
		}
		if i == 7 {
			r.Message = Special
		}
		recs = append(recs, r)
	}
	for i := range 4 {
		recs = append(recs,
			logs.Record{Time: Base.Add(time.Duration(i) * time.Millisecond), Namespace: "default", Function: "other",
				Environment: "node", Instance: "other-a", Stream: logs.StreamStdout, Message: fmt.Sprintf("other %d", i), Seq: uint64(i + 1)},
			logs.Record{Time: Base.Add(time.Duration(i) * time.Millisecond), Namespace: "team-b", Function: "hello",
				Environment: "python", Instance: "hello-a", Stream: logs.StreamStdout, Message: fmt.Sprintf("team-b %d", i), Seq: uint64(i + 1)},
		)
	}
	return recs
}

// Expect applies q to recs the way every Reader must.
func Expect(recs []logs.Record, q logs.Query) []logs.Record {
	var out []logs.Record
	for _, r := range recs {
		if q.Matches(r) {
			out = append(out, r)
		}
	}
	slices.SortFunc(out, compare)
	if q.Desc {
		slices.Reverse(out)
	}
	if len(out) > q.Limit {
		out = out[:q.Limit]
	}
	return out
}

func write(t *testing.T, s Store, recs []logs.Record) {
	t.Helper()
	if err := s.Write(context.Background(), recs); err != nil {
		t.Fatalf("Write: %v", err)
	}
}

func testQuery(t *testing.T, s Store) {
	data := Dataset()
	write(t, s, data)
	hello := logs.Query{Namespace: "default", Function: "hello", Limit: 100}
	with := func(f func(q *logs.Query)) logs.Query { q := hello; f(&q); return q }
	tests := []struct {
		name string
		q    logs.Query
	}{
		{"All", hello},
		{"Limit", with(func(q *logs.Query) { q.Limit = 4 })},
		{"Desc", with(func(q *logs.Query) { q.Desc = true; q.Limit = 5 })},
		{"SinceUntil", with(func(q *logs.Query) {
			q.Since = Base.Add(2 * time.Millisecond)
			q.Until = Base.Add(5 * time.Millisecond)
		})},
		{"Since", with(func(q *logs.Query) { q.Since = Base.Add(10 * time.Millisecond) })},
		{"Until", with(func(q *logs.Query) { q.Until = Base.Add(time.Millisecond) })},
		{"Instance", with(func(q *logs.Query) { q.Instance = "hello-b" })},
		{"Stream", with(func(q *logs.Query) { q.Stream = logs.StreamStderr })},
		{"RequestID", with(func(q *logs.Query) { q.RequestID = "req-2" })},
		{"TraceID", with(func(q *logs.Query) { q.TraceID = fmt.Sprintf("%032x", 3) })},
		{"Contains", with(func(q *logs.Query) { q.Contains = "from hello-c" })},
		{"ContainsSpecial", with(func(q *logs.Query) { q.Contains = `" backslash \ comma, eq=` })},
		{"ContainsRegexMeta", with(func(q *logs.Query) { q.Contains = "${x} regex .*(a) slash /b/" })},
		{"ContainsNoMatch", with(func(q *logs.Query) { q.Contains = "line .*" })},
		{"Combined", with(func(q *logs.Query) {
			q.Instance, q.Stream, q.Desc, q.Limit = "hello-a", logs.StreamStdout, true, 3
		})},
		{"OtherNamespace", logs.Query{Namespace: "team-b", Function: "hello", Limit: 100}},
		{"OtherFunction", logs.Query{Namespace: "default", Function: "other", Limit: 2, Desc: true}},
		{"NoSuchFunction", logs.Query{Namespace: "default", Function: "nope", Limit: 100}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := s.Query(context.Background(), tt.q)
			if err != nil {
				t.Fatalf("Query: %v", err)
			}
			want := Expect(data, tt.q)
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("Query(%+v) mismatch (-want +got):\n%s", tt.q, diff)
			}
		})
	}
}

func testIdempotent(t *testing.T, s Store) {
	data := Dataset()
	write(t, s, data)
	write(t, s, data[:20]) // a resend
	write(t, s, data[10:])
	q := logs.Query{Namespace: "default", Function: "hello", Limit: logs.MaxQueryLimit}
	got, err := s.Query(context.Background(), q)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(Expect(data, q), got); diff != "" {
		t.Errorf("after resends (-want +got):\n%s", diff)
	}
}

// testSameTime writes two lines of one instance with one timestamp in one
// batch (a sender that does not keep times unique): both must be kept.
func testSameTime(t *testing.T, s Store) {
	r := logs.Record{Time: Base, Namespace: "default", Function: "dup", Instance: "dup-a",
		Stream: logs.StreamStdout, Message: "first", Seq: 1}
	r2 := r
	r2.Message, r2.Seq = "second", 2
	write(t, s, []logs.Record{r, r2})
	got, err := s.Query(context.Background(), logs.Query{Namespace: "default", Function: "dup", Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	var msgs []string
	for _, g := range got {
		msgs = append(msgs, fmt.Sprintf("%d:%s", g.Seq, g.Message))
	}
	if diff := cmp.Diff([]string{"1:first", "2:second"}, msgs); diff != "" {
		t.Errorf("lines with one timestamp (-want +got):\n%s", diff)
	}
}

func testInvalid(t *testing.T, s Store) {
	tests := []struct {
		name string
		q    logs.Query
	}{
		{"NoFunction", logs.Query{Namespace: "default", Limit: 1}},
		{"ZeroLimit", logs.Query{Namespace: "default", Function: "hello"}},
		{"BigLimit", logs.Query{Namespace: "default", Function: "hello", Limit: logs.MaxQueryLimit + 1}},
		{"UntilBeforeSince", logs.Query{Namespace: "default", Function: "hello", Limit: 1, Since: Base, Until: Base}},
		{"BadStream", logs.Query{Namespace: "default", Function: "hello", Limit: 1, Stream: "stdin"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := s.Query(context.Background(), tt.q); !errors.Is(err, logs.ErrInvalidQuery) {
				t.Errorf("Query(%+v) = %v, want ErrInvalidQuery", tt.q, err)
			}
		})
	}
}
