package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestResolvePathsMakesFoldersAbsolute(t *testing.T) {
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "runtimes"), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Chdir(dir)
	o := &options{dataDir: "data", runtimesDir: "runtimes"}
	if err := o.resolvePaths(); err != nil {
		t.Fatal(err)
	}
	real, _ := filepath.EvalSymlinks(dir)
	for flag, got := range map[string]string{"--data-dir": o.dataDir, "--runtimes-dir": o.runtimesDir} {
		if !filepath.IsAbs(got) {
			t.Errorf("%s = %q, want an absolute path", flag, got)
		}
		if g, _ := filepath.EvalSymlinks(filepath.Dir(got)); g != real {
			t.Errorf("%s = %q, want it under %s", flag, got, dir)
		}
	}
}

func TestResolvePathsRefusesMissingRuntimesDir(t *testing.T) {
	t.Chdir(t.TempDir())
	o := &options{dataDir: "data", runtimesDir: "no-such-folder"}
	err := o.resolvePaths()
	if err == nil || !strings.Contains(err.Error(), "--runtimes-dir") || !strings.Contains(err.Error(), "no-such-folder") {
		t.Fatalf("resolvePaths() = %v, want an error naming --runtimes-dir and the folder", err)
	}
}
