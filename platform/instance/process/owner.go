package process

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// listensOn reports whether the process group led by pid holds a listening
// TCP socket on port. A port picked free can be taken by another program
// (another lanternd's instance) before ours binds it; then a connection to
// it reaches the wrong server. ok is false when /proc cannot tell.
func listensOn(pid, port int) (owned, ok bool) {
	inodes := map[string]bool{}
	for _, table := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		data, err := os.ReadFile(table)
		if err != nil {
			continue
		}
		suffix := fmt.Sprintf(":%04X", port)
		for _, line := range strings.Split(string(data), "\n")[1:] {
			f := strings.Fields(line)
			// sl local_address rem_address st ... inode (10th field)
			if len(f) >= 10 && strings.HasSuffix(f[1], suffix) && f[3] == "0A" {
				inodes["socket:["+f[9]+"]"] = true
			}
		}
	}
	if len(inodes) == 0 {
		return false, false
	}
	for _, p := range groupMembers(pid) {
		fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", p))
		if err != nil {
			continue
		}
		for _, fd := range fds {
			if target, err := os.Readlink(fmt.Sprintf("/proc/%d/fd/%s", p, fd.Name())); err == nil && inodes[target] {
				return true, true
			}
		}
	}
	return false, true
}

// groupMembers lists the processes of the process group pid leads.
func groupMembers(pid int) []int {
	members := []int{pid}
	dirs, _ := filepath.Glob("/proc/[0-9]*/stat")
	for _, d := range dirs {
		data, err := os.ReadFile(d)
		if err != nil {
			continue
		}
		// pid (comm) state ppid pgrp ...: comm may hold spaces and ')'.
		s := string(data)
		f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
		if len(f) >= 3 && f[2] == strconv.Itoa(pid) {
			if p, err := strconv.Atoi(filepath.Base(filepath.Dir(d))); err == nil && p != pid {
				members = append(members, p)
			}
		}
	}
	return members
}
