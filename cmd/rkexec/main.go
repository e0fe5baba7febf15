// Command rkexec runs a command as "root" in new Linux namespaces for an unprivileged user: a drop-in
// for RootlessKit. See README.md and docs/.
package main

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"

	"github.com/sirupsen/logrus"
	"golang.org/x/sys/unix"

	"github.com/rkexec/rkexec/pkg/child"
	"github.com/rkexec/rkexec/pkg/nsenter"
	"github.com/rkexec/rkexec/pkg/sandboxinit"
)

// roleEnvKey names the role of a process of this binary that rkexec started itself: one of the
// roles below. Its config comes on a pipe (package wire), never in the environment.
const roleEnvKey = "_RKEXEC_ROLE"

// The roles, by the value of roleEnvKey.
const (
	roleChild = "child" // the sandbox's anchor in new user+mount ns (package child); nsexec stage 2
	roleInit  = "init"  // in new pid/uts/... ns inside the sandbox (package sandboxinit); nsexec stage 2
	roleExec  = "exec"  // the exec step: become a wire.ExecSpec (package process), for `rkexec exec`
	// (nsexec stage 2, joined to a sandbox) and for the init's socket-activated target
)

// roles maps each role to its entry point, which returns the exit code.
func roles() map[string]func() int {
	return map[string]func() int{
		roleChild: runChild,
		roleInit:  runInit,
		roleExec:  execStage2,
	}
}

// roleEnv is the KEY=VALUE that makes a started process play role.
func roleEnv(role string) string { return roleEnvKey + "=" + role }

// Environment variables. Packages take these names from here; none hard-codes them.
const (
	envStateDir       = "ROOTLESSKIT_STATE_DIR"   // documented by RootlessKit
	envParentEUID     = "ROOTLESSKIT_PARENT_EUID" // documented by RootlessKit
	envParentEGID     = "ROOTLESSKIT_PARENT_EGID" // documented by RootlessKit
	envRkexecStateDir = "RKEXEC_STATE_DIR"
	envRkexecName     = "RKEXEC_NAME"
	envXDGRuntimeDir  = "XDG_RUNTIME_DIR"
	envListenPID      = "LISTEN_PID" // systemd socket activation
	envListenFDs      = "LISTEN_FDS" // systemd socket activation
)

// init keeps the child's main goroutine on the process's main thread until the child has taken uid
// 0 there (nsenter.BecomeRoot, which child.Run calls and then unlocks).
func init() {
	if os.Getenv(roleEnvKey) == roleChild {
		runtime.LockOSThread()
	}
}

func main() {
	started := monotonicNow()
	if role, ok := os.LookupEnv(roleEnvKey); ok {
		os.Unsetenv(roleEnvKey)
		os.Unsetenv(nsenter.EnvStage)
		entry, ok := roles()[role]
		if !ok {
			fmt.Fprintf(os.Stderr, "rkexec: unknown role %q in %s\n", role, roleEnvKey)
			os.Exit(125)
		}
		os.Exit(entry())
	}
	if nsenter.IsStage2() {
		fmt.Fprintln(os.Stderr, "rkexec: nsexec stage 2 without a role")
		os.Exit(125)
	}
	switch filepath.Base(os.Args[0]) {
	case nameRootlessKit:
		os.Exit(execute(nameRootlessKit, os.Args[1:], started))
	case nameDockerProxy:
		os.Exit(dockerProxy(os.Args[1:]))
	}
	os.Exit(execute(nameRkexec, os.Args[1:], started))
}

// runChild is the sandbox's child process (package child).
func runChild() int {
	return child.Run(child.Opt{
		InitRoleEnv: roleEnv(roleInit),
		NewLog:      func(debug bool, epoch int64) child.Logger { return newLogger("child", debug, epoch) },
	})
}

// runInit is the init (package sandboxinit).
func runInit() int {
	return sandboxinit.Run(sandboxinit.Opt{ExecRoleEnv: roleEnv(roleExec), Stderr: os.Stderr})
}

// newLogger returns a logger whose every line names the role that wrote it. With an epoch (a
// monotonicNow of the parent's start), every line ends with its time since then, in milliseconds:
// the lines of all roles of one run read as one timeline.
func newLogger(role string, debug bool, epoch int64) *logrus.Logger {
	l := logrus.New()
	l.SetOutput(os.Stderr)
	l.SetFormatter(&roleFormatter{role: role, epoch: epoch})
	if debug {
		l.SetLevel(logrus.DebugLevel)
	}
	return l
}

type roleFormatter struct {
	role  string
	epoch int64 // 0: no times
}

func (f *roleFormatter) Format(e *logrus.Entry) ([]byte, error) {
	if f.epoch == 0 {
		return fmt.Appendf(nil, "[rkexec:%s] %s: %s\n", f.role, e.Level, e.Message), nil
	}
	ms := float64(monotonicNow()-f.epoch) / 1e6
	return fmt.Appendf(nil, "[rkexec:%s] %s: %s (+%.3f ms)\n", f.role, e.Level, e.Message, ms), nil
}

// monotonicNow is CLOCK_MONOTONIC in nanoseconds: one clock for every process of a run (Go's
// monotonic time has no zero that another process shares).
func monotonicNow() int64 {
	var ts unix.Timespec
	if unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts) != nil {
		return 0
	}
	return ts.Nano()
}
