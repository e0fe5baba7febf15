package exitcode

import (
	"os/exec"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// TestExitCodes: real processes that exit or are killed, through both kinds of status.
func TestExitCodes(t *testing.T) {
	for _, tc := range []struct {
		script string
		want   int
	}{{"exit 0", 0}, {"exit 42", 42}, {"exit 255", 255}, {"kill -TERM $$", 143}, {"kill -KILL $$", 137}, {"kill -USR1 $$", 138}} {
		cmd := exec.Command("sh", "-c", tc.script)
		_ = cmd.Run() // the status is what is tested
		if got := FromProcessState(cmd.ProcessState); got != tc.want {
			t.Errorf("%q: FromProcessState %d, want %d", tc.script, got, tc.want)
		}
		ws := unix.WaitStatus(cmd.ProcessState.Sys().(syscall.WaitStatus))
		if got := FromWaitStatus(ws); got != tc.want {
			t.Errorf("%q: FromWaitStatus %d, want %d", tc.script, got, tc.want)
		}
	}
	if got := Signaled(syscall.SIGKILL); got != 137 {
		t.Errorf("Signaled(SIGKILL) = %d, want 137", got)
	}
}
