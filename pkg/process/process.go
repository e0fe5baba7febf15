package process

import (
	"errors"
	"os"
	"runtime"
	"strconv"
	"syscall"

	"github.com/moby/sys/capability"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/rkexec/rkexec/pkg/command"
	"github.com/rkexec/rkexec/pkg/wire"
)

func fail(code int, format string, args ...any) error {
	return command.Errorf(code, format, args...)
}

// Exec applies s and executes the command, or with s.Detach starts it as a child and reports it on
// syncFD (see startDetached). syncFD, when above 2, is the exec socket (close-on-exec, so the
// command's execve closes it); a failure is written on it as "exit N". Exec returns only on failure,
// with a *command.Error.
func Exec(s wire.ExecSpec, syncFD int) error {
	err := execSpec(s, syncFD)
	if err != nil && syncFD > 2 {
		// Best effort: the caller then learns the code from the exit status.
		_, _ = unix.Write(syncFD, []byte("exit "+strconv.Itoa(command.CodeOf(err))+"\n"))
	}
	return err
}

func execSpec(s wire.ExecSpec, syncFD int) error {
	// Capabilities, no_new_privs and the exec itself are per thread: keep them on one.
	runtime.LockOSThread()
	// Deliberately never unlocked: on success the process image is replaced or the process exits
	// after the detached start, on failure it exits.
	path, err := prepare(s)
	if err != nil {
		return err
	}
	if s.Detach {
		return startDetached(s, path, syncFD)
	}
	env := s.Process.Env
	if s.ListenPID {
		env = command.MergeEnv(env, "LISTEN_PID="+strconv.Itoa(os.Getpid()))
	}
	err = syscall.Exec(path, s.Process.Args, env)
	return command.ExecFailed(s.Process.Args[0], err)
}

// switchesUser says whether s names a user other than root, or groups: only then are ids changed.
func switchesUser(u specs.User) bool {
	return u.UID != 0 || u.GID != 0 || len(u.AdditionalGids) > 0
}

// capSets returns the capabilities to keep (the union of effective, permitted and ambient; nil when
// s names none) and the bounding set (nil to leave it).
func capSets(s wire.ExecSpec) (keep, bounding []string) {
	c := s.Process.Capabilities
	if c == nil {
		return nil, nil
	}
	// Only a bounding set names nothing to keep: keep stays nil, and root as it is.
	seen := map[string]bool{}
	for _, set := range [][]string{c.Effective, c.Permitted, c.Ambient} {
		for _, name := range set {
			if !seen[name] {
				seen[name] = true
				keep = append(keep, name)
			}
		}
	}
	if s.BoundingSet || c.Bounding != nil {
		bounding = append([]string{}, c.Bounding...)
	}
	return keep, bounding
}

// prepare applies everything of s to the calling (locked) thread but the exec, and resolves the
// command's path.
func prepare(s wire.ExecSpec) (string, error) {
	p := &s.Process
	caps, bounding := capSets(s)
	switchUser := switchesUser(p.User)
	if len(p.Args) == 0 {
		return "", fail(125, "no command given")
	}
	if err := setParentDeathSignal(s.ParentDeathSignal); err != nil {
		return "", err
	}
	// A detached command takes the terminal in its own new session (startDetached).
	if p.Terminal && !s.Detach {
		if err := unix.IoctlSetInt(0, unix.TIOCSCTTY, 0); err != nil {
			return "", fail(125, "making the terminal the controlling terminal: %w", err)
		}
	}
	if p.Cwd != "" {
		if err := os.Chdir(p.Cwd); err != nil {
			return "", fail(125, "--cwd %s: %w inside the sandbox", p.Cwd, errors.Unwrap(err))
		}
	}
	// The thread's capability sets, read once when anything of them changes.
	var sets capability.Capabilities
	var keep []capability.Cap
	if caps != nil || bounding != nil {
		var err error
		if sets, err = loadCaps(); err != nil {
			return "", fail(125, "%w", err)
		}
		if keep, err = capsOf(caps); err != nil {
			return "", fail(125, "%w", err)
		}
	}
	if bounding != nil {
		bnd, err := capsOf(bounding)
		if err != nil {
			return "", fail(125, "%w", err)
		}
		if err := dropBounding(sets, bnd); err != nil {
			return "", fail(125, "%w", err)
		}
	}
	if switchUser {
		if err := setUser(p.User, caps != nil); err != nil {
			return "", err
		}
	}
	if switchUser && s.ParentDeathSignal != 0 {
		// The uid change cleared it.
		if err := setParentDeathSignal(s.ParentDeathSignal); err != nil {
			return "", err
		}
	}
	if caps != nil {
		if err := setCaps(sets, keep, !switchUser); err != nil {
			return "", fail(125, "%w", err)
		}
	}
	if p.NoNewPrivileges {
		if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
			return "", fail(125, "setting no_new_privs: %w", err)
		}
	}
	for fd := 3; fd < 3+s.PreserveFDs; fd++ {
		if _, err := unix.FcntlInt(uintptr(fd), unix.F_SETFD, 0); err != nil {
			return "", fail(125, "--preserve-fds: fd %d: %w", fd, err)
		}
	}
	return command.LookPath(p.Args[0], p.Env)
}

func setParentDeathSignal(sig int) error {
	if err := unix.Prctl(unix.PR_SET_PDEATHSIG, uintptr(sig), 0, 0, 0); err != nil {
		return fail(125, "setting the parent-death signal: %w", err)
	}
	return nil
}

// setUser sets groups, gid and uid. keepCaps keeps the permitted set across the uid change.
func setUser(u specs.User, keepCaps bool) error {
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
