// Package reaper is the loop of a process that waits for a target on behalf of others: it relays
// signals to the target, reaps every child it gets (as PID 1 or as a child subreaper, orphans become
// its children), and turns the target's wait status into an exit code. It also kills a process's whole
// subtree. It does not start the target.
package reaper

import (
	"os"
	"os/signal"
	"time"

	"golang.org/x/sys/unix"

	"github.com/rkexec/rkexec/pkg/proctree"
	"github.com/rkexec/rkexec/pkg/sigforward"
)

// Reaper catches signals from New until Stop.
type Reaper struct {
	sigs chan os.Signal
	// sigchld has its own channel of one: os/signal drops a signal whose channel is full, and a burst
	// of relayed signals must not crowd out the SIGCHLD that ends the wait. One pending is enough.
	sigchld chan os.Signal
}

// New starts catching SIGCHLD and the relayed signals (package sigforward); call it before starting
// the target so that no SIGCHLD is missed.
func New() *Reaper {
	r := &Reaper{sigs: make(chan os.Signal, 64), sigchld: make(chan os.Signal, 1)}
	signal.Notify(r.sigchld, unix.SIGCHLD)
	signal.Notify(r.sigs, sigforward.Relayed()...)
	return r
}

// Stop stops catching signals.
func (r *Reaper) Stop() {
	signal.Stop(r.sigs)
	signal.Stop(r.sigchld)
}

// Action is what Wait does with a signal.
type Action int

// The actions.
const (
	Relay       Action = iota // send it to the target (unless the terminal already did)
	RelayAlways               // send it to the target: the caller's terminal sends no signals
	Drop                      // the hook handled it
	Stop                      // return from Wait at once, with interrupted set
)

// Wait relays signals to target and reaps children until target exits, and returns its exit code.
// hook, when not nil, decides about every signal but SIGCHLD. When stop (which may be nil) is closed,
// Wait returns at once with interrupted set.
func (r *Reaper) Wait(target int, hook func(unix.Signal) Action, stop <-chan struct{}) (code int, interrupted bool) {
	// The target may have exited before SIGCHLD was caught.
	if code, done := reapAll(target); done {
		return code, false
	}
	for {
		var s os.Signal
		select {
		case <-r.sigchld:
			if code, done := reapAll(target); done {
				return code, false
			}
			continue
		case s = <-r.sigs:
		case <-stop:
			return 0, true
		}
		sig := s.(unix.Signal)
		action := Relay
		if hook != nil {
			action = hook(sig)
		}
		if action == Stop {
			return 0, true
		}
		if action == Drop || (action == Relay && sigforward.FromTerminal(sig)) {
			continue
		}
		_ = unix.Kill(target, sig) // ESRCH only: the target is exiting and SIGCHLD is on its way.
	}
}

// reapAll reaps every exited child; done is true once the target was among them.
func reapAll(target int) (code int, done bool) {
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
			return ExitCode(ws), true
		}
	}
}

// ExitCode is the shell's convention: the exit status, or 128+N for a death by signal N.
func ExitCode(ws unix.WaitStatus) int {
	if ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return ws.ExitStatus()
}

// KillDescendants SIGKILLs every descendant of this process, found through proc, and reaps them until
// none is left. In a subreaper or PID 1 every orphan comes back as a child, so the loop ends with
// nothing running; it polls rather than blocks, so that a child forked after a scan is found by the
// next one instead of being waited for.
func KillDescendants(proc *proctree.Proc) {
	self := os.Getpid()
	for {
		for _, pid := range proc.Descendants(self) {
			_ = unix.Kill(pid, unix.SIGKILL) // ESRCH: already gone.
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
		time.Sleep(time.Millisecond) // killed children take a moment to become zombies
	}
}
