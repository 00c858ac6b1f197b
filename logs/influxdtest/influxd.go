package influxdtest

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"

	"sync"
	"syscall"
	"testing"
	"time"
)

// Version is the InfluxDB version test/tools/influxdb.sh builds.
const Version = "1.8.3"

// EnvBinary overrides the influxd binary path.
const EnvBinary = "LANTERN_INFLUXD"

const readyTimeout = 30 * time.Second

// Options tune the server.
type Options struct {
	// Flux enables Flux (/api/v2/query); startup then takes 5-12 s.
	Flux bool
}

// Server is a running (or stopped) influxd.
type Server struct {
	// URL is the HTTP API, http://127.0.0.1:<port>.
	URL string

	t        testing.TB
	bin      string
	dir      string
	conf     string
	logPath  string
	mu       sync.Mutex
	cmd      *exec.Cmd
	exited   chan struct{}
	exitErr  error
	httpAddr string
}

// Binary returns the influxd path or fails the test.
func Binary(t testing.TB) string {
	t.Helper()
	if p := os.Getenv(EnvBinary); p != "" {
		return p
	}
	root, err := repoRoot()
	if err != nil {
		t.Fatalf("influxd: %v", err)
	}
	p := filepath.Join(root, ".tools", "influxdb-"+Version, "influxd")
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("influxd %s not found at %s: run bash test/tools/influxdb.sh", Version, p)
	}
	return p
}

// Start starts influxd with its data in t.TempDir() and waits until it
// answers /ping. It is stopped at the end of the test.
func Start(t testing.TB, opts Options) *Server {
	t.Helper()
	s := &Server{t: t, bin: Binary(t), dir: t.TempDir()}
	httpPort, rpcPort := freePort(t), freePort(t)
	s.httpAddr = fmt.Sprintf("127.0.0.1:%d", httpPort)
	s.URL = "http://" + s.httpAddr
	s.conf = filepath.Join(s.dir, "influxdb.conf")
	s.logPath = filepath.Join(s.dir, "influxd.log")
	conf := fmt.Sprintf(configTemplate, rpcPort, s.dir, s.dir, s.dir, s.httpAddr, opts.Flux)
	if err := os.WriteFile(s.conf, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Stop)
	s.Start()
	return s
}

// configTemplate follows /work/shared/docs/backends.md: everything on
// 127.0.0.1, no usage reporting, no self-monitoring writes.
const configTemplate = `reporting-disabled = true
bind-address = "127.0.0.1:%d"

[meta]
  dir = "%[2]s/meta"

[data]
  dir = "%[3]s/data"
  wal-dir = "%[4]s/wal"
  index-version = "tsi1"
  query-log-enabled = false

[monitor]
  store-enabled = false

[continuous_queries]
  enabled = false

[http]
  bind-address = "%[5]s"
  flux-enabled = %[6]t
  log-enabled = false
  max-body-size = 0

[logging]
  level = "warn"
`

// Start (re)starts a stopped server on the same ports and data.
func (s *Server) Start() {
	s.t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd != nil {
		s.t.Fatal("influxd already running")
	}
	logf, err := os.OpenFile(s.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		s.t.Fatal(err)
	}
	cmd := exec.Command(s.bin, "-config", s.conf)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		s.t.Fatalf("start influxd: %v", err)
	}
	exited := make(chan struct{})
	go func() {
		err := cmd.Wait()
		logf.Close()
		s.mu.Lock()
		s.exitErr = err
		s.mu.Unlock()
		close(exited)
	}()
	s.cmd, s.exited = cmd, exited
	if err := s.waitReady(exited); err != nil {
		s.t.Fatalf("influxd not ready: %v\n%s", err, s.logTail())
	}
}

func (s *Server) waitReady(exited chan struct{}) error {
	deadline := time.Now().Add(readyTimeout)
	client := &http.Client{Timeout: time.Second}
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			return fmt.Errorf("influxd exited: %v", s.exitErr)
		default:
		}
		if res, err := client.Get(s.URL + "/ping"); err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusNoContent {
				return nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return errors.New("no answer on /ping within 30s")
}

// Stop stops the server (SIGTERM, then SIGKILL after 15 s). Its data stays
// for a later Start.
func (s *Server) Stop() {
	s.mu.Lock()
	cmd, exited := s.cmd, s.exited
	s.cmd = nil
	s.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-exited:
	case <-time.After(15 * time.Second):
		_ = cmd.Process.Kill()
		<-exited
	}
}

func (s *Server) logTail() string {
	b, _ := os.ReadFile(s.logPath)
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}

func freePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// repoRoot walks up from the working directory to the module root.
func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		b, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && bytes.Contains(b, []byte("module github.com/lantern-faas/lantern\n")) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("module root (go.mod of github.com/lantern-faas/lantern) not found")
		}
		dir = parent
	}
}
