package proctree

import (
	"fmt"
	"strconv"

	"golang.org/x/sys/unix"
)

// ioctl_ns(2) requests on a namespace file; x/sys/unix does not define them.
const (
	NSGetParent   = 0xb702 // _IO(0xb7, 0x2): a new fd of the parent namespace (user and pid only)
	NSGetOwnerUID = 0xb704 // _IO(0xb7, 0x4): the uid that owns a user namespace
)

// maxUserNSDepth bounds the walk up the user namespace tree: the kernel nests at most 32.
const maxUserNSDepth = 33

// NSID names a namespace: the device and inode of its nsfs file, equal for every file of the same
// namespace. A namespace's inode is reused only once the namespace is gone, so hold an fd of it while
// its NSID matters.
type NSID struct{ Dev, Ino uint64 }

func (n NSID) String() string { return fmt.Sprintf("%d:%d", n.Dev, n.Ino) }

// NSIDOf names the namespace open as fd.
func NSIDOf(fd int) (NSID, error) {
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return NSID{}, fmt.Errorf("fstat namespace: %w", err)
	}
	return NSID{st.Dev, st.Ino}, nil
}

// NSIDOfPath names the namespace whose file is path (e.g. /proc/self/ns/user).
func NSIDOfPath(path string) (NSID, error) {
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		return NSID{}, fmt.Errorf("stat %s: %w", path, err)
	}
	return NSID{st.Dev, st.Ino}, nil
}

// ParentNamespace returns a new fd (close-on-exec) of the parent of the user or pid namespace open as
// fd. EPERM means the parent is outside the caller's view (above its own user namespace).
func ParentNamespace(fd int) (int, error) {
	return unix.IoctlRetInt(fd, NSGetParent)
}

// OwnerUID returns the uid, in the caller's user namespace, that owns the user namespace open as fd.
func OwnerUID(fd int) (uint32, error) {
	return unix.IoctlGetUint32(fd, NSGetOwnerUID)
}

// NamespaceID names the namespace of type typ ("user", "mnt", ...) of pid without opening it.
func (p *Proc) NamespaceID(pid int, typ string) (NSID, error) {
	var st unix.Stat_t
	if err := unix.Fstatat(int(p.dir.Fd()), strconv.Itoa(pid)+"/ns/"+typ, &st, 0); err != nil {
		return NSID{}, err
	}
	return NSID{st.Dev, st.Ino}, nil
}

// InUserNamespace reports whether pid's user namespace is userNS or one nested in it. A process that
// cannot be inspected (another user's, or gone) is not.
func (p *Proc) InUserNamespace(pid int, userNS NSID) bool {
	id, err := p.NamespaceID(pid, "user")
	if err != nil {
		return false
	}
	if id == userNS {
		return true
	}
	fd, err := p.OpenNamespace(pid, "user")
	if err != nil {
		return false
	}
	return Nested(fd, userNS)
}

// Nested reports whether the user namespace open as fd is a descendant of userNS (not userNS
// itself). It closes fd.
func Nested(fd int, userNS NSID) bool {
	for range maxUserNSDepth {
		parent, err := ParentNamespace(fd)
		unix.Close(fd)
		if err != nil {
			return false // EPERM: the top of what we can see, and userNS was not on the way
		}
		fd = parent
		if id, err := NSIDOf(fd); err == nil && id == userNS {
			unix.Close(fd)
			return true
		}
	}
	unix.Close(fd)
	return false
}
