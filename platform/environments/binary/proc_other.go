//go:build !unix

package binary

import "os/exec"

// ownProcessGroup does nothing here: cancelling kills the program only.
func ownProcessGroup(*exec.Cmd) {}

// killProcessGroup does nothing here.
func killProcessGroup(*exec.Cmd) {}
