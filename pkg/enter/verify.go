package enter

import (
	"fmt"
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// ioctl_ns(2) requests; x/sys/unix does not define them.
const (
	nsGetParent   = 0xb702 // _IO(0xb7, 0x2)
	nsGetOwnerUID = 0xb704 // _IO(0xb7, 0x4)
)

// userNamespace identifies a user namespace.
type userNamespace struct{ dev, ino uint64 }

func userNamespaceOf(pid int) (userNamespace, error) {
	var st unix.Stat_t
	if err := unix.Stat("/proc/"+strconv.Itoa(pid)+"/ns/user", &st); err != nil {
		return userNamespace{}, fmt.Errorf("sandbox process %d: %w", pid, err)
	}
	return userNamespace{st.Dev, st.Ino}, nil
}

// checkSandbox makes sure pid is a sandbox of the caller: its user namespace is a child of the caller's
// and owned by the caller's uid. state.json and child_pid are writable from inside the sandbox, and a
// pid can be reused, so a pid that names a host process must not send the command to the host.
func checkSandbox(pid int) (userNamespace, error) {
	ns, err := userNamespaceOf(pid)
	if err != nil {
		return ns, err
	}
	fd, err := unix.Open("/proc/"+strconv.Itoa(pid)+"/ns/user", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return ns, fmt.Errorf("sandbox process %d: %w", pid, err)
	}
	defer unix.Close(fd)
	owner, err := unix.IoctlGetUint32(fd, nsGetOwnerUID)
	if err != nil {
		return ns, fmt.Errorf("sandbox process %d: owner of its user namespace: %w", pid, err)
	}
	if int(owner) != os.Geteuid() {
		return ns, fmt.Errorf("process %d is not a sandbox of yours: its user namespace belongs to uid %d", pid, owner)
	}
	parent, err := unix.IoctlRetInt(fd, nsGetParent)
	if err != nil {
		return ns, fmt.Errorf("process %d is not in a sandbox: its user namespace has no parent you can see (%w)", pid, err)
	}
	defer unix.Close(parent)
	var pst, self unix.Stat_t
	if err := unix.Fstat(parent, &pst); err != nil {
		return ns, fmt.Errorf("sandbox process %d: %w", pid, err)
	}
	if err := unix.Stat("/proc/self/ns/user", &self); err != nil {
		return ns, fmt.Errorf("reading the caller's user namespace: %w", err)
	}
	if pst.Dev != self.Dev || pst.Ino != self.Ino {
		return ns, fmt.Errorf("process %d is not a sandbox of yours: its user namespace is not a child of yours", pid)
	}
	return ns, nil
}
