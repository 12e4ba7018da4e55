package main

import (
	"os"
	"os/exec"
)

// allowGrantingAccessToEveryone: there is no umask on Windows (upstream's umask_windows.go).
func allowGrantingAccessToEveryone() {}

// setpgid: no process groups on Windows.
func setpgid(*exec.Cmd) {}

// forwardSignal: upstream turns SIGTERM/SIGINT into CTRL_SHUTDOWN/CTRL_C events through
// kernel32!CtrlRoutine (signal_windows.go); the stand-in forwards nothing on Windows.
func forwardSignal(int, os.Signal) {}
