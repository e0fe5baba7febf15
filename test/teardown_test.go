package test

import (
	"fmt"
	"path/filepath"
	"syscall"
	"testing"
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
			marker := sleepMarker(t) // not for sleep: clean-up kills what carries it
			ready := filepath.Join(t.TempDir(), "ready")
			if err := syscall.Mkfifo(ready, 0o600); err != nil {
				t.Fatal(err)
			}
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
