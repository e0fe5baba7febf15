package enter

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/rkexec/rkexec/pkg/nsenter"
	"github.com/rkexec/rkexec/pkg/proctree"
)

// fileID identifies a file (a namespace, a lock file, a directory) by device and inode.
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
// when there is none), is running, and opens its namespaces. pid, from the sandbox's state.json, is
// a hint: the sandbox can write that file, and a pid can be reused, so everything that decides is
// taken from the directory and the kernel:
//
//   - the process holding the lock (flock, seen in /proc/locks) is in the caller's user namespace and
//     holds dir open: it is the rkexec of this very directory, not of one whose lock was linked here;
//   - pid is its child or grandchild (the child, or the init below it);
//   - pid's user namespace is a child of the caller's, owned by the caller, and its mount namespace is
//     not the caller's;
//   - pid is still the same process after its namespace files are open (pidfd, or its start time).
func Pin(dir, lock *os.File, pid int) (*Sandbox, error) {
	return hostProc().pin(dir, lock, pid)
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

func (p procFS) pin(dir, lock *os.File, pid int) (*Sandbox, error) {
	if lock == nil {
		return nil, errors.New("the sandbox is not running: its state directory has no lock")
	}
	lockID, err := identity(lock)
	if err != nil {
		return nil, fmt.Errorf("sandbox lock: %w", err)
	}
	holder, err := p.flockHolder(lockID)
	if err != nil {
		return nil, err
	}
	ours, err := identityOfPath(p.path("self", "ns", "user"))
	if err != nil {
		return nil, fmt.Errorf("reading the caller's user namespace: %w", err)
	}
	if ns, err := identityOfPath(p.path(strconv.Itoa(holder), "ns", "user")); err != nil || ns != ours {
		return nil, fmt.Errorf("not a sandbox of yours: its lock is held by process %d, which is not an rkexec of yours", holder)
	}
	if err := p.holds(holder, dir); err != nil {
		return nil, err
	}
	if pid <= 0 {
		return nil, errors.New("the sandbox's state.json names no sandbox process (is it still starting?)")
	}
	same, err := p.pinProcess(pid)
	if err != nil {
		return nil, err
	}
	if pp := p.ppidOf(pid); pp != holder && (pp <= 0 || p.ppidOf(pp) != holder) {
		return nil, fmt.Errorf("process %d is not a sandbox of yours: it does not descend from rkexec %d, which holds the sandbox's lock (state.json was changed?)", pid, holder)
	}
	s := &Sandbox{PID: pid, Holder: holder}
	ownMnt, err := identityOfPath(p.path("self", "ns", "mnt"))
	if err != nil {
		return nil, fmt.Errorf("reading the caller's mount namespace: %w", err)
	}
	for _, t := range nsenter.NamespaceTypes() {
		f, err := os.Open(p.path(strconv.Itoa(pid), "ns", t))
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
			if mnt, err := identity(f); err != nil {
				s.Close()
				return nil, err
			} else if mnt == ownMnt {
				s.Close()
				return nil, fmt.Errorf("process %d shares your mount namespace: it is not a sandbox", pid)
			}
		}
	}
	if !same() {
		s.Close()
		return nil, fmt.Errorf("sandbox process %d ended while joining it", pid)
	}
	return s, nil
}

// holds checks that process holder has the directory dir open (rkexec's parent keeps its state
// directory open while it lives): a lock file hard-linked or renamed into another sandbox's directory
// leads to an rkexec that does not.
func (p procFS) holds(holder int, dir *os.File) error {
	want, err := identity(dir)
	if err != nil {
		return fmt.Errorf("state dir: %w", err)
	}
	fds := p.path(strconv.Itoa(holder), "fd")
	entries, err := os.ReadDir(fds)
	if err != nil {
		return fmt.Errorf("checking rkexec %d, which holds the sandbox's lock: %w", holder, err)
	}
	for _, e := range entries {
		if id, err := identityOfPath(filepath.Join(fds, e.Name())); err == nil && id == want {
			return nil
		}
	}
	return fmt.Errorf("not this sandbox: its lock is held by rkexec %d, which runs another state directory (was the lock file replaced?)", holder)
}

// checkUserNamespace checks that the user namespace open as f is a child of ours, owned by us.
func (p procFS) checkUserNamespace(f *os.File, ours fileID) error {
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
	if pns, err := identity(parent); err != nil || pns != ours {
		return errors.New("not a sandbox of yours: its user namespace is not a child of yours")
	}
	return nil
}

// pinProcess returns a function that tells whether pid is still the process it was when pinned: a
// pidfd when the kernel has them (Linux 5.3), else the start time in /proc/PID/stat.
func (p procFS) pinProcess(pid int) (func() bool, error) {
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
	start := p.startTime(pid)
	if start == "" {
		return nil, fmt.Errorf("sandbox process %d is not running", pid)
	}
	return func() bool { return p.startTime(pid) == start }, nil
}

// stat reads /proc/PID/stat (package proctree parses it).
func (p procFS) stat(pid int) (proctree.Stat, error) {
	b, err := os.ReadFile(p.path(strconv.Itoa(pid), "stat"))
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

// flockHolder returns the pid of the process that holds the exclusive flock on the file lock, from
// /proc/locks.
func (p procFS) flockHolder(lock fileID) (int, error) {
	want := fmt.Sprintf("%02x:%02x:%d", unix.Major(lock.dev), unix.Minor(lock.dev), lock.ino)
	f, err := os.Open(p.path("locks"))
	if err != nil {
		return 0, fmt.Errorf("reading /proc/locks: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// "1: FLOCK  ADVISORY  WRITE 2345 fd:01:1234 0 EOF"; waiters have "->" after the number.
		fields := strings.Fields(sc.Text())
		if len(fields) < 6 || fields[1] != "FLOCK" || fields[3] != "WRITE" || fields[5] != want {
			continue
		}
		if pid, err := strconv.Atoi(fields[4]); err == nil && pid > 0 {
			return pid, nil
		}
	}
	if err := sc.Err(); err != nil {
		return 0, fmt.Errorf("reading /proc/locks: %w", err)
	}
	return 0, errors.New("the sandbox is not running: nobody holds its lock")
}
