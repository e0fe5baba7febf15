package sigforward

import (
	"errors"
	"io"
	"os"
	"os/exec"
	"testing"

	"golang.org/x/sys/unix"
)

func TestRelayedLeavesOutWrapperSignals(t *testing.T) {
	relayed := map[unix.Signal]bool{}
	for _, s := range Relayed() {
		relayed[s.(unix.Signal)] = true
	}
	for _, s := range []unix.Signal{unix.SIGKILL, unix.SIGSTOP, unix.SIGCHLD, unix.SIGURG, unix.SIGPIPE, unix.SIGTSTP, unix.SIGTTIN, unix.SIGTTOU, unix.SIGSEGV, 32, 33} {
		if relayed[s] {
			t.Errorf("%v is relayed", s)
		}
	}
	for _, s := range []unix.Signal{unix.SIGTERM, unix.SIGINT, unix.SIGHUP, unix.SIGUSR1, unix.SIGUSR2, unix.SIGQUIT, unix.SIGWINCH, unix.SIGCONT, 34, 64} {
		if !relayed[s] {
			t.Errorf("%v is not relayed", s)
		}
	}
}

// TestHeldSignalsReachTheTarget: a signal caught before the target exists is relayed once it does,
// and Relayed reports it.
func TestHeldSignalsReachTheTarget(t *testing.T) {
	f := Start(nil)
	defer f.Stop()
	if err := unix.Kill(os.Getpid(), unix.SIGUSR1); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("sh", "-c", `trap 'exit 7' USR1; echo ready; while :; do sleep 0.05; done`)
	out, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 6)
	if _, err := io.ReadFull(out, buf); err != nil { // the trap is set
		t.Fatal(err)
	}
	f.SetTarget(cmd.Process.Pid)
	err := cmd.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 7 {
		t.Fatalf("target: %v, want exit 7 from its USR1 trap", err)
	}
	if !f.Relayed(unix.SIGUSR1) || f.Relayed(unix.SIGUSR2) {
		t.Fatal("Relayed does not match what was relayed")
	}
}

// TestStopWithoutTarget: Stop before SetTarget relays nothing (and signals nobody).
func TestStopWithoutTarget(t *testing.T) {
	f := Start(nil)
	f.Stop()
	if f.Relayed(unix.SIGTERM) {
		t.Fatal("relayed with no target")
	}
}
