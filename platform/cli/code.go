package cli

import (
	"archive/zip"
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/lantern-faas/lantern/platform/api"
)

// readCode reads the package given to --code: a source file, an executable
// or a zip archive is sent as it is; a directory is zipped.
func readCode(path string) (*api.Code, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, codeError(path, err)
	}
	if fi.IsDir() {
		data, err := zipDir(path)
		if err != nil {
			return nil, err
		}
		return &api.Code{Filename: dirName(path) + ".zip", Data: data}, nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, codeError(path, err)
	}
	return &api.Code{Filename: filepath.Base(path), Data: data}, nil
}

func codeError(path string, err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		err = pe.Err
	}
	return withHint(fmt.Errorf("cannot read code %q: %w", path, err),
		"give --code a source file, an executable, a .zip or a directory")
}

// dirName is the base name of a directory, resolving "." and "..".
func dirName(path string) string {
	if abs, err := filepath.Abs(path); err == nil {
		path = abs
	}
	name := filepath.Base(path)
	if name == string(filepath.Separator) || name == "." {
		return "code"
	}
	return name
}

// zipDir zips the regular files under dir, with paths relative to it and
// their permissions kept so that executables stay executable.
func zipDir(dir string) ([]byte, error) {
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	n := 0
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if path == dir || !(d.Type().IsRegular() || d.IsDir()) {
			return nil // the root itself, symlinks, devices
		}
		rel, err := filepath.Rel(dir, path)
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		hdr, err := zip.FileInfoHeader(fi)
		if err != nil {
			return err
		}
		hdr.Name = filepath.ToSlash(rel)
		if d.IsDir() {
			hdr.Name += "/"
			_, err = zw.CreateHeader(hdr)
			return err
		}
		hdr.Method = zip.Deflate
		w, err := zw.CreateHeader(hdr)
		if err != nil {
			return err
		}
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		n++
		_, err = io.Copy(w, f)
		return err
	})
	if err != nil {
		return nil, codeError(dir, err)
	}
	if err := zw.Close(); err != nil {
		return nil, fmt.Errorf("zip %q: %w", dir, err)
	}
	if n == 0 {
		return nil, withHint(fmt.Errorf("directory %q holds no files", dir),
			"put the function's code in it, or give --code a file")
	}
	return buf.Bytes(), nil
}
