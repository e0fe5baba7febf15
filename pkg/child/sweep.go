package child

import (
	"os"
	"strconv"

	"golang.org/x/sys/unix"

	"github.com/rkexec/rkexec/pkg/reaper"
)

// killSandbox SIGKILLs every process that joined the sandbox's user namespace from outside, then every
// descendant of the child, and reaps them.
func killSandbox() {
	killUserNamespace()
	reaper.KillDescendants()
}

// nsGetParent is ioctl_ns(2)'s NS_GET_PARENT, _IO(0xb7, 0x2); x/sys/unix does not define it.
const nsGetParent = 0xb702

// killUserNamespace SIGKILLs every process in this process's user namespace or in one nested in it:
// processes that joined the sandbox from outside (rkexec exec, nsenter) and are not its descendants.
// Processes of other users cannot be opened and are skipped; they cannot be in our namespace anyway.
func killUserNamespace() {
	own, err := nsIdentity("/proc/self/ns/user")
	if err != nil {
		return
	}
	self := os.Getpid()
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return
	}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == self {
			continue
		}
		if inUserNamespace(pid, own) {
			_ = unix.Kill(pid, unix.SIGKILL) // ESRCH: it exited meanwhile
		}
	}
}

type nsID struct{ dev, ino uint64 }

func nsIdentity(path string) (nsID, error) {
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		return nsID{}, err
	}
	return nsID{st.Dev, st.Ino}, nil
}

// inUserNamespace reports whether pid's user namespace is own or a descendant of it.
func inUserNamespace(pid int, own nsID) bool {
	fd, err := unix.Open("/proc/"+strconv.Itoa(pid)+"/ns/user", unix.O_RDONLY|unix.O_CLOEXEC, 0)
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
