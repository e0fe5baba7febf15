package process

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Spec is the command to become and how.
type Spec struct {
	// Args is the command and its arguments; Args[0] is looked up in Env's PATH inside the sandbox.
	Args []string `json:"args"`
	// Env is the command's whole environment.
	Env []string `json:"env"`
	// Cwd is the working directory inside the sandbox; empty keeps the current one.
	Cwd string `json:"cwd,omitempty"`
	// User, when set, is the uid/gid to run as; nil keeps root.
	User *User `json:"user,omitempty"`
	// Caps, when not nil, are capabilities the command keeps even as a non-root user.
	Caps []string `json:"caps,omitempty"`
	// Bounding, when not nil, is the bounding set; every other capability is dropped from it.
	Bounding []string `json:"bounding,omitempty"`
	// NoNewPrivs sets no_new_privs.
	NoNewPrivs bool `json:"no_new_privs,omitempty"`
	// PreserveFDs is how many fds after stderr (3, 4, ...) the command inherits.
	PreserveFDs int `json:"preserve_fds,omitempty"`
	// ListenPID sets LISTEN_PID to the command's pid, for systemd socket activation (the sockets are
	// the preserved fds and Env has LISTEN_FDS): sd_listen_fds() accepts them only in that process.
	ListenPID bool `json:"listen_pid,omitempty"`
	// ParentDeathSignal is the signal the command gets when its parent dies; 0 clears nsexec's.
	ParentDeathSignal int `json:"parent_death_signal,omitempty"`
	// Detach starts the command as a child, reports its pid on ExecSyncFD (a unix socket) and returns,
	// so that once this process exits the command's parent is the sandbox's PID 1 (with a pid
	// namespace; without one, the caller's nearest subreaper).
	Detach bool `json:"detach,omitempty"`
	// ExecSyncFD, when above 2, is a socket or pipe closed by the command's execve; before that a
	// failure is written on it as "exit N".
	ExecSyncFD int `json:"exec_sync_fd,omitempty"`
	// Terminal makes stdin, a terminal, the controlling terminal (the process must lead a new session).
	Terminal bool `json:"terminal,omitempty"`
}

// User is a numeric user and its groups.
type User struct {
	UID            uint32   `json:"uid"`
	GID            uint32   `json:"gid"`
	AdditionalGids []uint32 `json:"additional_gids,omitempty"`
}

// Error is a failure to become the command, with the exit code to report: 125 for a bad setting,
// 126 when the command cannot be executed, 127 when it is not found.
type Error struct {
	Code int
	Err  error
}

func (e *Error) Error() string { return e.Err.Error() }
func (e *Error) Unwrap() error { return e.Err }

func fail(code int, format string, args ...any) error {
	return &Error{Code: code, Err: fmt.Errorf(format, args...)}
}

// Exec applies s and executes the command, or with s.Detach starts it as a child and reports its pid
// on s.ExecSyncFD (see StartDetached). It returns only on failure, with an *Error, which it also
// reports on s.ExecSyncFD.
func Exec(s Spec) error {
	err := execSpec(s)
	if err != nil && s.ExecSyncFD > 2 {
		// Best effort: the caller then learns the code from the exit status.
		_, _ = unix.Write(s.ExecSyncFD, []byte("exit "+strconv.Itoa(CodeOf(err))+"\n"))
	}
	return err
}

func execSpec(s Spec) error {
	// Capabilities, no_new_privs and the exec itself are per thread: keep them on one.
	runtime.LockOSThread()
	// Deliberately never unlocked: on success the process image is replaced or the process exits
	// after the detached start, on failure it exits.
	path, err := prepare(s)
	if err != nil {
		return err
	}
	if s.Detach {
		return startDetached(s, path)
	}
	env := s.Env
	if s.ListenPID {
		env = MergeEnv(env, "LISTEN_PID="+strconv.Itoa(os.Getpid()))
	}
	err = syscall.Exec(path, s.Args, env)
	return &Error{Code: CodeOf(err), Err: fmt.Errorf("exec %s: %w", s.Args[0], err)}
}

// prepare applies everything of s to the calling (locked) thread but the exec, and resolves the
// command's path.
func prepare(s Spec) (string, error) {
	if len(s.Args) == 0 {
		return "", fail(125, "no command given")
	}
	if err := setParentDeathSignal(s.ParentDeathSignal); err != nil {
		return "", err
	}
	// A detached command takes the terminal in its own new session (startDetached).
	if s.Terminal && !s.Detach {
		if err := unix.IoctlSetInt(0, unix.TIOCSCTTY, 0); err != nil {
			return "", fail(125, "making the terminal the controlling terminal: %w", err)
		}
	}
	if s.Cwd != "" {
		if err := os.Chdir(s.Cwd); err != nil {
			return "", fail(125, "--cwd %s: %w inside the sandbox", s.Cwd, errors.Unwrap(err))
		}
	}
	if s.Bounding != nil {
		m, err := maskOf(s.Bounding)
		if err != nil {
			return "", fail(125, "%w", err)
		}
		if err := dropBounding(m); err != nil {
			return "", fail(125, "%w", err)
		}
	}
	var keep capMask
	if s.Caps != nil {
		m, err := maskOf(s.Caps)
		if err != nil {
			return "", fail(125, "%w", err)
		}
		keep = m
	}
	if s.User != nil {
		if err := switchUser(*s.User, s.Caps != nil); err != nil {
			return "", err
		}
	}
	if s.User != nil && s.ParentDeathSignal != 0 {
		// The uid change cleared it.
		if err := setParentDeathSignal(s.ParentDeathSignal); err != nil {
			return "", err
		}
	}
	if s.Caps != nil {
		if err := setCaps(keep | currentPermitted(s.User == nil)); err != nil {
			return "", fail(125, "%w", err)
		}
	}
	if s.NoNewPrivs {
		if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
			return "", fail(125, "setting no_new_privs: %w", err)
		}
	}
	for fd := 3; fd < 3+s.PreserveFDs; fd++ {
		if _, err := unix.FcntlInt(uintptr(fd), unix.F_SETFD, 0); err != nil {
			return "", fail(125, "--preserve-fds: fd %d: %w", fd, err)
		}
	}
	return LookPath(s.Args[0], s.Env)
}

func setParentDeathSignal(sig int) error {
	if err := unix.Prctl(unix.PR_SET_PDEATHSIG, uintptr(sig), 0, 0, 0); err != nil {
		return fail(125, "setting the parent-death signal: %w", err)
	}
	return nil
}

// currentPermitted keeps root's full set when root stays root and caps are only being added.
func currentPermitted(root bool) capMask {
	if !root {
		return 0
	}
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return 0
	}
	return capMask(data[0].Permitted) | capMask(data[1].Permitted)<<32
}

// switchUser sets groups, gid and uid. keepCaps keeps the permitted set across the uid change.
func switchUser(u User, keepCaps bool) error {
	groups := make([]int, len(u.AdditionalGids))
	for i, g := range u.AdditionalGids {
		groups[i] = int(g)
	}
	if err := unix.Setgroups(groups); err != nil {
		// With a single mapping setgroups is denied; that only matters when groups were asked for.
		if len(groups) > 0 || !errors.Is(err, unix.EPERM) {
			return fail(125, "--additional-gids: setgroups: %w (denied when only your own id is mapped)", err)
		}
	}
	if err := unix.Setresgid(int(u.GID), int(u.GID), int(u.GID)); err != nil {
		return fail(125, "--user: setting gid %d: %w (is it mapped in the sandbox?)", u.GID, err)
	}
	if keepCaps {
		if err := unix.Prctl(unix.PR_SET_KEEPCAPS, 1, 0, 0, 0); err != nil {
			return fail(125, "keeping capabilities across the uid change: %w", err)
		}
	}
	if err := unix.Setresuid(int(u.UID), int(u.UID), int(u.UID)); err != nil {
		return fail(125, "--user: setting uid %d: %w (is it mapped in the sandbox?)", u.UID, err)
	}
	return nil
}

// LookPath resolves name with PATH from env (a default PATH when env has none), as the command will
// see it. Failures are *Error with code 127 (not found) or 126 (not executable).
func LookPath(name string, env []string) (string, error) {
	if strings.Contains(name, "/") {
		fi, err := os.Stat(name)
		switch {
		case err != nil:
			return "", &Error{Code: 127, Err: fmt.Errorf("%s: %w", name, errors.Unwrap(err))}
		case fi.IsDir() || fi.Mode()&0o111 == 0:
			return "", &Error{Code: 126, Err: fmt.Errorf("%s: permission denied", name)}
		}
		return name, nil
	}
	path := "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, "PATH="); ok {
			path = v
		}
	}
	for _, dir := range strings.Split(path, ":") {
		if dir == "" {
			dir = "."
		}
		p := dir + "/" + name
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", &Error{Code: 127, Err: fmt.Errorf("%s: %w", name, exec.ErrNotFound)}
}

// CodeOf is the exit code for a failure to start a command: an *Error's own code, 127 when the file
// is not there, 126 when it cannot be executed, 125 otherwise (and 0 for no error).
func CodeOf(err error) int {
	var pe *Error
	switch {
	case err == nil:
		return 0
	case errors.As(err, &pe):
		return pe.Code
	case errors.Is(err, exec.ErrNotFound), errors.Is(err, os.ErrNotExist):
		return 127
	case errors.Is(err, os.ErrPermission), errors.Is(err, unix.ENOEXEC), errors.Is(err, unix.EISDIR):
		return 126
	}
	return 125
}

// SetName names the calling thread (the process, when called on the main thread) for ps: a role,
// like "rkexec:child". It is cosmetic, so a failure is ignored.
func SetName(name string) {
	p, err := unix.BytePtrFromString(name)
	if err != nil {
		return
	}
	_ = unix.Prctl(unix.PR_SET_NAME, uintptr(unsafe.Pointer(p)), 0, 0, 0) // cosmetic
	runtime.KeepAlive(p)
}
