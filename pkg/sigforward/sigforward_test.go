package sigforward

import (
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
