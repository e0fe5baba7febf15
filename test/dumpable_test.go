package test

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// attackInside runs rkexec [flags] with the attacker as the command, attacking the target's parent
// (rkexec:child without a pid namespace, rkexec:init with one), and returns its output.
func attackInside(t *testing.T, what string, flags ...string) string {
	t.Helper()
	return attackInsideWith(t, runOpts{}, what, flags...)
}

// attackInsideWith is attackInside with the run's options (another rkexec binary, say).
func attackInsideWith(t *testing.T, opts runOpts, what string, flags ...string) string {
	t.Helper()
	args := append(flags, "--", "sh", "-c", `exec env `+attackEnv+`=$1 "$0" "$PPID"`, attacker(t), what)
	res := rkexecOpts(t, opts, args...)
	wantExit(t, res, 0)
	return res.Stdout
}

// TestSandboxCannotOverwriteRkexec: the CVE-2019-5736 pattern against a rkexec binary the caller
// owns (in a directory of the caller's): a daemon of the sandbox opens /proc/<rkexec:child>/exe with
// O_PATH, kills the child, and once no rkexec runs the binary any more reopens it for writing; the
// next run of rkexec would run its code as the caller, outside any sandbox. The binary stays intact.
func TestSandboxCannotOverwriteRkexec(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	bin := filepath.Join(dir, "rkexec")
	if err := copyFile(rkexecBin(t), bin, 0o755); err != nil {
		t.Fatal(err)
	}
	before, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	ready, result := filepath.Join(dir, "ready"), filepath.Join(dir, "result")
	if err := syscall.Mkfifo(ready, 0o600); err != nil {
		t.Fatal(err)
	}
	marker := sleepMarker(t) // not for sleep: clean-up kills what carries it
	script := `setsid env ` + attackEnv + `=overwrite "$0" "$PPID" "$1" "$2" "$3" </dev/null >/dev/null 2>&1 &
read got <"$1"
echo "$got"
wait`
	res := rkexecOpts(t, runOpts{Program: bin}, "--", "sh", "-c", script, attacker(t), ready, result, marker)
	t.Logf("rkexec exited %d; the attacker said %q", res.ExitCode, strings.TrimSpace(res.Stdout))
	// The attacker reports, or was killed with the sandbox.
	eventually(t, 30*time.Second, 20*time.Millisecond, func() error {
		if _, err := os.Stat(result); err == nil || len(processesWith(t, marker)) == 0 {
			return nil
		}
		return errors.New("the attacker neither reported nor ended")
	})
	noProcessesLeft(t, marker)
	if got, err := os.ReadFile(result); err == nil {
		t.Logf("attacker: %s", bytes.TrimSpace(got))
	}
	after, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(before, after) {
		t.Errorf("the sandbox rewrote the caller's rkexec binary %s (%d bytes before, %d after; starts %q)",
			bin, len(before), len(after), after[:min(len(after), 32)])
	}
}

// TestSandboxCannotReachRkexecProcesses: from inside, the sandbox's root cannot ptrace rkexec:child,
// read its environment or memory, or open its /proc/PID/exe; rkexec:init belongs to the sandbox's
// user namespace, whose root may open its /proc/PID/exe, but that is a sealed copy of a binary it
// could write, or a binary it cannot write.
func TestSandboxCannotReachRkexecProcesses(t *testing.T) {
	t.Parallel()
	t.Run("child-ptrace", func(t *testing.T) {
		t.Parallel()
		out := attackInside(t, "ptrace")
		for _, line := range nonEmptyLines(out) {
			what, got, _ := strings.Cut(line, ": ")
			if got == "attached" || strings.HasPrefix(got, "read") {
				t.Errorf("the sandbox reached rkexec:child: %s: %s", what, got)
			}
		}
		if len(nonEmptyLines(out)) != 3 {
			t.Errorf("want 3 lines from the attacker (ptrace, environ, mem), got:\n%s", out)
		}
	})
	t.Run("child-exe", func(t *testing.T) {
		t.Parallel()
		out := attackInside(t, "exe")
		if !strings.HasPrefix(out, "open O_PATH: permission denied") {
			t.Errorf("/proc/<rkexec:child>/exe from inside: %s want permission denied", out)
		}
	})
	// The init: from a binary the caller owns (which the sandbox's root could write) it runs from a
	// sealed copy; from the tests' binary too when the caller owns that, else (root's, mode 0755) from
	// the file itself, which nobody inside may write. Either way nothing is written.
	t.Run("init-exe", func(t *testing.T) {
		t.Parallel()
		owned := filepath.Join(t.TempDir(), "rkexec")
		if err := copyFile(rkexecBin(t), owned, 0o755); err != nil {
			t.Fatal(err)
		}
		for _, bin := range []string{owned, rkexecBin(t)} {
			var st syscall.Stat_t
			if err := syscall.Stat(bin, &st); err != nil {
				t.Fatal(err)
			}
			out := attackInsideWith(t, runOpts{Program: bin}, "exe", "--pidns")
			callerOwned := int(st.Uid) == os.Getuid()
			if callerOwned && strings.Contains(out, fmt.Sprintf("dev %d ino %d", st.Dev, st.Ino)) {
				t.Errorf("/proc/<rkexec:init>/exe is %s, which the caller owns, not a sealed copy:\n%s", bin, out)
			}
			if !strings.Contains(out, "reopen for writing: ") || strings.Contains(out, "write: <nil>") {
				t.Errorf("/proc/<rkexec:init>/exe (binary %s, uid %d mode %o) could be written, or the attacker did not get that far:\n%s",
					bin, st.Uid, st.Mode&0o7777, out)
			}
		}
	})
}
