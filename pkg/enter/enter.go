// Package enter runs a command inside a running sandbox: it starts this binary through nsexec, joined
// to the sandbox's namespaces, where the process becomes the command (package process); it relays
// signals, gives the command a pseudo-terminal when asked (proxied, or handed over a console socket
// as runc does), and returns the command's exit code. The command stays a child of the caller.
//
// It does not find sandboxes (package statedir does) and does not parse flags.
package enter

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/rkexec/rkexec/pkg/nsenter"
	"github.com/rkexec/rkexec/pkg/process"
	"github.com/rkexec/rkexec/pkg/reaper"
)

// NamespaceTypes lists a sandbox's namespaces, in the order they are given to nsexec.
func NamespaceTypes() []string {
	return []string{"user", "mnt", "net", "pid", "uts", "ipc", "cgroup", "time"}
}

// Opt configures Run.
type Opt struct {
	// SandboxPID is the process whose namespaces are the sandbox (its child_pid).
	SandboxPID int
	// Spec is the command and how to run it.
	Spec process.Spec
	// SpecEnvKey names the variable that hands Spec to the process inside.
	SpecEnvKey string
	// TTY gives the command a new pseudo-terminal as stdin, stdout and stderr.
	TTY bool
	// ConsoleSocket, with TTY, is a unix socket to send the terminal's master to instead of proxying.
	ConsoleSocket string
	// Detach returns once the command runs, without waiting.
	Detach bool
	// PIDFile receives the command's pid (as seen by the caller), written atomically.
	PIDFile string
}

// Error is a failure to start the command, as opposed to the command's own exit status.
type Error struct{ Err error }

func (e *Error) Error() string { return e.Err.Error() }
func (e *Error) Unwrap() error { return e.Err }

// Run starts the command in the sandbox and returns its exit code (0 at once when detached).
func Run(opt Opt) (int, error) {
	sandboxNS, err := checkSandbox(opt.SandboxPID)
	if err != nil {
		return 125, &Error{err}
	}
	// Pinned, so that the pid is known to be the same process once its namespaces are joined.
	pidfd, err := unix.PidfdOpen(opt.SandboxPID, 0)
	if err != nil {
		return 125, &Error{fmt.Errorf("sandbox process %d: %w", opt.SandboxPID, err)}
	}
	defer unix.Close(pidfd)
	joins, err := namespacesOf(opt.SandboxPID)
	if err != nil {
		return 125, &Error{err}
	}
	var term *terminal
	if opt.TTY {
		term, err = openTerminal(os.Stdin)
		if err != nil {
			return 125, &Error{err}
		}
		defer term.close()
		opt.Spec.Terminal = true
	}
	if opt.Detach {
		// The process inside forks the command and exits, so that the command's parent is in the
		// sandbox (its PID 1 when there is one), not this process, which is about to leave.
		opt.Spec.Detach = true
	} else {
		opt.Spec.ParentDeathSignal = int(unix.SIGKILL)
	}
	// The exec pipe comes after the preserved fds.
	opt.Spec.ExecSyncFD = 3 + opt.Spec.PreserveFDs
	spec, err := json.Marshal(opt.Spec)
	if err != nil {
		return 125, &Error{fmt.Errorf("encoding the process spec: %w", err)}
	}
	cmd := &exec.Cmd{
		// The binary the caller runs, through a magic link: no path lookup.
		Path:   "/proc/self/exe",
		Args:   []string{os.Args[0]},
		Env:    process.MergeEnv(os.Environ(), opt.SpecEnvKey+"="+string(spec)),
		Stdin:  os.Stdin,
		Stdout: os.Stdout,
		Stderr: os.Stderr,
	}
	for fd := 3; fd < 3+opt.Spec.PreserveFDs; fd++ {
		cmd.ExtraFiles = append(cmd.ExtraFiles, os.NewFile(uintptr(fd), "preserved-"+strconv.Itoa(fd)))
	}
	// The command holds the other end, close-on-exec, until its execve: EOF means it exec'd or died.
	// Before that it may send "exit N" (its failure) and, when detached, "pid" with the command's pid
	// in SCM_CREDENTIALS, which the kernel translates from the sandbox's pid namespace to ours.
	execSyncR, execSyncW, err := execSyncPair()
	if err != nil {
		return 125, &Error{err}
	}
	defer execSyncR.Close()
	cmd.ExtraFiles = append(cmd.ExtraFiles, execSyncW)
	if term != nil {
		cmd.Stdin, cmd.Stdout, cmd.Stderr = term.slave, term.slave, term.slave
	}
	// Catch SIGCHLD and the relayed signals before the command can exit.
	r := reaper.New()
	defer r.Stop()
	p, err := nsenter.Start(cmd, nsenter.Config{Join: joins, Setsid: opt.TTY}, nil)
	execSyncW.Close()
	if err != nil {
		return 125, &Error{fmt.Errorf("joining the sandbox: %w", err)}
	}
	pid := p.Stage2PID
	defer p.Release() // the reaper waits for it with wait4; Release only frees the handle
	// Still the same sandbox process (not a reused pid) now that its namespace files were opened?
	if err := unix.PidfdSendSignal(pidfd, 0, nil, 0); err != nil {
		_ = unix.Kill(pid, unix.SIGKILL)    // it may have joined a process that replaced the sandbox
		_, _ = unix.Wait4(pid, nil, 0, nil) // its status does not matter
		return 125, &Error{fmt.Errorf("the sandbox ended while joining it: %w", err)}
	}
	if term != nil {
		term.slave.Close()
		term.slave = nil
	}
	if opt.Detach {
		return detached(opt, pid, execSyncR, term, sandboxNS)
	}
	if opt.PIDFile != "" {
		if err := writePIDFile(opt.PIDFile, pid); err != nil {
			_ = unix.Kill(pid, unix.SIGKILL)    // the caller gets an error instead of a pid file: no orphan
			_, _ = unix.Wait4(pid, nil, 0, nil) // its status does not matter
			return 125, &Error{err}
		}
	}
	if term != nil && opt.ConsoleSocket != "" {
		if err := sendConsole(opt.ConsoleSocket, term.master); err != nil {
			_ = unix.Kill(pid, unix.SIGKILL)    // the command would have no terminal
			_, _ = unix.Wait4(pid, nil, 0, nil) // its status does not matter
			return 125, &Error{err}
		}
		term.master.Close()
		term.master = nil
	}
	var hook func(unix.Signal) reaper.Action
	if term != nil && term.master != nil {
		term.startProxy()
		// The caller's terminal is raw while proxying: every signal that arrives was sent with kill.
		hook = func(sig unix.Signal) reaper.Action {
			if sig == unix.SIGWINCH {
				term.resize() // the kernel then signals the command's terminal
				return reaper.Drop
			}
			return reaper.RelayAlways
		}
	}
	code, _ := r.Wait(pid, hook, nil)
	if term != nil {
		term.drain()
	}
	return code, nil
}

// detached waits until the detached command runs (or failed to start), then returns without waiting
// for it: the process nsexec started forked it and exits.
func detached(opt Opt, pid int, execSync *os.File, term *terminal, sandboxNS userNamespace) (int, error) {
	if term != nil {
		if err := sendConsole(opt.ConsoleSocket, term.master); err != nil {
			_ = unix.Kill(pid, unix.SIGKILL)    // the command would have no terminal
			_, _ = unix.Wait4(pid, nil, 0, nil) // its status does not matter
			return 125, &Error{err}
		}
	}
	commandPID, failure := readExecReport(execSync) // until EOF: the command exec'd, or failed
	var ws unix.WaitStatus
	for {
		if _, err := unix.Wait4(pid, &ws, 0, nil); err != unix.EINTR {
			break
		}
	}
	switch {
	case failure != 0:
		return failure, nil // the command's process said why on stderr
	case reaper.ExitCode(ws) != 0:
		return reaper.ExitCode(ws), nil
	case commandPID == 0:
		return 125, &Error{errors.New("the detached command did not report its pid")}
	}
	// The report comes from inside the sandbox: believe a pid only if it is a process there.
	if ns, err := userNamespaceOf(commandPID); err != nil || ns != sandboxNS {
		return 125, &Error{fmt.Errorf("the detached command's reported pid %d is not a process of the sandbox", commandPID)}
	}
	if opt.PIDFile != "" {
		if err := writePIDFile(opt.PIDFile, commandPID); err != nil {
			return 125, &Error{fmt.Errorf("%w (the command runs on, as pid %d)", err, commandPID)}
		}
	}
	return 0, nil
}

// execSyncPair returns our end and the command's end of the exec socket.
func execSyncPair() (ours, theirs *os.File, err error) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("creating the exec socket: %w", err)
	}
	if err := unix.SetsockoptInt(fds[0], unix.SOL_SOCKET, unix.SO_PASSCRED, 1); err != nil {
		unix.Close(fds[0])
		unix.Close(fds[1])
		return nil, nil, fmt.Errorf("exec socket: SO_PASSCRED: %w", err)
	}
	return os.NewFile(uintptr(fds[0]), "exec-sync"), os.NewFile(uintptr(fds[1]), "exec-sync-command"), nil
}

// readExecReport reads the exec socket until EOF: the pid sent with a "pid" line (from its
// credentials) or as "pid N", and the code of an "exit N" line.
func readExecReport(f *os.File) (pid, exitCode int) {
	buf := make([]byte, 256)
	oob := make([]byte, unix.CmsgSpace(unix.SizeofUcred))
	for {
		n, oobn, _, _, err := unix.Recvmsg(int(f.Fd()), buf, oob, 0)
		if err == unix.EINTR {
			continue
		}
		if err != nil || n == 0 {
			return pid, exitCode
		}
		for _, line := range strings.Split(string(buf[:n]), "\n") {
			if v, ok := strings.CutPrefix(line, "exit "); ok {
				exitCode, _ = strconv.Atoi(v)
			}
			if v, ok := strings.CutPrefix(line, "pid "); ok {
				pid, _ = strconv.Atoi(v) // the sandbox shares our pid namespace
			}
			if line == "pid" && oobn > 0 {
				if msgs, err := unix.ParseSocketControlMessage(oob[:oobn]); err == nil && len(msgs) > 0 {
					if cred, err := unix.ParseUnixCredentials(&msgs[0]); err == nil {
						pid = int(cred.Pid)
					}
				}
			}
		}
	}
}

// namespacesOf lists pid's namespaces to join; nsexec skips those the caller is already in.
func namespacesOf(pid int) ([]nsenter.Namespace, error) {
	var out []nsenter.Namespace
	for _, t := range NamespaceTypes() {
		path := fmt.Sprintf("/proc/%d/ns/%s", pid, t)
		if _, err := os.Lstat(path); err != nil {
			if errors.Is(err, os.ErrNotExist) && t == "time" {
				continue // no time namespaces before Linux 5.6
			}
			return nil, fmt.Errorf("sandbox process %d: %w", pid, err)
		}
		out = append(out, nsenter.Namespace{Type: t, Path: path})
	}
	return out, nil
}

// writePIDFile writes pid to path atomically (a temporary file renamed over it).
func writePIDFile(path string, pid int) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".")
	if err != nil {
		return fmt.Errorf("--pid-file %s: %w", path, err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.WriteString(strconv.Itoa(pid)); err != nil {
		tmp.Close()
		return fmt.Errorf("--pid-file %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("--pid-file %s: %w", path, err)
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return fmt.Errorf("--pid-file %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("--pid-file %s: %w", path, err)
	}
	return nil
}
