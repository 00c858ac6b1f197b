package environments_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lantern-faas/lantern/platform/api/runtime"
	"github.com/lantern-faas/lantern/platform/environments/binary"
)

const (
	pythonBin  = "/usr/bin/python3"
	setupHint  = "run: bash platform/environments/setup.sh"
	startLimit = 15 * time.Second
)

// pythonDeps and nodeDeps check the runtimes' dependencies once.
var (
	pythonDeps = sync.OnceValue(func() error {
		out, err := exec.Command(pythonBin, "-c", "import flask, gevent").CombinedOutput()
		if err != nil {
			return fmt.Errorf("%s cannot import flask and gevent (%s): %v\n%s", pythonBin, setupHint, err, out)
		}
		return nil
	})
	nodeDeps = sync.OnceValue(func() error {
		if _, err := exec.LookPath("node"); err != nil {
			return fmt.Errorf("node is not installed (%s): %v", setupHint, err)
		}
		if _, err := os.Stat("nodejs/node_modules/express/package.json"); err != nil {
			return fmt.Errorf("express is not installed in nodejs/node_modules (%s): %v", setupHint, err)
		}
		return nil
	})
)

// logBuffer collects an instance's stdout and stderr.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// instance is one running runtime process (or goroutine for binary).
type instance struct {
	base     string
	userfunc string
	logs     *logBuffer
}

// starter starts a fresh generic instance whose USERFUNC_DIR is userfunc.
type starter func(t *testing.T, userfunc string, env ...string) *instance

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

func startProcess(t *testing.T, userfunc string, env []string, name string, args ...string) *instance {
	t.Helper()
	addr := freeAddr(t)
	_, port, _ := net.SplitHostPort(addr)
	logs := &logBuffer{}
	cmd := exec.Command(name, args...)
	cmd.Env = append(os.Environ(), append([]string{runtime.EnvPort + "=" + port, runtime.EnvUserfunc + "=" + userfunc}, env...)...)
	cmd.Stdout = logs
	cmd.Stderr = logs
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v (%s)", name, err, setupHint)
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
		if t.Failed() {
			t.Logf("instance logs:\n%s", logs.String())
		}
	})
	inst := &instance{base: "http://" + addr, userfunc: userfunc, logs: logs}
	waitHealthy(t, inst, exited)
	return inst
}

func waitHealthy(t *testing.T, inst *instance, exited <-chan struct{}) {
	t.Helper()
	deadline := time.Now().Add(startLimit)
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			t.Fatalf("instance exited before it was healthy (%s); logs:\n%s", setupHint, inst.logs.String())
		default:
		}
		resp, err := http.Get(inst.base + runtime.PathHealthz)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("instance not healthy after %v (%s); logs:\n%s", startLimit, setupHint, inst.logs.String())
}

func startPython(t *testing.T, userfunc string, env ...string) *instance {
	t.Helper()
	if err := pythonDeps(); err != nil {
		t.Fatal(err)
	}
	return startProcess(t, userfunc, env, pythonBin, "python/server.py")
}

func startNode(t *testing.T, userfunc string, env ...string) *instance {
	t.Helper()
	if err := nodeDeps(); err != nil {
		t.Fatal(err)
	}
	return startProcess(t, userfunc, env, "node", "nodejs/server.js")
}

func startBinary(t *testing.T, userfunc string, _ ...string) *instance {
	t.Helper()
	addr := freeAddr(t)
	logs := &logBuffer{}
	logger := slog.New(slog.NewTextHandler(logs, nil))
	ctx, cancel := context.WithCancel(context.Background())
	exited := make(chan struct{})
	var serveErr error
	go func() {
		serveErr = binary.Serve(ctx, addr, userfunc, logger)
		close(exited)
	}()
	t.Cleanup(func() {
		cancel()
		<-exited
		if serveErr != nil {
			t.Errorf("binary.Serve: %v", serveErr)
		}
	})
	inst := &instance{base: "http://" + addr, userfunc: userfunc, logs: logs}
	waitHealthy(t, inst, exited)
	return inst
}

// fixture copies testdata/<rel> into a fresh userfunc folder, the way the
// fetcher lays code out, and returns the folder and the copy's path.
func fixture(t *testing.T, rel string) (userfunc, path string) {
	t.Helper()
	userfunc = t.TempDir()
	path = filepath.Join(userfunc, filepath.Base(rel))
	copyTree(t, filepath.Join("testdata", rel), path)
	return userfunc, path
}

func copyTree(t *testing.T, src, dst string) {
	t.Helper()
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(target, data, 0o644)
	})
	if err != nil {
		t.Fatalf("copy %s: %v", src, err)
	}
}

type response struct {
	status int
	header http.Header
	body   string
}

func (inst *instance) do(t *testing.T, method, path string, body string, header ...string) response {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, inst.base+path, rd)
	if err != nil {
		t.Fatalf("new request: %v", err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: read body: %v", method, path, err)
	}
	return response{status: resp.StatusCode, header: resp.Header, body: string(data)}
}

// specialize sends a v2 load request for the code at path.
func (inst *instance) specialize(t *testing.T, path, entrypoint string) response {
	t.Helper()
	req, err := json.Marshal(runtime.LoadRequest{
		FilePath:         path,
		FunctionName:     entrypoint,
		FunctionMetadata: &runtime.FunctionMetadata{Name: "fn", Namespace: "default"},
		EnvVersion:       2,
	})
	if err != nil {
		t.Fatal(err)
	}
	return inst.do(t, http.MethodPost, runtime.PathSpecializeV2, string(req), "Content-Type", "application/json")
}

// mustSpecialize fails the test unless specialization succeeds.
func (inst *instance) mustSpecialize(t *testing.T, path, entrypoint string) {
	t.Helper()
	if r := inst.specialize(t, path, entrypoint); r.status >= 300 {
		t.Fatalf("specialize %s (%q) = %d, want < 300; body:\n%s", path, entrypoint, r.status, r.body)
	}
}

// chunkTimes reads a streamed body line by line and returns when each
// line arrived, relative to the request.
func (inst *instance) chunkTimes(t *testing.T, path string) (lines []string, at []time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, inst.base+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("GET %s = %d, want 200; body:\n%s", path, resp.StatusCode, b)
	}
	rd := bufio.NewReader(resp.Body)
	for {
		line, err := rd.ReadString('\n')
		if line != "" {
			lines = append(lines, strings.TrimSpace(line))
			at = append(at, time.Since(start))
		}
		if errors.Is(err, io.EOF) {
			return lines, at
		}
		if err != nil {
			t.Fatalf("GET %s: read: %v", path, err)
		}
	}
}
