package cri_test

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/lantern-faas/lantern/logs/cri"
)

// logDir is a container log folder written as a runtime would.
type logDir struct {
	t   *testing.T
	dir string
	f   *os.File
	n   int
	t0  time.Time
}

func newLogDir(t *testing.T) *logDir {
	// Times in the past: a file's modification time is now.
	d := &logDir{t: t, dir: t.TempDir(), t0: time.Now().UTC().Add(-time.Hour).Truncate(time.Second)}
	d.open("0.log")
	t.Cleanup(func() { d.f.Close() })
	return d
}

func (d *logDir) open(name string) {
	if d.f != nil {
		d.f.Close()
	}
	f, err := os.OpenFile(filepath.Join(d.dir, name), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		d.t.Fatal(err)
	}
	d.f = f
}

// write writes entries numbered from d.n, one second apart.
func (d *logDir) write(count int) {
	var b []byte
	for range count {
		b = cri.Append(b, cri.Entry{Time: d.t0.Add(time.Duration(d.n) * time.Second), Stream: "stdout", Message: fmt.Appendf(nil, "line %d", d.n)})
		d.n++
	}
	d.raw(string(b))
}

// stamp is the time of entry n.
func (d *logDir) stamp(n int) string {
	return d.t0.Add(time.Duration(n) * time.Second).Format(time.RFC3339Nano)
}

func (d *logDir) raw(s string) {
	if _, err := d.f.WriteString(s); err != nil {
		d.t.Fatal(err)
	}
}

// rotate renames 0.log as a kubelet does and starts a new one.
func (d *logDir) rotate(stamp string) {
	if err := os.Rename(filepath.Join(d.dir, "0.log"), filepath.Join(d.dir, "0.log."+stamp)); err != nil {
		d.t.Fatal(err)
	}
	d.open("0.log")
}

// readAll returns the messages Next returns until io.EOF.
func readAll(t *testing.T, fl *cri.Follower) []string {
	t.Helper()
	var out []string
	for {
		e, err := fl.Next()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, string(e.Message))
	}
}

func lines(from, to int) []string {
	var out []string
	for i := from; i < to; i++ {
		out = append(out, fmt.Sprintf("line %d", i))
	}
	return out
}

func TestFollower_Tail(t *testing.T) {
	d := newLogDir(t)
	fl := cri.NewFollower(d.dir, cri.Position{})
	defer fl.Close()
	if got := readAll(t, fl); len(got) != 0 {
		t.Fatalf("empty file: got %v", got)
	}
	d.write(3)
	if got := readAll(t, fl); !slices.Equal(got, lines(0, 3)) {
		t.Fatalf("got %v, want %v", got, lines(0, 3))
	}
	// A line written in two pieces is returned once whole.
	d.raw(d.stamp(3) + " stdout F line")
	if got := readAll(t, fl); len(got) != 0 {
		t.Fatalf("half a line: got %v, want nothing yet", got)
	}
	d.raw(" 3\n")
	if got := readAll(t, fl); !slices.Equal(got, []string{"line 3"}) {
		t.Fatalf("the line completed: got %v", got)
	}
	// A line that is not an entry is reported and skipped.
	d.raw("garbage\n")
	d.n = 4
	d.write(1)
	if _, err := fl.Next(); !errors.Is(err, cri.ErrMalformed) {
		t.Fatalf("a malformed line: got %v, want ErrMalformed", err)
	}
	if got := readAll(t, fl); !slices.Equal(got, lines(4, 5)) {
		t.Fatalf("after the malformed line: got %v", got)
	}
}

func TestFollower_RotationAndResume(t *testing.T) {
	d := newLogDir(t)
	d.write(2)
	fl := cri.NewFollower(d.dir, cri.Position{})
	if got := readAll(t, fl); !slices.Equal(got, lines(0, 2)) {
		t.Fatalf("got %v", got)
	}
	// Rotated: the rest of the old file first, then the new one (after a
	// second look at the old one's end).
	d.write(2)
	d.rotate("20261127-070001")
	d.write(2)
	var got []string
	for range 3 {
		got = append(got, readAll(t, fl)...)
	}
	if !slices.Equal(got, lines(2, 6)) {
		t.Fatalf("across a rotation: got %v, want %v", got, lines(2, 6))
	}
	pos := fl.Position()
	fl.Close()
	if pos.File != "0.log" || pos.Offset == 0 {
		t.Fatalf("position: got %+v, want in the new 0.log", pos)
	}

	// Resumed from the position: nothing again, nothing missed, with a
	// rotation in between.
	d.write(1)
	d.rotate("20261127-070002")
	d.write(1)
	fl = cri.NewFollower(d.dir, pos)
	got = nil
	for range 3 {
		got = append(got, readAll(t, fl)...)
	}
	fl.Close()
	if !slices.Equal(got, lines(6, 8)) {
		t.Fatalf("resumed: got %v, want %v", got, lines(6, 8))
	}

	// The file of a position gone (compressed while nobody read): resume
	// at the first file that may hold newer lines, without those read.
	pos = cri.Position{File: "0.log.20261127-070001", Inode: 999999999, Offset: 10, Time: d.t0.Add(5 * time.Second)}
	if err := os.Remove(filepath.Join(d.dir, "0.log.20261127-070001")); err != nil {
		t.Fatal(err)
	}
	fl = cri.NewFollower(d.dir, pos)
	got = nil
	for range 3 {
		got = append(got, readAll(t, fl)...)
	}
	fl.Close()
	if !slices.Equal(got, lines(6, 8)) {
		t.Fatalf("resumed after the file was gone: got %v, want %v", got, lines(6, 8))
	}
}

func TestFollower_RestartsAndDone(t *testing.T) {
	d := newLogDir(t)
	d.write(2)
	d.raw(d.stamp(2) + " stdout F unfinished") // the container died mid-line
	d.open("1.log")                            // restarted
	d.n = 3
	d.write(2)
	fl := cri.NewFollower(d.dir, cri.Position{})
	defer fl.Close()
	fl.Done()
	// Done: no waiting at a file's end; one pass reads everything.
	if got := readAll(t, fl); !slices.Equal(got, append(lines(0, 2), lines(3, 5)...)) {
		t.Fatalf("got %v", got)
	}
}

func TestFollower_Peek(t *testing.T) {
	d := newLogDir(t)
	d.write(2)
	fl := cri.NewFollower(d.dir, cri.Position{})
	defer fl.Close()
	for range 2 { // Peek does not consume
		e, err := fl.Peek()
		if err != nil || string(e.Message) != "line 0" {
			t.Fatalf("Peek: got %q, %v; want line 0", e.Message, err)
		}
		if pos := fl.Position(); pos.Offset != 0 || !pos.Time.IsZero() {
			t.Fatalf("Peek moved the position: %+v", pos)
		}
	}
	if got := readAll(t, fl); !slices.Equal(got, lines(0, 2)) {
		t.Fatalf("after Peek: got %v", got)
	}
}
