// Package detachns makes the network namespace of --detach-netns and works in it, as RootlessKit
// does: a new network namespace, owned by the calling process's user namespace and bind-mounted on a
// file (<state-dir>/netns) in the calling process's mount namespace, while the process itself (and
// so the command it starts) stays in the network namespace it was in.
//
// One OS thread lives in the new namespace for as long as the NS is open: Do runs functions on it
// (netlink configuration), and Dial creates its sockets there, then connects them from the calling
// goroutine (a socket belongs to the namespace it was created in), so many connections can be under
// way at once and no other thread ever switches namespace.
//
// That thread cannot go back to the process's own network namespace (setns would need CAP_SYS_ADMIN
// over that namespace's owner, the host's user namespace): it stays locked to its goroutine, and the
// Go runtime ends the thread when Close ends the goroutine.
//
// It is not for entering the namespace from another process: that is nsenter --net=<state-dir>/netns
// from inside the sandbox's user and mount namespaces, or the fd the caller passes on (Path).
package detachns

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"

	"golang.org/x/sys/unix"
)

// ErrClosed is returned by Do and Dial after Close.
var ErrClosed = errors.New("the detached network namespace is closed")

// NS is a detached network namespace and the thread that lives in it.
type NS struct {
	reqs chan func()
	// done is closed by Close; the thread then returns, and its goroutine with it.
	done      chan struct{}
	closeOnce sync.Once
	// ns is the namespace, opened by the thread in it; mount is the bind mount (O_PATH), for Unmount.
	ns, mount *os.File
}

// New makes a new network namespace and the thread that lives in it; MountOn keeps it on a file.
func New() (*NS, error) {
	n := &NS{reqs: make(chan func()), done: make(chan struct{})}
	started := make(chan error, 1)
	go n.thread(started)
	if err := <-started; err != nil {
		return nil, fmt.Errorf("creating the detached network namespace: %w", err)
	}
	return n, nil
}

// MountOn bind-mounts the namespace on a new file name (mode 0400) in the directory at path, which
// must be dir: an open directory (the state directory, opened outside the sandbox), checked to be
// the same one, so that nothing renamed or mounted on the way to path changes where the namespace
// goes. path is resolved in the calling process's mount namespace, where the mount is made. Call it
// once.
func (n *NS) MountOn(dir *os.File, path, name string) error {
	target, err := createFile(dir, path, name)
	if err != nil {
		return err
	}
	defer target.Close()
	on := "/proc/self/fd/" + strconv.Itoa(int(target.Fd()))
	if err := unix.Mount(n.Path(), on, "", unix.MS_BIND, ""); err != nil {
		return fmt.Errorf("bind-mounting the detached network namespace on %s: %w", target.Name(), err)
	}
	// The mount's own root, so that Unmount needs no path the sandbox could change.
	fd, err := unix.Open(on, unix.O_PATH|unix.O_CLOEXEC, 0)
	if err != nil {
		_ = unix.Unmount(on, unix.MNT_DETACH) // the open's error is the one to report
		return fmt.Errorf("opening the detached network namespace's mount: %w", err)
	}
	n.mount = os.NewFile(uintptr(fd), "netns-mount")
	return nil
}

// createFile creates name in dir, through the directory as this mount namespace sees it at path:
// the mount must be made on a file of this namespace's mounts, which dir, opened outside, is not.
func createFile(dir *os.File, path, name string) (*os.File, error) {
	here, err := unix.Open(path, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: path, Err: err}
	}
	defer unix.Close(here)
	var want, got unix.Stat_t
	if err := unix.Fstat(int(dir.Fd()), &want); err != nil {
		return nil, &os.PathError{Op: "stat", Path: path, Err: err}
	}
	if err := unix.Fstat(here, &got); err != nil {
		return nil, &os.PathError{Op: "stat", Path: path, Err: err}
	}
	if got.Dev != want.Dev || got.Ino != want.Ino {
		return nil, fmt.Errorf("%s is no longer the state directory rkexec opened", path)
	}
	full := filepath.Join(path, name)
	fd, err := unix.Openat(here, name, unix.O_CREAT|unix.O_EXCL|unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o400)
	if err != nil {
		return nil, &os.PathError{Op: "create", Path: full, Err: err}
	}
	return os.NewFile(uintptr(fd), full), nil
}

// thread is the goroutine of the namespace's thread: it creates the namespace, reports on started,
// then runs what Do sends until Close.
func (n *NS) thread(started chan<- error) {
	// Never unlocked: the thread leaves the process's network namespace for good, and the runtime
	// ends it when this goroutine returns.
	runtime.LockOSThread()
	if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
		started <- os.NewSyscallError("unshare(CLONE_NEWNET)", err)
		return
	}
	const self = "/proc/thread-self/ns/net"
	fd, err := unix.Open(self, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		started <- &os.PathError{Op: "open", Path: self, Err: err}
		return
	}
	n.ns = os.NewFile(uintptr(fd), "detached-netns")
	started <- nil
	for {
		select {
		case f := <-n.reqs:
			f()
		case <-n.done:
			return
		}
	}
}

// Path is a path to the namespace valid in this process (/proc/self/fd/N), to open it again, e.g.
// to send it to the parent.
func (n *NS) Path() string { return "/proc/self/fd/" + strconv.Itoa(int(n.ns.Fd())) }

// Do runs fn on the thread in the namespace and returns its error. fn must not start goroutines
// that expect to be in the namespace: only the calling goroutine's thread is.
func (n *NS) Do(fn func() error) error {
	errc := make(chan error, 1)
	select {
	case n.reqs <- func() { errc <- fn() }:
		return <-errc
	case <-n.done:
		return ErrClosed
	}
}

// Unmount removes the bind mount (lazily), so that the file under it can be removed from this
// mount namespace; the namespace lives on while anything holds it.
func (n *NS) Unmount() error {
	if n.mount == nil {
		return nil
	}
	err := unix.Unmount("/proc/self/fd/"+strconv.Itoa(int(n.mount.Fd())), unix.MNT_DETACH)
	n.mount.Close()
	n.mount = nil
	if err != nil {
		return fmt.Errorf("unmounting the detached network namespace: %w", err)
	}
	return nil
}

// Close ends the thread and closes the namespace's fds (the mount stays: see Unmount).
func (n *NS) Close() {
	n.closeOnce.Do(func() {
		close(n.done)
		if n.ns != nil {
			n.ns.Close()
		}
	})
}
