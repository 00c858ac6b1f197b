// Package process runs function instances as local processes: each one a
// child process in its own folder, listening on its own loopback port.
//
// It imports api, api/runtime and instance.
package process

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/lantern-faas/lantern/platform/api"
	"github.com/lantern-faas/lantern/platform/api/runtime"
	"github.com/lantern-faas/lantern/platform/instance"
)

// Config configures the runtime.
type Config struct {
	// Dir holds one folder per instance.
	Dir string
	// Builtins maps runtime names (python, nodejs, binary) to argv.
	Builtins map[string][]string
	// StartTimeout bounds how long an instance may take to listen.
	StartTimeout time.Duration
	// Host is the address instances listen on.
	Host string
}

// Runtime starts instances as child processes.
type Runtime struct{ cfg Config }

var _ instance.Runtime = (*Runtime)(nil)

// New returns a process runtime.
func New(cfg Config) *Runtime {
	if cfg.StartTimeout == 0 {
		cfg.StartTimeout = 30 * time.Second
	}
	if cfg.Host == "" {
		cfg.Host = "127.0.0.1"
	}
	return &Runtime{cfg: cfg}
}

// Command returns the argv that starts env's instances.
func (r *Runtime) Command(env *api.Environment) ([]string, error) {
	if env.Spec.Command != "" {
		return []string{"/bin/sh", "-c", "exec " + env.Spec.Command}, nil
	}
	argv, ok := r.cfg.Builtins[env.Spec.Runtime]
	if !ok {
		return nil, fmt.Errorf("runtime %q is not available on this server", env.Spec.Runtime)
	}
	return argv, nil
}

// Start starts an instance and waits until it accepts connections. When
// the port it was given turns out to be another program's, it starts again
// on another port.
func (r *Runtime) Start(ctx context.Context, env *api.Environment, opts instance.StartOptions) (instance.Process, error) {
	for attempt := 1; ; attempt++ {
		p, err := r.startOnce(ctx, env, opts)
		if !errors.Is(err, errPortTaken) || attempt == 3 {
			return p, err
		}
	}
}

// errPortTaken is returned by startOnce when another program answered on
// the instance's port.
var errPortTaken = errors.New("the port was taken by another program")

func (r *Runtime) startOnce(ctx context.Context, env *api.Environment, opts instance.StartOptions) (instance.Process, error) {
	argv, err := r.Command(env)
	if err != nil {
		return nil, err
	}
	dir := filepath.Join(r.cfg.Dir, opts.ID)
	code := filepath.Join(dir, "userfunc")
	if err := os.MkdirAll(code, 0o755); err != nil {
		return nil, fmt.Errorf("instance folder: %w", err)
	}
	port, err := freePort(r.cfg.Host)
	if err != nil {
		return nil, fmt.Errorf("pick a port: %w", err)
	}
	p := &proc{addr: net.JoinHostPort(r.cfg.Host, strconv.Itoa(port)), port: port, dir: dir, code: code, done: make(chan struct{})}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir = code
	cmd.Env = append(os.Environ(), env.Spec.Env...)
	cmd.Env = append(cmd.Env,
		runtime.EnvPort+"="+strconv.Itoa(port),
		runtime.EnvUserfunc+"="+code,
		"LANTERN_INSTANCE="+opts.ID,
		"PYTHONUNBUFFERED=1",
		// No start-up banner: output read after specialization would be
		// tagged as the function's.
		"LANTERN_RUNTIME_QUIET=1",
	)
	// Own process group, so a custom command's children die with it, and
	// die with lanternd.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("start %s: %w", argv[0], err)
	}
	p.cmd = cmd
	var wg sync.WaitGroup
	wg.Add(2)
	go p.capture(&wg, "stdout", stdout, opts.Output)
	go p.capture(&wg, "stderr", stderr, opts.Output)
	go func() {
		wg.Wait() // read all output before reporting the exit
		p.err = cmd.Wait()
		os.RemoveAll(dir) // before Done: a retry may reuse the folder
		close(p.done)
	}()
	if err := p.waitListening(ctx, r.cfg.StartTimeout); err != nil {
		p.Stop(0)
		return nil, err
	}
	return p, nil
}

type proc struct {
	cmd  *exec.Cmd
	addr string
	port int
	dir  string
	code string
	done chan struct{}
	err  error

	mu   sync.Mutex
	tail []string
}

func (p *proc) Address() string       { return p.addr }
func (p *proc) CodeDir() string       { return p.code }
func (p *proc) Done() <-chan struct{} { return p.done }
func (p *proc) Err() error            { return p.err }

func (p *proc) PID() int {
	if p.cmd == nil || p.cmd.Process == nil {
		return 0
	}
	return p.cmd.Process.Pid
}

// Stop sends SIGTERM to the process group, SIGKILL after grace.
func (p *proc) Stop(grace time.Duration) {
	pid := p.PID()
	if pid == 0 {
		return
	}
	if grace > 0 {
		_ = syscall.Kill(-pid, syscall.SIGTERM)
		select {
		case <-p.done:
			return
		case <-time.After(grace):
		}
	}
	_ = syscall.Kill(-pid, syscall.SIGKILL)
	<-p.done
}

const tailLines = 40

// Tail returns the last lines of output.
func (p *proc) Tail() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return strings.Join(p.tail, "\n")
}

func (p *proc) capture(wg *sync.WaitGroup, stream string, r io.Reader, out func(string, []byte)) {
	defer wg.Done()
	br := bufio.NewReaderSize(r, 64<<10)
	for {
		line, err := br.ReadSlice('\n')
		if len(line) > 0 {
			line = trimNewline(line)
			p.mu.Lock()
			if len(p.tail) == tailLines {
				p.tail = p.tail[1:]
			}
			p.tail = append(p.tail, string(line))
			p.mu.Unlock()
			if out != nil {
				out(stream, line)
			}
		}
		if err != nil && !errors.Is(err, bufio.ErrBufferFull) {
			return
		}
	}
}

func trimNewline(b []byte) []byte {
	if n := len(b); n > 0 && b[n-1] == '\n' {
		b = b[:n-1]
		if n := len(b); n > 0 && b[n-1] == '\r' {
			b = b[:n-1]
		}
	}
	return b
}

// waitListening polls until the port accepts connections.
func (p *proc) waitListening(ctx context.Context, timeout time.Duration) error {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	delay := time.Millisecond
	for {
		c, err := net.DialTimeout("tcp", p.addr, 100*time.Millisecond)
		if err == nil {
			c.Close()
			if owned, ok := listensOn(p.PID(), p.port); ok && !owned {
				return fmt.Errorf("%w: %s", errPortTaken, p.addr)
			}
			return nil
		}
		select {
		case <-p.done:
			return fmt.Errorf("instance exited before listening (%v): %s", p.err, p.Tail())
		case <-ctx.Done():
			return ctx.Err()
		case <-deadline.C:
			return fmt.Errorf("instance did not listen on %s within %s: %s", p.addr, timeout, p.Tail())
		case <-time.After(delay):
		}
		delay = min(delay*2, 20*time.Millisecond)
	}
}

func freePort(host string) (int, error) {
	l, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
