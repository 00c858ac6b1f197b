package binary

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// resolveExecutable finds the executable a load request names, makes it
// executable and checks that it looks like one. Its errors are shown to the
// user as they are.
func resolveExecutable(path, entrypoint string) (string, error) {
	st, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("load %s: no such file or directory", path)
	}
	if err != nil {
		return "", fmt.Errorf("load %s: %w", path, err)
	}
	if st.IsDir() {
		if path, err = findInDir(path, strings.TrimSpace(entrypoint)); err != nil {
			return "", err
		}
	}
	if err := makeExecutable(path); err != nil {
		return "", err
	}
	if err := checkFormat(path); err != nil {
		return "", err
	}
	return path, nil
}

func findInDir(dir, entrypoint string) (string, error) {
	if entrypoint == "" {
		for _, name := range [...]string{"main", "handler", "bootstrap"} {
			if p := filepath.Join(dir, name); isRegular(p) {
				return p, nil
			}
		}
		files := regularFiles(dir)
		if len(files) == 1 {
			return filepath.Join(dir, files[0]), nil
		}
		return "", fmt.Errorf("no entrypoint given and no main, handler or bootstrap in %s (files: %s)", dir, list(files))
	}
	candidates := []string{entrypoint}
	if i := strings.LastIndexByte(entrypoint, '.'); i > 0 && !strings.Contains(entrypoint[i:], "/") {
		candidates = append(candidates, entrypoint[:i]) // "app.Handler" means app
	}
	for _, name := range candidates {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if rel, err := filepath.Rel(dir, p); err != nil || rel == ".." || strings.HasPrefix(rel, "../") {
			return "", fmt.Errorf("entrypoint %q is outside %s", entrypoint, dir)
		}
		if isRegular(p) {
			return p, nil
		}
	}
	return "", fmt.Errorf("executable %q not found in %s (files: %s)", entrypoint, dir, list(regularFiles(dir)))
}

func isRegular(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.Mode().IsRegular()
}

func regularFiles(dir string) []string {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	var names []string
	for _, e := range entries {
		if isRegular(filepath.Join(dir, e.Name())) {
			names = append(names, e.Name())
		}
	}
	sort.Strings(names)
	return names
}

func list(names []string) string {
	const limit = 20
	if len(names) == 0 {
		return "none"
	}
	if len(names) > limit {
		return strings.Join(names[:limit], ", ") + ", ..."
	}
	return strings.Join(names, ", ")
}

func makeExecutable(path string) error {
	st, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("load %s: %w", path, err)
	}
	mode := st.Mode().Perm()
	if mode&0o111 == 0o111 {
		return nil
	}
	if err := os.Chmod(path, mode|0o111); err != nil && mode&0o100 == 0 {
		return fmt.Errorf("make %s executable: %w", path, err)
	}
	return nil
}

// checkFormat wants a #! line or an ELF header: the kernel runs nothing else.
func checkFormat(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("load %s: %w", path, err)
	}
	defer f.Close()
	head := make([]byte, 4)
	n, err := io.ReadFull(f, head)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		return fmt.Errorf("load %s: %w", path, err)
	}
	head = head[:n]
	if bytes.HasPrefix(head, []byte("#!")) || bytes.Equal(head, []byte("\x7fELF")) {
		return nil
	}
	return fmt.Errorf("%s is not an executable: want a #! line or an ELF binary", path)
}
