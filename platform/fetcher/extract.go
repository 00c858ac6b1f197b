package fetcher

import (
	"archive/zip"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// ErrUnsafeArchive is returned for archives whose entries would land outside
// the extraction folder, or that expand beyond the limits.
var ErrUnsafeArchive = errors.New("unsafe archive")

// Extract unpacks the zip at src into the folder dst, refusing entries that
// escape dst (../, absolute paths, symlinks) and archives over the limits.
func Extract(src, dst string, limits Limits) error {
	zr, err := zip.OpenReader(src)
	if err != nil {
		return fmt.Errorf("open zip: %w", err)
	}
	defer zr.Close()
	if len(zr.File) > limits.MaxFiles {
		return fmt.Errorf("%w: %d entries, at most %d", ErrUnsafeArchive, len(zr.File), limits.MaxFiles)
	}
	root, err := filepath.Abs(dst)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(root, 0o755); err != nil {
		return err
	}
	var total int64
	for _, f := range zr.File {
		target, err := entryPath(root, f.Name)
		if err != nil {
			return err
		}
		mode := f.Mode()
		switch {
		case mode&os.ModeSymlink != 0:
			return fmt.Errorf("%w: entry %q is a symlink", ErrUnsafeArchive, f.Name)
		case f.FileInfo().IsDir():
			if err := os.MkdirAll(target, 0o755); err != nil {
				return err
			}
			continue
		}
		budget := limits.MaxExtractedBytes - total
		n, err := extractFile(f, target, budget)
		if err != nil {
			return err
		}
		total += n
	}
	return nil
}

func entryPath(root, name string) (string, error) {
	clean := filepath.Clean("/" + strings.ReplaceAll(name, "\\", "/"))
	if name == "" || filepath.IsAbs(name) || strings.HasPrefix(name, "/") || hasDotDot(name) {
		return "", fmt.Errorf("%w: entry %q escapes the package folder", ErrUnsafeArchive, name)
	}
	target := filepath.Join(root, clean)
	if target != root && !strings.HasPrefix(target, root+string(filepath.Separator)) {
		return "", fmt.Errorf("%w: entry %q escapes the package folder", ErrUnsafeArchive, name)
	}
	return target, nil
}

func hasDotDot(name string) bool {
	for _, p := range strings.FieldsFunc(name, func(r rune) bool { return r == '/' || r == '\\' }) {
		if p == ".." {
			return true
		}
	}
	return false
}

func extractFile(f *zip.File, target string, budget int64) (int64, error) {
	if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
		return 0, err
	}
	rc, err := f.Open()
	if err != nil {
		return 0, fmt.Errorf("open entry %q: %w", f.Name, err)
	}
	defer rc.Close()
	perm := f.Mode().Perm() | 0o600
	out, err := os.OpenFile(target, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, perm)
	if err != nil {
		return 0, err
	}
	n, err := io.Copy(out, io.LimitReader(rc, budget+1))
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return n, fmt.Errorf("extract entry %q: %w", f.Name, err)
	}
	if n > budget {
		return n, fmt.Errorf("%w: archive expands beyond the limit", ErrUnsafeArchive)
	}
	return n, nil
}
