package test

import (
	"strings"
	"testing"
)

// TestPidnsInitRunsNoGoRuntime: with --pidns the sandbox's PID 1 is nsexec's init in C, which starts
// no Go runtime: it has one thread (a Go runtime runs several from its start), and it still relays,
// reaps and exits with the command's status (pidns_test.go, signals_test.go).
func TestPidnsInitRunsNoGoRuntime(t *testing.T) {
	t.Parallel()
	for _, flags := range [][]string{{"--pidns"}, {"--pidns", "--utsns", "--ipcns"}} {
		t.Run(strings.Join(flags, " "), func(t *testing.T) {
			res := rkexec(t, append(flags, "--", "cat", "/proc/1/status")...)
			wantExit(t, res, 0)
			fields := map[string]string{}
			for _, line := range nonEmptyLines(res.Stdout) {
				if k, v, ok := strings.Cut(line, ":"); ok {
					fields[k] = strings.TrimSpace(v)
				}
			}
			if fields["Name"] != "rkexec:init" {
				t.Errorf("PID 1 is %q, want rkexec:init:\n%s", fields["Name"], res.Stdout)
			}
			if fields["Threads"] != "1" {
				t.Errorf("PID 1 has %s threads, want 1 (no Go runtime):\n%s", fields["Threads"], res.Stdout)
			}
		})
	}
}
