package process

import (
	"encoding/json"
	"os"
	"os/exec"
	"strconv"

	"golang.org/x/sys/unix"
)

// StartDetached starts the command of s (with Detach cleared) as a new process of this binary, whose
// environment variable envKey carries the spec, reports its pid on s.ExecSyncFD and returns: the
// caller then exits, and the command is reparented inside the sandbox.
func StartDetached(s Spec, envKey string) error {
	s.Detach = false
	s.ParentDeathSignal = 0
	b, err := json.Marshal(s)
	if err != nil {
		return fail(125, "encoding the process spec: %w", err)
	}
	cmd := &exec.Cmd{
		// This binary, through a magic link: no path lookup inside the sandbox.
		Path:   "/proc/self/exe",
		Args:   []string{os.Args[0]},
		Env:    append(os.Environ(), envKey+"="+string(b)),
		Stdin:  os.Stdin,
		Stdout: os.Stdout,
		Stderr: os.Stderr,
	}
	// Preserved fds keep their numbers, and the exec pipe stays right after them.
	for fd := 3; fd < 3+s.PreserveFDs; fd++ {
		cmd.ExtraFiles = append(cmd.ExtraFiles, os.NewFile(uintptr(fd), "preserved-"+strconv.Itoa(fd)))
	}
	if s.ExecSyncFD > 2 {
		cmd.ExtraFiles = append(cmd.ExtraFiles, os.NewFile(uintptr(s.ExecSyncFD), "exec-sync"))
	}
	if err := cmd.Start(); err != nil {
		return fail(125, "starting the detached command: %w", err)
	}
	if s.ExecSyncFD > 2 {
		// The pid travels as credentials, so that the kernel translates it for the receiver, who
		// may be outside the sandbox's pid namespace.
		// Naming another pid needs CAP_SYS_ADMIN over our pid namespace: without one of its own, the
		// sandbox shares the caller's, where the number is already right.
		cred := unix.UnixCredentials(&unix.Ucred{Pid: int32(cmd.Process.Pid), Uid: uint32(os.Getuid()), Gid: uint32(os.Getgid())})
		err := unix.Sendmsg(s.ExecSyncFD, []byte("pid\n"), cred, nil, 0)
		if err == unix.EPERM {
			_, err = unix.Write(s.ExecSyncFD, []byte("pid "+strconv.Itoa(cmd.Process.Pid)+"\n"))
		}
		if err != nil {
			return fail(125, "reporting the detached command's pid: %w", err)
		}
	}
	return cmd.Process.Release()
}
