package process

import (
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/rkexec/rkexec/pkg/command"
	"github.com/rkexec/rkexec/pkg/wire"
)

// startDetached forks and executes the command from the calling thread, which prepare set up (so the
// child inherits its user, capabilities and no_new_privs), then tells the caller on syncFD and
// waits for it to have seen the child. No binary is looked up: the fork needs none, and the command's
// path was resolved by prepare.
func startDetached(s wire.ExecSpec, path string, syncFD int) error {
	p := &s.Process
	files := []uintptr{0, 1, 2}
	for fd := 3; fd < 3+s.PreserveFDs; fd++ {
		files = append(files, uintptr(fd))
	}
	_, err := syscall.ForkExec(path, p.Args, &syscall.ProcAttr{
		Env:   p.Env,
		Files: files,
		// With a terminal the command leads a new session of its own, with the terminal as its
		// controlling terminal: this process's session ends when it exits.
		Sys: &syscall.SysProcAttr{Setsid: p.Terminal, Setctty: p.Terminal, Ctty: 0},
	})
	if err != nil {
		return &command.Error{Code: command.CodeOf(err), Err: err}
	}
	if syncFD <= 2 {
		return nil
	}
	// The caller finds the command as this process's child, from its own /proc, while this process
	// waits for its "ack": a pid number from inside the sandbox could lie or be in another pid
	// namespace.
	if _, err := unix.Write(syncFD, []byte("started\n")); err != nil {
		return fail(125, "reporting the detached command: %w", err)
	}
	var ack [4]byte
	if _, err := unix.Read(syncFD, ack[:]); err != nil {
		return fail(125, "waiting for the caller to see the detached command: %w", err)
	}
	return nil
}
