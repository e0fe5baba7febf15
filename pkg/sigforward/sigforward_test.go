package sigforward

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/rkexec/rkexec/internal/testenv"
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
// even one a terminal sends to its foreground group (SIGINT), which a signal caught later is not
// (the terminal delivered it to the target already); and Relayed reports it. It runs in a copy of
// the test binary that has a pty as its controlling terminal and is in its foreground group, so that
// FromTerminal(SIGINT) holds there.
func TestHeldSignalsReachTheTarget(t *testing.T) {
	if os.Getenv(helperEnv) != "" {
		heldSignalHelper(t)
		return
	}
	master, slave := testenv.OpenPty(t)
	var out bytes.Buffer
	done := make(chan struct{})
	go func() { defer close(done); _, _ = io.Copy(&out, master) }() // until EIO: every slave closed
	runHelper(t, "TestHeldSignalsReachTheTarget", slave,
		&syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}, func() string { <-done; return out.String() })
}

func heldSignalHelper(t *testing.T) {
	if !FromTerminal(unix.SIGINT) {
		t.Fatal("set-up: the helper is not in its terminal's foreground group, FromTerminal(SIGINT) is false")
	}
	f := Start()
	defer f.Stop()
	if err := unix.Kill(os.Getpid(), unix.SIGINT); err != nil {
		t.Fatal(err)
	}
	// Held: caught, before there is a target. Nothing signals that the runtime has passed it on.
	waitUntil(t, func() bool { return len(f.ch) == 1 }, "SIGINT sent to ourselves did not reach the forwarder")
	cmd, _ := startReady(t, `trap 'exit 7' INT; echo ready; while :; do sleep 0.05; done`)
	f.SetTarget(cmd.Process.Pid, nil)
	inTime, err := waitWithin(cmd, 10*time.Second, func() { _ = cmd.Process.Kill() })
	if !inTime {
		t.Fatal("the SIGINT held from before SetTarget did not reach the target within 10s")
	}
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 7 {
		t.Fatalf("target: %v, want exit 7 from its INT trap", err)
	}
	if !f.Relayed(unix.SIGINT) || f.Relayed(unix.SIGUSR2) {
		t.Fatal("Relayed does not match what was relayed")
	}
	fmt.Println(helperDone)
}

// TestStopWithoutTarget: Stop before SetTarget relays nothing, not even a signal held by then, and
// signals nobody (kill(0) would signal the whole process group). It runs in a copy of the test binary
// in a process group of its own, with a shell in that group as the witness.
func TestStopWithoutTarget(t *testing.T) {
	if os.Getenv(helperEnv) != "" {
		stopWithoutTargetHelper(t)
		return
	}
	var out bytes.Buffer
	runHelper(t, "TestStopWithoutTarget", nil, &syscall.SysProcAttr{Setpgid: true}, out.String)
}

func stopWithoutTargetHelper(t *testing.T) {
	// The witness records the signals it gets; it ends on SIGTERM, after running the trap of any
	// SIGUSR1 already sent to it (the lower number is delivered, and its trap run, first).
	witness, stdout := startReady(t, `trap 'echo USR1' USR1; trap 'echo TERM; exit 0' TERM; echo ready; while :; do sleep 0.05; done`)
	// Should the forwarder signal the group, this process survives it and can tell.
	survive := make(chan os.Signal, 1)
	signal.Notify(survive, unix.SIGUSR1)
	defer signal.Stop(survive)

	f := Start()
	if err := unix.Kill(os.Getpid(), unix.SIGUSR1); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, func() bool { return len(f.ch) == 1 }, "SIGUSR1 sent to ourselves did not reach the forwarder")
	f.Stop() // returns once the forwarder's goroutine has ended: whatever it sent is sent
	if f.Relayed(unix.SIGUSR1) {
		t.Error("relayed with no target")
	}
	if err := witness.Process.Signal(unix.SIGTERM); err != nil {
		t.Fatal(err)
	}
	rest, err := io.ReadAll(stdout)
	if err != nil {
		t.Fatal(err)
	}
	if err := witness.Wait(); err != nil {
		t.Fatalf("witness: %v", err)
	}
	if got := string(rest); got != "TERM\n" {
		t.Errorf("the witness in our process group got %q, want only the test's TERM: Stop without a target signalled the group", got)
	}
	fmt.Println(helperDone)
}

// startReady starts sh -c script and returns once the script printed its first line, "ready" (after
// setting its traps), with the rest of its stdout.
func startReady(t *testing.T, script string) (*exec.Cmd, io.Reader) {
	t.Helper()
	cmd := exec.Command("sh", "-c", script)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, len("ready\n"))
	if _, err := io.ReadFull(stdout, buf); err != nil || string(buf) != "ready\n" {
		t.Fatalf("%s: first line %q, %v; want ready", script, buf, err)
	}
	return cmd, stdout
}

// waitWithin waits for cmd; when it has not exited within timeout, kill ends it, and inTime is false.
func waitWithin(cmd *exec.Cmd, timeout time.Duration, kill func()) (inTime bool, err error) {
	waited := make(chan error, 1)
	go func() { waited <- cmd.Wait() }()
	select {
	case err = <-waited:
		return true, err
	case <-time.After(timeout):
		kill()
		return false, <-waited
	}
}

// helperEnv, set, makes a test run its helper: the test binary re-executed by runHelper.
const helperEnv = "SIGFORWARD_TEST_HELPER"

// helperDone is the line a helper prints when it ran to its end.
const helperDone = "sigforward helper: done"

// runHelper re-executes the test binary to run test name as its helper, with attr and, when tty is
// not nil, tty as its stdin, stdout and stderr (output then reads what it wrote); it fails the test
// unless the helper passes within 30s and prints helperDone.
func runHelper(t *testing.T, name string, tty *os.File, attr *syscall.SysProcAttr, output func() string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^"+name+"$", "-test.count=1")
	cmd.Env = append(os.Environ(), helperEnv+"=1")
	cmd.SysProcAttr = attr
	var buf bytes.Buffer
	if tty != nil {
		cmd.Stdin, cmd.Stdout, cmd.Stderr = tty, tty, tty
	} else {
		cmd.Stdout, cmd.Stderr = &buf, &buf
		output = buf.String
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	if tty != nil {
		tty.Close() // the helper holds it now
	}
	_, err := waitWithin(cmd, 30*time.Second, func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) // its own group: the helper and its children
	})
	out := output()
	if err != nil || !strings.Contains(out, helperDone) {
		t.Fatalf("helper %s: %v\n%s", name, err, out)
	}
}

// waitUntil polls cond, which nothing signals, for up to 10s; it fails the test with msg when cond
// stays false.
func waitUntil(t *testing.T, cond func() bool, msg string) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal(msg)
		}
	}
}

// TestRelayedCoversEverySignal: Relayed answers for signal 1 and for 64 (SIGRTMAX) alike.
func TestRelayedCoversEverySignal(t *testing.T) {
	f := newForwarder(func(unix.Signal) bool { return false })
	var sent []unix.Signal
	tg := target{send: func(s unix.Signal) error { sent = append(sent, s); return nil }}
	for _, sig := range []syscall.Signal{1, 63, 64} {
		f.relay(tg, sig, false)
	}
	for _, sig := range []syscall.Signal{1, 63, 64} {
		if !f.Relayed(sig) {
			t.Errorf("Relayed(%d) = false after relaying it", sig)
		}
	}
	if f.Relayed(2) || f.Relayed(65) || f.Relayed(0) {
		t.Error("Relayed says yes for a signal never relayed")
	}
	if len(sent) != 3 {
		t.Errorf("sent %v, want the three signals", sent)
	}
}
