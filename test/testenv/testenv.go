package testenv

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// ErrNoGoMod is returned by RepoRoot when no folder from the working
// directory up holds a go.mod.
var ErrNoGoMod = errors.New("no go.mod above the working directory")

// RepoRoot returns the module root: the closest folder holding go.mod,
// from the working directory up.
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", ErrNoGoMod
		}
		dir = parent
	}
}

// BuildBinaries compiles lanternd and lantern into dir, with the race
// detector when race is true.
func BuildBinaries(dir string, race bool) error {
	root, err := RepoRoot()
	if err != nil {
		return err
	}
	args := []string{"build"}
	if race {
		args = append(args, "-race")
	}
	args = append(args, "-o", dir+string(filepath.Separator), "./platform/cmd/lanternd", "./platform/cmd/lantern")
	cmd := exec.Command("go", args...)
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return nil
}

// FreeAddr returns a loopback address (127.0.0.1:port) that nobody listens
// on right now.
func FreeAddr() (string, error) {
	addrs, err := FreeAddrs(1)
	if err != nil {
		return "", err
	}
	return addrs[0], nil
}

// Ports handed out by FreeAddrs, so that one test binary never hands out
// the same port twice.
var (
	portsMu sync.Mutex
	given   = map[int]bool{}
)

// FreeAddrs returns n distinct loopback addresses that nobody listens on
// right now. The ports are picked at random below the kernel's ephemeral
// range, which outgoing connections and ":0" listeners (function instances,
// other test binaries' servers) never take, so a port stays free until the
// process under test binds it. Test binaries running side by side can still
// pick the same port: start processes with Launch, which retries on a clash.
func FreeAddrs(n int) ([]string, error) {
	lo := 32768
	if data, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		if f := strings.Fields(string(data)); len(f) == 2 {
			if v, err := strconv.Atoi(f[0]); err == nil {
				lo = v
			}
		}
	}
	portsMu.Lock()
	defer portsMu.Unlock()
	var addrs []string
	for len(addrs) < n {
		addr, err := pickPort(lo)
		if err != nil {
			return nil, err
		}
		addrs = append(addrs, addr)
	}
	return addrs, nil
}

func pickPort(lo int) (string, error) {
	if lo > 12000 {
		for range 200 {
			port := 10000 + rand.IntN(lo-10000)
			if given[port] {
				continue
			}
			ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
			if err != nil {
				continue
			}
			ln.Close()
			given[port] = true
			return ln.Addr().String(), nil
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("pick a free port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// IsPortClash reports whether err (from WaitReady) says that the process
// could not bind its port because someone else took it first.
func IsPortClash(err error) bool {
	return err != nil && strings.Contains(err.Error(), "address already in use")
}

// Launch starts a process that listens on ports picked for it, and waits
// until it is ready. start is called with fresh addresses (ports of them
// picked by FreeAddrs) and the attempt number, and returns the process and
// the URLs that answer 200 once it is ready. When the process lost a port
// to another program, it is killed and started again on new ports, up to
// four times.
func Launch(ports int, timeout time.Duration, tailLines int, start func(addrs []string, attempt int) (*Proc, []string, error)) (*Proc, []string, error) {
	var lastErr error
	for attempt := 1; attempt <= 4; attempt++ {
		addrs, err := FreeAddrs(ports)
		if err != nil {
			return nil, nil, err
		}
		p, urls, err := start(addrs, attempt)
		if err != nil {
			return nil, nil, err
		}
		if lastErr = WaitReady(p, timeout, tailLines, urls...); lastErr == nil {
			return p, addrs, nil
		}
		p.Kill()
		if !IsPortClash(lastErr) {
			break
		}
	}
	return nil, nil, lastErr
}

// SystemPython is the interpreter lanternd runs the python runtime with.
const SystemPython = "/usr/bin/python3"

// SetupHint says how to install what the runtimes need.
const SetupHint = "run: bash platform/environments/setup.sh"

// CheckPython reports whether SystemPython has the python runtime's
// packages (Flask and gevent).
func CheckPython() error {
	if out, err := exec.Command(SystemPython, "-c", "import flask, gevent").CombinedOutput(); err != nil {
		return fmt.Errorf("the python runtime needs %s with flask and gevent (%s): %v: %s", SystemPython, SetupHint, err, strings.TrimSpace(string(out)))
	}
	return nil
}

// EnvWithout returns this process's environment without the variables
// whose names start with one of the prefixes.
func EnvWithout(prefixes ...string) []string {
	var out []string
next:
	for _, kv := range os.Environ() {
		for _, p := range prefixes {
			if strings.HasPrefix(kv, p) {
				continue next
			}
		}
		out = append(out, kv)
	}
	return out
}

// CleanEnv is this process's environment without LANTERN_* and OTEL_*, so
// that a developer's settings do not leak into the processes under test.
func CleanEnv() []string {
	return EnvWithout("LANTERN_", "OTEL_")
}

// ---------------------------------------------------------------------------
// Processes

// Proc is a child process whose output goes to a log file.
type Proc struct {
	Name    string
	Cmd     *exec.Cmd
	LogPath string
	done    chan struct{}
	err     error // the result of Wait, once done is closed
}

// StartProc starts exe with args in the folder dir with the environment
// env, appending its stdout and stderr to logPath.
func StartProc(name, logPath, dir string, env []string, exe string, args ...string) (*Proc, error) {
	f, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	cmd := exec.Command(exe, args...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.Dir, cmd.Env = dir, env
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &Proc{Name: name, Cmd: cmd, LogPath: logPath, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

// Pid is the process ID.
func (p *Proc) Pid() int { return p.Cmd.Process.Pid }

// Done is closed once the process has exited.
func (p *Proc) Done() <-chan struct{} { return p.done }

// Err is the result of Wait; it is valid once Done is closed.
func (p *Proc) Err() error {
	select {
	case <-p.done:
		return p.err
	default:
		return nil
	}
}

// Alive reports whether the process still runs.
func (p *Proc) Alive() bool {
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

// Terminate sends SIGTERM and waits up to timeout, then kills. It returns
// how long the exit took and an error when the process had already exited
// or did not exit cleanly in time.
func (p *Proc) Terminate(timeout time.Duration) (time.Duration, error) {
	start := time.Now()
	if !p.Alive() {
		return 0, fmt.Errorf("%s (pid %d) had already exited: %v", p.Name, p.Pid(), p.err)
	}
	_ = p.Cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		if p.err != nil {
			return time.Since(start), fmt.Errorf("%s (pid %d) exited with %v after SIGTERM; want a clean exit", p.Name, p.Pid(), p.err)
		}
		return time.Since(start), nil
	case <-time.After(timeout):
		_ = p.Cmd.Process.Kill()
		<-p.done
		return time.Since(start), fmt.Errorf("%s (pid %d) did not exit within %s of SIGTERM; killed it", p.Name, p.Pid(), timeout)
	}
}

// Kill kills the process, if it runs, and waits for it.
func (p *Proc) Kill() {
	if p.Alive() {
		_ = p.Cmd.Process.Kill()
		<-p.done
	}
}

// Tail returns the last n lines of the log.
func (p *Proc) Tail(n int) string { return TailFile(p.LogPath, n) }

// TailFile returns the last n lines of a file.
func TailFile(path string, n int) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Sprintf("(cannot read %s: %v)", path, err)
	}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// WaitReady polls the URLs in turn until each answers 200, for up to
// timeout in all. It fails early when p exits; its errors end with the
// last tailLines lines of p's log. An answer on a loopback port that p
// does not listen on (another program took the port) counts as a port
// clash (see IsPortClash).
func WaitReady(p *Proc, timeout time.Duration, tailLines int, urls ...string) error {
	hc := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(timeout)
	for _, u := range urls {
		for {
			resp, err := hc.Get(u)
			if err == nil {
				resp.Body.Close()
				host := resp.Request.URL.Host
				switch {
				case resp.StatusCode != http.StatusOK:
					err = fmt.Errorf("status %d", resp.StatusCode)
				case !ListensOn(p.Pid(), host):
					err = fmt.Errorf("%s is answered by another process: address already in use", host)
				}
				if err == nil {
					break
				}
				if IsPortClash(err) {
					return fmt.Errorf("%s: %v; its log:\n%s", p.Name, err, p.Tail(tailLines))
				}
			}
			if !p.Alive() {
				return fmt.Errorf("%s exited before %s answered (%v); its log:\n%s", p.Name, u, p.Err(), p.Tail(tailLines))
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("%s: %s did not answer within %s (%v); its log:\n%s", p.Name, u, timeout, err, p.Tail(tailLines))
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	return nil
}

// ListensOn reports whether process pid, or one of its threads, has a
// socket listening on addr when addr is 127.0.0.1:port; for any other
// address, or when /proc cannot tell, it reports true.
func ListensOn(pid int, addr string) bool {
	host, portStr, err := net.SplitHostPort(addr)
	if err != nil || host != "127.0.0.1" {
		return true
	}
	port, _ := strconv.Atoi(portStr)
	data, err := os.ReadFile("/proc/net/tcp")
	if err != nil {
		return true
	}
	want := fmt.Sprintf("0100007F:%04X", port)
	inodes := map[string]bool{}
	for _, line := range strings.Split(string(data), "\n")[1:] {
		f := strings.Fields(line)
		// sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode
		if len(f) >= 10 && f[1] == want && f[3] == "0A" {
			inodes["socket:["+f[9]+"]"] = true
		}
	}
	fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		return false
	}
	for _, fd := range fds {
		if target, err := os.Readlink(fmt.Sprintf("/proc/%d/fd/%s", pid, fd.Name())); err == nil && inodes[target] {
			return true
		}
	}
	return false
}

// ---------------------------------------------------------------------------
// /proc

// ProcessesUnder lists the live (not zombie) processes whose working
// folder is in dir.
func ProcessesUnder(dir string) []int {
	entries, _ := os.ReadDir("/proc")
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		cwd, err := os.Readlink(fmt.Sprintf("/proc/%d/cwd", pid))
		if err != nil || !strings.HasPrefix(cwd, dir+string(filepath.Separator)) {
			continue
		}
		if st := PIDState(pid); st != "" && st != "Z" {
			pids = append(pids, pid)
		}
	}
	return pids
}

// statFields returns the fields of /proc/<pid>/stat after the command
// name (state, ppid, ...), or nil when there is no such process. The name
// is in parentheses and may hold spaces and parentheses itself.
func statFields(pid int) []string {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return nil
	}
	s := string(data)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return nil
	}
	return strings.Fields(s[i+1:])
}

// ParentPID returns the parent of process pid, or 0 when there is no such
// process.
func ParentPID(pid int) int {
	f := statFields(pid)
	if len(f) < 2 {
		return 0
	}
	ppid, _ := strconv.Atoi(f[1])
	return ppid
}

// PIDState returns the state letter of a process (R, S, Z...) or "" when
// there is no such process.
func PIDState(pid int) string {
	f := statFields(pid)
	if len(f) < 1 {
		return ""
	}
	return f[0]
}
