package fetcher

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"

	"github.com/lantern-faas/lantern/platform/api"
)

// ErrChecksum is returned when a downloaded package does not match the
// checksum its function declares.
var ErrChecksum = errors.New("package checksum mismatch")

// Source downloads a function's package.
type Source interface {
	Package(ctx context.Context, namespace, name string) (io.ReadCloser, error)
}

// Limits bound what an archive may expand to.
type Limits struct {
	// MaxPackageBytes is the largest package downloaded.
	MaxPackageBytes int64
	// MaxExtractedBytes is the most an archive may expand to.
	MaxExtractedBytes int64
	// MaxFiles is the most entries an archive may hold.
	MaxFiles int
}

// DefaultLimits returns generous limits that still stop zip bombs.
func DefaultLimits() Limits {
	return Limits{MaxPackageBytes: 256 << 20, MaxExtractedBytes: 1 << 30, MaxFiles: 20000}
}

// Fetcher downloads packages into a local cache and places them in code
// folders.
type Fetcher struct {
	src      Source
	cacheDir string
	limits   Limits
	// locks serializes downloads of one checksum.
	mu    sync.Mutex
	locks map[string]*sync.Mutex
}

// New returns a fetcher caching packages under cacheDir.
func New(src Source, cacheDir string, limits Limits) *Fetcher {
	return &Fetcher{src: src, cacheDir: cacheDir, limits: limits, locks: map[string]*sync.Mutex{}}
}

// Fetch makes fn's package available in codeDir and returns the path to give
// the runtime: "<codeDir>/deployarchive" (a file, or a folder for an
// extracted zip), or "<codeDir>/user" for contract version 1.
func (f *Fetcher) Fetch(ctx context.Context, fn *api.Function, env *api.Environment, codeDir string) (string, error) {
	pkg := fn.Spec.Package
	cached, err := f.cached(ctx, fn)
	if err != nil {
		return "", err
	}
	name := "deployarchive"
	if env.Spec.Version == 1 {
		name = "user"
	}
	dest := filepath.Join(codeDir, name)
	if err := os.MkdirAll(codeDir, 0o755); err != nil {
		return "", err
	}
	if pkg.Archive && !env.Spec.KeepArchive {
		if err := Extract(cached, dest, f.limits); err != nil {
			return "", fmt.Errorf("extract package %s: %w", pkg.Filename, err)
		}
		return dest, nil
	}
	if err := copyFile(cached, dest); err != nil {
		return "", fmt.Errorf("place package %s: %w", pkg.Filename, err)
	}
	return dest, nil
}

// cached returns the path of the verified package in the cache,
// downloading it once.
func (f *Fetcher) cached(ctx context.Context, fn *api.Function) (string, error) {
	sum := fn.Spec.Package.Checksum
	if len(sum) != 64 {
		return "", fmt.Errorf("function %s has no valid package checksum", fn.Metadata.Name)
	}
	path := filepath.Join(f.cacheDir, sum)
	f.mu.Lock()
	l := f.locks[sum]
	if l == nil {
		l = &sync.Mutex{}
		f.locks[sum] = l
	}
	f.mu.Unlock()
	l.Lock()
	defer l.Unlock()
	if _, err := os.Stat(path); err == nil {
		return path, nil
	}
	if err := f.download(ctx, fn, path); err != nil {
		return "", err
	}
	return path, nil
}

func (f *Fetcher) download(ctx context.Context, fn *api.Function, path string) error {
	rc, err := f.src.Package(ctx, fn.Metadata.Namespace, fn.Metadata.Name)
	if err != nil {
		return fmt.Errorf("download package of %s: %w", fn.Metadata.Name, err)
	}
	defer rc.Close()
	if err := os.MkdirAll(f.cacheDir, 0o755); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(f.cacheDir, ".download-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(tmp, h), io.LimitReader(rc, f.limits.MaxPackageBytes+1))
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("download package of %s: %w", fn.Metadata.Name, err)
	}
	if n > f.limits.MaxPackageBytes {
		return fmt.Errorf("package of %s is larger than %d bytes", fn.Metadata.Name, f.limits.MaxPackageBytes)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != fn.Spec.Package.Checksum {
		return fmt.Errorf("%w: function %s declares %s, got %s", ErrChecksum, fn.Metadata.Name, fn.Spec.Package.Checksum, got)
	}
	return os.Rename(tmp.Name(), path)
}

// copyFile copies src to dst: instances get their own copy, so nothing
// they do reaches the verified cache.
func copyFile(src, dst string) error {
	_ = os.Remove(dst)
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o755)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
