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
			waitForFile(t, ready, 5*time.Second)
			if err := cmd.Process.Signal(sig); err != nil {
				t.Fatal(err)
			}
			err := cmd.Wait()
			stdout, stderr := outputOf(cmd)
			if code := cmd.ProcessState.ExitCode(); code != 7 {
				t.Fatalf("exit code %d (%v), want 7 from the trap\nstdout: %s\nstderr: %s", code, err, stdout, stderr)
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
	waitForFile(t, ready, 5*time.Second)
	waitForFile(t, filepath.Join(stateDir, "child_pid"), 5*time.Second)
	if n := len(processesWith(t, marker)); n < 3 {
		t.Fatalf("want the command and its two sleepers running, found %d processes with the marker", n)
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait() // killed
	noProcessesLeft(t, marker)
	if !waitGone(stateDir, 5*time.Second) {
		assertNoStateDir(t, stateDir)
	}
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
