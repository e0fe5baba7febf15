package test

// Exit statuses: the command's own, 128+N for a signal, 126 and 127 for commands that cannot run.

import (
	"strings"
	"testing"
)

func TestExitCodes(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for _, tc := range []struct {
		name    string
		args    []string
		code    int
		errLine string // "" when rkexec must print nothing; else one stderr line must mention it
	}{
		{"zero", []string{"true"}, 0, ""},
		{"one", []string{"false"}, 1, ""},
		{"exit 42", []string{"sh", "-c", "exit 42"}, 42, ""},
		{"exit 255", []string{"sh", "-c", "exit 255"}, 255, ""},
		// A signal is named in one line (Go's syscall.Signal.String(), as RootlessKit names it),
		// except SIGINT and SIGPIPE, as shells do; an exit status of 128+N is not a signal.
		{"SIGTERM", []string{"sh", "-c", "kill -TERM $$"}, 143, "exited: signal: terminated"},
		{"SIGKILL", []string{"sh", "-c", "kill -KILL $$"}, 137, "exited: signal: killed"},
		{"SIGUSR1", []string{"sh", "-c", "kill -USR1 $$"}, 138, "exited: signal: user defined signal 1"},
		{"SIGINT", []string{"sh", "-c", "kill -INT $$"}, 130, ""},
		{"SIGPIPE", []string{"sh", "-c", "kill -PIPE $$"}, 141, ""},
		{"exit 137", []string{"sh", "-c", "exit 137"}, 137, ""},
		{"SIGKILL under --pidns", []string{"--pidns", "--", "sh", "-c", "kill -KILL $$"}, 137, "exited: signal: killed"},
		{"exit 137 under --pidns", []string{"--pidns", "--", "sh", "-c", "exit 137"}, 137, ""},
		{"not found", []string{"rkexec-no-such-command"}, 127, "rkexec-no-such-command"},
		{"missing path", []string{dir + "/missing"}, 127, dir + "/missing"},
		{"not executable", []string{"/etc/passwd"}, 126, "/etc/passwd"},
		{"directory", []string{"/etc"}, 126, "/etc"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			args := tc.args
			if args[0] != "--pidns" {
				args = append([]string{"--"}, args...)
			}
			res := rkexec(t, args...)
			wantExit(t, res, tc.code)
			if tc.errLine == "" {
				if res.Stderr != "" {
					t.Errorf("stderr not empty:\n%s", res.Stderr)
				}
				return
			}
			oneErrorLine(t, res, tc.errLine)
		})
	}
}

// TestFlagsAfterCommand: without --, flags after the command belong to the command.
func TestFlagsAfterCommand(t *testing.T) {
	t.Parallel()
	res := rkexec(t, "sh", "-c", "echo $1; exit 3", "sh", "--name")
	wantExit(t, res, 3)
	if got := strings.TrimSpace(res.Stdout); got != "--name" {
		t.Errorf("stdout %q, want --name (the command's argument)", got)
	}
}
