package child

import (
	"os"

	"golang.org/x/sys/unix"

	"github.com/rkexec/rkexec/pkg/proctree"
	"github.com/rkexec/rkexec/pkg/reaper"
)

// killSandbox SIGKILLs every process that joined the sandbox's user namespace from outside, then every
// descendant of the child, and reaps them. proc was opened before the target started, so a mount
// over /proc in the sandbox hides nothing.
func killSandbox(proc *proctree.Proc) {
	killUserNamespace(proc)
	reaper.KillDescendants(proc)
}

// nsGetParent is ioctl_ns(2)'s NS_GET_PARENT, _IO(0xb7, 0x2); x/sys/unix does not define it.
const nsGetParent = 0xb702

// killUserNamespace SIGKILLs every process in this process's user namespace or in one nested in it:
// processes that joined the sandbox from outside (rkexec exec, nsenter) and are not its descendants.
// Processes of other users cannot be opened and are skipped; they cannot be in our namespace anyway.
func killUserNamespace(proc *proctree.Proc) {
	self := os.Getpid()
	own, err := nsIdentity(proc, self)
	if err != nil {
		return
	}
	for _, pid := range proc.Pids() {
		if pid != self && inUserNamespace(proc, pid, own) {
			_ = unix.Kill(pid, unix.SIGKILL) // ESRCH: it exited meanwhile
		}
	}
}

type nsID struct{ dev, ino uint64 }

func nsIdentity(proc *proctree.Proc, pid int) (nsID, error) {
	fd, err := proc.OpenNamespace(pid, "user")
	if err != nil {
		return nsID{}, err
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return nsID{}, err
	}
	return nsID{st.Dev, st.Ino}, nil
}

// inUserNamespace reports whether pid's user namespace is own or a descendant of it.
func inUserNamespace(proc *proctree.Proc, pid int, own nsID) bool {
	fd, err := proc.OpenNamespace(pid, "user")
	if err != nil {
		return false
	}
	for depth := 0; depth < 33; depth++ { // user namespaces nest at most 32 deep
		var st unix.Stat_t
		if err := unix.Fstat(fd, &st); err != nil {
			break
		}
		if (nsID{st.Dev, st.Ino}) == own {
			unix.Close(fd)
			return true
		}
		parent, err := unix.IoctlRetInt(fd, nsGetParent)
		unix.Close(fd)
		if err != nil {
			return false // EPERM: the parent is outside our namespace, so this one is not inside it
		}
		fd = parent
	}
	unix.Close(fd)
	return false
}
