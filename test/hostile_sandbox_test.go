package test

// Attacks of a sandbox's root on rkexec's bookkeeping: the parent is yours
// outside, so the sandbox's root can SIGKILL it; the state directories are yours, so it can mount,
// rename and link in them; and any process can fill /proc/locks.

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// attackAfterGo starts sandbox name running script as its root once the test opens the FIFO the
// script reads ($1; the script's other arguments follow), and returns the run and rkexec's child,
// pinned by a pidfd that the test can wait on.
func attackAfterGo(t *testing.T, name string, script string, args ...string) (run *runningAttack) {
	t.Helper()
	fifo := filepath.Join(t.TempDir(), "go")
	if err := unix.Mkfifo(fifo, 0o666); err != nil {
		t.Fatal(err)
	}
	full := `read go < "$1"; shift; ` + script
	cmd := startRkexec(t, append([]string{"--name", name, "--", "sh", "-c", full, "sh", fifo}, args...)...)
	stateDir := filepath.Join(runtimeDirOf(t), "rkexec", name)
	waitForFile(t, cmd, filepath.Join(stateDir, "child_pid"), 10*time.Second)
	data, err := os.ReadFile(filepath.Join(stateDir, "child_pid"))
	if err != nil {
		t.Fatal(err)
	}
	target, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil {
		t.Fatal(err)
	}
	st, ok := readProcStat(target)
	if !ok {
		t.Fatalf("sandbox process %d is gone", target)
	}
	pidfd, err := unix.PidfdOpen(st.PPID, 0)
	if err != nil {
		t.Fatalf("pidfd of rkexec's child %d: %v", st.PPID, err)
	}
	t.Cleanup(func() { unix.Close(pidfd) })
	if st2, ok := readProcStat(st.PPID); !ok || st2.PPID != cmd.Process.Pid {
		t.Fatalf("process %d is not rkexec's child", st.PPID)
	}
	return &runningAttack{t: t, fifo: fifo, stateDir: stateDir, child: st.PPID, childFD: pidfd, cmd: cmd}
}

type runningAttack struct {
	t        *testing.T
	fifo     string
	stateDir string
	child    int
	childFD  int
	cmd      *exec.Cmd
}

// start lets the script run.
func (a *runningAttack) start() {
	a.t.Helper()
	f, err := os.OpenFile(a.fifo, os.O_WRONLY, 0)
	if err != nil {
		a.t.Fatal(err)
	}
	f.Close()
}

// childExited says whether rkexec's child exited within timeout.
func (a *runningAttack) childExited(timeout time.Duration) bool {
	fds := []unix.PollFd{{Fd: int32(a.childFD), Events: unix.POLLIN}}
	deadline := time.Now().Add(timeout)
	for {
		n, err := unix.Poll(fds, int(time.Until(deadline).Milliseconds()))
		if err == nil {
			return n > 0
		}
		if err != unix.EINTR || time.Now().After(deadline) {
			return false
		}
	}
}

// TestChildCleanupRemovesOnlyItsOwnDirectory: the sandbox's root kills rkexec (the parent) after
// putting another of your directories where its state directory was, by a bind mount in its own
// mount namespace or by two renames; the child, cleaning up after the parent, removes the files
// rkexec made in its own directory and leaves the other directory and what it holds alone.
func TestChildCleanupRemovesOnlyItsOwnDirectory(t *testing.T) {
	t.Parallel()
	const kill = `P=$(cut -d' ' -f4 /proc/$PPID/stat); `
	for _, tc := range []struct{ name, script string }{
		{"bind mount", kill + `mount --bind "$1" "$RKEXEC_STATE_DIR" && kill -9 $P; exec sleep 3902`},
		{"renames", kill + `mv "$RKEXEC_STATE_DIR" "$RKEXEC_STATE_DIR.old" && mv "$1" "$RKEXEC_STATE_DIR" && kill -9 $P; exec sleep 3902`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			// On the state root's file system, so that mv renames.
			victim := filepath.Join(runtimeDirOf(t), "victim")
			if err := os.Mkdir(victim, 0o700); err != nil {
				t.Fatal(err)
			}
			for _, n := range []string{"keep", "lock", "state.json"} {
				if err := os.WriteFile(filepath.Join(victim, n), []byte("precious"), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			a := attackAfterGo(t, "x", tc.script, victim)
			a.start()
			_ = a.cmd.Wait() // SIGKILLed by the sandbox
			if !a.childExited(20 * time.Second) {
				t.Fatalf("rkexec's child %d still runs 20s after the parent's death", a.child)
			}
			where := victim
			if tc.name == "renames" {
				where = a.stateDir
			}
			for _, n := range []string{"keep", "lock", "state.json"} {
				if data, err := os.ReadFile(filepath.Join(where, n)); err != nil || string(data) != "precious" {
					t.Errorf("the child's clean-up removed %s: %q, %v", filepath.Join(where, n), data, err)
				}
			}
			// Its own directory is emptied; it stays when the sandbox moved it (or mounted over it: a
			// mount point cannot be removed), for ps --prune.
			own := a.stateDir
			if tc.name == "renames" {
				own += ".old"
			}
			if left := dirEntries(t, own); len(left) != 0 {
				t.Errorf("the child left rkexec's files in its state dir: %q", left)
			}
			if tc.name == "bind mount" {
				psTable(t, runtimeDirOf(t), "--prune")
				assertNoStateDir(t, a.stateDir)
			}
		})
	}
}

// TestNoSurvivorWhenTheParentIsKilledHoldingItsPipe: the sandbox's root opens the child's pipe from
// the parent for writing (through /proc/PID/fd) before killing the parent, so that the child would
// not see EOF; nothing of the sandbox survives. (The child is non-dumpable, so the open fails; the
// child also watches a pidfd of the parent: TestRealRootNoSurvivorWhenTheParentsPipeIsHeld.)
func TestNoSurvivorWhenTheParentIsKilledHoldingItsPipe(t *testing.T) {
	t.Parallel()
	marker := sleepMarker(t)
	cmd := startRkexec(t, "--name", "c", "--", "sh", "-c",
		`exec 7>/proc/$PPID/fd/3; kill -9 $(cut -d" " -f4 /proc/$PPID/stat); exec sleep `+marker)
	_ = waitExit(t, cmd, defaultRunTimeout)
	noProcessesLeft(t, marker)
}

// TestRealRootNoSurvivorWhenTheParentsPipeIsHeld: with the write end of the child's pipe from the
// parent held open elsewhere (root can open it through /proc), a SIGKILL of the parent still ends the
// sandbox: the child watches a pidfd of its parent too.
func TestRealRootNoSurvivorWhenTheParentsPipeIsHeld(t *testing.T) {
	t.Parallel()
	requireRoot(t)
	marker := sleepMarker(t)
	a := attackAfterGo(t, "c", `exec sleep "$1"`, marker)
	w, err := os.OpenFile(fmt.Sprintf("/proc/%d/fd/3", a.child), os.O_WRONLY, 0)
	if err != nil {
		t.Fatalf("opening the child's pipe from the parent: %v", err)
	}
	defer w.Close()
	a.start()
	waitForProcesses(t, marker, 1, 10*time.Second)
	if err := syscall.Kill(a.cmd.Process.Pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = a.cmd.Wait() // killed
	if !a.childExited(20 * time.Second) {
		t.Fatalf("rkexec's child %d still runs 20s after the parent's death, its pipe held open", a.child)
	}
	noProcessesLeft(t, marker)
}

// execIntoHostPidNS: in a --pidns sandbox, the sandbox's root unmounts the init's /proc (the
// host's lies under it), finds rkexec's child, which lives in your pid namespace, and names it in
// state.json; rkexec exec then refuses, and runs nothing in your pid namespace.
func execIntoHostPidNS(t *testing.T) {
	s := startSandbox(t, "p", "--pidns")
	s.inside(t, `
umount /proc
init=$(sed -n 's/.*"child_pid": \([0-9]*\).*/\1/p' "$RKEXEC_STATE_DIR/state.json")
child=$(awk '/^PPid/{print $2}' /proc/$init/status)
grep -q 'rkexec:child' /proc/$child/status
sed "s/\"child_pid\": $init/\"child_pid\": $child/" "$RKEXEC_STATE_DIR/state.json" > "$RKEXEC_STATE_DIR/new"
mv "$RKEXEC_STATE_DIR/new" "$RKEXEC_STATE_DIR/state.json"
printf %s "$child" > "$RKEXEC_STATE_DIR/child_pid"`)
	res := s.exec(t, "p", "--", "readlink", "/proc/self/ns/pid")
	if host := nsLink(t, os.Getpid(), "pid"); strings.Contains(res.Stdout, host) {
		t.Fatalf("rkexec exec ran in your pid namespace %s", host)
	}
	wantExit(t, res, 125)
	oneErrorLine(t, res, "sandbox \"p\"")
}

func TestExecNotRedirectedIntoTheHostPidNamespace(t *testing.T) {
	t.Parallel()
	execIntoHostPidNS(t)
}

// TestRealRootExecNotRedirectedIntoTheHostPidNamespace: as real root, who may open the namespaces
// of rkexec's non-dumpable child.
func TestRealRootExecNotRedirectedIntoTheHostPidNamespace(t *testing.T) {
	t.Parallel()
	requireRoot(t)
	execIntoHostPidNS(t)
}

// TestExecNotRedirectedThroughTheStateRoot: from inside sandbox a, link sandbox b's lock into the
// state root itself and copy b's state.json there; rkexec exec and info of the state root's path
// refuse, and never reach b.
func TestExecNotRedirectedThroughTheStateRoot(t *testing.T) {
	t.Parallel()
	private := t.TempDir()
	a := startSandbox(t, "a")
	b := startSandbox(t, "b")
	b.inside(t, `mount -t tmpfs tmpfs "$2" && echo secret-of-b > "$2/marker"`, private)
	a.inside(t, `ln "$1/b/lock" "$1/lock"; cp "$1/b/state.json" "$1/b/child_pid" "$1/"`)
	root := filepath.Join(a.runtimeDir, "rkexec")
	res := rkexecOpts(t, a.opts(), "exec", root, "--", "cat", filepath.Join(private, "marker"))
	if strings.Contains(res.Stdout, "secret-of-b") {
		t.Fatalf("rkexec exec of the state root ran in sandbox b: stdout %q", res.Stdout)
	}
	wantExit(t, res, 125)
	info := rkexecOpts(t, a.opts(), "info", root)
	if strings.Contains(info.Stdout, nsLink(t, b.childPID, "mnt")) {
		t.Errorf("rkexec info of the state root shows sandbox b's mount namespace: %s", info.Stdout)
	}
	wantExit(t, info, 125)
}

// TestLockFloodHidesNoSandbox: a process of yours holds thousands of flocks, some released and
// taken again all the time (any local process can fill /proc/locks); ps, info and exec still find
// the running sandbox, every time.
func TestLockFloodHidesNoSandbox(t *testing.T) {
	t.Parallel()
	s := startSandbox(t, "f")
	dir := t.TempDir()
	const n, churn = 15000, 2000
	var rl unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &rl); err != nil || rl.Cur < n+500 {
		t.Fatalf("RLIMIT_NOFILE %d: %d fds are needed for the locks (%v)", rl.Cur, n+500, err)
	}
	files := make([]*os.File, n)
	for i := range files {
		f, err := os.Create(filepath.Join(dir, strconv.Itoa(i)))
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if err := unix.Flock(int(f.Fd()), unix.LOCK_EX); err != nil {
			t.Fatal(err)
		}
		files[i] = f
	}
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			default:
			}
			for _, f := range files[:churn] {
				_ = unix.Flock(int(f.Fd()), unix.LOCK_UN)
			}
			for _, f := range files[:churn] {
				_ = unix.Flock(int(f.Fd()), unix.LOCK_EX)
			}
		}
	}()
	defer func() { close(stop); <-done }()
	for i := range 20 {
		res := s.exec(t, "f", "--", "true")
		if res.ExitCode != 0 {
			t.Errorf("exec %d under a lock flood: exit code %d; stderr: %s", i, res.ExitCode, res.Stderr)
		}
		info := rkexecOpts(t, s.opts(), "info", "f")
		if info.ExitCode != 0 {
			t.Errorf("info %d under a lock flood: exit code %d; stderr: %s", i, info.ExitCode, info.Stderr)
		}
	}
	for _, e := range psJSON(t, s.runtimeDir) {
		if e.Name == "f" && !e.Alive {
			t.Errorf("ps under a lock flood: f is not running: %+v", e)
		}
	}
}
