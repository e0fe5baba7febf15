package test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestSocketActivation: a socket passed the systemd way (fd 3, LISTEN_FDS, LISTEN_PID of rkexec)
// reaches the command as fd 3 with LISTEN_PID set to the command's own pid, with and without the
// namespaces that put an init in between.
func TestSocketActivation(t *testing.T) {
	t.Parallel()
	for name, flags := range map[string]string{"plain": "", "pidns": "--pidns", "pidns-no-reaper": "--pidns --reaper=false", "utsns": "--utsns"} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			f := activationSocket(t)
			var st unix.Stat_t
			if err := unix.Fstat(int(f.Fd()), &st); err != nil {
				t.Fatal(err)
			}
			target := filepath.Join(dir, "target.sh")
			writeScript(t, target, `echo "pid=$$ listen_pid=$LISTEN_PID listen_fds=$LISTEN_FDS fd3=$(readlink /proc/self/fd/3)"`+"\n")
			wrapper := filepath.Join(dir, "wrap.sh")
			writeScript(t, wrapper, fmt.Sprintf("export LISTEN_PID=$$ LISTEN_FDS=1\nexec %s %s -- %s\n", rkexecBin(t), flags, target))
			res := rkexecOpts(t, runOpts{Program: "/bin/sh", ExtraFiles: []*os.File{f}, Timeout: 20 * time.Second}, wrapper)
			wantExit(t, res, 0)
			var pid, listenPID, listenFDs int
			var fd3 string
			if _, err := fmt.Sscanf(strings.TrimSpace(res.Stdout), "pid=%d listen_pid=%d listen_fds=%d fd3=%s", &pid, &listenPID, &listenFDs, &fd3); err != nil {
				t.Fatalf("output %q: %v", res.Stdout, err)
			}
			if listenPID != pid || listenFDs != 1 {
				t.Errorf("LISTEN_PID=%d LISTEN_FDS=%d in a command of pid %d, want LISTEN_PID=%d LISTEN_FDS=1", listenPID, listenFDs, pid, pid)
			}
			if want := fmt.Sprintf("socket:[%d]", st.Ino); fd3 != want {
				t.Errorf("fd 3 is %s, want the listening socket %s", fd3, want)
			}
		})
	}
}

// TestSocketActivationNotPassed: LISTEN_FDS naming an fd that was not passed is ignored with a
// warning, and none of rkexec's own fds reach the command.
func TestSocketActivationNotPassed(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	wrapper := filepath.Join(dir, "wrap.sh")
	writeScript(t, wrapper, fmt.Sprintf("export LISTEN_PID=$$ LISTEN_FDS=1\nexec %s -- sh -c 'ls /proc/$$/fd'\n", rkexecBin(t)))
	res := rkexecOpts(t, runOpts{Program: "/bin/sh", Timeout: 20 * time.Second}, wrapper)
	wantExit(t, res, 0)
	if got := strings.Fields(res.Stdout); strings.Join(got, " ") != "0 1 2" {
		t.Errorf("the command has fds %v, want 0 1 2", got)
	}
	if !strings.Contains(res.Stderr, "ignoring socket activation") {
		t.Errorf("stderr %q does not say the activation was ignored", res.Stderr)
	}
}
