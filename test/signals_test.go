package test

// Signals relayed to the command, SIGKILL of rkexec, and processes the command leaves behind.

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestSignalsRelayed: a signal sent to rkexec reaches the command exactly once.
func TestSignalsRelayed(t *testing.T) {
	t.Parallel()
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGUSR1, syscall.SIGHUP, syscall.SIGINT, syscall.SIGUSR2} {
		name := strings.TrimPrefix(sigName(sig), "SIG")
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			got, ready := filepath.Join(dir, "got"), filepath.Join(dir, "ready")
			// The trap only records; the main loop exits 7 a little after the first delivery, so a
			// duplicate delivered meanwhile adds a second line.
			script := fmt.Sprintf(`trap 'echo got-%[1]s >>"$1"; seen=1' %[1]s
echo ready >"$2"
while [ -z "$seen" ]; do sleep 0.05; done
sleep 0.3
exit 7`, name)
			cmd := startRkexec(t, "--", "sh", "-c", script, "sh", got, ready)
			waitForFile(t, cmd, ready, 5*time.Second)
			if err := cmd.Process.Signal(sig); err != nil {
				t.Fatal(err)
			}
			res := waitExit(t, cmd, defaultRunTimeout)
			if res.ExitCode != 7 {
				t.Fatalf("exit code %d (signal %v), want 7 from the trap\nstdout: %s\nstderr: %s", res.ExitCode, res.Signal, res.Stdout, res.Stderr)
			}
			data, err := os.ReadFile(got)
			if err != nil {
				t.Fatal(err)
			}
			if want := "got-" + name + "\n"; string(data) != want {
				t.Errorf("the command recorded %q, want %q (the signal once)", data, want)
			}
		})
	}
}

func sigName(sig syscall.Signal) string {
	switch sig {
	case syscall.SIGTERM:
		return "SIGTERM"
	case syscall.SIGUSR1:
		return "SIGUSR1"
	case syscall.SIGUSR2:
		return "SIGUSR2"
	case syscall.SIGHUP:
		return "SIGHUP"
	case syscall.SIGINT:
		return "SIGINT"
	}
	return strconv.Itoa(int(sig))
}

// TestSIGKILLTakesSandboxDown: SIGKILL of rkexec leaves no process of the sandbox (a background job
// and a double-forked orphan) and no state directory.
func TestSIGKILLTakesSandboxDown(t *testing.T) {
	t.Parallel()
	marker := newMarker(t)
	dir := t.TempDir()
	ready := filepath.Join(dir, "ready")
	stateDir := filepath.Join(runtimeDirOf(t), "rkexec", "k")
	// Each sleeper is a sh that outlives its sleep and has the marker on its command line.
	script := fmt.Sprintf(`sh -c 'sleep 1000; : %[1]s' &
(sh -c 'sleep 1001; : %[1]s' &)
echo ready >"$1"
wait`, marker)
	cmd := startRkexec(t, "--name", "k", "--", "sh", "-c", script, "sh", ready)
	waitForFile(t, cmd, ready, 5*time.Second)
	waitForFile(t, cmd, filepath.Join(stateDir, "child_pid"), 5*time.Second)
	if n := len(processesWith(t, marker)); n < 3 {
		t.Fatalf("want the command and its two sleepers running, found %d processes with the marker", n)
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait() // killed
	noProcessesLeft(t, marker)
	noStateDirWithin(t, stateDir, 5*time.Second)
}

// TestOrphansKilledOnExit: when the command exits, a background process it left is killed.
func TestOrphansKilledOnExit(t *testing.T) {
	t.Parallel()
	marker := newMarker(t)
	pidFile := filepath.Join(t.TempDir(), "pid")
	script := fmt.Sprintf(`sh -c 'sleep 1000; : %s' & echo $! >"$1"`, marker)
	res := rkexec(t, "--", "sh", "-c", script, "sh", pidFile)
	wantExit(t, res, 0)
	data, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := strconv.Atoi(strings.TrimSpace(string(data))); err != nil {
		t.Fatalf("pid file (written once the background process started): %q", data)
	}
	noProcessesLeft(t, marker)
}

// TestOrphanKilledWhenProcHidden: a target that mounts a tmpfs over /proc and exits, leaving a
// background sleep, neither stalls rkexec nor leaves the sleep running.
func TestOrphanKilledWhenProcHidden(t *testing.T) {
	t.Parallel()
	marker := sleepMarker(t)
	// The sleep's output goes elsewhere, so that a sleep left running does not hold rkexec's stdout.
	script := `mount -t tmpfs none /proc || exit 1; sleep "$1" >/dev/null 2>&1 </dev/null & exit 0`
	res := rkexecOpts(t, runOpts{Timeout: 4 * time.Second}, "--", "sh", "-c", script, "sh", marker)
	wantExit(t, res, 0)
	noProcessesLeft(t, marker)
}

// TestSIGKILLWithProcHiddenLeavesNothing: SIGKILL of rkexec while its target has hidden /proc
// leaves no process and no state dir.
func TestSIGKILLWithProcHiddenLeavesNothing(t *testing.T) {
	t.Parallel()
	marker := sleepMarker(t)
	ready := filepath.Join(t.TempDir(), "ready")
	stateDir := filepath.Join(runtimeDirOf(t), "rkexec", "hidden")
	script := `mount -t tmpfs none /proc || exit 1; sleep "$2" >/dev/null 2>&1 </dev/null & echo ok >"$1"; wait`
	cmd := startRkexec(t, "--name", "hidden", "--", "sh", "-c", script, "sh", ready, marker)
	waitForFile(t, cmd, ready, 4*time.Second)
	waitForFile(t, cmd, filepath.Join(stateDir, "child_pid"), 4*time.Second)
	if len(processesWith(t, marker)) < 2 {
		t.Fatalf("want the target sh and its sleep %s running; found %q", marker, processesWith(t, marker))
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait() // killed
	noProcessesLeft(t, marker)
	noStateDirWithin(t, stateDir, 3*time.Second)
}
