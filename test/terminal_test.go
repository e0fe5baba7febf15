package test

// Tests of `rkexec exec -t` on the caller's terminal: raw while the command runs, as it was after.

import (
	"os"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestExecTTYRestoresTerminal: while the command of `rkexec exec -t` runs, the caller's terminal is
// in raw mode (no line editing, no echo: the command's pty does that); however the command ends — by
// itself, killed by a signal relayed from rkexec exec, or not found — the terminal gets back every
// setting it had.
func TestExecTTYRestoresTerminal(t *testing.T) {
	t.Parallel()
	s := startSandbox(t, "ttyraw", "--pidns")
	for _, tc := range []struct {
		name    string
		command []string
		ready   bool           // the command prints "ready" once it runs
		signal  syscall.Signal // sent to rkexec exec once the command is ready; 0 writes a line instead
		want    int
	}{
		{"exit", []string{"sh", "-c", `echo ready; read x; exit 3`}, true, 0, 3},
		{"relayed-signal", []string{"sh", "-c", `trap 'exit 7' TERM; echo ready; while :; do sleep 0.05; done`}, true, syscall.SIGTERM, 7},
		{"not-found", []string{"rkexec-no-such-command"}, false, 0, 127},
	} {
		t.Run(tc.name, func(t *testing.T) {
			master, slave := openPty(t, 24, 80)
			// The run gets slave (and the test closes it); the test reads the settings through a copy.
			fd, err := unix.Dup(int(slave.Fd()))
			if err != nil {
				t.Fatal(err)
			}
			probe := os.NewFile(uintptr(fd), "pty-probe")
			t.Cleanup(func() { probe.Close() })
			before, err := unix.IoctlGetTermios(fd, unix.TCGETS)
			if err != nil {
				t.Fatal(err)
			}
			if before.Lflag&unix.ICANON == 0 {
				t.Fatal("set-up: a new pty is not in canonical mode")
			}
			opts := s.opts()
			opts.TTY = slave
			cmd := startRkexecOpts(t, opts, append([]string{"exec", "-t", "ttyraw", "--"}, tc.command...)...)
			out := readPty(master) // never sees EIO while the probe is open: waitFor and String only
			if tc.ready {
				out.waitFor(t, "ready", 10*time.Second)
				during, err := unix.IoctlGetTermios(fd, unix.TCGETS)
				if err != nil {
					t.Fatal(err)
				}
				if during.Lflag&(unix.ICANON|unix.ECHO) != 0 {
					t.Errorf("while the command runs the terminal is not raw: lflag %#o", during.Lflag)
				}
				if tc.signal != 0 {
					if err := cmd.Process.Signal(tc.signal); err != nil {
						t.Fatal(err)
					}
				} else if _, err := master.Write([]byte("x\r")); err != nil {
					t.Fatal(err)
				}
			}
			if res := waitExit(t, cmd, 20*time.Second); res.status() != tc.want {
				t.Errorf("exit status %d, want %d; terminal: %q", res.status(), tc.want, out.String())
			}
			after, err := unix.IoctlGetTermios(fd, unix.TCGETS)
			if err != nil {
				t.Fatal(err)
			}
			if *after != *before {
				t.Errorf("terminal settings not restored:\n before %+v\n after  %+v", *before, *after)
			}
		})
	}
}
