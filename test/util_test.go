package test

// Small helpers shared by the integration tests; the harness (harness_test.go) holds the rest.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

// wantExit fails the test unless res exited (not by a signal) with code.
func wantExit(t testing.TB, res *Result, code int) {
	t.Helper()
	if res.ExitCode != code || res.Signal != 0 {
		how := fmt.Sprintf("exit code %d", res.ExitCode)
		if res.Signal != 0 {
			how = fmt.Sprintf("killed by %v", res.Signal)
		}
		t.Fatalf("%s, want exit code %d\nstdout: %s\nstderr: %s", how, code, res.Stdout, res.Stderr)
	}
}

// nonEmptyLines returns the lines of s that are not empty, without their line ends.
func nonEmptyLines(s string) []string {
	var lines []string
	for line := range strings.Lines(s) {
		if line = strings.TrimRight(line, "\n"); line != "" {
			lines = append(lines, line)
		}
	}
	return lines
}

// oneErrorLine fails the test unless stderr is exactly one "rkexec: " line containing each of words;
// it returns that line.
func oneErrorLine(t testing.TB, res *Result, words ...string) string {
	t.Helper()
	lines := nonEmptyLines(res.Stderr)
	if len(lines) != 1 {
		t.Fatalf("want exactly one line on stderr, got %d:\n%s", len(lines), res.Stderr)
	}
	line := lines[0]
	if !strings.HasPrefix(line, "rkexec: ") {
		t.Errorf("stderr line does not start with %q: %q", "rkexec: ", line)
	}
	for _, w := range words {
		if !strings.Contains(line, w) {
			t.Errorf("stderr line does not mention %q: %q", w, line)
		}
	}
	return line
}

// dirEntries returns the names in dir, or nil when dir does not exist.
func dirEntries(t testing.TB, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		t.Fatalf("read %s: %v", dir, err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

// waitGone polls until path no longer exists; it reports whether it went within timeout.
func waitGone(path string, timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	for {
		if _, err := os.Lstat(path); errors.Is(err, fs.ErrNotExist) {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// writeScript writes an executable shell script.
func writeScript(t testing.TB, path, body string) {
	t.Helper()
	if err := os.WriteFile(path, []byte("#!/bin/sh\n"+body), 0o755); err != nil {
		t.Fatal(err)
	}
}

// runCommand runs cmd, prepared by rkexecCommand and then adjusted by the test (another program, extra
// fds), and returns what it produced.
func runCommand(t testing.TB, ctx context.Context, cmd *exec.Cmd) *Result {
	t.Helper()
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("%q: no exit in time, killed its process group\nstdout: %s\nstderr: %s", cmd.Args, stdout.Bytes(), stderr.Bytes())
	}
	res := &Result{Stdout: stdout.String(), Stderr: stderr.String()}
	var exitErr *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &exitErr):
		res.ExitCode = exitErr.ExitCode()
		if ws, ok := exitErr.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			res.Signal = ws.Signal()
		}
	default:
		t.Fatalf("%q: %v\nstderr: %s", cmd.Args, err, stderr.Bytes())
	}
	return res
}

// mountEntry is one line of /proc/PID/mountinfo.
type mountEntry struct {
	MountPoint string
	Optional   []string // "shared:N", "master:N", ...
	FSType     string
}

// topMount returns the last (topmost) mount on mountPoint in a mountinfo text.
func topMount(t testing.TB, mountinfo, mountPoint string) mountEntry {
	t.Helper()
	var found *mountEntry
	for line := range strings.Lines(mountinfo) {
		f := strings.Fields(line)
		sep := -1
		for i := 6; i < len(f); i++ {
			if f[i] == "-" {
				sep = i
				break
			}
		}
		if sep < 0 || sep+1 >= len(f) {
			continue
		}
		if f[4] == mountPoint {
			found = &mountEntry{MountPoint: f[4], Optional: f[6:sep], FSType: f[sep+1]}
		}
	}
	if found == nil {
		t.Fatalf("no mount on %s in mountinfo:\n%s", mountPoint, mountinfo)
	}
	return *found
}

// hasTag reports whether a mount has an optional field starting with prefix ("shared:", "master:").
func (m mountEntry) hasTag(prefix string) bool {
	for _, o := range m.Optional {
		if strings.HasPrefix(o, prefix) {
			return true
		}
	}
	return false
}

// rkexecBin returns the rkexec binary the harness built.
func rkexecBin(t testing.TB) string {
	t.Helper()
	bin := os.Getenv(binEnv)
	if bin == "" {
		t.Fatalf("%s is not set (TestMain sets it)", binEnv)
	}
	return bin
}
