package main

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"

	"github.com/rkexec/rkexec/pkg/command"
	"github.com/rkexec/rkexec/pkg/process"
	"github.com/rkexec/rkexec/pkg/ttyguard"
	"github.com/rkexec/rkexec/pkg/wire"
)

// execStage2 is the exec role: the process that becomes the command of the wire.ExecSpec on
// wire.ExecSpecFD (an init's socket-activated target), or starts it detached and exits. `rkexec
// exec` does the same from C in nsexec's last stage (process.ForNsexec).
func execStage2() int {
	var spec wire.ExecSpec
	specFile := os.NewFile(wire.ExecSpecFD, "exec-spec")
	if err := wire.ReadConfig(specFile, &spec); err != nil {
		fmt.Fprintf(os.Stderr, "rkexec exec: %v\n", err)
		return 125
	}
	// Root of the sandbox's user namespace here, before any user or capability change: the filter
	// needs no no_new_privs, and the command and all it starts inherit it.
	if !spec.AllowTIOCSTI {
		if err := ttyguard.Install(); err != nil {
			fmt.Fprintf(os.Stderr, "rkexec exec: %v; --allow-tiocsti runs without it\n", err)
			return 125
		}
	}
	syncFD := -1
	if spec.ExecSync {
		// The exec socket moves above the preserved fds, which move down to 3 and up.
		fd, err := unix.FcntlInt(wire.ExecSpecFD, unix.F_DUPFD_CLOEXEC, wire.ExecSpecFD+1+spec.PreserveFDs)
		if err != nil {
			fmt.Fprintf(os.Stderr, "rkexec exec: moving the exec socket: %v\n", err)
			return 125
		}
		syncFD = fd
	}
	specFile.Close()
	err := process.MovePreserved(wire.ExecSpecFD+1, spec.PreserveFDs)
	if err == nil {
		err = process.Exec(spec, syncFD)
	}
	if err == nil {
		return 0 // detached: the command runs on
	}
	fmt.Fprintf(os.Stderr, "rkexec exec: %v\n", err)
	return command.CodeOf(err)
}
