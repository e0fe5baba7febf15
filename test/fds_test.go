package test

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// strayFD is where the caller leaks a file to rkexec: above every fd rkexec passes on itself.
const strayFD = 20

// leakedSecret returns a file that only its fd can reach (unlinked at once), holding a fresh secret,
// and that secret.
func leakedSecret(t *testing.T) (*os.File, string) {
	t.Helper()
	secret := newMarker(t)
	f, err := os.CreateTemp(t.TempDir(), "secret")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	if _, err := f.WriteString(secret); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Seek(0, 0); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(f.Name()); err != nil {
		t.Fatal(err)
	}
	return f, secret
}

// attacker returns the path of the attacker (this test binary, see attacker_test.go).
func attacker(t *testing.T) string {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return exe
}

// TestLeakedFDsStayOutside: a file the caller leaked to rkexec on an fd without close-on-exec (as a
// privileged parent may) cannot be read from inside the sandbox, through /proc/PID/fd or pidfd_getfd,
// in rkexec:child (the target's parent without --pidns) or in rkexec:init (with it).
func TestLeakedFDsStayOutside(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ name, flag string }{{"child", ""}, {"init", "--pidns"}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f, secret := leakedSecret(t)
			args := []string{"--", "sh", "-c", `exec env ` + attackEnv + `=fd "$0" "$PPID" "$1"`, attacker(t), strconv.Itoa(strayFD)}
			if tc.flag != "" {
				args = append([]string{tc.flag}, args...)
			}
			res := rkexecOpts(t, runOpts{ExtraFiles: leakAt(f)}, args...)
			wantExit(t, res, 0)
			if !strings.Contains(res.Stdout, "proc: ") || !strings.Contains(res.Stdout, "pidfd_getfd: ") {
				t.Fatalf("the attacker did not run:\nstdout: %s\nstderr: %s", res.Stdout, res.Stderr)
			}
			if strings.Contains(res.Stdout, secret) {
				t.Errorf("the sandbox read the file the caller leaked on fd %d from its rkexec parent:\n%s", strayFD, res.Stdout)
			}
		})
	}
}

// TestRealRootLeakedFDInNoProcessOfTheSandbox: looked at from outside (real root may inspect every
// process, dumpable or not), no process rkexec starts holds the file the caller leaked to it: not the
// child, the init, or the command, with and without --pidns. rkexec itself may.
func TestRealRootLeakedFDInNoProcessOfTheSandbox(t *testing.T) {
	requireRoot(t)
	for _, tc := range []struct{ name, flag string }{{"child", ""}, {"init", "--pidns"}} {
		t.Run(tc.name, func(t *testing.T) {
			f, _ := leakedSecret(t)
			var leaked syscall.Stat_t
			if err := syscall.Fstat(int(f.Fd()), &leaked); err != nil {
				t.Fatal(err)
			}
			ready := filepath.Join(t.TempDir(), "ready")
			if err := syscall.Mkfifo(ready, 0o600); err != nil {
				t.Fatal(err)
			}
			args := []string{"--", "sh", "-c", `echo up >"$0"; read never <"$0"`, ready}
			if tc.flag != "" {
				args = append([]string{tc.flag}, args...)
			}
			cmd := startRkexecOpts(t, runOpts{ExtraFiles: leakAt(f)}, args...) // killed by clean-up
			if _, err := os.ReadFile(ready); err != nil {
				t.Fatal(err)
			}
			procs := descendantsOf(t, cmd.Process.Pid)
			if len(procs) < 2 {
				t.Fatalf("rkexec (pid %d) has descendants %v, want at least the child and the command", cmd.Process.Pid, procs)
			}
			for _, pid := range procs {
				fds, _ := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid)) // a stage that exited meanwhile has none
				for _, e := range fds {
					var st syscall.Stat_t
					path := fmt.Sprintf("/proc/%d/fd/%s", pid, e.Name())
					if syscall.Stat(path, &st) == nil && st.Dev == leaked.Dev && st.Ino == leaked.Ino {
						comm, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
						t.Errorf("process %d (%s) holds the leaked file as fd %s", pid, strings.TrimSpace(string(comm)), e.Name())
					}
				}
			}
		})
	}
}

// leakAt returns the ExtraFiles that leak f to rkexec as fd strayFD, fds 3 to strayFD-1 closed.
func leakAt(f *os.File) []*os.File {
	files := make([]*os.File, strayFD-2)
	files[strayFD-3] = f
	return files
}

// descendantsOf lists the processes below pid, from every process's parent in /proc/PID/stat.
func descendantsOf(t *testing.T, pid int) []int {
	t.Helper()
	children := map[int][]int{}
	for _, p := range pids(t) {
		if st, ok := readProcStat(p); ok {
			children[st.PPID] = append(children[st.PPID], p)
		}
	}
	var out []int
	for queue := []int{pid}; len(queue) > 0; queue = queue[1:] {
		out = append(out, children[queue[0]]...)
		queue = append(queue, children[queue[0]]...)
	}
	return out
}
