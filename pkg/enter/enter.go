// Package enter runs a command inside a running sandbox: it starts nsexec joined to the sandbox's
// namespaces and sends its last stage the command's wire.ExecSpec as an exec message
// (process.ForNsexec); that stage becomes the command from C, with no Go runtime. It relays
// signals, gives the command a pseudo-terminal when asked (proxied, or handed over a console socket
// as runc does), and returns the command's exit code. The command stays a child of the caller.
//
// It does not find sandboxes' directories (package statedir does) and does not parse flags; it checks
// that what a directory leads to is the sandbox (Pin).
package enter

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/rkexec/rkexec/pkg/atomicfile"
	"github.com/rkexec/rkexec/pkg/exitcode"
	"github.com/rkexec/rkexec/pkg/nsenter"
	"github.com/rkexec/rkexec/pkg/process"
	"github.com/rkexec/rkexec/pkg/proctree"
	"github.com/rkexec/rkexec/pkg/reaper"
	"github.com/rkexec/rkexec/pkg/sigforward"
	"github.com/rkexec/rkexec/pkg/wire"
)

// Opt configures Run.
type Opt struct {
	// Sandbox is the sandbox's namespaces, checked and open (see Pin); the caller closes it.
	Sandbox *Sandbox
	// Spec is the command and how to run it.
	Spec wire.ExecSpec
	// TTY gives the command a new pseudo-terminal as stdin, stdout and stderr.
	TTY bool
	// ConsoleSocket, with TTY, is a unix socket to send the terminal's master to instead of proxying.
	ConsoleSocket string
	// Detach returns once the command runs, without waiting.
	Detach bool
	// PIDFile receives the command's pid (as seen by the caller), written atomically.
	PIDFile string
	// Signals, when not nil, are the signals CatchSignals started catching; else Run catches them.
	// Either way they stay caught when Run returns: the caller exits then.
	Signals *Signals
}

// Signals are the signals Run relays to the command (and SIGCHLD), caught from CatchSignals on.
type Signals struct{ ready chan *reaper.Reaper }

// CatchSignals starts catching, in the background, the signals Run relays, with plain handlers
// (reaper.NewLean): os/signal takes a round trip between threads for each of them, about a
// millisecond for all. It overlaps with the checks and the start of nsexec; Run waits for it before
// the command can start. Until then a signal has its default action (the command has not started;
// nsexec's stages die with this process). The signals stay caught until the process exits: the
// caller exits when Run returns.
func CatchSignals() *Signals {
	s := &Signals{ready: make(chan *reaper.Reaper, 1)}
	go func() {
		r, err := reaper.NewLean()
		if err != nil {
			r = reaper.New() // os/signal catches them all the same, only slower
		}
		s.ready <- r
	}()
	return s
}

func (s *Signals) reaper() *reaper.Reaper {
	if s == nil {
		return reaper.New()
	}
	return <-s.ready
}

// Error is a failure to start the command, as opposed to the command's own exit status.
type Error struct{ Err error }

func (e *Error) Error() string { return e.Err.Error() }
func (e *Error) Unwrap() error { return e.Err }

// Run starts the command in the sandbox and returns its exit code (0 at once when detached).
func Run(opt Opt) (int, error) {
	var term *terminal
	var err error
	if opt.TTY {
		term, err = openTerminal(os.Stdin)
		if err != nil {
			return 125, &Error{err}
		}
		defer term.close()
		opt.Spec.Process.Terminal = true
	}
	if opt.Detach {
		// The process inside forks the command and exits, so that the command's parent is in the
		// sandbox (its PID 1 when there is one), not this process, which is about to leave.
		opt.Spec.Detach = true
	} else {
		opt.Spec.ParentDeathSignal = int(unix.SIGKILL)
	}
	// The exec socket carries the spec, then the command holds its end, close-on-exec, until its
	// execve: EOF means it exec'd or died. Before that it may send "exit N" (its failure); when
	// detached, the process inside sends "started" once the command runs, and waits for our "ack"
	// before it exits.
	opt.Spec.ExecSync = true
	// nsexec's stage 2 applies the spec and execs the command from C: no Go runtime inside.
	x, err := process.ForNsexec(opt.Spec)
	if err != nil {
		return 125, &Error{err}
	}
	msg, err := nsenter.EncodeExec(x)
	if err != nil {
		return 125, &Error{err}
	}
	execSyncR, execSyncW, err := execSyncPair()
	if err != nil {
		return 125, &Error{err}
	}
	defer execSyncR.Close()
	cmd := &exec.Cmd{
		// The binary the caller runs, through a magic link: no path lookup.
		Path: "/proc/self/exe",
		Args: []string{os.Args[0]},
		// None: the command's environment is in the exec message.
		Env:    []string{},
		Stdin:  os.Stdin,
		Stdout: os.Stdout,
		Stderr: os.Stderr,
		// The exec socket at nsenter.ExecFD, the preserved fds after it.
		ExtraFiles: []*os.File{execSyncW},
	}
	for fd := 3; fd < 3+opt.Spec.PreserveFDs; fd++ {
		cmd.ExtraFiles = append(cmd.ExtraFiles, os.NewFile(uintptr(fd), "preserved-"+strconv.Itoa(fd)))
	}
	if term != nil {
		cmd.Stdin, cmd.Stdout, cmd.Stderr = term.slave, term.slave, term.slave
	}
	p, err := nsenter.Start(cmd, nsenter.Config{Join: opt.Sandbox.joins, Setsid: opt.TTY, Exec: true}, nil)
	execSyncW.Close()
	if err != nil {
		return 125, &Error{fmt.Errorf("joining the sandbox: %w", err)}
	}
	pid := p.Stage2PID
	defer p.Release() // the reaper waits for it with wait4; Release only frees the handle
	// Signals are caught before the command can start (it waits for this message) or exit.
	r := opt.Signals.reaper()
	if _, err := execSyncR.Write(msg); err != nil {
		// It died before reading its spec: reap it; its stderr said why, if anything.
		_ = unix.Kill(pid, unix.SIGKILL)    // it may be gone already
		_, _ = unix.Wait4(pid, nil, 0, nil) // its status does not matter
		return 125, &Error{err}
	}
	if term != nil {
		term.slave.Close()
		term.slave = nil
	}
	if opt.Detach {
		return detached(opt, pid, execSyncR, term)
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
	var hook func(unix.Signal) sigforward.Action
	if term != nil && term.master != nil {
		term.startProxy()
		// The caller's terminal is raw while proxying: every signal that arrives was sent with kill.
		hook = func(sig unix.Signal) sigforward.Action {
			if sig == unix.SIGWINCH {
				term.resize() // the kernel then signals the command's terminal
				return sigforward.Drop
			}
			return sigforward.RelayAlways
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
func detached(opt Opt, pid int, execSync *os.File, term *terminal) (int, error) {
	if term != nil {
		if err := sendConsole(opt.ConsoleSocket, term.master); err != nil {
			_ = unix.Kill(pid, unix.SIGKILL)    // the command would have no terminal
			_, _ = unix.Wait4(pid, nil, 0, nil) // its status does not matter
			return 125, &Error{err}
		}
	}
	commandPID, failure := readExecReport(execSync, pid) // until EOF: the process inside exited
	var ws unix.WaitStatus
	for {
		if _, err := unix.Wait4(pid, &ws, 0, nil); err != unix.EINTR {
			break
		}
	}
	switch {
	case failure != 0:
		return failure, nil // the process inside said why on stderr
	case exitcode.FromWaitStatus(ws) != 0:
		return exitcode.FromWaitStatus(ws), nil
	case commandPID == 0:
		return 125, &Error{errors.New("the detached command's pid could not be found")}
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
	return os.NewFile(uintptr(fds[0]), "exec-sync"), os.NewFile(uintptr(fds[1]), "exec-sync-command"), nil
}

// readExecReport reads the exec socket until EOF and returns the code of an "exit N" line and, after
// a "started" line, the detached command's pid: the one child of the process inside (stage2), read
// from our /proc while that process waits for our "ack" (nothing the sandbox says is believed).
func readExecReport(f *os.File, stage2 int) (pid, exitCode int) {
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if v, ok := strings.CutPrefix(line, "exit "); ok {
			exitCode, _ = strconv.Atoi(v)
		}
		if line == "started" {
			pid = onlyChild(stage2)
			_, _ = f.Write([]byte("ack\n")) // if it is gone, EOF follows anyway
		}
	}
	return pid, exitCode
}

// onlyChild returns the single child of pid (0 if not exactly one), from every thread's children
// file, or by a scan where the kernel has none (package proctree).
func onlyChild(pid int) int {
	proc, err := proctree.Open()
	if err != nil {
		return 0
	}
	defer proc.Close()
	c := proc.Children(pid)
	if len(c) != 1 {
		return 0
	}
	return c[0]
}

// writePIDFile writes pid to path atomically.
func writePIDFile(path string, pid int) error {
	if err := atomicfile.Write(path, []byte(strconv.Itoa(pid)), 0o644); err != nil {
		return fmt.Errorf("--pid-file %s: %w", path, err)
	}
	return nil
}
