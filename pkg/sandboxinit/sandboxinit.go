// Package sandboxinit is the first Go code of a process that nsexec started in new namespaces inside
// the sandbox (stage 2). With a new pid namespace it is PID 1: it mounts a /proc of that namespace in
// its own mount namespace and, with the reaper on, runs the target as its child, relaying signals,
// reaping orphans and exiting with the target's status (its exit takes the whole pid namespace down).
// Without the reaper, or without a pid namespace, it becomes the target.
//
// It does not join or create namespaces (package nsenter did) and does not report to the parent: its
// errors go to stderr with the exit codes of package process.
package sandboxinit

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/rkexec/rkexec/pkg/process"
	"github.com/rkexec/rkexec/pkg/reaper"
)

// Config is what the child tells the init, in an environment variable of the caller's choosing.
type Config struct {
	// Target is the command to run.
	Target process.Spec `json:"target"`
	// MountProc mounts a new /proc (the init is in new pid and mount namespaces).
	MountProc bool `json:"mount_proc,omitempty"`
	// Reaper keeps the init as PID 1, running the target as its child.
	Reaper bool `json:"reaper,omitempty"`
}

// Run is the init's whole life; it returns an exit code only on failure or after the target exited.
// envKey names the variable that carries the Config; stderr receives one line per failure.
func Run(envKey string, stderr io.Writer) int {
	var cfg Config
	err := json.Unmarshal([]byte(os.Getenv(envKey)), &cfg)
	os.Unsetenv(envKey)
	if err != nil {
		fmt.Fprintf(stderr, "rkexec: init: decoding %s: %v\n", envKey, err)
		return 125
	}
	if cfg.MountProc {
		if err := mountProc(); err != nil {
			fmt.Fprintf(stderr, "rkexec: init: %v\n", err)
			return 125
		}
	}
	if !cfg.Reaper {
		// The target is this process: it dies with the child, like a target the child starts itself.
		cfg.Target.ParentDeathSignal = int(unix.SIGKILL)
		err := process.Exec(cfg.Target)
		return report(stderr, err)
	}
	return runReaper(cfg.Target, envKey, stderr)
}

func report(stderr io.Writer, err error) int {
	fmt.Fprintf(stderr, "rkexec: starting the command: %v\n", err)
	return process.CodeOf(err)
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

// runReaper runs the target as a child of PID 1 and waits for it.
func runReaper(spec process.Spec, envKey string, stderr io.Writer) int {
	path, err := process.LookPath(spec.Args[0], spec.Env)
	if err != nil {
		return report(stderr, err)
	}
	r := reaper.New()
	defer r.Stop()
	cmd := &exec.Cmd{
		Path: path, Args: spec.Args, Env: spec.Env,
		Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr,
		SysProcAttr: &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL},
	}
	if spec.ListenPID {
		// Socket activation: LISTEN_PID must be the target's pid, known only inside the process
		// that becomes it, so the target is started through this binary in the init role, without
		// a reaper. /proc is the one this init mounted, before anything of the target ran.
		b, err := json.Marshal(Config{Target: spec})
		if err != nil {
			return report(stderr, err)
		}
		cmd.Path, cmd.Args = "/proc/self/exe", []string{os.Args[0]}
		cmd.Env = append(spec.Env[:len(spec.Env):len(spec.Env)], envKey+"="+string(b))
		for fd := 3; fd < 3+spec.PreserveFDs; fd++ {
			cmd.ExtraFiles = append(cmd.ExtraFiles, os.NewFile(uintptr(fd), "listen-fd-"+strconv.Itoa(fd)))
		}
	}
	if err := cmd.Start(); err != nil {
		return report(stderr, err)
	}
	code, _ := r.Wait(cmd.Process.Pid, nil, nil)
	// Returning ends PID 1, and the kernel kills whatever else runs in the namespace.
	return code
}
