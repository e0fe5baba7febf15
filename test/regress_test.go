package test

// Regression tests for behaviours fixed after a code review: the environment exec and run give the
// command, cleanup when the target hides /proc, a target without a pid namespace dying with the
// child, exec refusing a tampered state.json, symlinked or shared --state-dir, exec -t relaying
// SIGINT, and a --pidns sandbox ending on SIGTERM while an exec -d command runs in it.

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"math/big"
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

// rgSleepMarker returns a unique sleep duration (nine digits) to use as `sleep N`: N on the command
// line is the marker noProcessesLeft looks for. Clean-up SIGKILLs what still carries it, so that a
// failing test leaves nothing running.
func rgSleepMarker(t *testing.T) string {
	t.Helper()
	n, err := rand.Int(rand.Reader, big.NewInt(900_000_000))
	if err != nil {
		t.Fatal(err)
	}
	marker := strconv.FormatInt(100_000_000+n.Int64(), 10)
	t.Cleanup(func() {
		for _, p := range processesWith(t, marker) {
			if pid, err := strconv.Atoi(strings.Fields(p)[0]); err == nil {
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
		}
	})
	return marker
}

// rgReadState reads a running sandbox's state.json as a generic map.
func rgReadState(t *testing.T, stateDir string) map[string]any {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(stateDir, "state.json"))
	if err != nil {
		t.Fatal(err)
	}
	var st map[string]any
	if err := json.Unmarshal(data, &st); err != nil {
		t.Fatalf("state.json: %v\n%s", err, data)
	}
	return st
}

// rgChildrenNamed returns the pids of the children of ppid whose /proc/PID/comm is comm.
func rgChildrenNamed(t *testing.T, ppid int, comm string) []int {
	t.Helper()
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue // exited meanwhile
		}
		s := string(stat)
		open, end := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
		if open < 0 || end < open {
			continue
		}
		f := strings.Fields(s[end+1:]) // state, ppid, ...
		if len(f) > 1 && f[1] == strconv.Itoa(ppid) && s[open+1:end] == comm {
			pids = append(pids, pid)
		}
	}
	return pids
}

// TestRegressEnvironment: exec -e wins over the caller's own value of the variable (one value, not
// two), and ROOTLESSKIT_STATE_DIR inside exec and run is the sandbox's, whatever the caller had.
func TestRegressEnvironment(t *testing.T) {
	t.Parallel()
	s := nxStartSandbox(t, "envfix")
	t.Run("exec-e-over-caller", func(t *testing.T) {
		t.Parallel()
		res := rkexecOpts(t, runOpts{RuntimeDir: s.runtimeDir, Env: []string{"FOO=old"}},
			"exec", "-e", "FOO=new", "envfix", "--", "printenv", "FOO")
		wantExit(t, res, 0)
		if res.Stdout != "new\n" {
			t.Errorf("caller FOO=old, rkexec exec -e FOO=new: printenv FOO printed %q, want %q", res.Stdout, "new\n")
		}
	})
	t.Run("exec-stale-state-dir", func(t *testing.T) {
		t.Parallel()
		res := rkexecOpts(t, runOpts{RuntimeDir: s.runtimeDir, Env: []string{"ROOTLESSKIT_STATE_DIR=/stale"}},
			"exec", "envfix", "--", "printenv", "ROOTLESSKIT_STATE_DIR")
		wantExit(t, res, 0)
		if want := s.stateDir + "\n"; res.Stdout != want {
			t.Errorf("caller ROOTLESSKIT_STATE_DIR=/stale: printenv in rkexec exec printed %q, want the sandbox's %q", res.Stdout, want)
		}
	})
	t.Run("run-stale-state-dir", func(t *testing.T) {
		t.Parallel()
		stateDir := filepath.Join(runtimeDirOf(t), "rkexec", "envrun")
		res := rkexecEnv(t, []string{"ROOTLESSKIT_STATE_DIR=/stale"},
			"--name", "envrun", "--", "printenv", "ROOTLESSKIT_STATE_DIR")
		wantExit(t, res, 0)
		if want := stateDir + "\n"; res.Stdout != want {
			t.Errorf("caller ROOTLESSKIT_STATE_DIR=/stale: printenv in rkexec printed %q, want the new state dir %q", res.Stdout, want)
		}
	})
}

// TestRegressHiddenProcExit: a target that mounts a tmpfs over /proc and exits, leaving a background
// sleep, neither stalls rkexec nor leaves the sleep running.
func TestRegressHiddenProcExit(t *testing.T) {
	t.Parallel()
	marker := rgSleepMarker(t)
	// The sleep's output goes elsewhere, so that a sleep left running does not hold rkexec's stdout.
	script := `mount -t tmpfs none /proc || exit 1; sleep "$1" >/dev/null 2>&1 </dev/null & exit 0`
	res := rkexecOpts(t, runOpts{Timeout: 4 * time.Second}, "--", "sh", "-c", script, "sh", marker)
	wantExit(t, res, 0)
	noProcessesLeft(t, marker)
}

// TestRegressHiddenProcSIGKILL: SIGKILL of rkexec while its target has hidden /proc leaves no process
// and no state dir.
func TestRegressHiddenProcSIGKILL(t *testing.T) {
	t.Parallel()
	marker := rgSleepMarker(t)
	ready := filepath.Join(t.TempDir(), "ready")
	stateDir := filepath.Join(runtimeDirOf(t), "rkexec", "hidden")
	script := `mount -t tmpfs none /proc || exit 1; sleep "$2" >/dev/null 2>&1 </dev/null & echo ok >"$1"; wait`
	cmd := startRkexec(t, "--name", "hidden", "--", "sh", "-c", script, "sh", ready, marker)
	nxWaitForFileOrExit(t, cmd, ready, 4*time.Second)
	nxWaitForFileOrExit(t, cmd, filepath.Join(stateDir, "child_pid"), 4*time.Second)
	if len(processesWith(t, marker)) < 2 {
		t.Fatalf("want the target sh and its sleep %s running; found %q", marker, processesWith(t, marker))
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait() // killed
	noProcessesLeft(t, marker)
	if !waitGone(stateDir, 3*time.Second) {
		assertNoStateDir(t, stateDir)
	}
}

// TestRegressInitDiesWithChild: with extra namespaces but no pid namespace the target is the init;
// SIGKILL of the rkexec child (not of rkexec) takes the target down too.
func TestRegressInitDiesWithChild(t *testing.T) {
	t.Parallel()
	for _, ns := range []string{"--utsns", "--ipcns"} {
		t.Run(strings.TrimPrefix(ns, "--"), func(t *testing.T) {
			t.Parallel()
			marker := rgSleepMarker(t)
			stateDir := filepath.Join(runtimeDirOf(t), "rkexec", "x")
			cmd := startRkexec(t, ns, "--name", "x", "--", "sleep", marker)
			nxWaitForFileOrExit(t, cmd, filepath.Join(stateDir, "child_pid"), 4*time.Second)
			st := rgReadState(t, stateDir)
			parentPID, _ := st["parent_pid"].(float64)
			if int(parentPID) != cmd.Process.Pid {
				t.Fatalf("state.json parent_pid %v, want rkexec's pid %d", st["parent_pid"], cmd.Process.Pid)
			}
			children := rgChildrenNamed(t, cmd.Process.Pid, "rkexec:child")
			if len(children) != 1 {
				t.Fatalf("children of rkexec (pid %d) named rkexec:child: %v, want one", cmd.Process.Pid, children)
			}
			if err := syscall.Kill(children[0], syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			// rkexec itself carries the marker too, and exits once its child is dead (it stays a
			// zombie, which does not count, until clean-up reaps it).
			noProcessesLeft(t, marker)
		})
	}
}

// TestRegressExecTamperedState: rkexec exec refuses a sandbox whose state.json names a host process
// as child_pid, and runs nothing.
func TestRegressExecTamperedState(t *testing.T) {
	t.Parallel()
	s := nxStartSandbox(t, "tamper")
	st := rgReadState(t, s.stateDir)
	st["child_pid"] = os.Getpid()
	data, err := json.Marshal(st)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(s.stateDir, "state.json"), data, 0o600); err != nil {
		t.Fatal(err)
	}
	ran := filepath.Join(t.TempDir(), "ran")
	res := s.exec(t, "tamper", "--", "touch", ran)
	wantExit(t, res, 125)
	oneErrorLine(t, res, "not a sandbox of yours")
	if _, err := os.Lstat(ran); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("rkexec exec ran the command (%s exists: %v) with child_pid pointing at a host process", ran, err)
	}
}

// TestRegressStateDirRefused: a --state-dir that is a symlink, or that others may write, is refused
// with 125 and one line, and nothing is created in it.
func TestRegressStateDirRefused(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		make func(t *testing.T, tmp string) (stateDir, contentDir string)
		want string
	}{
		{"symlink", func(t *testing.T, tmp string) (string, string) {
			real, link := filepath.Join(tmp, "real"), filepath.Join(tmp, "link")
			if err := os.Mkdir(real, 0o700); err != nil {
				t.Fatal(err)
			}
			if err := os.Symlink(real, link); err != nil {
				t.Fatal(err)
			}
			return link, real
		}, "symlink"},
		{"mode-0777", func(t *testing.T, tmp string) (string, string) {
			dir := filepath.Join(tmp, "open")
			if err := os.Mkdir(dir, 0o700); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(dir, 0o777); err != nil { // not through the umask
				t.Fatal(err)
			}
			return dir, dir
		}, "writable by others"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tmp := t.TempDir()
			stateDir, contentDir := tc.make(t, tmp)
			ran := filepath.Join(tmp, "ran")
			res := rkexec(t, "--state-dir", stateDir, "--", "touch", ran)
			wantExit(t, res, 125)
			oneErrorLine(t, res, tc.want)
			if left := dirEntries(t, contentDir); len(left) != 0 {
				t.Errorf("rkexec --state-dir %s created %q in %s", stateDir, left, contentDir)
			}
			if _, err := os.Lstat(ran); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("rkexec ran the command with a refused --state-dir (%s: %v)", ran, err)
			}
		})
	}
}

// TestRegressExecTTYSIGINT: rkexec exec -t relays a SIGINT sent to it with kill (not typed on the
// terminal) to the command.
func TestRegressExecTTYSIGINT(t *testing.T) {
	t.Parallel()
	s := nxStartSandbox(t, "ttyint", "--pidns")
	master, slave := nxOpenPty(t, 24, 80)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	cmd := rkexecCommand(ctx, t, runOpts{RuntimeDir: s.runtimeDir}, []string{"exec", "-t", "ttyint", "--",
		"sh", "-c", `trap "echo got-INT; exit 3" INT; echo ready; while :; do sleep 0.1; done`})
	cmd.Stdin, cmd.Stdout, cmd.Stderr = slave, slave, slave
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	slave.Close()
	out := nxReadPty(master)
	out.waitFor(t, "ready", 4*time.Second)
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	err := cmd.Wait()
	var exitErr *exec.ExitError
	if err != nil && !errors.As(err, &exitErr) {
		t.Fatalf("rkexec exec -t: %v; terminal: %q", err, out.buf.String())
	}
	if ctx.Err() != nil {
		t.Fatalf("rkexec exec -t did not exit within 5s of SIGINT (killed); terminal: %q", out.buf.String())
	}
	<-out.done
	text := out.buf.String()
	ws := cmd.ProcessState.Sys().(syscall.WaitStatus)
	if ws.Signaled() || ws.ExitStatus() != 3 {
		t.Errorf("rkexec exec -t after SIGINT: %v, want exit code 3 from the command's trap; terminal: %q", cmd.ProcessState, text)
	}
	if !strings.Contains(text, "got-INT") {
		t.Errorf("the command's INT trap did not run; terminal: %q", text)
	}
}

// TestRegressDetachedSIGTERM: a --pidns sandbox with an `rkexec exec -d` command in it ends within 2s
// of SIGTERM even though the test process, a subreaper that never reaps strangers, is the nearest
// subreaper outside; the detached command is gone. Not parallel: the subreaper is process-wide.
func TestRegressDetachedSIGTERM(t *testing.T) {
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		t.Fatalf("PR_SET_CHILD_SUBREAPER: %v", err)
	}
	defer func() {
		if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0); err != nil {
			t.Errorf("PR_SET_CHILD_SUBREAPER 0: %v", err)
		}
	}()
	s := nxStartSandbox(t, "D", "--pidns")
	marker := rgSleepMarker(t)
	pidFile := filepath.Join(t.TempDir(), "pid")
	out, err := os.Create(filepath.Join(t.TempDir(), "out"))
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Second)
	defer cancel()
	ex := rkexecCommand(ctx, t, runOpts{RuntimeDir: s.runtimeDir},
		[]string{"exec", "-d", "--pid-file", pidFile, "D", "--", "sleep", marker})
	ex.Stdout, ex.Stderr = out, out // files: the detached command inherits them
	if err := ex.Run(); err != nil {
		msg, _ := os.ReadFile(out.Name())
		t.Fatalf("rkexec exec -d: %v; output: %s", err, msg)
	}
	data, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil {
		t.Fatalf("pid file holds %q: %v", data, err)
	}
	// Should the test process have adopted the detached command, reap it in the end.
	defer func() {
		var ws unix.WaitStatus
		_, _ = unix.Wait4(pid, &ws, unix.WNOHANG, nil)
	}()
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = s.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(2 * time.Second):
		// Let the sandbox end (reaping the command it may wait for) before clean-up.
		var ws unix.WaitStatus
		_, _ = unix.Wait4(pid, &ws, 0, nil)
		select {
		case <-done:
		case <-time.After(2 * time.Second):
			_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
			<-done
		}
		t.Fatalf("rkexec --pidns did not exit within 2s of SIGTERM while an exec -d command (pid %d) ran in it", pid)
	}
	noProcessesLeft(t, marker)
}
