package process

import (
	"net"
	"os"
	"os/exec"
	"syscall"
	"testing"
)

func TestListensOn(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	port := ln.Addr().(*net.TCPAddr).Port

	// This test process holds the socket: it is its own group's member.
	if owned, ok := listensOn(os.Getpid(), port); !ok || !owned {
		t.Errorf("listensOn(self, %d) = %v, %v; want true, true", port, owned, ok)
	}
	// Another process group does not.
	cmd := exec.Command("sleep", "5")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	if owned, ok := listensOn(cmd.Process.Pid, port); !ok || owned {
		t.Errorf("listensOn(other, %d) = %v, %v; want false, true", port, owned, ok)
	}
}
