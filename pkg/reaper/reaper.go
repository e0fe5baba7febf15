// Package reaper is the loop of a process that waits for a target on behalf of others: it has the
// signals it receives relayed to the target (by package sigforward), reaps every child it gets (as
// PID 1 or as a child subreaper, orphans become its children), and returns the target's exit code
// (package exitcode). It also kills a process's whole subtree. It does not start the target.
package reaper

import (
	"os"
	"os/signal"
	"time"

	"golang.org/x/sys/unix"

	"github.com/rkexec/rkexec/pkg/exitcode"
	"github.com/rkexec/rkexec/pkg/proctree"
	"github.com/rkexec/rkexec/pkg/sigforward"
	"github.com/rkexec/rkexec/pkg/sweep"
)

// Reaper catches signals from New until Stop.
type Reaper struct {
	// sigchld has a channel of its own, apart from the relayed signals: os/signal drops a signal
	// whose channel is full, and a burst of relayed signals must not crowd out the SIGCHLD that ends
	// the wait. One pending is enough.
	sigchld chan os.Signal
	fwd     *sigforward.Forwarder
	// lean: caught by package sigcatch, for good (Stop does nothing).
	lean bool
}

// New starts catching SIGCHLD and the relayed signals (package sigforward, which holds them until
// Wait names the target); call it before starting the target so that no SIGCHLD is missed.
func New() *Reaper {
	r := &Reaper{sigchld: make(chan os.Signal, 1)}
	signal.Notify(r.sigchld, unix.SIGCHLD)
	r.fwd = sigforward.Start()
	return r
}

// NewAsync is New with the relayed signals caught in the background (sigforward.StartAsync), for a
// process with other work to do first; SIGCHLD is caught before it returns. Call Ready before
// starting the target.
func NewAsync() *Reaper {
	r := &Reaper{sigchld: make(chan os.Signal, 1)}
	signal.Notify(r.sigchld, unix.SIGCHLD)
	r.fwd = sigforward.StartAsync()
	return r
}

// Ready returns once the relayed signals are caught.
func (r *Reaper) Ready() { r.fwd.Caught() }

// NewLean is New for a process that exits after Wait: the same signals are caught by plain
// handlers (package sigcatch) instead of os/signal, which costs a round trip between two threads for
// each of them, and stay caught until the process exits or executes (Stop does nothing). SIGPROF is
// left to the runtime, as os/signal never delivers it either.
func NewLean() (*Reaper, error) {
	r := &Reaper{sigchld: make(chan os.Signal, 1), lean: true}
	fwd, err := sigforward.StartLean(sigforward.Diverted{Sig: unix.SIGCHLD, Ch: r.sigchld})
	if err != nil {
		return nil, err
	}
	r.fwd = fwd
	return r, nil
}

// Stop stops relaying signals (see sigforward.Forwarder.Stop: they stay caught); it does nothing for
// a NewLean reaper, whose handlers stay until the process exits or executes.
func (r *Reaper) Stop() {
	if r.lean {
		return
	}
	r.fwd.Stop()
	signal.Stop(r.sigchld)
}

// Wait relays signals to target (a child not yet reaped) and reaps children until target exits, and
// returns its exit code. hook, when not nil, decides about every relayed signal. When stop (which may
// be nil) is closed, Wait returns at once with interrupted set. Call it once.
func (r *Reaper) Wait(target int, hook func(unix.Signal) sigforward.Action, stop <-chan struct{}) (code int, interrupted bool) {
	ws, interrupted := r.WaitStatus(target, hook, stop)
	if interrupted {
		return 0, true
	}
	return exitcode.FromWaitStatus(ws), false
}

// WaitStatus is Wait, returning the target's wait status instead of its exit code.
func (r *Reaper) WaitStatus(target int, hook func(unix.Signal) sigforward.Action, stop <-chan struct{}) (ws unix.WaitStatus, interrupted bool) {
	r.fwd.SetTarget(target, hook)
	// The target may have exited before SIGCHLD was caught.
	if ws, done := reapAll(target); done {
		return ws, false
	}
	for {
		select {
		case <-r.sigchld:
			if ws, done := reapAll(target); done {
				return ws, false
			}
		case <-stop:
			return 0, true
		}
	}
}

// reapAll reaps every exited child; done is true once the target was among them.
func reapAll(target int) (status unix.WaitStatus, done bool) {
	for {
		var ws unix.WaitStatus
		pid, err := unix.Wait4(-1, &ws, unix.WNOHANG, nil)
		if err == unix.EINTR {
			continue
		}
		if err != nil || pid <= 0 {
			return 0, false
		}
		if pid == target {
			return ws, true
		}
	}
}

// KillDescendants SIGKILLs every descendant of this process, found through proc, and reaps them until
// none is left. In a subreaper or PID 1 every orphan comes back as a child, so the loop ends with
// nothing running; it waits for the exits of the processes it killed (their pidfds), not for any
// child, so that a child forked after a scan is found by the next one instead of being waited for.
//
// A process with no child at all (wait4 says ECHILD) has no descendant either: that is checked first,
// so the usual end (the target reaped, nothing left) reads nothing in /proc. (Reading the task files
// of every thread of this process also makes its own exit dearer: the kernel drops their dentries
// when it is reaped, about 3 ms of the parent's time after `rkexec -- true` before this check.)
func KillDescendants(proc *proctree.Proc) {
	self := os.Getpid()
	for {
		if !hasChildren() {
			return
		}
		var exits sweep.Exits
		for _, pid := range proc.Descendants(self) {
			// Through a pidfd, checked once taken: a grandchild's pid may be reaped and reused
			// between the listing and the signal.
			exits.Kill(pid, func() bool { return proc.IsDescendant(pid, self) })
		}
		for {
			var ws unix.WaitStatus
			pid, err := unix.Wait4(-1, &ws, unix.WNOHANG, nil)
			if err == unix.ECHILD {
				return
			}
			if err != nil && err != unix.EINTR {
				return
			}
			if pid <= 0 {
				break // children remain, none exited yet
			}
		}
		// Killed children take a moment to exit: wait for them (their pidfds), then look again.
		exits.Wait(time.Now().Add(sweep.Timeout))
	}
}

// hasChildren reaps the children that have exited and reports whether any child is left.
func hasChildren() bool {
	for {
		var ws unix.WaitStatus
		pid, err := unix.Wait4(-1, &ws, unix.WNOHANG, nil)
		switch {
		case err == unix.EINTR || pid > 0:
			continue
		case err == unix.ECHILD:
			return false
		default:
			return true // some left, none exited (or wait4 failed: look anyway)
		}
	}
}
