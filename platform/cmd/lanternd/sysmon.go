package main

import (
	"os"
	"runtime"
	"strings"
	"syscall"
)

// Go's system monitor thread (sysmon) parks in a deep sleep whenever every
// P is idle, and the next goroutine to enter a system call wakes it with a
// futex; each wake also resets its polling period to 20 µs. A proxy that
// waits on its upstreams is idle between nearly every pair of system calls,
// so on the warm call path sysmon was woken several times per call: 13 % of
// the router's CPU in profiles, and about 50 µs of latency per call on a
// 2-core machine. The runtime keeps sysmon out of deep sleep when a
// scheduler trace is requested, and only reads GODEBUG at start, so lanternd
// re-executes itself once with the longest trace period (24.8 days, so no
// trace is printed on machines up for less than that) and then restores
// GODEBUG so that function instances do not inherit it. Idle, sysmon then
// wakes every 10 ms: about 1 ms of CPU per second.
//
// LANTERN_SYSMON=park turns this off.
const (
	sysmonEnv       = "LANTERN_SYSMON"
	godebugSavedEnv = "LANTERN_GODEBUG_SAVED" // set on the re-executed process: "unset" or "set:<value>"
	sysmonGodebug   = "schedtrace=2147483647"
)

// keepSysmonAwake re-executes the process with sysmonGodebug added to
// GODEBUG, when that applies; it returns only when it does not re-execute
// (or the exec failed). In the re-executed process it restores GODEBUG.
func keepSysmonAwake(args []string) {
	if saved, ok := os.LookupEnv(godebugSavedEnv); ok {
		_ = os.Unsetenv(godebugSavedEnv)
		if v, ok := strings.CutPrefix(saved, "set:"); ok {
			_ = os.Setenv("GODEBUG", v)
		} else {
			_ = os.Unsetenv("GODEBUG")
		}
		return
	}
	if !wantSysmonAwake(runtime.GOOS, args, os.Getenv(sysmonEnv), os.Getenv("GODEBUG")) {
		return
	}
	exe, err := os.Executable()
	if err != nil {
		return
	}
	godebug, had := os.LookupEnv("GODEBUG")
	saved := "unset"
	if had {
		saved = "set:" + godebug
	}
	env := append(os.Environ(), godebugSavedEnv+"="+saved, "GODEBUG="+joinGodebug(godebug, sysmonGodebug))
	_ = syscall.Exec(exe, args, env) // on failure, run as is
}

// wantSysmonAwake says whether lanternd should re-execute itself: on Linux,
// for the server roles (not the binary runtime an instance runs, not help),
// unless turned off or GODEBUG already sets a scheduler trace.
func wantSysmonAwake(goos string, args []string, setting, godebug string) bool {
	if goos != "linux" || setting == "park" || strings.Contains(godebug, "schedtrace=") {
		return false
	}
	for _, a := range args[1:] {
		switch a {
		case "all", "router", "poolmgr", "controller", "logger":
			return true
		case "env-binary", "help", "-h", "--help", "--version", "completion":
			return false
		}
	}
	return false
}

func joinGodebug(old, add string) string {
	if old == "" {
		return add
	}
	return old + "," + add
}
