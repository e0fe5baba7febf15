package child

import (
	"os"

	"github.com/rkexec/rkexec/pkg/proctree"
	"github.com/rkexec/rkexec/pkg/reaper"
	"github.com/rkexec/rkexec/pkg/sweep"
)

// killSandbox SIGKILLs every process in the sandbox's user namespace or one nested in it (processes
// that joined the sandbox from outside and daemons that left the process tree), then every descendant
// of the child, and reaps them. proc was opened before the target started, so a mount over /proc in
// the sandbox hides nothing; the user namespace is the child's own, opened through it.
func killSandbox(proc *proctree.Proc) {
	if fd, err := proc.OpenNamespace(os.Getpid(), "user"); err == nil {
		ns := os.NewFile(uintptr(fd), "user namespace")
		// Best effort: the descendants are killed below whatever this found.
		_, _ = sweep.UserNamespace(proc, ns, sweep.Timeout)
		ns.Close()
	}
	reaper.KillDescendants(proc)
}
