package test

import (
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// TestDaemonsDieWhenTheChildIsKilled: a process of the sandbox that SIGKILLs rkexec:child (its
// parent, without --pidns) does not leave behind a daemon that left the process tree (setsid), even
// one in a user namespace nested in the sandbox's: rkexec, outside, kills them before it exits.
func TestDaemonsDieWhenTheChildIsKilled(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ name, daemon string }{
		{"setsid", "setsid"},
		{"nested-user-namespace", "setsid unshare --user"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			marker, ready := daemonMarker(t)
			// The daemon says it runs (with the marker on its command line) through the FIFO, then
			// blocks opening it again, a writer that never comes: no child of its own is left if it
			// outlives the test. The target then kills its parent, the child, and dies with it
			// (parent-death signal).
			script := fmt.Sprintf(`%s sh -c 'echo up >"$0"; read never <"$0"; : %s' "$1" </dev/null >/dev/null 2>&1 &
read up <"$1"
kill -9 $PPID
wait`, tc.daemon, marker)
			res := rkexec(t, "--", "sh", "-c", script, "sh", ready)
			wantExit(t, res, 128+int(syscall.SIGKILL))
			noProcessesLeft(t, marker)
		})
	}
}

// TestZombieLeaderDaemonDies: a daemon whose first thread exited while another runs on looks like a
// zombie in /proc/PID/stat; it is still a live process of the sandbox, and dies with it, whether the
// command exits or kills rkexec:child.
func TestZombieLeaderDaemonDies(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ name, end string }{
		{"command-exits", "exit 0"},
		{"child-killed", "kill -9 $PPID; wait"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			marker, ready := daemonMarker(t)
			script := fmt.Sprintf(`setsid env %s=zombie-leader "$0" "$1" %s </dev/null >/dev/null 2>&1 &
read up <"$1"
%s`, attackEnv, marker, tc.end)
			res := rkexec(t, "--", "sh", "-c", script, attacker(t), ready)
			if tc.name == "child-killed" {
				wantExit(t, res, 128+int(syscall.SIGKILL))
			} else {
				wantExit(t, res, 0)
			}
			noProcessesLeft(t, marker)
		})
	}
}

// TestZombieLeaderFromExecDies: the same daemon started with `rkexec exec -d`, so that its parent is
// not in the sandbox's process tree (without --pidns), dies when the sandbox ends.
func TestZombieLeaderFromExecDies(t *testing.T) {
	t.Parallel()
	s := startSandbox(t, "zombie-"+newMarker(t))
	marker, ready := daemonMarker(t)
	s.execDetached(t, 20*time.Second, "-e", attackEnv+"=zombie-leader", s.name, "--", attacker(t), ready, marker)
	up, err := os.ReadFile(ready) // the daemon's first thread is gone once it wrote this
	if err != nil || string(up) != "up\n" {
		t.Fatalf("the daemon said %q, %v; want up", up, err)
	}
	s.stop(t)
	noProcessesLeft(t, marker)
}

// daemonMarker returns a marker for a daemon's command line (the test's clean-up kills what carries
// it) and a FIFO in a fresh directory on which the daemon says it runs.
func daemonMarker(t *testing.T) (marker, ready string) {
	t.Helper()
	marker = sleepMarker(t) // not for sleep: clean-up kills what carries it
	ready = filepath.Join(t.TempDir(), "ready")
	if err := syscall.Mkfifo(ready, 0o600); err != nil {
		t.Fatal(err)
	}
	return marker, ready
}
