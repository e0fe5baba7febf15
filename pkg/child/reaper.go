package child

import (
	"os"
	"os/signal"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/rkexec/rkexec/pkg/sigforward"
)

// reaper is the child's loop as the sandbox's subreaper: it relays signals to the target, reaps every
// process that becomes its child, and notices the parent's death.
type reaper struct {
	target    int
	parentPID int
	sigs      chan os.Signal
}

// newReaper starts catching signals; set target before calling wait.
func newReaper(parentPID int) *reaper {
	r := &reaper{parentPID: parentPID, sigs: make(chan os.Signal, 64)}
	signal.Notify(r.sigs, append(sigforward.Relayed(), unix.SIGCHLD)...)
	return r
}

func (r *reaper) stop() { signal.Stop(r.sigs) }

// wait runs until the target exits (returning its exit code) or the parent dies (parentDied). Either
// way every other process of the sandbox is killed and reaped before it returns.
func (r *reaper) wait() (code int, parentDied bool) {
	// The target may have exited before SIGCHLD was caught.
	if code, done := r.reapAll(); done {
		return code, false
	}
	for s := range r.sigs {
		sig := s.(unix.Signal)
		if sig == unix.SIGCHLD {
			if code, done := r.reapAll(); done {
				return code, false
			}
			continue
		}
		if os.Getppid() != r.parentPID {
			killSandbox()
			return 0, true
		}
		if sigforward.FromTerminal(sig) {
			continue
		}
		_ = unix.Kill(r.target, sig) // ESRCH only: the target is exiting and SIGCHLD is on its way.
	}
	return 125, false
}

// reapAll reaps every exited child; done is true once the target was among them, after the rest of
// the sandbox has been killed and reaped.
func (r *reaper) reapAll() (code int, done bool) {
	for {
		var ws unix.WaitStatus
		pid, err := unix.Wait4(-1, &ws, unix.WNOHANG, nil)
		if err == unix.EINTR {
			continue
		}
		if err != nil || pid <= 0 {
			return 0, false
		}
		if pid == r.target {
			killSandbox()
			return exitCode(ws), true
		}
	}
}

// exitCode is the shell's convention: the exit status, or 128+N for a death by signal N.
func exitCode(ws unix.WaitStatus) int {
	if ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return ws.ExitStatus()
}

// killSandbox SIGKILLs every process that joined the sandbox's user namespace from outside, then every
// descendant of this process, reaping them until none is left. As a subreaper, this process inherits
// every orphan, so the loop ends with nothing running.
func killSandbox() {
	killUserNamespace()
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
