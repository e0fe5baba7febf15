package enter

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/rkexec/rkexec/pkg/nsenter"
	"github.com/rkexec/rkexec/pkg/proctree"
)

// fileID identifies a file (a lock file, a directory) by device and inode; namespaces are named by
// package proctree.
type fileID struct{ dev, ino uint64 }

func identity(f *os.File) (fileID, error) {
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		return fileID{}, err
	}
	return fileID{st.Dev, st.Ino}, nil
}

func identityOfPath(path string) (fileID, error) {
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		return fileID{}, err
	}
	return fileID{st.Dev, st.Ino}, nil
}

// openFile opens path read-only with one system call: os.Open would also try, and fail, to add a
// /proc file or a namespace file to the runtime's poller (five more calls), for every one of the
// dozens that the checks open.
func openFile(path string) (*os.File, error) {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: path, Err: err}
	}
	return os.NewFile(uintptr(fd), path), nil
}

// readFile reads a small /proc file whole (see openFile).
func readFile(path string) ([]byte, error) {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: path, Err: err}
	}
	defer unix.Close(fd)
	buf := make([]byte, 0, 1024)
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := unix.Read(fd, buf[len(buf):cap(buf)])
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return nil, &os.PathError{Op: "read", Path: path, Err: err}
		}
		if n == 0 {
			return buf, nil
		}
		buf = buf[:len(buf)+n]
	}
}

// Sandbox is a running sandbox's namespaces, checked and open: what a command joins (Run), or what
// rkexec info shows, is what was checked, whatever happens to the process afterwards.
type Sandbox struct {
	// PID is the process whose namespaces these are.
	PID int
	// Holder is the rkexec that holds the sandbox's lock: its parent.
	Holder int
	files  []*os.File
	types  []string
	joins  []nsenter.Namespace
}

// Close releases the namespaces.
func (s *Sandbox) Close() {
	for _, f := range s.files {
		f.Close()
	}
	s.files, s.joins = nil, nil
}

// Namespaces returns the identity of each namespace, e.g. "net" → "net:[4026532008]".
func (s *Sandbox) Namespaces() (map[string]string, error) {
	out := map[string]string{}
	for i, f := range s.files {
		link, err := os.Readlink(fmt.Sprintf("/proc/self/fd/%d", f.Fd()))
		if err != nil {
			return nil, fmt.Errorf("reading the %s namespace of sandbox process %d: %w", s.types[i], s.PID, err)
		}
		out[s.types[i]] = link
	}
	return out, nil
}

// Pin checks that the sandbox whose state directory is dir (open), with lock file lock (open; nil
// when there is none), is running, and opens its namespaces. parentPID and pid, from the sandbox's
// state.json, are hints: the sandbox can write that file, and a pid can be reused, so everything
// that decides is taken from the directory and the kernel:
//
//   - parentPID holds the lock (flock, seen in its /proc/PID/fdinfo: no scan of /proc/locks, which
//     any process can make huge), is in the caller's user namespace and holds dir open: it is the
//     rkexec of this very directory, not of one whose lock was linked here;
//   - pid is the process the holder keeps a pidfd of (its fdinfo names it), and its grandchild (the
//     target or the init, below rkexec's child, which lives in the caller's pid namespace);
//   - pid's user namespace is a child of the caller's, owned by the caller, and its mount namespace is
//     not the caller's;
//   - pid is still the same process after its namespace files are open (pidfd, or its start time),
//     and still the one the holder's pidfd names.
func Pin(dir, lock *os.File, parentPID, pid int) (*Sandbox, error) {
	return hostProc().pin(dir, lock, parentPID, pid)
}

// procFS is where the checks read the kernel's view: /proc, or a tree a test builds, and the
// caller's effective uid.
type procFS struct {
	root string
	euid int
}

func hostProc() procFS { return procFS{root: "/proc", euid: os.Geteuid()} }

func (p procFS) path(elem ...string) string {
	return filepath.Join(append([]string{p.root}, elem...)...)
}

func (p procFS) pin(dir, lock *os.File, parentPID, pid int) (*Sandbox, error) {
	if lock == nil {
		return nil, errors.New("the sandbox is not running: its state directory has no lock")
	}
	lockID, err := identity(lock)
	if err != nil {
		return nil, fmt.Errorf("sandbox lock: %w", err)
	}
	dirID, err := identity(dir)
	if err != nil {
		return nil, fmt.Errorf("state dir: %w", err)
	}
	// One listing of the holder's fds answers the three questions about it below.
	fds, err := p.scanHolder(parentPID, lockID, dirID)
	if err != nil {
		return nil, err
	}
	holder, err := p.flockHolder(parentPID, lockID, fds)
	if err != nil {
		return nil, err
	}
	ours, err := proctree.NSIDOfPath(p.path("self", "ns", "user"))
	if err != nil {
		return nil, fmt.Errorf("reading the caller's user namespace: %w", err)
	}
	if ns, err := proctree.NSIDOfPath(p.path(strconv.Itoa(holder), "ns", "user")); err != nil || ns != ours {
		return nil, fmt.Errorf("not a sandbox of yours: its lock is held by process %d, which is not a process of your user namespace", holder)
	}
	if !fds.holdsDir {
		return nil, fmt.Errorf("not this sandbox: its lock is held by rkexec %d, which runs another state directory (was the lock file replaced?)", holder)
	}
	if pid <= 0 {
		return nil, errors.New("the sandbox's state.json names no sandbox process (is it still starting?)")
	}
	started := func() bool { return slices.Contains(p.pidfds(holder, fds.pidfds), pid) }
	if !started() {
		return nil, fmt.Errorf("process %d is not a sandbox of yours: rkexec %d, which holds the sandbox's lock, did not start it (state.json was changed?)", pid, holder)
	}
	same, release, err := p.pinProcess(pid)
	if err != nil {
		return nil, err
	}
	defer release()
	// Not rkexec's child itself: it is in the caller's pid namespace.
	if pp := p.ppidOf(pid); pp == holder || pp <= 0 || p.ppidOf(pp) != holder {
		return nil, fmt.Errorf("process %d is not a sandbox of yours: it does not descend from rkexec %d, which holds the sandbox's lock (state.json was changed?)", pid, holder)
	}
	s := &Sandbox{PID: pid, Holder: holder}
	ownMnt, err := proctree.NSIDOfPath(p.path("self", "ns", "mnt"))
	if err != nil {
		return nil, fmt.Errorf("reading the caller's mount namespace: %w", err)
	}
	for _, t := range nsenter.NamespaceTypes() {
		f, err := openFile(p.path(strconv.Itoa(pid), "ns", t))
		if err != nil {
			if errors.Is(err, os.ErrNotExist) && t == "time" {
				continue // no time namespaces before Linux 5.6
			}
			s.Close()
			return nil, fmt.Errorf("sandbox process %d: %w", pid, err)
		}
		s.files = append(s.files, f)
		s.types = append(s.types, t)
		// nsexec opens the namespace through our own fd: exactly the namespace checked here.
		s.joins = append(s.joins, nsenter.Namespace{Type: t, Path: fmt.Sprintf("/proc/%d/fd/%d", os.Getpid(), f.Fd())})
		switch t {
		case "user":
			if err := p.checkUserNamespace(f, ours); err != nil {
				s.Close()
				return nil, fmt.Errorf("process %d: %w", pid, err)
			}
		case "mnt":
			if mnt, err := proctree.NSIDOf(int(f.Fd())); err != nil {
				s.Close()
				return nil, err
			} else if mnt == ownMnt {
				s.Close()
				return nil, fmt.Errorf("process %d shares your mount namespace: it is not a sandbox", pid)
			}
		}
	}
	// The holder's pidfd shows -1 once its process is gone: pid named it throughout.
	if !same() || !started() {
		s.Close()
		return nil, fmt.Errorf("sandbox process %d ended while joining it", pid)
	}
	return s, nil
}

// holderFDs is what one listing of the lock holder's fds shows: the fds (by name) that are the lock
// file, whether one is the state directory (rkexec's parent keeps its state directory open while it
// lives: a lock file hard-linked or renamed into another sandbox's directory leads to an rkexec that
// does not), and the fds that are pidfds.
type holderFDs struct {
	lock     []string
	holdsDir bool
	pidfds   []string
}

// scanHolder lists the fds of process pid once: a readlink each, and a stat of those that are not
// pidfds.
func (p procFS) scanHolder(pid int, lock, dir fileID) (holderFDs, error) {
	var out holderFDs
	fds := p.path(strconv.Itoa(pid), "fd")
	d, err := openFile(fds)
	if err == nil {
		var names []string
		names, err = d.Readdirnames(-1)
		d.Close()
		if err == nil {
			for _, name := range names {
				path := fds + "/" + name
				if link, err := os.Readlink(path); err == nil && isPidfdLink(link) {
					out.pidfds = append(out.pidfds, name)
					continue
				}
				switch id, err := identityOfPath(path); {
				case err != nil:
				case id == lock:
					out.lock = append(out.lock, name)
				case id == dir:
					out.holdsDir = true
				}
			}
			return out, nil
		}
	}
	if errors.Is(err, fs.ErrPermission) {
		// Another user's process, or one that rkexec inside a sandbox may not look at: the lock
		// may well be held, but not by an rkexec this caller can check.
		return out, fmt.Errorf("cannot inspect process %d, the rkexec its state.json names: %w (not a sandbox of yours, or run from inside one?)", pid, err)
	}
	return out, nil // no such process: flockHolder says the lock is not held
}

// checkUserNamespace checks that the user namespace open as f is a child of ours, owned by us.
func (p procFS) checkUserNamespace(f *os.File, ours proctree.NSID) error {
	owner, err := proctree.OwnerUID(int(f.Fd()))
	if err != nil {
		return fmt.Errorf("owner of its user namespace: %w", err)
	}
	if int(owner) != p.euid {
		return fmt.Errorf("not a sandbox of yours: its user namespace belongs to uid %d", owner)
	}
	parentFD, err := proctree.ParentNamespace(int(f.Fd()))
	if err != nil {
		return fmt.Errorf("not in a sandbox: its user namespace has no parent you can see (%w)", err)
	}
	parent := os.NewFile(uintptr(parentFD), "parent user namespace")
	defer parent.Close()
	if pns, err := proctree.NSIDOf(int(parent.Fd())); err != nil || pns != ours {
		return errors.New("not a sandbox of yours: its user namespace is not a child of yours")
	}
	return nil
}

// pinProcess returns a function that tells whether pid is still the process it was when pinned, and
// one that releases what it holds (the caller defers it on every path): a pidfd when the kernel gives
// one (Linux 5.3), else the start time in /proc/PID/stat.
func (p procFS) pinProcess(pid int) (same func() bool, release func(), err error) {
	pidfd, err := unix.PidfdOpen(pid, 0)
	switch {
	case err == nil:
		return func() bool { return unix.PidfdSendSignal(pidfd, 0, nil, 0) == nil },
			func() { unix.Close(pidfd) }, nil
	case errors.Is(err, unix.ESRCH):
		return nil, nil, fmt.Errorf("sandbox process %d is not running", pid)
	}
	// No pidfds (Linux < 5.3, or a seccomp profile that refuses pidfd_open): its start time.
	start := p.startTime(pid)
	if start == "" {
		return nil, nil, fmt.Errorf("sandbox process %d is not running", pid)
	}
	return func() bool { return p.startTime(pid) == start }, func() {}, nil
}

// stat reads /proc/PID/stat (package proctree parses it).
func (p procFS) stat(pid int) (proctree.Stat, error) {
	b, err := readFile(p.path(strconv.Itoa(pid), "stat"))
	if err != nil {
		return proctree.Stat{}, err
	}
	return proctree.ParseStat(b)
}

func (p procFS) ppidOf(pid int) int {
	st, err := p.stat(pid)
	if err != nil {
		return 0
	}
	return st.PPID
}

func (p procFS) startTime(pid int) string {
	st, err := p.stat(pid)
	if err != nil {
		return ""
	}
	return strconv.FormatUint(st.StartTime, 10)
}

// flockHolder checks that process pid holds the exclusive flock on the file lock, from its fdinfo
// ("lock:\t1: FLOCK  ADVISORY  WRITE PID MAJ:MIN:INODE 0 EOF" on the fd of the lock file, found by
// scanHolder), and returns it. /proc/locks would name the holder without a hint, but any process can
// fill it with so many locks that reading it takes seconds, and it is not read as one snapshot.
func (p procFS) flockHolder(pid int, lock fileID, fds holderFDs) (int, error) {
	notRunning := errors.New("the sandbox is not running: nobody holds its lock")
	if pid <= 0 {
		return 0, fmt.Errorf("%w (its state.json names no rkexec: is it still starting?)", notRunning)
	}
	want := fmt.Sprintf("%02x:%02x:%d", unix.Major(lock.dev), unix.Minor(lock.dev), lock.ino)
	notHeld := fmt.Errorf("%w (not by process %d, the rkexec its state.json names)", notRunning, pid)
	for _, name := range fds.lock {
		b, err := readFile(p.path(strconv.Itoa(pid), "fdinfo", name))
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(b), "\n") {
			rest, ok := strings.CutPrefix(line, "lock:")
			if !ok {
				continue
			}
			// A waiter has "->" after the number, and does not match.
			fields := strings.Fields(rest)
			if len(fields) >= 6 && fields[1] == "FLOCK" && fields[3] == "WRITE" && fields[4] == strconv.Itoa(pid) && fields[5] == want {
				return pid, nil
			}
		}
	}
	return 0, notHeld
}

// isPidfdLink says whether an fd's link names a pidfd: "anon_inode:[pidfd]" (or "pidfd:..."), never
// a path, which starts with "/" (a path that merely contains "pidfd" is a file).
func isPidfdLink(link string) bool {
	return link == "anon_inode:[pidfd]" || strings.HasPrefix(link, "pidfd:")
}

// pidfds returns the pids of the living processes that process pid holds pidfds of (fdinfo "Pid:"),
// among its fds named in fds (scanHolder's).
func (p procFS) pidfds(pid int, fds []string) []int {
	var out []int
	for _, name := range fds {
		b, err := readFile(p.path(strconv.Itoa(pid), "fdinfo", name))
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "Pid:"); ok {
				if n, err := strconv.Atoi(strings.TrimSpace(v)); err == nil && n > 0 {
					out = append(out, n)
				}
			}
		}
	}
	return out
}
