// Package proctree is rkexec's reader of the process tree and the one home of namespace identity. It finds processes
// through a /proc opened once, so that a later mount over /proc (by root of a sandbox that shares the
// mount namespace) cannot hide processes from the cleanup that needs to find them: it lists processes,
// a process's children and descendants, parses /proc/PID/stat (state, parent, start time), and opens
// namespace files. It also names a namespace (device and inode of its nsfs file) and holds the
// ioctl_ns(2) requests (parent namespace, owner uid), with the walk that tells whether a process is in
// a user namespace or one nested in it. The one other reader of /proc, exec's sandbox checks
// (package enter), reads a /proc root it is given, so that its tests can build one, with the parsers
// and namespace names of this package.
//
// It does not signal or reap anything.
package proctree

import (
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// Proc is an open /proc.
type Proc struct {
	dir *os.File
}

// Open opens /proc now; call it before anything untrusted can mount over it.
func Open() (*Proc, error) {
	f, err := os.OpenFile("/proc", os.O_RDONLY|unix.O_DIRECTORY, 0)
	if err != nil {
		return nil, fmt.Errorf("opening /proc: %w", err)
	}
	var st unix.Statfs_t
	if err := unix.Fstatfs(int(f.Fd()), &st); err != nil || st.Type != unix.PROC_SUPER_MAGIC {
		f.Close()
		return nil, fmt.Errorf("/proc is not a procfs")
	}
	return &Proc{dir: f}, nil
}

// Close releases the directory.
func (p *Proc) Close() error { return p.dir.Close() }

// Pids lists every process.
func (p *Proc) Pids() []int {
	names, err := p.readDir(".")
	if err != nil {
		return nil
	}
	var pids []int
	for _, n := range names {
		if pid, err := strconv.Atoi(n); err == nil {
			pids = append(pids, pid)
		}
	}
	return pids
}

// Descendants lists the processes below pid, breadth first.
func (p *Proc) Descendants(pid int) []int {
	var out []int
	queue := []int{pid}
	for len(queue) > 0 {
		parent := queue[0]
		queue = queue[1:]
		for _, c := range p.Children(parent) {
			out = append(out, c)
			queue = append(queue, c)
		}
	}
	return out
}

// Children lists the children of pid from /proc/PID/task/*/children, or, when the kernel has no such
// files (CONFIG_PROC_CHILDREN), by scanning every process's parent. A pid that is gone has none.
func (p *Proc) Children(pid int) []int {
	tasks, err := p.readDir(strconv.Itoa(pid) + "/task")
	if err != nil {
		return nil // gone already
	}
	var out []int
	for _, t := range tasks {
		b, err := p.readFile(strconv.Itoa(pid) + "/task/" + t + "/children")
		if err != nil {
			if os.IsNotExist(err) {
				return p.childrenByScan(pid)
			}
			continue
		}
		for _, f := range strings.Fields(string(b)) {
			if c, err := strconv.Atoi(f); err == nil {
				out = append(out, c)
			}
		}
	}
	return out
}

func (p *Proc) childrenByScan(pid int) []int {
	var out []int
	for _, c := range p.Pids() {
		if p.ppid(c) == pid {
			out = append(out, c)
		}
	}
	return out
}

func (p *Proc) ppid(pid int) int {
	st, err := p.Stat(pid)
	if err != nil {
		return 0
	}
	return st.PPID
}

// Alive reports whether any thread of pid still runs. A process whose first thread exited while
// others run on shows as a zombie in /proc/PID/stat, so a zombie's threads are looked at too.
func (p *Proc) Alive(pid int) bool {
	st, err := p.Stat(pid)
	if err != nil {
		return false
	}
	if !st.Exited() {
		return true
	}
	tasks, err := p.readDir(strconv.Itoa(pid) + "/task")
	if err != nil {
		return false
	}
	for _, t := range tasks {
		b, err := p.readFile(strconv.Itoa(pid) + "/task/" + t + "/stat")
		if err != nil {
			continue
		}
		if ts, err := ParseStat(b); err == nil && !ts.Exited() {
			return true
		}
	}
	return false
}

// IsDescendant reports whether pid is below ancestor in the process tree, by walking its parents.
func (p *Proc) IsDescendant(pid, ancestor int) bool {
	for depth := 0; depth < maxTreeDepth && pid > 1; depth++ {
		pid = p.ppid(pid)
		if pid == ancestor {
			return true
		}
	}
	return false
}

// maxTreeDepth bounds IsDescendant's walk; a real process tree is far shallower.
const maxTreeDepth = 4096

// Stat reads and parses /proc/PID/stat.
func (p *Proc) Stat(pid int) (Stat, error) {
	b, err := p.readFile(strconv.Itoa(pid) + "/stat")
	if err != nil {
		return Stat{}, err
	}
	return ParseStat(b)
}

// OpenNamespace opens /proc/PID/ns/TYPE, close-on-exec; the caller closes the fd.
func (p *Proc) OpenNamespace(pid int, typ string) (int, error) {
	return unix.Openat(int(p.dir.Fd()), strconv.Itoa(pid)+"/ns/"+typ, unix.O_RDONLY|unix.O_CLOEXEC, 0)
}

func (p *Proc) readFile(name string) ([]byte, error) {
	fd, err := unix.Openat(int(p.dir.Fd()), name, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: "/proc/" + name, Err: err}
	}
	f := os.NewFile(uintptr(fd), "/proc/"+name)
	defer f.Close()
	return io.ReadAll(f)
}

func (p *Proc) readDir(name string) ([]string, error) {
	fd, err := unix.Openat(int(p.dir.Fd()), name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: "/proc/" + name, Err: err}
	}
	f := os.NewFile(uintptr(fd), "/proc/"+name)
	defer f.Close()
	return f.Readdirnames(-1)
}
