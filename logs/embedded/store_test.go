package embedded_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/lantern-faas/lantern/logs"
	"github.com/lantern-faas/lantern/logs/embedded"
	"github.com/lantern-faas/lantern/logs/logstest"
)

func open(t *testing.T, cfg embedded.Config) *embedded.Store {
	t.Helper()
	if cfg.Dir == "" {
		cfg.Dir = t.TempDir()
	}
	s, err := embedded.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestStore_Contract(t *testing.T) {
	logstest.Run(t, func(t *testing.T) logstest.Store { return open(t, embedded.Config{}) })
}

func records(fn string, n int, start time.Time) []logs.Record {
	recs := make([]logs.Record, n)
	for i := range recs {
		recs[i] = logs.Record{Time: start.Add(time.Duration(i) * time.Millisecond), Namespace: "default", Function: fn,
			Instance: fn + "-1", Stream: logs.StreamStdout, Message: fmt.Sprintf("%s %05d %s", fn, i, strings.Repeat("x", 100)),
			Seq: uint64(i + 1)}
	}
	return recs
}

// TestStore_Retention writes more than MaxBytes over two functions: the
// oldest records go first, whichever function they belong to.
func TestStore_Retention(t *testing.T) {
	const maxBytes = 200 << 10
	s := open(t, embedded.Config{MaxBytes: maxBytes})
	ctx := context.Background()
	old := records("old", 1000, logstest.Base)
	recent := records("new", 1000, logstest.Base.Add(time.Hour))
	for _, batch := range [][]logs.Record{old[:500], old[500:], recent[:500], recent[500:]} {
		if err := s.Write(ctx, batch); err != nil {
			t.Fatal(err)
		}
	}
	n, err := s.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	if n > maxBytes {
		t.Errorf("stored %d bytes, want at most %d", n, maxBytes)
	}
	gotOld, err := s.Query(ctx, logs.Query{Namespace: "default", Function: "old", Limit: logs.MaxQueryLimit})
	if err != nil {
		t.Fatal(err)
	}
	gotNew, err := s.Query(ctx, logs.Query{Namespace: "default", Function: "new", Limit: logs.MaxQueryLimit})
	if err != nil {
		t.Fatal(err)
	}
	if len(gotOld) != 0 {
		t.Errorf("%d records of the older function kept, want 0", len(gotOld))
	}
	if len(gotNew) == 0 || len(gotNew) == len(recent) {
		t.Fatalf("%d of %d recent records kept, want some but not all", len(gotNew), len(recent))
	}
	// What is kept is the newest, contiguous.
	first := len(recent) - len(gotNew)
	for i, r := range gotNew {
		if r.Seq != recent[first+i].Seq {
			t.Fatalf("record %d has seq %d, want %d", i, r.Seq, recent[first+i].Seq)
		}
	}
}

// TestStore_Reopen checks that records and the size survive a restart.
func TestStore_Reopen(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	s, err := embedded.New(embedded.Config{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Write(ctx, records("fn", 10, logstest.Base)); err != nil {
		t.Fatal(err)
	}
	size, _ := s.Bytes()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = open(t, embedded.Config{Dir: dir})
	got, err := s.Query(ctx, logs.Query{Namespace: "default", Function: "fn", Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 10 {
		t.Errorf("got %d records after reopen, want 10", len(got))
	}
	if again, _ := s.Bytes(); again != size {
		t.Errorf("size %d after reopen, want %d", again, size)
	}
}
