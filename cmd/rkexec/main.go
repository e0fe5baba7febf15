// Command rkexec runs a command as "root" in new Linux namespaces for an unprivileged user: a drop-in
// for RootlessKit. See README.md and docs/.
package main

import (
	"fmt"
	"os"

	"github.com/sirupsen/logrus"
	"golang.org/x/sys/unix"

	"github.com/rkexec/rkexec/pkg/child"
	"github.com/rkexec/rkexec/pkg/nsenter"
	"github.com/rkexec/rkexec/pkg/process"
	"github.com/rkexec/rkexec/pkg/sandboxinit"
)

// Environment variables. Packages take these names from here; none hard-codes them.
const (
	// initEnvKey carries the sandbox init's JSON config (package sandboxinit), in nsexec's stage 2.
	initEnvKey = "_RKEXEC_INIT"
	// execEnvKey carries the process spec of `rkexec exec`, in nsexec's stage 2.
	execEnvKey = "_RKEXEC_EXEC"
	// childEnvKey carries the child's JSON config; its presence makes this process the child.
	childEnvKey = "_RKEXEC_CHILD"

	envStateDir       = "ROOTLESSKIT_STATE_DIR"   // documented by RootlessKit
	envParentEUID     = "ROOTLESSKIT_PARENT_EUID" // documented by RootlessKit
	envParentEGID     = "ROOTLESSKIT_PARENT_EGID" // documented by RootlessKit
	envRkexecStateDir = "RKEXEC_STATE_DIR"
	envRkexecName     = "RKEXEC_NAME"
	envXDGRuntimeDir  = "XDG_RUNTIME_DIR"
	envListenPID      = "LISTEN_PID" // systemd socket activation
	envListenFDs      = "LISTEN_FDS" // systemd socket activation
)

// init adjusts the per-thread state that nsexec's stage 2 leaves on the main thread, for the roles
// that need it. It has to be an init function: the runtime runs those on the main thread, while
// main may already run elsewhere (and locking main to it for good costs every run ~5 ms).
//   - The child: no parent-death signal (it sees the parent die as EOF on its pipe, and cleans up;
//     nsexec's SIGKILL would kill it first). And a name for ps.
//   - The init: a name for ps (its parent-death signal, SIGKILL, stays).
func init() {
	if !nsenter.IsStage2() {
		return
	}
	switch {
	case os.Getenv(childEnvKey) != "":
		// Deliberately unchecked: prctl(PR_SET_PDEATHSIG, 0) cannot fail.
		_ = unix.Prctl(unix.PR_SET_PDEATHSIG, 0, 0, 0, 0)
		process.SetName("rkexec:child")
	case os.Getenv(initEnvKey) != "":
		process.SetName("rkexec:init")
	}
}

func main() {
	if os.Getenv(initEnvKey) != "" {
		// nsexec's stage 2 in new namespaces, or the process a reaping init starts for socket activation.
		os.Unsetenv(nsenter.EnvStage)
		os.Exit(sandboxinit.Run(initEnvKey, os.Stderr))
	}
	if nsenter.IsStage2() {
		os.Unsetenv(nsenter.EnvStage)
		switch {
		case os.Getenv(execEnvKey) != "":
			os.Exit(execStage2(execEnvKey))
		case os.Getenv(childEnvKey) != "":
			os.Exit(runChild())
		}
		fmt.Fprintln(os.Stderr, "rkexec: nsexec stage 2 without a role")
		os.Exit(125)
	}
	os.Exit(execute(os.Args[1:]))
}

// runChild is the sandbox's child process (package child).
func runChild() int {
	return child.Run(child.Opt{
		ConfigEnvKey: childEnvKey,
		InitEnvKey:   initEnvKey,
		NewLog:       func(debug bool) child.Logger { return newLogger("child", debug) },
	})
}

// newLogger returns a logger whose every line names the role that wrote it.
func newLogger(role string, debug bool) *logrus.Logger {
	l := logrus.New()
	l.SetOutput(os.Stderr)
	l.SetFormatter(&roleFormatter{role: role})
	if debug {
		l.SetLevel(logrus.DebugLevel)
	}
	return l
}

type roleFormatter struct{ role string }

func (f *roleFormatter) Format(e *logrus.Entry) ([]byte, error) {
	return fmt.Appendf(nil, "[rkexec:%s] %s: %s\n", f.role, e.Level, e.Message), nil
}
