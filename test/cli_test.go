package test

// --version, --debug and the caller's stdio.

import (
	"strings"
	"testing"
)

func TestVersion(t *testing.T) {
	t.Parallel()
	for _, flag := range []string{"--version", "-v"} {
		t.Run(flag, func(t *testing.T) {
			t.Parallel()
			res := rkexec(t, flag)
			wantExit(t, res, 0)
			if lines := nonEmptyLines(res.Stdout); len(lines) != 1 || !strings.Contains(lines[0], "rkexec") {
				t.Errorf("stdout %q, want one line naming rkexec and its version", res.Stdout)
			}
			if res.Stderr != "" {
				t.Errorf("stderr not empty:\n%s", res.Stderr)
			}
		})
	}
}

// TestDebugNamesRoles: with --debug both the parent and the child log, each line naming its role.
func TestDebugNamesRoles(t *testing.T) {
	t.Parallel()
	res := rkexec(t, "--debug", "--", "true")
	wantExit(t, res, 0)
	roles := map[string]int{}
	for _, line := range nonEmptyLines(res.Stderr) {
		switch {
		case strings.HasPrefix(line, "[rkexec:parent] "):
			roles["parent"]++
		case strings.HasPrefix(line, "[rkexec:child] "):
			roles["child"]++
		case strings.HasPrefix(line, "rkexec: warning: "): // e.g. no subordinate ids
		default:
			t.Errorf("debug line without a role prefix: %q", line)
		}
	}
	for _, role := range []string{"parent", "child"} {
		if roles[role] == 0 {
			t.Errorf("no [rkexec:%s] line with --debug; stderr:\n%s", role, res.Stderr)
		}
	}
}

// TestNoDebugIsQuiet: without --debug a successful run prints nothing of its own.
func TestNoDebugIsQuiet(t *testing.T) {
	t.Parallel()
	requireSubids(t) // without subordinate ids rkexec warns once
	res := rkexec(t, "--", "true")
	wantExit(t, res, 0)
	if res.Stderr != "" || res.Stdout != "" {
		t.Errorf("output without --debug:\nstdout: %s\nstderr: %s", res.Stdout, res.Stderr)
	}
}

// TestStdinIsCallers: the command reads the caller's stdin.
func TestStdinIsCallers(t *testing.T) {
	t.Parallel()
	res := rkexecOpts(t, runOpts{Stdin: strings.NewReader("hello\nworld\n")}, "--", "cat")
	wantExit(t, res, 0)
	if res.Stdout != "hello\nworld\n" {
		t.Errorf("stdout %q, want the caller's stdin %q", res.Stdout, "hello\nworld\n")
	}
}

// TestStdoutStderrAreCallers: the command writes to the caller's stdout and stderr, kept apart.
func TestStdoutStderrAreCallers(t *testing.T) {
	t.Parallel()
	requireSubids(t) // without subordinate ids rkexec's warning shares stderr
	res := rkexec(t, "--", "sh", "-c", "echo out; echo err >&2")
	wantExit(t, res, 0)
	if res.Stdout != "out\n" || res.Stderr != "err\n" {
		t.Errorf("stdout %q, stderr %q; want \"out\\n\", \"err\\n\"", res.Stdout, res.Stderr)
	}
}
