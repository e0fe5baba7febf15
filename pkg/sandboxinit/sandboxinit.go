// Package sandboxinit is the init in Go, for a socket-activated target only (every other run with
// extra namespaces has nsexec's init in C, package nsenter's Config.Init, with the same behaviour): the
// first Go code of the process that nsexec started in new namespaces inside the sandbox (stage 2),
// with its config (wire.InitConfig) on wire.InitConfigFD.
// With a new pid namespace it is PID 1: it mounts a /proc of that namespace in its own mount
// namespace and, with the reaper on, runs the target as its child, relaying signals, reaping orphans
// and exiting with the target's status (its exit takes the whole pid namespace down). Without the
// reaper, or without a pid namespace, it becomes the target (package process).
//
// A socket-activated target under a reaping PID 1 needs LISTEN_PID set to its own pid, which only
// the process that becomes it knows: the init starts this binary in the exec role for it, with a
// wire.ExecSpec.
//
// It does not join or create namespaces (package nsenter did) and does not report to the parent: its
// errors go to stderr with the exit codes of package command.
package sandboxinit

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/rkexec/rkexec/pkg/command"
	"github.com/rkexec/rkexec/pkg/exitcode"
	"github.com/rkexec/rkexec/pkg/process"
	"github.com/rkexec/rkexec/pkg/reaper"
	"github.com/rkexec/rkexec/pkg/wire"
)

// Opt configures Run.
type Opt struct {
	// ExecRoleEnv is the KEY=VALUE that makes this binary the exec step (cmd/rkexec's role table).
	ExecRoleEnv string
	// Stderr receives one line per failure.
	Stderr io.Writer
}

// Run is the init's whole life; it returns an exit code only on failure or after the target exited.
func Run(opt Opt) int {
	var cfg wire.InitConfig
	cfgFile := os.NewFile(wire.InitConfigFD, "init-config")
	err := wire.ReadConfig(cfgFile, &cfg)
	if err != nil {
		fmt.Fprintf(opt.Stderr, "rkexec: init: %v\n", err)
		return 125
	}
	if cfg.MountProc {
		if err := mountProc(); err != nil {
			fmt.Fprintf(opt.Stderr, "rkexec: init: %v\n", err)
			return 125
		}
	}
	// The child waits for this before it reports the sandbox ready: whoever joins it from now on
	// sees this /proc.
	if _, err := cfgFile.Write([]byte{wire.InitReady}); err != nil {
		fmt.Fprintf(opt.Stderr, "rkexec: init: telling the child it is ready: %v\n", err)
		return 125
	}
	// A reaping init tells the child how the target ended on the same socket, kept above every fd
	// the target gets (and close-on-exec).
	var exited *os.File
	if cfg.Reaper {
		fd, err := unix.FcntlInt(wire.InitConfigFD, unix.F_DUPFD_CLOEXEC, wire.InitConfigFD+1+cfg.Target.PreserveFDs)
		if err != nil {
			return report(opt.Stderr, fmt.Errorf("keeping the config socket: %w", err))
		}
		exited = os.NewFile(uintptr(fd), "init-exited")
		defer exited.Close()
	}
	cfgFile.Close()
	// The activation sockets follow the config socket: to 3 and up, where the target expects them
	// (over fd 3, now closed).
	if err := process.MovePreserved(wire.InitConfigFD+1, cfg.Target.PreserveFDs); err != nil {
		return report(opt.Stderr, err)
	}
	if !cfg.Reaper {
		// The target is this process: it dies with the child, like a target the child starts itself.
		cfg.Target.ParentDeathSignal = int(unix.SIGKILL)
		err := process.Exec(cfg.Target, -1)
		return report(opt.Stderr, err)
	}
	return runReaper(cfg.Target, opt, exited)
}

func report(stderr io.Writer, err error) int {
	fmt.Fprintf(stderr, "rkexec: starting the command: %v\n", err)
	return command.CodeOf(err)
}

// mountProc replaces /proc with one of the new pid namespace, without letting the mount propagate
// back to the child's mount namespace.
func mountProc() error {
	if err := unix.Mount("none", "/proc", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return fmt.Errorf("making /proc private: %w", err)
	}
	if err := unix.Mount("proc", "/proc", "proc", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, ""); err != nil {
		return fmt.Errorf("mounting /proc for the new pid namespace: %w", err)
	}
	return nil
}

// runReaper runs the target as a child of PID 1 and waits for it; it tells the child how it ended on
// exited (wire.InitExited).
func runReaper(spec wire.ExecSpec, opt Opt, exited *os.File) int {
	args, env := spec.Process.Args, spec.Process.Env
	path, err := command.LookPath(args[0], env)
	if err != nil {
		return report(opt.Stderr, err)
	}
	r := reaper.New()
	defer r.Stop()
	cmd := &exec.Cmd{
		Path: path, Args: args, Env: env,
		Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr,
		SysProcAttr: &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL},
	}
	var specR, specW *os.File
	if spec.ListenPID {
		// Socket activation: LISTEN_PID must be the target's pid, known only inside the process
		// that becomes it, so the target is started through this binary in the exec role. /proc
		// is the one this init mounted, before anything of the target ran.
		var err error
		specR, specW, err = os.Pipe()
		if err != nil {
			return report(opt.Stderr, fmt.Errorf("creating the exec step's spec pipe: %w", err))
		}
		defer specW.Close()
		spec.ParentDeathSignal = int(unix.SIGKILL)
		cmd.Path, cmd.Args, cmd.Env = "/proc/self/exe", []string{os.Args[0]}, []string{opt.ExecRoleEnv}
		// The spec on wire.ExecSpecFD, the sockets after it.
		cmd.ExtraFiles = []*os.File{specR}
		for fd := 3; fd < 3+spec.PreserveFDs; fd++ {
			cmd.ExtraFiles = append(cmd.ExtraFiles, os.NewFile(uintptr(fd), "listen-fd-"+strconv.Itoa(fd)))
		}
	}
	err = cmd.Start()
	if specR != nil {
		specR.Close() // the exec step's now: if it dies, writing fails instead of blocking
	}
	if err != nil {
		return report(opt.Stderr, err)
	}
	if specW != nil {
		if err := wire.WriteConfig(specW, spec); err != nil {
			// It died before reading: its status says how.
			fmt.Fprintf(opt.Stderr, "rkexec: init: %v\n", err)
		}
		specW.Close()
	}
	ws, _ := r.WaitStatus(cmd.Process.Pid, nil, nil)
	var msg wire.InitExited
	if ws.Signaled() {
		msg[0] = byte(ws.Signal())
		if ws.CoreDump() {
			msg[1] = 1
		}
	}
	_, _ = exited.Write(msg[:]) // a child that is gone has nobody to tell
	// Returning ends PID 1, and the kernel kills whatever else runs in the namespace.
	return exitcode.FromWaitStatus(ws)
}
