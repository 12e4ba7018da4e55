//go:build !windows

package main

import (
	"os"
	"os/exec"
	"syscall"
)

// allowGrantingAccessToEveryone is upstream's osspecific.AllowGrantingAccessToEveryone (umask_linux.go).
func allowGrantingAccessToEveryone() {
	syscall.Umask(0)
}

// setpgid: the child leads its own process group (osspecific.Setpgid), so signals reach its children.
func setpgid(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
}

// forwardSignal is forwardSignals/osspecific.Kill: SIGCHLD and SIGURG are ignored (CanIgnoreSignal).
func forwardSignal(pid int, s os.Signal) {
	sig, ok := s.(syscall.Signal)
	if !ok || sig == syscall.SIGCHLD || sig == syscall.SIGURG {
		return
	}
	if pgid, err := syscall.Getpgid(pid); err == nil {
		_ = syscall.Kill(-pgid, sig)
		return
	}
	_ = syscall.Kill(pid, sig)
}
