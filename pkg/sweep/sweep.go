// Package sweep kills every process left in a sandbox's user namespace, and in the user namespaces
// nested in it, until none is left. The parent calls it when the child has died (whatever killed it),
// the child when the target has exited or the parent has gone: so no process of the sandbox outlives
// rkexec, daemons that left the process tree (setsid, double fork) and processes that joined the
// sandbox from outside included.
//
// The sandbox is named by an open fd of its user namespace, opened when the namespace was created,
// never by a pid read later (a pid can be reused, and files the sandbox can write are hints). Processes
// are found through a /proc opened before anything of the sandbox ran (package proctree).
//
// It does not reap: the caller's own children are the caller's to wait for.
package sweep

import (
	"errors"
	"fmt"
	"os"
	"time"

	"golang.org/x/sys/unix"

	"github.com/rkexec/rkexec/pkg/proctree"
)

// Timeout is how long the parent and the child give a sweep: SIGKILL needs no more than a moment, so
// only a process the kernel cannot end (stuck in uninterruptible sleep) outlasts it.
const Timeout = 10 * time.Second

// pollInterval is how long a round waits for the processes it killed before looking again, when it
// has no pidfd of any of them to wait on (Linux < 5.3, or a seccomp filter refuses pidfd_open).
const pollInterval = time.Millisecond

// UserNamespace SIGKILLs every process (but the calling one) whose user namespace is the one open as
// userNS, or nested in it, and returns once a look through proc finds none alive (zombies do not
// count), or with an error when timeout passes first. killed is how many processes it signalled.
//
// Processes it may not inspect are skipped: the kernel lets the owner of a user namespace (the caller
// outside, or root inside) inspect and signal every process in it, so none of the sandbox's are.
func UserNamespace(proc *proctree.Proc, userNS *os.File, timeout time.Duration) (killed int, err error) {
	own, err := proctree.NSIDOf(int(userNS.Fd()))
	if err != nil {
		return 0, fmt.Errorf("sweeping the sandbox: %w", err)
	}
	self := os.Getpid()
	// Outside the sandbox (the parent), most processes share the caller's own user namespace, which
	// is above the sandbox's: one stat each rules them out. Inside (the child), that namespace is
	// the sandbox's itself.
	mine, err := proc.NamespaceID(self, "user")
	if err != nil {
		return 0, fmt.Errorf("sweeping the sandbox: %w", err)
	}
	outside := mine != own
	deadline := time.Now().Add(timeout)
	for {
		alive := 0
		var exits Exits
		for _, pid := range proc.Pids() {
			if pid == self {
				continue
			}
			id, err := proc.NamespaceID(pid, "user")
			if err != nil || (outside && id == mine) || (id != own && !proc.InUserNamespace(pid, own)) {
				continue
			}
			if !proc.Alive(pid) {
				continue // gone, or a zombie waiting for its parent (not one whose other threads run)
			}
			alive++
			if exits.Kill(pid, func() bool { return proc.InUserNamespace(pid, own) }) {
				killed++
			}
		}
		if alive == 0 {
			return killed, nil // none killed this round: no pidfd is held
		}
		if time.Now().After(deadline) {
			exits.forget()
			return killed, fmt.Errorf("sweeping the sandbox: %d processes still alive after %v", alive, timeout)
		}
		// Killed processes take a moment to exit: wait for them, then look again (for processes
		// forked meanwhile).
		exits.Wait(deadline)
	}
}

// Exits collects pidfds of processes killed by Kill, for Wait: waiting for their exits is an event,
// not a poll. The zero value is ready to use.
type Exits struct {
	fds []int
}

// forget closes the pidfds.
func (e *Exits) forget() {
	for _, fd := range e.fds {
		unix.Close(fd)
	}
	e.fds = nil
}

// Kill is the function Kill, keeping the pidfd it signalled through for Wait.
func (e *Exits) Kill(pid int, stillOurs func() bool) bool {
	fd, killed := kill(pid, stillOurs)
	if fd >= 0 {
		if killed {
			e.fds = append(e.fds, fd)
		} else {
			unix.Close(fd)
		}
	}
	return killed
}

// Wait returns once every process killed through e has exited (as a zombie, or reaped) or deadline
// has passed, and forgets them. With no pidfd to wait on it sleeps pollInterval, so that a caller's
// next look finds the processes it could not watch gone.
func (e *Exits) Wait(deadline time.Time) {
	if len(e.fds) == 0 {
		time.Sleep(pollInterval)
		return
	}
	defer e.forget()
	pfds := make([]unix.PollFd, len(e.fds))
	for i, fd := range e.fds {
		pfds[i] = unix.PollFd{Fd: int32(fd), Events: unix.POLLIN}
	}
	for len(pfds) > 0 {
		ms := int(time.Until(deadline).Milliseconds()) + 1
		if ms <= 0 {
			return
		}
		n, err := unix.Poll(pfds, ms)
		if err == unix.EINTR {
			continue
		}
		if err != nil || n == 0 {
			return // cannot wait, or the deadline: the caller's look tells
		}
		rest := pfds[:0]
		for _, p := range pfds {
			if p.Revents == 0 {
				rest = append(rest, unix.PollFd{Fd: p.Fd, Events: unix.POLLIN})
			}
		}
		pfds = rest
	}
}

// Kill SIGKILLs pid if stillOurs says it is still the process meant. With a pidfd the check and the
// signal reach the same process even if pid is reused in between: the pidfd is taken first, and a
// process that stillOurs then recognises is either the pidfd's or makes the pidfd's dead.
func Kill(pid int, stillOurs func() bool) bool {
	fd, killed := kill(pid, stillOurs)
	if fd >= 0 {
		unix.Close(fd)
	}
	return killed
}

// kill is Kill, returning the pidfd it used (-1 without one), which the caller closes.
func kill(pid int, stillOurs func() bool) (pidfd int, killed bool) {
	pidfd, err := unix.PidfdOpen(pid, 0)
	switch {
	case err == nil:
		if !stillOurs() {
			return pidfd, false
		}
		return pidfd, unix.PidfdSendSignal(pidfd, unix.SIGKILL, nil, 0) == nil // ESRCH: it died meanwhile
	case errors.Is(err, unix.ESRCH):
		return -1, false
	default:
		// No pidfds (Linux < 5.3, or a seccomp profile that hides them): the pid was checked a
		// moment ago, which is what the kernel's own tools do.
		return -1, unix.Kill(pid, unix.SIGKILL) == nil
	}
}
