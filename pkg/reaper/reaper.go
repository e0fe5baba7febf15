// Package reaper is the loop of a process that waits for a target on behalf of others: it relays
// signals to the target, reaps every child it gets (as PID 1 or as a child subreaper, orphans become
// its children), and turns the target's wait status into an exit code. It also kills a process's whole
// subtree. It does not start the target.
package reaper

import (
	"os"
	"os/signal"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/rkexec/rkexec/pkg/sigforward"
)

// Reaper catches signals from New until Stop.
type Reaper struct {
	sigs chan os.Signal
}

// New starts catching SIGCHLD and the relayed signals (package sigforward); call it before starting
// the target so that no SIGCHLD is missed.
func New() *Reaper {
	r := &Reaper{sigs: make(chan os.Signal, 64)}
	signal.Notify(r.sigs, append(sigforward.Relayed(), unix.SIGCHLD)...)
	return r
}

// Stop stops catching signals.
func (r *Reaper) Stop() { signal.Stop(r.sigs) }

// Action is what Wait does with a signal.
type Action int

// The actions.
const (
	Relay Action = iota // send it to the target (unless the terminal already did)
	Drop                // the hook handled it
	Stop                // return from Wait at once, with interrupted set
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
		case s = <-r.sigs:
		case <-stop:
			return 0, true
		}
		sig := s.(unix.Signal)
		if sig == unix.SIGCHLD {
			if code, done := reapAll(target); done {
				return code, false
			}
			continue
		}
		action := Relay
		if hook != nil {
			action = hook(sig)
		}
		if action == Stop {
			return 0, true
		}
		if action == Drop || sigforward.FromTerminal(sig) {
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

// KillDescendants SIGKILLs every descendant of this process and reaps them until none is left. In a
// subreaper or PID 1 every orphan comes back as a child, so the loop ends with nothing running.
func KillDescendants() {
	self := os.Getpid()
	for {
		for _, pid := range descendants(self) {
			_ = unix.Kill(pid, unix.SIGKILL) // ESRCH: already gone.
		}
		var ws unix.WaitStatus
		if _, err := unix.Wait4(-1, &ws, 0, nil); err == unix.ECHILD {
			return
		}
	}
}

// descendants lists the processes below pid, from /proc/PID/task/TID/children, or a scan of every
// process's parent when the kernel lacks those files (CONFIG_PROC_CHILDREN).
func descendants(pid int) []int {
	if _, err := os.Stat("/proc/self/task/" + strconv.Itoa(unix.Gettid()) + "/children"); err != nil {
		return descendantsByScan(pid)
	}
	var out []int
	queue := []int{pid}
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		tasks, _ := os.ReadDir("/proc/" + strconv.Itoa(p) + "/task") // gone already: no children
		for _, t := range tasks {
			b, _ := os.ReadFile("/proc/" + strconv.Itoa(p) + "/task/" + t.Name() + "/children") // as above
			for _, f := range strings.Fields(string(b)) {
				if c, err := strconv.Atoi(f); err == nil {
					out = append(out, c)
					queue = append(queue, c)
				}
			}
		}
	}
	return out
}

func descendantsByScan(pid int) []int {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	children := map[int][]int{}
	for _, e := range entries {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if pp := ppidOf(p); pp > 0 {
			children[pp] = append(children[pp], p)
		}
	}
	var out []int
	queue := []int{pid}
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		for _, c := range children[p] {
			out = append(out, c)
			queue = append(queue, c)
		}
	}
	return out
}

func ppidOf(pid int) int {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	// The command name may contain spaces and parentheses: the fields start after the last ')'.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 2 {
		return 0
	}
	pp, _ := strconv.Atoi(f[1])
	return pp
}
