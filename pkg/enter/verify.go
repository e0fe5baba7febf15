package enter

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/rkexec/rkexec/pkg/nsenter"
)

// ioctl_ns(2) requests; x/sys/unix does not define them.
const (
	nsGetParent   = 0xb702 // _IO(0xb7, 0x2)
	nsGetOwnerUID = 0xb704 // _IO(0xb7, 0x4)
)

// userNamespace identifies a user namespace.
type userNamespace struct{ dev, ino uint64 }

func identity(f *os.File) (userNamespace, error) {
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		return userNamespace{}, err
	}
	return userNamespace{st.Dev, st.Ino}, nil
}

func identityOfPath(path string) (userNamespace, error) {
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		return userNamespace{}, err
	}
	return userNamespace{st.Dev, st.Ino}, nil
}

// pinned is a sandbox's namespaces, open: what the command joins is what was checked, whatever
// happens to the process afterwards.
type pinned struct {
	files  []*os.File
	joins  []nsenter.Namespace
	userNS userNamespace
}

func (p *pinned) close() {
	for _, f := range p.files {
		f.Close()
	}
}

// pinSandbox opens the namespaces of pid after making sure it is the sandbox whose state directory
// lock is lockPath: state.json and child_pid can be rewritten from inside the sandbox, and a pid can
// be reused, so neither alone may send a command to the host or to someone else's namespaces.
//
//   - rkexec's parent holds the lock (flock, seen in /proc/locks), and is in the caller's user namespace;
//   - pid is its child or grandchild (the child, or the init below it);
//   - pid's user namespace is a child of the caller's, owned by the caller, and its mount namespace is
//     not the caller's;
//   - pid is still the same process after its namespace files are open (pidfd, or its start time).
func pinSandbox(pid int, lockPath string) (*pinned, error) {
	same, err := pinProcess(pid)
	if err != nil {
		return nil, err
	}
	holder, err := flockHolder(lockPath)
	if err != nil {
		return nil, err
	}
	ours, err := identityOfPath("/proc/self/ns/user")
	if err != nil {
		return nil, fmt.Errorf("reading the caller's user namespace: %w", err)
	}
	if ns, err := identityOfPath("/proc/" + strconv.Itoa(holder) + "/ns/user"); err != nil || ns != ours {
		return nil, fmt.Errorf("not a sandbox of yours: its lock is held by process %d, which is not an rkexec of yours", holder)
	}
	if pp := ppidOf(pid); pp != holder && ppidOf(pp) != holder {
		return nil, fmt.Errorf("process %d is not a sandbox of yours: it does not descend from rkexec %d, which holds the sandbox's lock (state.json was changed?)", pid, holder)
	}
	p := &pinned{}
	for _, t := range NamespaceTypes() {
		path := fmt.Sprintf("/proc/%d/ns/%s", pid, t)
		f, err := os.Open(path)
		if err != nil {
			if errors.Is(err, os.ErrNotExist) && t == "time" {
				continue // no time namespaces before Linux 5.6
			}
			p.close()
			return nil, fmt.Errorf("sandbox process %d: %w", pid, err)
		}
		p.files = append(p.files, f)
		// nsexec opens the namespace through our own fd: exactly the namespace checked here.
		p.joins = append(p.joins, nsenter.Namespace{Type: t, Path: fmt.Sprintf("/proc/%d/fd/%d", os.Getpid(), f.Fd())})
		switch t {
		case "user":
			if p.userNS, err = checkUserNamespace(f, ours); err != nil {
				p.close()
				return nil, fmt.Errorf("process %d: %w", pid, err)
			}
		case "mnt":
			if mnt, err := identity(f); err != nil {
				p.close()
				return nil, err
			} else if own, err := identityOfPath("/proc/self/ns/mnt"); err != nil || own == mnt {
				p.close()
				return nil, fmt.Errorf("process %d shares your mount namespace: it is not a sandbox", pid)
			}
		}
	}
	if !same() {
		p.close()
		return nil, fmt.Errorf("sandbox process %d ended while joining it", pid)
	}
	return p, nil
}

// checkUserNamespace checks that the user namespace open as f is a child of ours, owned by us.
func checkUserNamespace(f *os.File, ours userNamespace) (userNamespace, error) {
	ns, err := identity(f)
	if err != nil {
		return ns, err
	}
	owner, err := unix.IoctlGetUint32(int(f.Fd()), nsGetOwnerUID)
	if err != nil {
		return ns, fmt.Errorf("owner of its user namespace: %w", err)
	}
	if int(owner) != os.Geteuid() {
		return ns, fmt.Errorf("not a sandbox of yours: its user namespace belongs to uid %d", owner)
	}
	parentFD, err := unix.IoctlRetInt(int(f.Fd()), nsGetParent)
	if err != nil {
		return ns, fmt.Errorf("not in a sandbox: its user namespace has no parent you can see (%w)", err)
	}
	parent := os.NewFile(uintptr(parentFD), "parent user namespace")
	defer parent.Close()
	if pns, err := identity(parent); err != nil || pns != ours {
		return ns, errors.New("not a sandbox of yours: its user namespace is not a child of yours")
	}
	return ns, nil
}

// pinProcess returns a function that tells whether pid is still the process it was when pinned: a
// pidfd when the kernel has them (Linux 5.3), else the start time in /proc/PID/stat.
func pinProcess(pid int) (func() bool, error) {
	pidfd, err := unix.PidfdOpen(pid, 0)
	if err == nil {
		return func() bool {
			alive := unix.PidfdSendSignal(pidfd, 0, nil, 0) == nil
			unix.Close(pidfd)
			return alive
		}, nil
	}
	if !errors.Is(err, unix.ENOSYS) {
		return nil, fmt.Errorf("sandbox process %d: %w", pid, err)
	}
	start := startTime(pid)
	if start == "" {
		return nil, fmt.Errorf("sandbox process %d is not running", pid)
	}
	return func() bool { return startTime(pid) == start }, nil
}

// statFields returns the fields of /proc/PID/stat after the command name.
func statFields(pid int) []string {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return nil
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return nil
	}
	return strings.Fields(s[i+1:])
}

func ppidOf(pid int) int {
	f := statFields(pid)
	if len(f) < 2 {
		return 0
	}
	pp, _ := strconv.Atoi(f[1])
	return pp
}

func startTime(pid int) string {
	f := statFields(pid)
	if len(f) < 20 {
		return ""
	}
	return f[19] // field 22 of stat: starttime
}

// flockHolder returns the pid of the process that took the flock on the file at path, from /proc/locks.
func flockHolder(path string) (int, error) {
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		return 0, fmt.Errorf("sandbox lock: %w", err)
	}
	want := fmt.Sprintf("%02x:%02x:%d", unix.Major(st.Dev), unix.Minor(st.Dev), st.Ino)
	f, err := os.Open("/proc/locks")
	if err != nil {
		return 0, fmt.Errorf("reading /proc/locks: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// "1: FLOCK  ADVISORY  WRITE 2345 fd:01:1234 0 EOF"; waiters have "->" after the number.
		fields := strings.Fields(sc.Text())
		if len(fields) < 6 || fields[1] != "FLOCK" || fields[5] != want {
			continue
		}
		pid, err := strconv.Atoi(fields[4])
		if err == nil {
			return pid, nil
		}
	}
	return 0, fmt.Errorf("sandbox lock %s is not held: the sandbox is not running", path)
}
