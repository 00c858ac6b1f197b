package boltstore

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	bolt "go.etcd.io/bbolt"

	"github.com/lantern-faas/lantern/platform/store"
	"github.com/lantern-faas/lantern/platform/store/storetest"
)

// open opens a store in a fresh directory that does not exist yet, so that
// every test also covers creating it, and closes it when the test ends.
func open(t testing.TB, opts *Options) (*Store, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "data", "state.db")
	s, err := Open(path, opts)
	if err != nil {
		t.Fatalf("Open(%s): got %v, want nil", path, err)
	}
	t.Cleanup(func() { s.Close() })
	return s, path
}

func TestContract(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		path := filepath.Join(t.TempDir(), "data", "state.db")
		s, err := Open(path, &Options{NoSync: true})
		if err != nil {
			t.Fatalf("Open(%s): got %v, want nil", path, err)
		}
		return s
	})
}

// TestContractSync runs the suite once with fsync on, as lanternd runs.
func TestContractSync(t *testing.T) {
	if testing.Short() {
		t.Skip("fsync is slow")
	}
	storetest.Run(t, func(t *testing.T) store.Store {
		s, err := Open(filepath.Join(t.TempDir(), "state.db"), nil)
		if err != nil {
			t.Fatalf("Open: got %v, want nil", err)
		}
		return s
	})
}

func TestPersistence(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "state.db")
	s, err := Open(path, nil)
	if err != nil {
		t.Fatalf("Open: got %v, want nil", err)
	}
	keep := store.Key{Kind: "function", Namespace: "default", Name: "keep"}
	gone := store.Key{Kind: "function", Namespace: "default", Name: "gone"}
	if _, err := s.Create(ctx, keep, []byte("v1")); err != nil {
		t.Fatalf("Create: got %v, want nil", err)
	}
	v, err := s.Update(ctx, keep, []byte("v2"), 0)
	if err != nil {
		t.Fatalf("Update: got %v, want nil", err)
	}
	want := store.Record{Key: keep, ResourceVersion: v, Value: []byte("v2")}
	if _, err := s.Create(ctx, gone, []byte("x")); err != nil {
		t.Fatalf("Create: got %v, want nil", err)
	}
	if _, err := s.Delete(ctx, gone); err != nil {
		t.Fatalf("Delete: got %v, want nil", err)
	}
	if err := s.PutBlob(ctx, "sha256:keep", []byte("blob")); err != nil {
		t.Fatalf("PutBlob: got %v, want nil", err)
	}
	if err := s.PutBlob(ctx, "sha256:gone", []byte("blob")); err != nil {
		t.Fatalf("PutBlob: got %v, want nil", err)
	}
	if err := s.DeleteBlob(ctx, "sha256:gone"); err != nil {
		t.Fatalf("DeleteBlob: got %v, want nil", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: got %v, want nil", err)
	}

	s, err = Open(path, nil)
	if err != nil {
		t.Fatalf("reopen: got %v, want nil", err)
	}
	defer s.Close()
	got, err := s.Get(ctx, keep)
	if err != nil {
		t.Fatalf("Get after reopen: got %v, want nil", err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("Get after reopen: got %+v, want %+v (-want +got):\n%s", got, want, diff)
	}
	if _, err := s.Get(ctx, gone); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Get deleted after reopen: got %v, want %v", err, store.ErrNotFound)
	}
	if b, err := s.GetBlob(ctx, "sha256:keep"); err != nil || string(b) != "blob" {
		t.Fatalf("GetBlob after reopen: got %q, %v; want %q, nil", b, err, "blob")
	}
	if _, err := s.GetBlob(ctx, "sha256:gone"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("GetBlob deleted after reopen: got %v, want %v", err, store.ErrNotFound)
	}
	// The deletion consumed version v+2, after gone's creation at v+1.
	v2, err := s.Create(ctx, gone, []byte("again"))
	if err != nil {
		t.Fatalf("Create after reopen: got %v, want nil", err)
	}
	if v2 <= v+2 {
		t.Fatalf("Create after reopen: got version %d, want > %d", v2, v+2)
	}
	if _, err := s.Update(ctx, keep, []byte("v3"), v); err != nil {
		t.Fatalf("CAS Update with version from before reopen: got %v, want nil", err)
	}
}

func TestOpenLocked(t *testing.T) {
	s, path := open(t, nil)
	start := time.Now()
	s2, err := Open(path, nil)
	elapsed := time.Since(start)
	if err == nil {
		s2.Close()
		t.Fatalf("second Open(%s): got nil error, want a lock error", path)
	}
	if !errors.Is(err, bolt.ErrTimeout) {
		t.Errorf("second Open: got %v, want it to wrap %v", err, bolt.ErrTimeout)
	}
	for _, want := range []string{path, "is another lanternd running with the same --data-dir?"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("second Open error: got %q, want it to contain %q", err, want)
		}
	}
	if elapsed > 2*time.Second {
		t.Errorf("second Open: got failure after %v, want within 2s", elapsed)
	}

	// Once the first store is closed the file opens again.
	if err := s.Close(); err != nil {
		t.Fatalf("Close: got %v, want nil", err)
	}
	s3, err := Open(path, &Options{Timeout: 100 * time.Millisecond})
	if err != nil {
		t.Fatalf("Open after Close: got %v, want nil", err)
	}
	s3.Close()
}

func TestOpenErrors(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name string
		path string
	}{
		{"path is a directory", dir},
		{"parent is a file", filepath.Join(mustFile(t, dir), "state.db")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := Open(tt.path, &Options{Timeout: 100 * time.Millisecond})
			if err == nil {
				s.Close()
				t.Fatalf("Open(%s): got nil error, want one", tt.path)
			}
			if !strings.HasPrefix(err.Error(), "open state store "+tt.path) {
				t.Errorf("Open error: got %q, want it to start with %q", err, "open state store "+tt.path)
			}
		})
	}
}

// mustFile creates a regular file in dir and returns its path.
func mustFile(t *testing.T, dir string) string {
	t.Helper()
	path := filepath.Join(dir, "file")
	if err := os.WriteFile(path, []byte("x"), 0o600); err != nil {
		t.Fatalf("WriteFile: got %v, want nil", err)
	}
	return path
}

func TestInvalidKeys(t *testing.T) {
	s, _ := open(t, &Options{NoSync: true})
	ctx := t.Context()
	tests := []struct {
		name string
		key  store.Key
	}{
		{"empty kind", store.Key{Namespace: "default", Name: "a"}},
		{"empty namespace", store.Key{Kind: "function", Name: "a"}},
		{"empty name", store.Key{Kind: "function", Namespace: "default"}},
		{"slash in kind", store.Key{Kind: "f/x", Namespace: "default", Name: "a"}},
		{"slash in namespace", store.Key{Kind: "function", Namespace: "d/x", Name: "a"}},
		{"slash in name", store.Key{Kind: "function", Namespace: "default", Name: "a/b"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := s.Create(ctx, tt.key, []byte("v")); err == nil || !strings.Contains(err.Error(), "invalid key") {
				t.Errorf("Create: got %v, want an invalid key error", err)
			}
			if _, err := s.Update(ctx, tt.key, []byte("v"), 0); err == nil || !strings.Contains(err.Error(), "invalid key") {
				t.Errorf("Update: got %v, want an invalid key error", err)
			}
			if _, err := s.Get(ctx, tt.key); err == nil || !strings.Contains(err.Error(), "invalid key") {
				t.Errorf("Get: got %v, want an invalid key error", err)
			}
			if _, err := s.Delete(ctx, tt.key); err == nil || !strings.Contains(err.Error(), "invalid key") {
				t.Errorf("Delete: got %v, want an invalid key error", err)
			}
		})
	}
	for _, kind := range []string{"", "a/b"} {
		if _, err := s.List(ctx, kind, ""); err == nil {
			t.Errorf("List(%q, \"\"): got nil error, want one", kind)
		}
	}
	if err := s.PutBlob(ctx, "", []byte("x")); err == nil {
		t.Errorf("PutBlob(\"\"): got nil error, want one")
	}
}

func TestSlowWatcherDropped(t *testing.T) {
	const buffer = 4
	s, _ := open(t, &Options{NoSync: true, WatchBuffer: buffer})
	ctx := t.Context()
	_, slow, err := s.Watch(ctx)
	if err != nil {
		t.Fatalf("Watch: got %v, want nil", err)
	}
	_, fast, err := s.Watch(ctx)
	if err != nil {
		t.Fatalf("Watch: got %v, want nil", err)
	}
	var fastGot []string
	for i := range 3 * buffer {
		k := store.Key{Kind: "function", Namespace: "default", Name: fmt.Sprintf("f%02d", i)}
		if _, err := s.Create(ctx, k, nil); err != nil {
			t.Fatalf("Create %d: got %v, want nil (writers must not block)", i, err)
		}
		ev := <-fast
		fastGot = append(fastGot, ev.Record.Key.Name)
	}
	// The slow watcher got the first buffer events, then its channel closed.
	var slowGot []string
	for ev := range slow {
		slowGot = append(slowGot, ev.Record.Key.Name)
	}
	if want := fastGot[:buffer]; !cmp.Equal(slowGot, want) {
		t.Errorf("slow watcher events: got %v, want %v", slowGot, want)
	}
	if len(fastGot) != 3*buffer {
		t.Errorf("fast watcher events: got %d, want %d", len(fastGot), 3*buffer)
	}
	// Dropping is not cancellation.
	if ctx.Err() != nil {
		t.Fatalf("ctx.Err: got %v, want nil", ctx.Err())
	}
	// Watching again resumes with a full snapshot.
	snap, _, err := s.Watch(ctx)
	if err != nil || len(snap) != 3*buffer {
		t.Fatalf("Watch again: got %d records, %v; want %d, nil", len(snap), err, 3*buffer)
	}
}

func TestClosed(t *testing.T) {
	s, _ := open(t, &Options{NoSync: true})
	if err := s.Close(); err != nil {
		t.Fatalf("Close: got %v, want nil", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: got %v, want nil", err)
	}
	ctx := t.Context()
	k := store.Key{Kind: "function", Namespace: "default", Name: "a"}
	if _, err := s.Create(ctx, k, nil); !errors.Is(err, bolt.ErrDatabaseNotOpen) {
		t.Errorf("Create after Close: got %v, want %v", err, bolt.ErrDatabaseNotOpen)
	}
	if _, err := s.Get(ctx, k); !errors.Is(err, bolt.ErrDatabaseNotOpen) {
		t.Errorf("Get after Close: got %v, want %v", err, bolt.ErrDatabaseNotOpen)
	}
	if _, _, err := s.Watch(ctx); !errors.Is(err, bolt.ErrDatabaseNotOpen) {
		t.Errorf("Watch after Close: got %v, want %v", err, bolt.ErrDatabaseNotOpen)
	}
}

// TestWatchSnapshotOrder checks the documented snapshot order: kind,
// namespace, name.
func TestWatchSnapshotOrder(t *testing.T) {
	s, _ := open(t, &Options{NoSync: true})
	ctx := t.Context()
	keys := []store.Key{
		{Kind: "function", Namespace: "b", Name: "a"},
		{Kind: "environment", Namespace: "z", Name: "z"},
		{Kind: "function", Namespace: "a", Name: "b"},
		{Kind: "function", Namespace: "a", Name: "a"},
	}
	for _, k := range keys {
		if _, err := s.Create(ctx, k, nil); err != nil {
			t.Fatalf("Create: got %v, want nil", err)
		}
	}
	snap, _, err := s.Watch(ctx)
	if err != nil {
		t.Fatalf("Watch: got %v, want nil", err)
	}
	var got []store.Key
	for _, r := range snap {
		got = append(got, r.Key)
	}
	want := []store.Key{keys[1], keys[3], keys[2], keys[0]}
	if diff := cmp.Diff(want, got, cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("snapshot keys: got %v, want %v", got, want)
	}
}

func BenchmarkCreate(b *testing.B) {
	for _, bb := range []struct {
		name   string
		noSync bool
	}{{"fsync", false}, {"nosync", true}} {
		b.Run(bb.name, func(b *testing.B) {
			s, _ := open(b, &Options{NoSync: bb.noSync})
			ctx := context.Background()
			value := []byte(strings.Repeat("x", 512))
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				k := store.Key{Kind: "function", Namespace: "default", Name: fmt.Sprintf("fn-%d", i)}
				if _, err := s.Create(ctx, k, value); err != nil {
					b.Fatalf("Create: got %v, want nil", err)
				}
				i++
			}
		})
	}
}

func BenchmarkGet(b *testing.B) {
	s, _ := open(b, &Options{NoSync: true})
	ctx := context.Background()
	const n = 1000
	value := []byte(strings.Repeat("x", 512))
	keys := make([]store.Key, n)
	for i := range keys {
		keys[i] = store.Key{Kind: "function", Namespace: "default", Name: fmt.Sprintf("fn-%d", i)}
		if _, err := s.Create(ctx, keys[i], value); err != nil {
			b.Fatalf("Create: got %v, want nil", err)
		}
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if _, err := s.Get(ctx, keys[i%n]); err != nil {
			b.Fatalf("Get: got %v, want nil", err)
		}
		i++
	}
}
