// Package exitcode turns how a process ended into the exit code rkexec reports, by the shell's
// convention: the process's exit status, or 128+N when signal N killed it. It is the one place that
// convention is written. It does not wait for processes (package reaper does).
package exitcode

import (
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// Signaled is the exit code of a process killed by sig: 128+N.
func Signaled(sig syscall.Signal) int { return 128 + int(sig) }

// FromWaitStatus is the exit code of a process with wait status ws, as unix.Wait4 returns it.
func FromWaitStatus(ws unix.WaitStatus) int {
	if ws.Signaled() {
		return Signaled(ws.Signal())
	}
	return ws.ExitStatus()
}

// FromProcessState is the exit code of a process os/exec waited for.
func FromProcessState(st *os.ProcessState) int {
	return FromWaitStatus(unix.WaitStatus(st.Sys().(syscall.WaitStatus)))
}
