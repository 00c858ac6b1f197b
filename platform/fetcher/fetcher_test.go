package fetcher_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/lantern-faas/lantern/platform/api"
	"github.com/lantern-faas/lantern/platform/fetcher"
)

// fakeSource is a fetcher.Source whose behaviour each test sets.
type fakeSource struct {
	PackageFunc func(ctx context.Context, namespace, name string) (io.ReadCloser, error)
}

var _ fetcher.Source = (*fakeSource)(nil)

func (f *fakeSource) Package(ctx context.Context, namespace, name string) (io.ReadCloser, error) {
	return f.PackageFunc(ctx, namespace, name)
}

// serving returns a source that serves data for every function and counts
// its calls.
func serving(data []byte) (*fakeSource, *atomic.Int32) {
	var calls atomic.Int32
	return &fakeSource{PackageFunc: func(context.Context, string, string) (io.ReadCloser, error) {
		calls.Add(1)
		return io.NopCloser(bytes.NewReader(data)), nil
	}}, &calls
}

// fnWith returns a function whose package is data.
func fnWith(name string, data []byte, archive bool) *api.Function {
	sum := sha256.Sum256(data)
	filename := "hello.py"
	if archive {
		filename = "fn.zip"
	}
	return &api.Function{
		Metadata: api.Metadata{Namespace: "default", Name: name},
		Spec: api.FunctionSpec{Environment: "env", Package: api.Package{
			Filename: filename, Checksum: hex.EncodeToString(sum[:]), Size: int64(len(data)), Archive: archive,
		}},
	}
}

func envWith(version int, keepArchive bool) *api.Environment {
	return &api.Environment{Metadata: api.Metadata{Namespace: "default", Name: "env"},
		Spec: api.EnvironmentSpec{Runtime: "python", Version: version, KeepArchive: keepArchive}}
}

func TestFetcher_Fetch(t *testing.T) {
	file := []byte("def main():\n    return 'hi'\n")
	zipped := zipBytes(t, entry{name: "main.py", body: "x = 1\n"}, entry{name: "pkg/util.py", body: "y = 2\n"})
	extracted := map[string]string{"main.py": "x = 1\n", "pkg": "<dir>", "pkg/util.py": "y = 2\n"}
	tests := []struct {
		name     string
		data     []byte
		archive  bool
		env      *api.Environment
		wantName string            // base name of the returned path
		wantFile []byte            // content, when a file is placed
		wantTree map[string]string // content, when a folder is placed
	}{
		{"File", file, false, envWith(2, false), "deployarchive", file, nil},
		{"Zip", zipped, true, envWith(2, false), "deployarchive", nil, extracted},
		{"KeepArchive", zipped, true, envWith(2, true), "deployarchive", zipped, nil},
		{"Version1File", file, false, envWith(1, false), "user", file, nil},
		{"Version1Zip", zipped, true, envWith(1, false), "user", nil, extracted},
		{"Version3File", file, false, envWith(3, false), "deployarchive", file, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src, _ := serving(tt.data)
			f := fetcher.New(src, filepath.Join(t.TempDir(), "cache"), fetcher.DefaultLimits())
			codeDir := filepath.Join(t.TempDir(), "inst-1", "userfunc")
			got, err := f.Fetch(t.Context(), fnWith("hello", tt.data, tt.archive), tt.env, codeDir)
			if err != nil {
				t.Fatalf("Fetch: got %v, want nil", err)
			}
			if want := filepath.Join(codeDir, tt.wantName); got != want {
				t.Errorf("path: got %q, want %q", got, want)
			}
			fi, err := os.Stat(got)
			if err != nil {
				t.Fatalf("stat %s: %v", got, err)
			}
			if tt.wantTree != nil {
				if !fi.IsDir() {
					t.Fatalf("%s: got a file, want a folder", got)
				}
				if diff := cmp.Diff(tt.wantTree, readTree(t, got)); diff != "" {
					t.Errorf("extracted (-want +got):\n%s", diff)
				}
				return
			}
			b, err := os.ReadFile(got)
			if err != nil {
				t.Fatalf("read %s: %v", got, err)
			}
			if !bytes.Equal(b, tt.wantFile) {
				t.Errorf("content: got %q, want %q", b, tt.wantFile)
			}
		})
	}
}

func TestFetcher_Fetch_Cache(t *testing.T) {
	data := []byte("print('cached')\n")
	src, calls := serving(data)
	f := fetcher.New(src, filepath.Join(t.TempDir(), "cache"), fetcher.DefaultLimits())
	env := envWith(2, false)

	t.Run("Sequential", func(t *testing.T) {
		for i, name := range []string{"hello", "hello", "copy"} { // "copy" has the same checksum
			codeDir := filepath.Join(t.TempDir(), "code")
			path, err := f.Fetch(t.Context(), fnWith(name, data, false), env, codeDir)
			if err != nil {
				t.Fatalf("Fetch %d: got %v, want nil", i, err)
			}
			if b, _ := os.ReadFile(path); !bytes.Equal(b, data) {
				t.Errorf("Fetch %d content: got %q, want %q", i, b, data)
			}
		}
		if got, want := calls.Load(), int32(1); got != want {
			t.Errorf("Source calls: got %d, want %d", got, want)
		}
	})

	t.Run("Concurrent", func(t *testing.T) {
		other := []byte("print('concurrent')\n")
		var calls atomic.Int32
		src := &fakeSource{PackageFunc: func(context.Context, string, string) (io.ReadCloser, error) {
			calls.Add(1)
			time.Sleep(50 * time.Millisecond) // a slow download: the other Fetches overlap it
			return io.NopCloser(bytes.NewReader(other)), nil
		}}
		f := fetcher.New(src, filepath.Join(t.TempDir(), "cache"), fetcher.DefaultLimits())
		var wg sync.WaitGroup
		errs := make(chan error, 10)
		for range 10 {
			codeDir := filepath.Join(t.TempDir(), "code")
			wg.Go(func() {
				_, err := f.Fetch(context.Background(), fnWith("hello", other, false), env, codeDir)
				errs <- err
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Errorf("Fetch: got %v, want nil", err)
			}
		}
		if got, want := calls.Load(), int32(1); got != want {
			t.Errorf("Source calls: got %d, want %d", got, want)
		}
	})
}

func TestFetcher_Fetch_Errors(t *testing.T) {
	data := []byte("the real code")
	srcErr := errors.New("controller unreachable")
	tests := []struct {
		name      string
		fn        *api.Function
		serve     func() (io.ReadCloser, error)
		limits    fetcher.Limits
		wantIs    error // nil: any error
		wantCalls int32
	}{
		{
			name:      "ChecksumMismatch",
			fn:        fnWith("hello", data, false),
			serve:     func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader([]byte("tampered"))), nil },
			limits:    fetcher.DefaultLimits(),
			wantIs:    fetcher.ErrChecksum,
			wantCalls: 1,
		},
		{
			name:      "SourceError",
			fn:        fnWith("hello", data, false),
			serve:     func() (io.ReadCloser, error) { return nil, srcErr },
			limits:    fetcher.DefaultLimits(),
			wantIs:    srcErr,
			wantCalls: 1,
		},
		{
			name:      "TooLarge",
			fn:        fnWith("hello", data, false),
			serve:     func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil },
			limits:    fetcher.Limits{MaxPackageBytes: int64(len(data)) - 1, MaxExtractedBytes: 1 << 20, MaxFiles: 10},
			wantCalls: 1,
		},
		{
			name: "NoChecksum",
			fn: func() *api.Function {
				fn := fnWith("hello", data, false)
				fn.Spec.Package.Checksum = ""
				return fn
			}(),
			serve:     func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil },
			limits:    fetcher.DefaultLimits(),
			wantCalls: 0,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var calls atomic.Int32
			src := &fakeSource{PackageFunc: func(context.Context, string, string) (io.ReadCloser, error) {
				calls.Add(1)
				return tt.serve()
			}}
			cache := filepath.Join(t.TempDir(), "cache")
			f := fetcher.New(src, cache, tt.limits)
			codeDir := filepath.Join(t.TempDir(), "code")
			path, err := f.Fetch(t.Context(), tt.fn, envWith(2, false), codeDir)
			if err == nil {
				t.Fatalf("Fetch: got path %q, want an error", path)
			}
			if tt.wantIs != nil && !errors.Is(err, tt.wantIs) {
				t.Errorf("Fetch: got %v, want an error wrapping %v", err, tt.wantIs)
			}
			if got := calls.Load(); got != tt.wantCalls {
				t.Errorf("Source calls: got %d, want %d", got, tt.wantCalls)
			}
			// Nothing is left in the cache or the code folder.
			cached, _ := os.ReadDir(cache)
			for _, e := range cached {
				t.Errorf("cache after failure: got %q, want empty", e.Name())
			}
			if _, err := os.Stat(filepath.Join(codeDir, "deployarchive")); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("deployarchive after failure: got %v, want not exist", err)
			}
			// A failure is not cached: the next Fetch downloads again.
			_, _ = f.Fetch(t.Context(), tt.fn, envWith(2, false), codeDir)
			if got, want := calls.Load(), 2*tt.wantCalls; got != want {
				t.Errorf("Source calls after a second Fetch: got %d, want %d", got, want)
			}
		})
	}
}

func TestFetcher_Fetch_UnsafeArchive(t *testing.T) {
	data := zipBytes(t, entry{name: "../evil", body: "x"})
	src, _ := serving(data)
	f := fetcher.New(src, filepath.Join(t.TempDir(), "cache"), fetcher.DefaultLimits())
	codeDir := filepath.Join(t.TempDir(), "code")
	_, err := f.Fetch(t.Context(), fnWith("hello", data, true), envWith(2, false), codeDir)
	if !errors.Is(err, fetcher.ErrUnsafeArchive) {
		t.Errorf("Fetch: got %v, want an error wrapping ErrUnsafeArchive", err)
	}
	if _, err := os.Stat(filepath.Join(codeDir, "evil")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("escaped entry: got %v, want not exist", err)
	}
}
