package process

import (
	"os"
	"strconv"
	"syscall"

	"golang.org/x/sys/unix"
)

// startDetached forks and executes the command from the calling thread, which prepare set up (so the
// child inherits its user, capabilities and no_new_privs), and reports the child's pid on
// s.ExecSyncFD. No binary is looked up: the fork needs none, and the command's path was resolved by
// prepare.
func startDetached(s Spec, path string) error {
	files := []uintptr{0, 1, 2}
	for fd := 3; fd < 3+s.PreserveFDs; fd++ {
		files = append(files, uintptr(fd))
	}
	pid, err := syscall.ForkExec(path, s.Args, &syscall.ProcAttr{
		Env:   s.Env,
		Files: files,
		// With a terminal the command leads a new session of its own, with the terminal as its
		// controlling terminal: this process's session ends when it exits.
		Sys: &syscall.SysProcAttr{Setsid: s.Terminal, Setctty: s.Terminal, Ctty: 0},
	})
	if err != nil {
		return &Error{Code: CodeOf(err), Err: err}
	}
	if s.ExecSyncFD <= 2 {
		return nil
	}
	// The pid travels as credentials, so that the kernel translates it for a receiver outside the
	// sandbox's pid namespace. Naming another pid needs CAP_SYS_ADMIN over our pid namespace: without
	// one of its own, the sandbox shares the caller's, where the number is already right.
	cred := unix.UnixCredentials(&unix.Ucred{Pid: int32(pid), Uid: uint32(os.Getuid()), Gid: uint32(os.Getgid())})
	err = unix.Sendmsg(s.ExecSyncFD, []byte("pid\n"), cred, nil, 0)
	if err == unix.EPERM {
		_, err = unix.Write(s.ExecSyncFD, []byte("pid "+strconv.Itoa(pid)+"\n"))
	}
	if err != nil {
		return fail(125, "reporting the detached command's pid: %w", err)
	}
	return nil
}
