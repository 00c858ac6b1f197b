package logs

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func frames(from, to int) [][]byte {
	var out [][]byte
	for i := from; i < to; i++ {
		out = append(out, fmt.Appendf(nil, "frame %04d", i))
	}
	return out
}

func readAll(t *testing.T, s *spool) ([][]byte, spoolPos) {
	t.Helper()
	got, pos, err := s.read(1 << 20)
	if err != nil {
		t.Fatal(err)
	}
	return got, pos
}

func TestSpool_AppendReadCommit(t *testing.T) {
	dir := t.TempDir()
	s, err := openSpool(dir, 1<<20, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.append(frames(0, 10)...); err != nil {
		t.Fatal(err)
	}
	got, pos, err := s.read(4)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(frames(0, 4), got); diff != "" {
		t.Errorf("first read (-want +got):\n%s", diff)
	}
	// Not committed: read again from the start.
	if again, _, _ := s.read(4); !cmp.Equal(got, again) {
		t.Errorf("read without commit moved the head")
	}
	if err := s.commit(pos); err != nil {
		t.Fatal(err)
	}
	if err := s.append(frames(10, 12)...); err != nil {
		t.Fatal(err)
	}
	rest, pos := readAll(t, s)
	if diff := cmp.Diff(frames(4, 12), rest); diff != "" {
		t.Errorf("after commit (-want +got):\n%s", diff)
	}
	if n, _ := s.stats(); n != 8 {
		t.Errorf("unread = %d, want 8", n)
	}
	if err := s.commit(pos); err != nil {
		t.Fatal(err)
	}
	if n, fill := s.stats(); n != 0 || fill != 0 {
		t.Errorf("after full commit: %d records, fill %v", n, fill)
	}
	if err := s.close(); err != nil {
		t.Fatal(err)
	}
	segs, _ := filepath.Glob(filepath.Join(dir, "*"+segSuffix))
	if len(segs) != 1 {
		t.Errorf("%d segment files after a full commit, want 1 (empty)", len(segs))
	}
}

func TestSpool_Reopen(t *testing.T) {
	dir := t.TempDir()
	s, err := openSpool(dir, 1<<20, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.append(frames(0, 100)...); err != nil {
		t.Fatal(err)
	}
	_, pos, _ := s.read(30)
	if err := s.commit(pos); err != nil {
		t.Fatal(err)
	}
	_ = s.close()
	// A torn write at the tail, as a crash mid-append leaves it.
	segs, _ := filepath.Glob(filepath.Join(dir, "*"+segSuffix))
	f, err := os.OpenFile(segs[len(segs)-1], os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = f.Write([]byte{0, 0, 0, 50, 1, 2})
	_ = f.Close()

	s, err = openSpool(dir, 1<<20, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.close()
	if err := s.append(frames(100, 101)...); err != nil {
		t.Fatal(err)
	}
	got, _ := readAll(t, s)
	if diff := cmp.Diff(frames(30, 101), got); diff != "" {
		t.Errorf("after reopen (-want +got):\n%s", diff)
	}
}

func TestSpool_MaxBytes(t *testing.T) {
	const maxBytes = 64 << 10 // segments of 8 KiB
	var dropped int
	s, err := openSpool(t.TempDir(), maxBytes, func(n int) { dropped += n })
	if err != nil {
		t.Fatal(err)
	}
	defer s.close()
	for i := range 100 {
		if err := s.append(frames(i*100, (i+1)*100)...); err != nil {
			t.Fatal(err)
		}
	}
	n, fill := s.stats()
	if fill > 1 {
		t.Errorf("fill %v > 1", fill)
	}
	if n+dropped != 10000 {
		t.Errorf("unread %d + dropped %d != 10000 appended", n, dropped)
	}
	got, _ := readAll(t, s)
	if diff := cmp.Diff(frames(10000-n, 10000), got); diff != "" {
		t.Errorf("kept records are not the newest (-want +got):\n%s", diff)
	}
}
