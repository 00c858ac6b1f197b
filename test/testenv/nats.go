package testenv

import (
	"bufio"
	"fmt"
	"net"
	"os/exec"
	"strings"
	"time"
)

// NATSInstallHint says how to get the nats-server the tests use.
const NATSInstallHint = "install it with 'make tools' (Debian: apt-get install nats-server)"

// NATSServer returns the path of the nats-server binary from Debian's
// package (or PATH), or an error with the install hint.
func NATSServer() (string, error) {
	if p, err := exec.LookPath("nats-server"); err == nil {
		return p, nil
	}
	for _, p := range []string{"/usr/sbin/nats-server", "/usr/bin/nats-server"} {
		if _, err := exec.LookPath(p); err == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("nats-server not found: %s", NATSInstallHint)
}

// StartNATS starts nats-server with JetStream on addr, its store in
// storeDir and its log in logPath, and waits until it greets clients.
func StartNATS(addr, storeDir, logPath string) (*Proc, error) {
	bin, err := NATSServer()
	if err != nil {
		return nil, err
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	p, err := StartProc("nats-server", logPath, storeDir, CleanEnv(), bin, "-a", host, "-p", port, "-js", "-sd", storeDir, "-n", "lantern-test")
	if err != nil {
		return nil, err
	}
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		if !p.Alive() {
			return nil, fmt.Errorf("nats-server exited: %v\n%s", p.Err(), p.Tail(20))
		}
		if greets(addr) {
			if !ListensOn(p.Pid(), addr) {
				p.Kill()
				return nil, fmt.Errorf("%s: address already in use by another program", addr)
			}
			return p, nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	p.Kill()
	return nil, fmt.Errorf("nats-server did not start on %s within 15s:\n%s", addr, p.Tail(20))
}

// greets reports whether a NATS server answers on addr.
func greets(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
	if err != nil {
		return false
	}
	defer c.Close()
	_ = c.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
	line, err := bufio.NewReader(c).ReadString('\n')
	return err == nil && strings.HasPrefix(line, "INFO ")
}
