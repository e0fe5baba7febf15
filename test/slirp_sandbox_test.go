package test

// slirp4netns's own confinement: --slirp4netns-sandbox and --slirp4netns-seccomp.

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestSlirp4netnsSandboxTrueIsAnError: rkexec gives slirp4netns the namespace as a file (its
// processes in the sandbox are non-dumpable, so slirp4netns may not open /proc/PID/ns), and
// slirp4netns run by an unprivileged user sandboxes itself only with a pid: asking for the sandbox
// fails the run instead of running slirp4netns without it.
func TestSlirp4netnsSandboxTrueIsAnError(t *testing.T) {
	t.Parallel()
	marker := newMarker(t)
	res := rkexec(t, "--net=slirp4netns", "--slirp4netns-sandbox=true", "--", "sh", "-c", "echo started", marker)
	wantExit(t, res, 125)
	oneErrorLine(t, res, "--slirp4netns-sandbox=true", "auto or false")
	if strings.Contains(res.Stdout, "started") {
		t.Errorf("the command ran")
	}
	assertNoStateDirs(t)
}

// TestSlirp4netnsSeccomp: the running slirp4netns has a seccomp filter with
// --slirp4netns-seccomp=auto (the default) and true, and none with false.
func TestSlirp4netnsSeccomp(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ flag, want string }{
		{"", "2"},
		{"--slirp4netns-seccomp=true", "2"},
		{"--slirp4netns-seccomp=false", "0"},
	} {
		name := tc.flag
		if name == "" {
			name = "default"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			stop := filepath.Join(t.TempDir(), "stop")
			args := []string{"--net=slirp4netns"}
			if tc.flag != "" {
				args = append(args, tc.flag)
			}
			cmd := startRkexec(t, append(args, "--", "sh", "-c", `echo ready; while [ ! -e "$1" ]; do sleep 0.02; done`, "sh", stop)...)
			eventually(t, 20*time.Second, 10*time.Millisecond, func() error {
				if out, _ := outputOf(cmd); !strings.Contains(out, "ready") {
					return fmt.Errorf("not started")
				}
				return nil
			})
			slirps := childrenNamed(t, cmd.Process.Pid, "slirp4netns")
			if len(slirps) != 1 {
				t.Fatalf("rkexec has %d slirp4netns children, want 1", len(slirps))
			}
			status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", slirps[0]))
			if err != nil {
				t.Fatal(err)
			}
			if want := "\nSeccomp:\t" + tc.want + "\n"; !strings.Contains(string(status), want) {
				t.Errorf("slirp4netns's status has no %q:\n%s", strings.TrimSpace(want), status)
			}
			os.WriteFile(stop, nil, 0o644)
			if res := waitExit(t, cmd, 20*time.Second); res.status() != 0 {
				t.Errorf("exit status %d; stderr %s", res.status(), res.Stderr)
			}
		})
	}
}
