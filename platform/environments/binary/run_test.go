package binary

import (
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestEnvName(t *testing.T) {
	tests := []struct{ header, want string }{
		{"X-Test", "X_TEST"},
		{"Accept-Encoding", "ACCEPT_ENCODING"},
		{"x.weird~name", "X_WEIRD_NAME"},
	}
	for _, tt := range tests {
		if got := envName(tt.header); got != tt.want {
			t.Errorf("envName(%q) = %q, want %q", tt.header, got, tt.want)
		}
	}
}

func TestRequestEnv(t *testing.T) {
	r := httptest.NewRequest("PUT", "/a/b?x=1&y=2", strings.NewReader("body"))
	r.Header.Set("Content-Type", "text/plain")
	r.Header.Set("Proxy", "http://evil")
	r.Header.Add("X-Multi", "1")
	r.Header.Add("X-Multi", "2")
	env := requestEnv(r)
	for _, want := range []string{
		"REQUEST_METHOD=PUT", "REQUEST_URI=/a/b?x=1&y=2", "PATH_INFO=/a/b", "QUERY_STRING=x=1&y=2",
		"CONTENT_TYPE=text/plain", "CONTENT_LENGTH=4", "HTTP_X_MULTI=1, 2", "HTTP_HOST=example.com",
	} {
		if !slices.Contains(env, want) {
			t.Errorf("env lacks %q: %q", want, env)
		}
	}
	for _, e := range env {
		if strings.HasPrefix(e, "HTTP_PROXY=") || strings.HasPrefix(e, "HTTP_CONTENT_TYPE=") {
			t.Errorf("env has %q", e)
		}
	}
}

func TestTailBuffer(t *testing.T) {
	tb := &tailBuffer{max: 16}
	if _, err := tb.Write([]byte("short\n")); err != nil {
		t.Fatal(err)
	}
	if got := tb.String(); got != "short\n" {
		t.Errorf("tail = %q, want %q", got, "short\n")
	}
	_, _ = tb.Write([]byte("line two\nline three\n"))
	if got, want := tb.String(), "...\nline three\n"; got != want {
		t.Errorf("tail = %q, want %q", got, want)
	}
}

func TestFindInDir(t *testing.T) {
	dir := t.TempDir()
	write := func(name string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, name), []byte("#!/bin/sh\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("app")
	if got, err := findInDir(dir, ""); err != nil || got != filepath.Join(dir, "app") {
		t.Errorf("only file: got %q, %v; want app", got, err)
	}
	write("other")
	if _, err := findInDir(dir, ""); err == nil || !strings.Contains(err.Error(), "app, other") {
		t.Errorf("two files, no default: err = %v, want one listing app, other", err)
	}
	write("handler")
	if got, err := findInDir(dir, ""); err != nil || got != filepath.Join(dir, "handler") {
		t.Errorf("default name: got %q, %v; want handler", got, err)
	}
	if got, err := findInDir(dir, "app.Handler"); err != nil || got != filepath.Join(dir, "app") {
		t.Errorf("app.Handler: got %q, %v; want app", got, err)
	}
	if _, err := findInDir(dir, "../app"); err == nil || !strings.Contains(err.Error(), "outside") {
		t.Errorf("../app: err = %v, want outside", err)
	}
}
