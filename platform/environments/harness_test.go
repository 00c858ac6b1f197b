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
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
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

// instance is one running runtime process.
type instance struct {
	base     string
	userfunc string
	// logs is what the instance printed on stdout and stderr, in order (one
	// pipe for both); only stdout when started with splitStderr.
	logs *logBuffer
	// stderr is what it printed on stderr, when started with splitStderr.
	stderr *logBuffer
}

// starter starts a fresh generic instance whose USERFUNC_DIR is userfunc.
type starter func(t *testing.T, userfunc string, opts ...startOption) *instance

// startConfig is how a starter starts an instance.
type startConfig struct {
	env         []string
	splitStderr bool
	// graceful stops the instance with SIGTERM and wants a clean exit.
	graceful bool
}

// startOption tunes a starter.
type startOption func(*startConfig)

// withEnv adds KEY=value entries to the instance's environment.
func withEnv(kv ...string) startOption {
	return func(c *startConfig) { c.env = append(c.env, kv...) }
}

// splitStderr captures stderr apart from stdout (instance.stderr), at the
// cost of their relative order.
func splitStderr(c *startConfig) { c.splitStderr = true }

func newStartConfig(opts []startOption) startConfig {
	var c startConfig
	for _, o := range opts {
		o(&c)
	}
	return c
}

// binaryRuntimeEnv makes the test binary run the binary runtime instead of
// the tests (see TestMain), so that it is a process with its own stderr as
// under lanternd env-binary.
const binaryRuntimeEnv = "LANTERN_TEST_RUN_BINARY_RUNTIME"

func TestMain(m *testing.M) {
	if os.Getenv(binaryRuntimeEnv) == "1" {
		os.Exit(runBinaryRuntime())
	}
	os.Exit(m.Run())
}

// runBinaryRuntime serves a generic binary instance until SIGTERM.
func runBinaryRuntime() int {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	logger := slog.New(slog.NewTextHandler(os.Stderr, nil))
	addr := "127.0.0.1:" + os.Getenv(runtime.EnvPort)
	if err := binary.Serve(ctx, addr, os.Getenv(runtime.EnvUserfunc), logger); err != nil {
		fmt.Fprintln(os.Stderr, "binary.Serve:", err)
		return 1
	}
	return 0
}

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

func startProcess(t *testing.T, userfunc string, cfg startConfig, name string, args ...string) *instance {
	t.Helper()
	addr := freeAddr(t)
	_, port, _ := net.SplitHostPort(addr)
	inst := &instance{base: "http://" + addr, userfunc: userfunc, logs: &logBuffer{}}
	cmd := exec.Command(name, args...)
	cmd.Env = append(os.Environ(), append([]string{runtime.EnvPort + "=" + port, runtime.EnvUserfunc + "=" + userfunc}, cfg.env...)...)
	cmd.Stdout = inst.logs
	cmd.Stderr = inst.logs // the same writer: os/exec gives both one pipe
	if cfg.splitStderr {
		inst.stderr = &logBuffer{}
		cmd.Stderr = inst.stderr
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v (%s)", name, err, setupHint)
	}
	exited := make(chan struct{})
	var waitErr error
	go func() {
		waitErr = cmd.Wait()
		close(exited)
	}()
	t.Cleanup(func() {
		if cfg.graceful {
			_ = cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-exited:
				if waitErr != nil {
					t.Errorf("instance exited with %v, want a clean exit", waitErr)
				}
			case <-time.After(10 * time.Second):
				t.Errorf("instance still running 10s after SIGTERM")
			}
		}
		_ = cmd.Process.Kill()
		<-exited
		if t.Failed() {
			t.Logf("instance logs:\n%s", inst.logs.String())
			if inst.stderr != nil {
				t.Logf("instance stderr:\n%s", inst.stderr.String())
			}
		}
	})
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

func startPython(t *testing.T, userfunc string, opts ...startOption) *instance {
	t.Helper()
	if err := pythonDeps(); err != nil {
		t.Fatal(err)
	}
	return startProcess(t, userfunc, newStartConfig(opts), pythonBin, "python/server.py")
}

func startNode(t *testing.T, userfunc string, opts ...startOption) *instance {
	t.Helper()
	if err := nodeDeps(); err != nil {
		t.Fatal(err)
	}
	return startProcess(t, userfunc, newStartConfig(opts), "node", "nodejs/server.js")
}

// startBinary runs binary.Serve in a copy of the test binary (see TestMain).
func startBinary(t *testing.T, userfunc string, opts ...startOption) *instance {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cfg := newStartConfig(opts)
	// The race detector waits 1s at exit by default.
	cfg.env = append(cfg.env, binaryRuntimeEnv+"=1", "GORACE="+strings.TrimSpace(os.Getenv("GORACE")+" atexit_sleep_ms=0"))
	cfg.graceful = true
	return startProcess(t, userfunc, cfg, exe)
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

// specialize sends a v2 load request for the code at path, with extra
// headers (name, value, ...).
func (inst *instance) specialize(t *testing.T, path, entrypoint string, header ...string) response {
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
	return inst.do(t, http.MethodPost, runtime.PathSpecializeV2, string(req), append([]string{"Content-Type", "application/json"}, header...)...)
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
