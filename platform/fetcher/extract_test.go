package fetcher_test

import (
	"archive/zip"
	"bytes"
	"compress/flate"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/lantern-faas/lantern/platform/fetcher"
)

// entry is one zip entry to write.
type entry struct {
	name string
	body string
	mode fs.FileMode // 0 means 0o644; fs.ModeDir for a folder
}

// zipBytes builds a deflated zip archive of entries.
func zipBytes(t *testing.T, entries ...entry) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	zw.RegisterCompressor(zip.Deflate, func(w io.Writer) (io.WriteCloser, error) {
		return flate.NewWriter(w, flate.BestSpeed) // fast enough under -race for the 10 MB bomb
	})
	for _, e := range entries {
		fh := &zip.FileHeader{Name: e.name, Method: zip.Deflate}
		mode := e.mode
		if mode == 0 {
			mode = 0o644
		}
		if mode.IsDir() {
			mode |= 0o755
		}
		fh.SetMode(mode)
		w, err := zw.CreateHeader(fh)
		if err != nil {
			t.Fatalf("zip entry %q: %v", e.name, err)
		}
		if _, err := w.Write([]byte(e.body)); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// writeZip writes a zip of entries to a fresh file and returns its path.
func writeZip(t *testing.T, entries ...entry) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "pkg.zip")
	if err := os.WriteFile(path, zipBytes(t, entries...), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// readTree returns every regular file under root with its content, and
// every folder with the content "<dir>".
func readTree(t *testing.T, root string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == root {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		if d.IsDir() {
			out[filepath.ToSlash(rel)] = "<dir>"
			return nil
		}
		b, err := os.ReadFile(p)
		out[filepath.ToSlash(rel)] = string(b)
		return err
	})
	if err != nil {
		t.Fatalf("read %s: %v", root, err)
	}
	return out
}

func TestExtract_Unsafe(t *testing.T) {
	// 10 MB that deflates to ~10 KB: built once, it is slow under -race.
	bomb := zipBytes(t, entry{name: "bomb", body: strings.Repeat("\x00", 10<<20)})
	if got := len(bomb); got > 100<<10 {
		t.Fatalf("zip bomb size: got %d bytes, want under 100 KiB (the test needs a real bomb)", got)
	}
	third := strings.Repeat("a", 400<<10)
	defaults := fetcher.DefaultLimits()
	small := fetcher.Limits{MaxPackageBytes: 1 << 20, MaxExtractedBytes: 1 << 20, MaxFiles: 10}
	tests := []struct {
		name   string
		zip    []byte
		limits fetcher.Limits
	}{
		{"DotDot", zipBytes(t, entry{name: "ok.txt", body: "x"}, entry{name: "../x", body: "evil"}), defaults},
		{"NestedDotDot", zipBytes(t, entry{name: "a/../../x", body: "evil"}), defaults},
		{"DotDotFolder", zipBytes(t, entry{name: "../", mode: fs.ModeDir}), defaults},
		{"Absolute", zipBytes(t, entry{name: "/etc/x", body: "evil"}), defaults},
		{"BackslashDotDot", zipBytes(t, entry{name: `..\x`, body: "evil"}), defaults},
		{"NestedBackslashDotDot", zipBytes(t, entry{name: `a\..\..\x`, body: "evil"}), defaults},
		{"Symlink", zipBytes(t, entry{name: "link", body: "/etc/passwd", mode: fs.ModeSymlink | 0o777}), defaults},
		{"TooManyFiles", zipBytes(t, entry{name: "a"}, entry{name: "b"}, entry{name: "c"}, entry{name: "d"}),
			fetcher.Limits{MaxPackageBytes: 1 << 20, MaxExtractedBytes: 1 << 20, MaxFiles: 3}},
		{"ZipBomb", bomb, small},
		{"ManyEntriesOverLimit", zipBytes(t, entry{name: "a", body: third}, entry{name: "b", body: third}, entry{name: "c", body: third}), small},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := filepath.Join(t.TempDir(), "pkg.zip")
			if err := os.WriteFile(src, tt.zip, 0o644); err != nil {
				t.Fatal(err)
			}
			parent := t.TempDir()
			dst := filepath.Join(parent, "out")
			err := fetcher.Extract(src, dst, tt.limits)
			if !errors.Is(err, fetcher.ErrUnsafeArchive) {
				t.Fatalf("Extract: got %v, want an error wrapping ErrUnsafeArchive", err)
			}
			// Nothing landed beside the extraction folder.
			entries, err := os.ReadDir(parent)
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range entries {
				if e.Name() != "out" {
					t.Errorf("beside %s: got %q, want nothing", dst, e.Name())
				}
			}
			// An oversized entry was not written out in full.
			var size int64
			_ = filepath.WalkDir(dst, func(_ string, d fs.DirEntry, err error) error {
				if err == nil && !d.IsDir() {
					if fi, err := d.Info(); err == nil {
						size += fi.Size()
					}
				}
				return nil
			})
			if max := tt.limits.MaxExtractedBytes + 1; size > max {
				t.Errorf("bytes written: got %d, want at most %d", size, max)
			}
		})
	}
}

func TestExtract_OK(t *testing.T) {
	script := "#!/bin/sh\necho hi\n"
	tests := []struct {
		name    string
		entries []entry
		limits  fetcher.Limits
		want    map[string]string
	}{
		{
			name: "Nested",
			entries: []entry{
				{name: "bin/", mode: fs.ModeDir},
				{name: "bin/run.sh", body: script, mode: 0o755},
				{name: "lib/a/b.txt", body: "deep"}, // parents without entries
				{name: "empty/", mode: fs.ModeDir},
				{name: "top.txt", body: "top"},
				{name: "./dot.txt", body: "dot"},
			},
			limits: fetcher.DefaultLimits(),
			want: map[string]string{
				"bin": "<dir>", "bin/run.sh": script, "lib": "<dir>", "lib/a": "<dir>", "lib/a/b.txt": "deep",
				"empty": "<dir>", "top.txt": "top", "dot.txt": "dot",
			},
		},
		{
			name:    "ExactlyAtLimits",
			entries: []entry{{name: "a", body: "12345"}, {name: "b", body: "67890"}},
			limits:  fetcher.Limits{MaxPackageBytes: 1 << 20, MaxExtractedBytes: 10, MaxFiles: 2},
			want:    map[string]string{"a": "12345", "b": "67890"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dst := filepath.Join(t.TempDir(), "code", "deployarchive")
			if err := fetcher.Extract(writeZip(t, tt.entries...), dst, tt.limits); err != nil {
				t.Fatalf("Extract: got %v, want nil", err)
			}
			if diff := cmp.Diff(tt.want, readTree(t, dst)); diff != "" {
				t.Errorf("extracted tree (-want +got):\n%s", diff)
			}
		})
	}

	t.Run("ExecBits", func(t *testing.T) {
		dst := t.TempDir()
		src := writeZip(t, entry{name: "bin/run.sh", body: script, mode: 0o755}, entry{name: "data.txt", body: "x", mode: 0o644})
		if err := fetcher.Extract(src, dst, fetcher.DefaultLimits()); err != nil {
			t.Fatalf("Extract: got %v, want nil", err)
		}
		modes := []struct {
			path     string
			wantExec bool
		}{{"bin/run.sh", true}, {"data.txt", false}}
		for _, m := range modes {
			fi, err := os.Stat(filepath.Join(dst, m.path))
			if err != nil {
				t.Fatal(err)
			}
			if got := fi.Mode()&0o100 != 0; got != m.wantExec {
				t.Errorf("%s mode %v: got executable %v, want %v", m.path, fi.Mode(), got, m.wantExec)
			}
			if fi.Mode()&0o400 == 0 {
				t.Errorf("%s mode %v: got unreadable, want readable by its owner", m.path, fi.Mode())
			}
		}
	})

	t.Run("NotAZip", func(t *testing.T) {
		src := filepath.Join(t.TempDir(), "x.zip")
		if err := os.WriteFile(src, []byte("not a zip"), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := fetcher.Extract(src, t.TempDir(), fetcher.DefaultLimits()); err == nil {
			t.Errorf("Extract of a text file: got nil, want an error")
		}
	})
}
