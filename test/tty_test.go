package test

// Tests of the terminal guard: a command in the sandbox, sharing the caller's terminal, cannot push
// input into it with ioctl(TIOCSTI) (bubblewrap's CVE-2017-5226), under rkexec and rkexec exec, as
// root of the sandbox or as a subordinate uid, also after rkexec exec -d returned; --allow-tiocsti
// lets it, which shows that the tests can see an injection. Job control is kept: the command stays in
// the caller's foreground process group.

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// ttyInject is the attacker, in perl (perl-base is essential on Debian): it prints its Seccomp and
// NoNewPrivs lines of /proc/self/status, says whether it is in the terminal's foreground process
// group, then pushes "INJECTED-ARGV0" and a newline into its stdin, the
// caller's terminal, one byte at a time with TIOCSTI (0x5412), and says whether that worked. With a
// second argument, a FIFO, it first waits for a line from it.
const ttyInject = `use POSIX ();
if (@ARGV > 1) { open(my $f, "<", $ARGV[1]) or die "open $ARGV[1]: $!\n"; my $go = <$f>; }
open(my $st, "<", "/proc/self/status") or die "status: $!\n";
print grep { /^(Seccomp|NoNewPrivs):/ } <$st>;
print "foreground: ", (POSIX::tcgetpgrp(0) == getpgrp() ? "yes" : "no"), "\n";
for my $ch (split //, "INJECTED-$ARGV[0]\n") {
	my $c = $ch;
	unless (ioctl(STDIN, 0x5412, $c)) { print "TIOCSTI: $!\n"; exit 0; }
}
print "TIOCSTI: injected\n";
`

// requireTIOCSTI needs a kernel on which an unprivileged process may push input into its controlling
// terminal (dev.tty.legacy_tiocsti=1, or a kernel older than the sysctl), and perl.
func requireTIOCSTI(t testing.TB) {
	t.Helper()
	b, err := os.ReadFile("/proc/sys/dev/tty/legacy_tiocsti")
	if err == nil && strings.TrimSpace(string(b)) != "1" {
		skipOrFail(t, "sysctl dev.tty.legacy_tiocsti=1 (it is %s: TIOCSTI fails for everyone, so the test cannot tell)", strings.TrimSpace(string(b)))
	}
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	if _, err := exec.LookPath("perl"); err != nil {
		skipOrFail(t, "perl in PATH (apt-get install perl-base)")
	}
}

// typeahead returns what waits to be read on the terminal's slave side, where the caller's shell
// reads: it types a sentinel line on the master and reads the slave up to it.
func typeahead(t testing.TB, master, slave *os.File) string {
	t.Helper()
	const end = "END-OF-TYPEAHEAD"
	if _, err := master.Write([]byte(end + "\n")); err != nil {
		t.Fatal(err)
	}
	if err := slave.SetReadDeadline(time.Now().Add(10 * time.Second)); err != nil {
		t.Fatalf("slave read deadline: %v", err)
	}
	var got strings.Builder
	r := bufio.NewReader(slave)
	for {
		line, err := r.ReadString('\n')
		if before, ok := strings.CutSuffix(line, end+"\n"); ok {
			got.WriteString(before)
			return got.String()
		}
		got.WriteString(line)
		if err != nil {
			t.Fatalf("reading the terminal's input up to %s: %v (read %q)", end, err, got.String())
		}
	}
}

// ttyRun runs rkexec ARGS as the leader of a new session whose controlling terminal is a new pty,
// and returns what it printed and what it left typed on the terminal.
func ttyRun(t testing.TB, runtimeDir string, args ...string) (*Result, string) {
	t.Helper()
	master, slave := openPty(t, 24, 80)
	ctx, cancel := context.WithTimeout(context.Background(), defaultRunTimeout)
	defer cancel()
	cmd := rkexecCommand(ctx, t, runOpts{RuntimeDir: runtimeDir, TTY: slave}, args)
	// The terminal is stdin only: what the command prints is kept apart from what it types.
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("%q: no exit within %v\nstdout: %s\nstderr: %s", cmd.Args, defaultRunTimeout, stdout.Bytes(), stderr.Bytes())
	}
	res := &Result{Stdout: stdout.String(), Stderr: stderr.String()}
	if err := fillExit(res, err); err != nil {
		t.Fatalf("%q: %v\nstderr: %s", cmd.Args, err, stderr.Bytes())
	}
	return res, typeahead(t, master, slave)
}

// wantTTYResult checks one attempt: blocked (EPERM, nothing typed) or injected (the line typed).
func wantTTYResult(t testing.TB, res *Result, typed, marker string, blocked, foreground bool) {
	t.Helper()
	wantExit(t, res, 0)
	switch {
	case blocked && !strings.Contains(res.Stdout, "TIOCSTI: Operation not permitted"):
		t.Errorf("TIOCSTI was not refused with EPERM; stdout: %q", res.Stdout)
	case !blocked && !strings.Contains(res.Stdout, "TIOCSTI: injected"):
		t.Errorf("TIOCSTI failed with the opt-out; stdout: %q", res.Stdout)
	}
	injected := strings.Contains(typed, "INJECTED-"+marker)
	if blocked && injected {
		t.Errorf("the sandbox typed %q into the caller's terminal", typed)
	}
	if !blocked && !injected {
		t.Errorf("with the opt-out the injected line did not reach the terminal; typed %q", typed)
	}
	// The filter is there without no_new_privs, so setuid programs in the sandbox keep working.
	if blocked && (!strings.Contains(res.Stdout, "Seccomp:\t2\n") || !strings.Contains(res.Stdout, "NoNewPrivs:\t0\n")) {
		t.Errorf("want a seccomp filter (Seccomp: 2) and no no_new_privs (NoNewPrivs: 0); stdout: %q", res.Stdout)
	}
	if foreground && !strings.Contains(res.Stdout, "foreground: yes") {
		t.Errorf("the command is not in the terminal's foreground process group (job control lost); stdout: %q", res.Stdout)
	}
}

// TestTTYInjectRun: under rkexec, as the sandbox's root or a subordinate uid, with or without an init,
// TIOCSTI fails with EPERM and nothing reaches the terminal; with --allow-tiocsti it does.
func TestTTYInjectRun(t *testing.T) {
	t.Parallel()
	requireTIOCSTI(t)
	for _, tc := range []struct {
		name    string
		flags   []string
		prefix  []string // before perl
		subids  bool
		blocked bool
	}{
		{name: "root", blocked: true},
		{name: "root-allowed", flags: []string{"--allow-tiocsti"}},
		{name: "pidns", flags: []string{"--pidns"}, blocked: true},
		{name: "pidns-allowed", flags: []string{"--pidns", "--allow-tiocsti"}},
		{name: "subuid", prefix: []string{"setpriv", "--reuid=1000", "--regid=1000", "--clear-groups"}, subids: true, blocked: true},
		{name: "subuid-allowed", flags: []string{"--allow-tiocsti"}, prefix: []string{"setpriv", "--reuid=1000", "--regid=1000", "--clear-groups"}, subids: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if tc.subids {
				requireSubids(t)
			}
			marker := newMarker(t)
			args := append(append(tc.flags, "--"), tc.prefix...)
			res, typed := ttyRun(t, "", append(args, "perl", "-e", ttyInject, marker)...)
			// With a new pid namespace the process groups outside are not visible inside.
			wantTTYResult(t, res, typed, marker, tc.blocked, !slices.Contains(tc.flags, "--pidns"))
		})
	}
}

// TestTTYInjectExec: a command that rkexec exec runs on the caller's terminal, as the sandbox's root
// or as --user 1000, cannot type into it; with --allow-tiocsti it can. With -t the command has its own
// terminal: the filter holds there too, and even with the opt-out nothing reaches the caller's.
func TestTTYInjectExec(t *testing.T) {
	t.Parallel()
	requireTIOCSTI(t)
	s := startSandbox(t, "ttyexec")
	for _, tc := range []struct {
		name    string
		flags   []string
		subids  bool
		blocked bool
		tty     bool
	}{
		{name: "root", blocked: true},
		{name: "root-allowed", flags: []string{"--allow-tiocsti"}},
		{name: "user", flags: []string{"--user", "1000:1000"}, subids: true, blocked: true},
		{name: "user-allowed", flags: []string{"--user", "1000:1000", "--allow-tiocsti"}, subids: true},
		{name: "tty", flags: []string{"-t"}, blocked: true, tty: true},
		{name: "tty-allowed", flags: []string{"-t", "--allow-tiocsti"}, tty: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.subids {
				requireSubids(t)
			}
			marker := newMarker(t)
			args := append(append([]string{"exec"}, tc.flags...), s.name, "--", "perl", "-e", ttyInject, marker)
			res, typed := ttyRun(t, s.runtimeDir, args...)
			if !tc.tty {
				wantTTYResult(t, res, typed, marker, tc.blocked, true)
				return
			}
			// The command's own terminal echoes what it pushed (through rkexec exec's proxy, to
			// stdout); the caller's gets nothing either way.
			wantExit(t, res, 0)
			if want := map[bool]string{true: "TIOCSTI: Operation not permitted", false: "TIOCSTI: injected"}[tc.blocked]; !strings.Contains(res.Stdout, want) {
				t.Errorf("exec -t: stdout %q lacks %q", res.Stdout, want)
			}
			if strings.Contains(typed, "INJECTED-"+marker) {
				t.Errorf("exec -t: the command typed %q into the caller's terminal", typed)
			}
		})
	}
}

// TestTTYInjectAfterDetach: a command started with rkexec exec -d from the caller's shell waits until
// rkexec exec has returned to the shell, then tries to type into the terminal: refused; with
// --allow-tiocsti it succeeds.
func TestTTYInjectAfterDetach(t *testing.T) {
	t.Parallel()
	requireTIOCSTI(t)
	s := startSandbox(t, "ttydet")
	for _, tc := range []struct {
		name    string
		flags   []string
		blocked bool
	}{
		{name: "blocked", blocked: true},
		{name: "allowed", flags: []string{"--allow-tiocsti"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			marker := newMarker(t)
			res, typed := ttyDetached(t, s, marker, tc.flags)
			wantTTYResult(t, res, typed, marker, tc.blocked, true)
		})
	}
}

// ttyDetached runs `rkexec exec -d FLAGS` from a shell that leads the terminal's session and stays
// (as the caller's shell would), releases the detached command once rkexec exec has returned, and
// returns the command's output and what it left typed on the terminal.
func ttyDetached(t testing.TB, s *sandbox, marker string, flags []string) (*Result, string) {
	t.Helper()
	master, slave := openPty(t, 24, 80)
	fifo := filepath.Join(t.TempDir(), "go")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), defaultRunTimeout)
	defer cancel()
	execArgs := append(append([]string{rkexecBin(t), "exec", "-d"}, flags...), s.name, "--", "perl", "-e", ttyInject, marker, fifo)
	outR, outW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer outR.Close()
	statusR, statusW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer statusR.Close()
	// The shell reports rkexec exec's exit on fd 3, then stays without the command's stdout.
	opts := runOpts{RuntimeDir: s.runtimeDir, TTY: slave, Program: "/bin/sh", ExtraFiles: []*os.File{statusW}}
	cmd := rkexecCommand(ctx, t, opts, append([]string{"-c",
		`"$@" 3>&-; echo "exec exit $?" >&3; exec 3>&- >/dev/null 2>&1; exec sleep 1000`, "sh"}, execArgs...))
	cmd.Stdout, cmd.Stderr = outW, outW
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	outW.Close()
	statusW.Close()
	t.Cleanup(func() {
		_ = cmd.Process.Kill() // the shell, now sleep
		_ = cmd.Wait()         // killed: its status says nothing
	})
	status, err := bufio.NewReader(statusR).ReadString('\n')
	if err != nil {
		t.Fatalf("rkexec exec -d did not return to the shell: %v", err)
	}
	res := &Result{}
	if status != "exec exit 0\n" {
		t.Fatalf("rkexec exec -d: %q", status)
	}
	// rkexec exec has returned: let the command go on (O_RDWR does not wait for the reader).
	goFIFO, err := os.OpenFile(fifo, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer goFIFO.Close()
	if _, err := goFIFO.Write([]byte("go\n")); err != nil {
		t.Fatal(err)
	}
	done := make(chan []byte)
	go func() {
		b, _ := io.ReadAll(outR) // EOF once the command exited: nothing else holds the pipe
		done <- b
	}()
	select {
	case b := <-done:
		res.Stdout = string(b)
	case <-ctx.Done():
		t.Fatal("the detached command did not finish")
	}
	return res, typeahead(t, master, slave)
}

// TestTTYGuardEveryStartPath: whichever way rkexec starts the command (directly, through an init in
// new namespaces, as PID 1, or re-executed by a reaping init for socket activation), it runs under
// the filter, and with --allow-tiocsti without one.
func TestTTYGuardEveryStartPath(t *testing.T) {
	t.Parallel()
	for name, flags := range map[string][]string{
		"plain": nil, "pidns": {"--pidns"}, "pidns-no-reaper": {"--pidns", "--reaper=false"}, "utsns": {"--utsns"},
		"activation-pidns": {"--pidns"},
	} {
		for _, allow := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/allow=%v", name, allow), func(t *testing.T) {
				t.Parallel()
				args := slices.Clone(flags)
				if allow {
					args = append(args, "--allow-tiocsti")
				}
				args = append(args, "--", "grep", "^Seccomp:", "/proc/self/status")
				var res *Result
				if !strings.HasPrefix(name, "activation") {
					res = rkexecOpts(t, runOpts{}, args...)
				} else {
					res = rkexecActivated(t, args)
				}
				wantExit(t, res, 0)
				if strings.Contains(res.Stderr, "ignoring socket activation") {
					t.Fatalf("the socket was not passed: %s", res.Stderr)
				}
				want := map[bool]string{false: "Seccomp:\t2", true: "Seccomp:\t0"}[allow]
				if got := strings.TrimSpace(res.Stdout); got != want {
					t.Errorf("the command's %q, want %q", got, want)
				}
			})
		}
	}
}

// rkexecActivated runs rkexec ARGS with a listening socket passed the systemd way.
func rkexecActivated(t testing.TB, args []string) *Result {
	t.Helper()
	f := activationSocket(t)
	wrapper := filepath.Join(t.TempDir(), "wrap.sh")
	writeScript(t, wrapper, fmt.Sprintf("export LISTEN_PID=$$ LISTEN_FDS=1\nexec %s \"$@\"\n", rkexecBin(t)))
	return rkexecOpts(t, runOpts{Program: "/bin/sh", ExtraFiles: []*os.File{f}}, append([]string{wrapper}, args...)...)
}
