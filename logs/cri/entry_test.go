package cri_test

import (
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/lantern-faas/lantern/logs/cri"
)

func TestParse(t *testing.T) {
	at := func(s string) time.Time {
		v, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	tests := []struct {
		name string
		line string
		want cri.Entry
	}{
		{"containerd full", "2026-11-27T07:56:04.123456789Z stdout F hello, world",
			cri.Entry{Time: at("2026-11-27T07:56:04.123456789Z"), Stream: "stdout", Message: []byte("hello, world")}},
		{"trimmed fraction", "2026-11-27T07:56:04.1Z stderr F x",
			cri.Entry{Time: at("2026-11-27T07:56:04.1Z"), Stream: "stderr", Message: []byte("x")}},
		{"CRI-O offset", "2026-11-27T08:56:04.000000001+01:00 stdout P part",
			cri.Entry{Time: at("2026-11-27T07:56:04.000000001Z"), Stream: "stdout", Partial: true, Message: []byte("part")}},
		{"empty message", "2026-11-27T07:56:04Z stdout F ",
			cri.Entry{Time: at("2026-11-27T07:56:04Z"), Stream: "stdout", Message: []byte{}}},
		{"no space after tags", "2026-11-27T07:56:04Z stdout F",
			cri.Entry{Time: at("2026-11-27T07:56:04Z"), Stream: "stdout"}},
		{"spaces kept", "2026-11-27T07:56:04Z stdout F  two  spaces ",
			cri.Entry{Time: at("2026-11-27T07:56:04Z"), Stream: "stdout", Message: []byte(" two  spaces ")}},
		{"several tags", "2026-11-27T07:56:04Z stderr P:x part",
			cri.Entry{Time: at("2026-11-27T07:56:04Z"), Stream: "stderr", Partial: true, Message: []byte("part")}},
		{"marker bytes", "2026-11-27T07:56:04Z stderr F \x1elantern:req-start a b",
			cri.Entry{Time: at("2026-11-27T07:56:04Z"), Stream: "stderr", Message: []byte("\x1elantern:req-start a b")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := cri.Parse([]byte(tt.line))
			if err != nil {
				t.Fatal(err)
			}
			if !got.Time.Equal(tt.want.Time) {
				t.Errorf("time: got %v, want %v", got.Time, tt.want.Time)
			}
			got.Time, tt.want.Time = time.Time{}, time.Time{}
			if diff := cmp.Diff(tt.want, got, cmp.Comparer(func(a, b []byte) bool { return string(a) == string(b) })); diff != "" {
				t.Errorf("Parse(%q) (-want +got):\n%s", tt.line, diff)
			}
		})
	}
}

func TestParse_ErrMalformed(t *testing.T) {
	for _, line := range []string{
		"",
		"hello",
		"2026-11-27T07:56:04Z",
		"2026-11-27T07:56:04Z stdout",
		"yesterday stdout F x",
		"2026-11-27T07:56:04Z stdin F x",
		"2026-11-27T07:56:04Z stdout X x",
		`{"log":"docker json","stream":"stdout"}`,
	} {
		if _, err := cri.Parse([]byte(line)); !errors.Is(err, cri.ErrMalformed) {
			t.Errorf("Parse(%q): got %v, want ErrMalformed", line, err)
		}
	}
}

func TestAppend_RoundTrip(t *testing.T) {
	e := cri.Entry{Time: time.Date(2026, 11, 27, 7, 56, 4, 120000000, time.UTC), Stream: "stderr", Partial: true, Message: []byte("a b ")}
	line := cri.Append(nil, e)
	if want := "2026-11-27T07:56:04.120000000Z stderr P a b \n"; string(line) != want {
		t.Fatalf("Append: got %q, want %q", line, want)
	}
	got, err := cri.Parse(line[:len(line)-1])
	if err != nil || !got.Time.Equal(e.Time) || got.Stream != e.Stream || !got.Partial || string(got.Message) != "a b " {
		t.Fatalf("Parse(Append(e)): got %+v, %v; want %+v", got, err, e)
	}
}

func TestJoiner(t *testing.T) {
	t0 := time.Date(2026, 11, 27, 7, 56, 4, 0, time.UTC)
	e := func(sec int, stream string, partial bool, msg string) cri.Entry {
		return cri.Entry{Time: t0.Add(time.Duration(sec) * time.Second), Stream: stream, Partial: partial, Message: []byte(msg)}
	}
	var j cri.Joiner
	type out struct {
		sec    int
		stream string
		text   string
	}
	var got []out
	add := func(en cri.Entry) {
		if l, ok := j.Add(en); ok {
			got = append(got, out{int(l.Time.Sub(t0) / time.Second), l.Stream, string(l.Text)})
		}
	}
	add(e(0, "stdout", false, "whole"))
	add(e(1, "stdout", true, "long "))
	add(e(2, "stderr", false, "between"))   // the other stream does not end it
	add(e(3, "stdout", true, "line "))      // still going
	add(e(4, "stderr", true, "err part "))  // a partial on stderr too
	st := j.State()                         // a checkpoint here
	add(e(5, "stdout", false, "ends here")) // the line's time is its first piece's
	want := []out{{0, "stdout", "whole"}, {2, "stderr", "between"}, {1, "stdout", "long line ends here"}}
	if diff := cmp.Diff(want, got, cmp.AllowUnexported(out{})); diff != "" {
		t.Fatalf("joined lines (-want +got):\n%s", diff)
	}
	// Restored from the checkpoint, the same entries end the same lines.
	var j2 cri.Joiner
	j2.Restore(st)
	if l, ok := j2.Add(e(5, "stdout", false, "ends here")); !ok || string(l.Text) != "long line ends here" || !l.Time.Equal(t0.Add(time.Second)) {
		t.Fatalf("restored joiner: got %+v, %v", l, ok)
	}
	pending := j2.Pending()
	if len(pending) != 1 || string(pending[0].Text) != "err part " || pending[0].Stream != "stderr" {
		t.Fatalf("Pending: got %+v, want the stderr line begun", pending)
	}
	if len(j2.Pending()) != 0 {
		t.Fatal("Pending: lines kept after Pending")
	}

	// Max bounds a joined line.
	jm := cri.Joiner{Max: 6}
	jm.Add(e(0, "stdout", true, "abcd"))
	l, ok := jm.Add(e(1, "stdout", false, "efgh"))
	if !ok || string(l.Text) != "abcdef" || !l.Truncated {
		t.Fatalf("Max 6: got %q truncated=%v, want \"abcdef\" truncated", l.Text, l.Truncated)
	}
}
