package test

// The helpers every feature test uses; harness_test.go is the harness (TestMain, the phases, the
// prerequisites). One way to run rkexec (runOpts, with rkexecOpts for a run to its end and
// startRkexecOpts for one the test drives), one wait (eventually), one pty set-up (openPty and
// runOpts.TTY), one running sandbox (startSandbox).

import (
	"bytes"
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"io/fs"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/rkexec/rkexec/internal/testenv"
)

// ---- running rkexec ----

// Result is what one rkexec run produced.
type Result struct {
	Stdout, Stderr string
	ExitCode       int            // -1 when rkexec itself died of a signal
	Signal         syscall.Signal // the signal rkexec died of, 0 when it exited
}

// status is the exit status as a shell reports it: the exit code, or 128+N for death by signal N.
func (r *Result) status() int {
	if r.Signal != 0 {
		return 128 + int(r.Signal)
	}
	return r.ExitCode
}

// runOpts are the settings of a run; the zero value is a plain run with a clean environment.
type runOpts struct {
	Env        []string      // "KEY=value" entries added to the clean environment
	Stdin      io.Reader     // nil: no stdin (/dev/null)
	Dir        string        // working directory; "" for the test's
	RuntimeDir string        // XDG_RUNTIME_DIR; "" for runtimeDirOf(t)
	Timeout    time.Duration // rkexecOpts only: 0 for defaultRunTimeout
	// Program runs in rkexec's place (a wrapper script that execs rkexec, unshare), with the same
	// environment and process group; "" for rkexec itself.
	Program    string
	ExtraFiles []*os.File          // fds 3, 4, ... of the run
	Credential *syscall.Credential // run as another user (as root)
	// Output, when set, is the run's stdout and stderr (a file: rkexec exec -d's command inherits it);
	// rkexecOpts then returns its content as Stdout.
	Output *os.File
	// TTY, when set, is the run's stdin, stdout, stderr and controlling terminal (in a new session):
	// the slave of openPty, which startRkexecOpts closes in the test once the run has it.
	TTY *os.File
}

// rkexec runs the binary with args and no options, and returns what it produced.
func rkexec(t testing.TB, args ...string) *Result {
	t.Helper()
	return rkexecOpts(t, runOpts{}, args...)
}

// rkexecOpts runs the binary with args to its end and returns what it produced; it fails the test
// when the run takes longer than the timeout, after killing rkexec's process group.
func rkexecOpts(t testing.TB, opts runOpts, args ...string) *Result {
	t.Helper()
	timeout := cmp.Or(opts.Timeout, defaultRunTimeout)
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := rkexecCommand(ctx, t, opts, args)
	var stdout, stderr bytes.Buffer
	if opts.Output == nil {
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
	}
	err := cmd.Run()
	if opts.Output != nil {
		data, rerr := os.ReadFile(opts.Output.Name())
		if rerr != nil {
			t.Fatalf("read the output of %q: %v", cmd.Args, rerr)
		}
		stdout.Write(data)
	}
	if ctx.Err() != nil {
		t.Fatalf("%q: no exit within %v, killed its process group\nstdout: %s\nstderr: %s", cmd.Args, timeout, stdout.Bytes(), stderr.Bytes())
	}
	res := &Result{Stdout: stdout.String(), Stderr: stderr.String()}
	if err := fillExit(res, err); err != nil {
		t.Fatalf("%q: %v\nstderr: %s", cmd.Args, err, stderr.Bytes())
	}
	return res
}

// fillExit sets res's exit code and signal from what exec.Cmd.Wait returned; it returns err when
// it is not an exit status.
func fillExit(res *Result, err error) error {
	var exitErr *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &exitErr):
		res.ExitCode = exitErr.ExitCode()
		if ws, ok := exitErr.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			res.Signal = ws.Signal()
		}
	default:
		return err
	}
	return nil
}

// startRkexec starts the binary with args and no options; see startRkexecOpts.
func startRkexec(t testing.TB, args ...string) *exec.Cmd {
	t.Helper()
	return startRkexecOpts(t, runOpts{}, args...)
}

// startRkexecOpts starts the binary in its own process group (its own session with opts.TTY) and
// returns it running; its output is in outputOf(cmd), its end in waitExit (opts.Timeout is ignored:
// the test decides when it ends). Clean-up kills the group of a run the test did not wait for.
func startRkexecOpts(t testing.TB, opts runOpts, args ...string) *exec.Cmd {
	t.Helper()
	cmd := rkexecCommand(context.Background(), t, opts, args)
	if opts.TTY == nil && opts.Output == nil {
		cmd.Stdout, cmd.Stderr = &syncBuffer{}, &syncBuffer{}
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %q: %v", cmd.Args, err)
	}
	if opts.TTY != nil {
		// The run holds the slave now; once every holder closed it, the master reads EIO.
		if err := opts.TTY.Close(); err != nil {
			t.Fatalf("close the pty slave: %v", err)
		}
	}
	t.Cleanup(func() {
		if cmd.ProcessState != nil {
			return // the test waited for it
		}
		// The group's leader is not reaped yet, so its pgid cannot have been reused.
		if err := syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
			t.Errorf("kill rkexec's process group %d: %v", cmd.Process.Pid, err)
		}
		_ = cmd.Wait() // its exit status after SIGKILL says nothing
	})
	return cmd
}

// outputOf returns what a run from startRkexecOpts has written so far ("" for a TTY or Output run).
func outputOf(cmd *exec.Cmd) (stdout, stderr string) {
	if b, ok := cmd.Stdout.(*syncBuffer); ok {
		stdout = b.String()
	}
	if b, ok := cmd.Stderr.(*syncBuffer); ok {
		stderr = b.String()
	}
	return stdout, stderr
}

// rkexecCommand prepares a run: clean environment, own process group, killed as a group on ctx's end.
func rkexecCommand(ctx context.Context, t testing.TB, opts runOpts, args []string) *exec.Cmd {
	t.Helper()
	prog := cmp.Or(opts.Program, rkexecBin(t))
	runtimeDir := opts.RuntimeDir
	if runtimeDir == "" {
		runtimeDir = runtimeDirOf(t)
	}
	cmd := exec.CommandContext(ctx, prog, args...)
	cmd.Env = []string{"PATH=" + cmp.Or(os.Getenv("PATH"), defaultPath), "HOME=" + os.Getenv("HOME"), "XDG_RUNTIME_DIR=" + runtimeDir}
	for _, k := range []string{"CI", "TERM"} {
		if v, ok := os.LookupEnv(k); ok {
			cmd.Env = append(cmd.Env, k+"="+v)
		}
	}
	cmd.Env = append(cmd.Env, opts.Env...)
	cmd.Stdin = opts.Stdin
	cmd.Dir = opts.Dir
	cmd.ExtraFiles = opts.ExtraFiles
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Credential: opts.Credential}
	if opts.Output != nil {
		cmd.Stdout, cmd.Stderr = opts.Output, opts.Output
	}
	if opts.TTY != nil {
		cmd.Stdin, cmd.Stdout, cmd.Stderr = opts.TTY, opts.TTY, opts.TTY
		// A new session is a new process group too (setpgid would fail on the session leader).
		cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0, Credential: opts.Credential}
	}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second // a leaked process holding stdout open must not hang the test
	return cmd
}

// rkexecBin returns the rkexec binary the harness built.
func rkexecBin(t testing.TB) string {
	t.Helper()
	bin := os.Getenv(binEnv)
	if bin == "" {
		t.Fatalf("%s is not set (TestMain sets it)", binEnv)
	}
	return bin
}

// runtimeDirOf returns the test's XDG_RUNTIME_DIR (mode 0700), the same for every run in one test,
// removed when the test ends. It is short: unix socket paths below it are limited to 108 bytes.
func runtimeDirOf(t testing.TB) string {
	t.Helper()
	h := fnv.New32a()
	h.Write([]byte(t.Name()))
	dir := filepath.Join(os.TempDir(), fmt.Sprintf("xdg-%d-%08x", os.Getpid(), h.Sum32()))
	err := os.Mkdir(dir, 0o700)
	if errors.Is(err, fs.ErrExist) {
		return dir
	}
	if err != nil {
		t.Fatalf("XDG_RUNTIME_DIR: %v", err)
	}
	t.Cleanup(func() {
		// Files that rkexec left behind, owned by subordinate ids, may resist; assertNoStateDir
		// is where a test checks for leftovers.
		if err := os.RemoveAll(dir); err != nil {
			t.Logf("remove XDG_RUNTIME_DIR: %v", err)
		}
	})
	return dir
}

// syncBuffer is a bytes.Buffer that a running command writes while the test reads it.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// ---- waiting ----

// waitUntil calls cond every poll until it returns nil, and returns nil; after timeout it returns
// cond's last error. It is the one polling loop of the tests: for conditions nothing signals (a file
// appearing, a process going); where a ready signal exists, the test waits for that instead.
func waitUntil(timeout, poll time.Duration, cond func() error) error {
	deadline := time.Now().Add(timeout)
	for {
		err := cond()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return err
		}
		time.Sleep(poll)
	}
}

// eventually is waitUntil that fails the test (Fatalf) with cond's last error after timeout.
func eventually(t testing.TB, timeout, poll time.Duration, cond func() error) {
	t.Helper()
	if err := waitUntil(timeout, poll, cond); err != nil {
		t.Fatalf("not within %v: %v", timeout, err)
	}
}

// waitForFile waits until path exists (child_pid in the state dir is rkexec's ready signal; a
// command's ready file is its own); it fails at once, with rkexec's output, when cmd (from
// startRkexecOpts, not yet waited for) exits first.
func waitForFile(t testing.TB, cmd *exec.Cmd, path string, timeout time.Duration) {
	t.Helper()
	eventually(t, timeout, 10*time.Millisecond, func() error {
		_, err := os.Stat(path)
		if err == nil {
			return nil
		}
		if !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("wait for %s: %v", path, err)
		}
		if exitedUnreaped(cmd.Process.Pid) {
			_ = cmd.Wait()
			stdout, stderr := outputOf(cmd)
			t.Fatalf("%q exited (%v) before %s appeared\nstdout: %s\nstderr: %s",
				cmd.Args[1:], cmd.ProcessState, path, stdout, stderr)
		}
		stdout, stderr := outputOf(cmd)
		return fmt.Errorf("%s did not appear\nstdout: %s\nstderr: %s", path, stdout, stderr)
	})
}

// waitExit waits for a run from startRkexecOpts and returns what it produced; it fails the test, after
// killing the run's process group, when the run does not exit within timeout.
func waitExit(t testing.TB, cmd *exec.Cmd, timeout time.Duration) *Result {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	var err error
	select {
	case err = <-done:
	case <-time.After(timeout):
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-done
		stdout, stderr := outputOf(cmd)
		t.Fatalf("%q did not exit within %v\nstdout: %s\nstderr: %s", cmd.Args[1:], timeout, stdout, stderr)
	}
	res := &Result{}
	res.Stdout, res.Stderr = outputOf(cmd)
	if err := fillExit(res, err); err != nil {
		t.Fatalf("%q: %v\nstderr: %s", cmd.Args[1:], err, res.Stderr)
	}
	return res
}

// waitForProcesses waits until at least n live processes of ours carry marker on their command line.
func waitForProcesses(t testing.TB, marker string, n int, timeout time.Duration) {
	t.Helper()
	eventually(t, timeout, 10*time.Millisecond, func() error {
		if found := processesWith(t, marker); len(found) < n {
			return fmt.Errorf("want %d processes with %q, found %d:\n%s", n, marker, len(found), strings.Join(found, "\n"))
		}
		return nil
	})
}

// noProcessesLeft fails the test if, after waiting up to leftoverTimeout, a process of the current
// user (or of one of its subordinate uids) has marker on its command line; zombies do not count.
func noProcessesLeft(t testing.TB, marker string) {
	t.Helper()
	err := waitUntil(leftoverTimeout, 50*time.Millisecond, func() error {
		if left := processesWith(t, marker); len(left) > 0 {
			return fmt.Errorf("processes with %q still running after %v:\n%s", marker, leftoverTimeout, strings.Join(left, "\n"))
		}
		return nil
	})
	if err != nil {
		t.Error(err)
	}
}

// noStateDirWithin fails the test if dir still exists after timeout, listing what is left in it.
func noStateDirWithin(t testing.TB, dir string, timeout time.Duration) {
	t.Helper()
	_ = waitUntil(timeout, 20*time.Millisecond, func() error {
		if _, err := os.Lstat(dir); errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		return errors.New("still there")
	})
	assertNoStateDir(t, dir)
}

// ---- processes ----

// newMarker returns a string unique to this call, to put on a command line for noProcessesLeft.
func newMarker(t testing.TB) string {
	t.Helper()
	b := make([]byte, 8)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return "rkexec-marker-" + hex.EncodeToString(b)
}

// sleepMarker returns a unique sleep duration (nine digits) to use as `sleep N`: N on the command
// line is the marker noProcessesLeft looks for. Clean-up SIGKILLs what still carries it, so that a
// failing test leaves nothing running.
func sleepMarker(t testing.TB) string {
	t.Helper()
	n, err := rand.Int(rand.Reader, big.NewInt(900_000_000))
	if err != nil {
		t.Fatal(err)
	}
	marker := strconv.FormatInt(100_000_000+n.Int64(), 10)
	t.Cleanup(func() {
		for _, p := range processesWith(t, marker) {
			if pid, err := strconv.Atoi(strings.Fields(p)[0]); err == nil {
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
		}
	})
	return marker
}

// processesWith lists "pid uid N: cmdline" of the live processes described in noProcessesLeft.
func processesWith(t testing.TB, marker string) []string {
	t.Helper()
	ranges := subIDRanges(t, "/etc/subuid")
	mine := func(uid uint64) bool {
		if uid == uint64(os.Getuid()) {
			return true
		}
		for _, r := range ranges {
			if uid >= uint64(r.Start) && uid < uint64(r.Start)+uint64(r.Count) {
				return true
			}
		}
		return false
	}
	var found []string
	for _, pid := range pids(t) {
		if pid == os.Getpid() {
			continue
		}
		if line, ok := liveWithMarker(pid, marker, mine); ok {
			found = append(found, line)
		}
	}
	return found
}

// liveWithMarker describes pid ("PID uid UID: cmdline") if one of its threads still runs, with
// marker on its command line and a uid that mine accepts. A process whose first thread exited shows
// as a zombie with no command line while its other threads run on: its threads are looked at too.
func liveWithMarker(pid int, marker string, mine func(uint64) bool) (string, bool) {
	dirs := []string{fmt.Sprintf("/proc/%d", pid)}
	if tasks, err := os.ReadDir(dirs[0] + "/task"); err == nil {
		for _, task := range tasks {
			dirs = append(dirs, dirs[0]+"/task/"+task.Name())
		}
	}
	for _, dir := range dirs {
		// Errors: the process or thread exited between listing /proc and here.
		cmdline, err := os.ReadFile(dir + "/cmdline")
		if err != nil || !bytes.Contains(cmdline, []byte(marker)) {
			continue
		}
		status, err := os.ReadFile(dir + "/status")
		if err != nil {
			continue
		}
		if uid, zombie := statusUID(string(status)); !zombie && mine(uid) {
			return fmt.Sprintf("%d uid %d: %s", pid, uid, bytes.ReplaceAll(cmdline, []byte{0}, []byte{' '})), true
		}
	}
	return "", false
}

// pids lists the processes in /proc.
func pids(t testing.TB) []int {
	t.Helper()
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatalf("read /proc: %v", err)
	}
	var pids []int
	for _, e := range entries {
		if pid, err := strconv.Atoi(e.Name()); err == nil {
			pids = append(pids, pid)
		}
	}
	return pids
}

// statusUID returns the real uid in /proc/PID/status and whether the process is a zombie.
func statusUID(status string) (uid uint64, zombie bool) {
	for line := range strings.Lines(status) {
		f := strings.Fields(line)
		switch {
		case len(f) >= 2 && f[0] == "Uid:":
			uid, _ = strconv.ParseUint(f[1], 10, 32) // the kernel writes decimal
		case len(f) >= 2 && f[0] == "State:":
			zombie = f[1] == "Z"
		}
	}
	return uid, zombie
}

// procStat is what the tests read of /proc/PID/stat.
type procStat struct {
	Comm  string
	State string // "R", "S", "Z", ...
	PPID  int
}

// readProcStat reads /proc/PID/stat; ok is false when the process is gone or the line does not parse.
func readProcStat(pid int) (st procStat, ok bool) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return st, false
	}
	s := string(data)
	open, end := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
	if open < 0 || end < open {
		return st, false
	}
	f := strings.Fields(s[end+1:]) // state, ppid, ...
	if len(f) < 2 {
		return st, false
	}
	ppid, err := strconv.Atoi(f[1])
	if err != nil {
		return st, false
	}
	return procStat{Comm: s[open+1 : end], State: f[0], PPID: ppid}, true
}

// exitedUnreaped reports whether our child pid is a zombie (exited, not yet waited for), or gone.
func exitedUnreaped(pid int) bool {
	st, ok := readProcStat(pid)
	return !ok || st.State == "Z"
}

// childrenNamed returns the pids of the children of ppid whose /proc/PID/comm is comm.
func childrenNamed(t testing.TB, ppid int, comm string) []int {
	t.Helper()
	var found []int
	for _, pid := range pids(t) {
		if st, ok := readProcStat(pid); ok && st.PPID == ppid && st.Comm == comm {
			found = append(found, pid)
		}
	}
	return found
}

// nsLink returns the /proc/PID/ns/KIND link of a process, as the test process sees it.
func nsLink(t testing.TB, pid int, kind string) string {
	t.Helper()
	link, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/%s", pid, kind))
	if err != nil {
		t.Fatal(err)
	}
	return link
}

// ---- a running sandbox ----

// sandbox is a running `rkexec --name NAME ... -- sh -c 'sleep 1000; :' MARKER` started for a test.
type sandbox struct {
	cmd        *exec.Cmd
	name       string
	runtimeDir string // its XDG_RUNTIME_DIR, to reach it by name from subtests
	stateDir   string
	childPID   int
	marker     string // on the command line of rkexec and of the sandbox's command
}

// startSandbox starts a sandbox named name with extra run flags and waits until it is ready
// (child_pid exists). Clean-up ends it.
func startSandbox(t testing.TB, name string, flags ...string) *sandbox {
	t.Helper()
	s := &sandbox{name: name, runtimeDir: runtimeDirOf(t), marker: newMarker(t)}
	s.stateDir = filepath.Join(s.runtimeDir, "rkexec", name)
	args := append(append([]string{"--name", name}, flags...), "--", "sh", "-c", "sleep 1000; :", s.marker)
	s.cmd = startRkexec(t, args...)
	// Before startRkexec's clean-up SIGKILLs the process group (which kills rkexec's child too, before
	// it can clean up), end the sandbox the ordinary way, so that what a failed test started inside it
	// (rkexec exec -d commands, which are not in that group) goes with it.
	t.Cleanup(func() {
		if s.cmd.ProcessState != nil {
			return
		}
		_ = s.cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = s.cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
			<-done
		}
	})
	pidFile := filepath.Join(s.stateDir, "child_pid")
	waitForFile(t, s.cmd, pidFile, 10*time.Second)
	data, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	s.childPID, err = strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil {
		t.Fatalf("child_pid %q: %v", data, err)
	}
	return s
}

// opts are run options that reach this sandbox by name.
func (s *sandbox) opts() runOpts { return runOpts{RuntimeDir: s.runtimeDir} }

// exec runs `rkexec exec ARGS...` (flags, the sandbox's name, the command) against the sandbox's
// XDG_RUNTIME_DIR.
func (s *sandbox) exec(t testing.TB, args ...string) *Result {
	t.Helper()
	return rkexecOpts(t, s.opts(), append([]string{"exec"}, args...)...)
}

// stop ends the sandbox with SIGTERM to rkexec (relayed to its command) and waits for it.
func (s *sandbox) stop(t testing.TB) {
	t.Helper()
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if res := waitExit(t, s.cmd, 10*time.Second); res.status() != 143 {
		t.Errorf("sandbox %s after SIGTERM: exit code %d, want 143; stderr: %s", s.name, res.status(), res.Stderr)
	}
}

// makeDeadSandbox creates by hand what a killed rkexec leaves: a state directory with a lock file
// nobody holds and a state.json.
func makeDeadSandbox(t testing.TB, runtimeDir, name string) string {
	t.Helper()
	dir := filepath.Join(runtimeDir, "rkexec", name)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "lock"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	state := fmt.Sprintf(`{"name":%q,"state_dir":%q,"parent_pid":999999,"child_pid":999998,`+
		`"command":["sleep","1000"],"network":"host","started":"2024-01-01T00:00:00Z"}`, name, dir)
	if err := os.WriteFile(filepath.Join(dir, "state.json"), []byte(state), 0o600); err != nil {
		t.Fatal(err)
	}
	return dir
}

// readState reads a running sandbox's state.json as a generic map.
func readState(t testing.TB, stateDir string) map[string]any {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(stateDir, "state.json"))
	if err != nil {
		t.Fatal(err)
	}
	var st map[string]any
	if err := json.Unmarshal(data, &st); err != nil {
		t.Fatalf("state.json: %v\n%s", err, data)
	}
	return st
}

// activationSocket returns a listening unix socket's file, for passing to rkexec the systemd way
// (as fd 3, with LISTEN_FDS=1 and LISTEN_PID set by a wrapper); closed when the test ends.
func activationSocket(t testing.TB) *os.File {
	t.Helper()
	// In the short runtime dir: socket paths are limited to 108 bytes.
	ln, err := net.Listen("unix", filepath.Join(runtimeDirOf(t), "act.sock"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	f, err := ln.(*net.UnixListener).File()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

// ---- terminals ----

// openPty opens a new pseudo-terminal pair with the given size; the slave goes to runOpts.TTY.
func openPty(t testing.TB, rows, cols uint16) (master, slave *os.File) {
	t.Helper()
	master, slave = testenv.OpenPty(t)
	if err := unix.IoctlSetWinsize(int(slave.Fd()), unix.TIOCSWINSZ, &unix.Winsize{Row: rows, Col: cols}); err != nil {
		t.Fatalf("set window size: %v", err)
	}
	return master, slave
}

// ptyReader collects what a pty master produces, until EIO (every slave closed).
type ptyReader struct {
	buf  syncBuffer
	done chan struct{}
}

func readPty(master *os.File) *ptyReader {
	r := &ptyReader{done: make(chan struct{})}
	go func() {
		defer close(r.done)
		_, _ = io.Copy(&r.buf, master) // ends with EIO once no slave is open
	}()
	return r
}

// String returns what the terminal has shown so far.
func (r *ptyReader) String() string { return r.buf.String() }

// waitFor waits until the output contains s.
func (r *ptyReader) waitFor(t testing.TB, s string, timeout time.Duration) {
	t.Helper()
	eventually(t, timeout, 10*time.Millisecond, func() error {
		if !strings.Contains(r.String(), s) {
			return fmt.Errorf("no %q on the terminal; got %q", s, r.String())
		}
		return nil
	})
}

// ---- assertions ----

// wantExit fails the test unless res exited (not by a signal) with code.
func wantExit(t testing.TB, res *Result, code int) {
	t.Helper()
	if res.ExitCode != code || res.Signal != 0 {
		how := fmt.Sprintf("exit code %d", res.ExitCode)
		if res.Signal != 0 {
			how = fmt.Sprintf("killed by %v", res.Signal)
		}
		t.Fatalf("%s, want exit code %d\nstdout: %s\nstderr: %s", how, code, res.Stdout, res.Stderr)
	}
}

// oneErrorLine fails the test unless stderr is exactly one "rkexec: " (or "rkexec exec: ") line, no
// empty lines around it, containing each of words.
func oneErrorLine(t testing.TB, res *Result, words ...string) {
	t.Helper()
	line := strings.TrimSuffix(res.Stderr, "\n")
	if line == "" || strings.Contains(line, "\n") {
		t.Errorf("want exactly one line on stderr, got:\n%s", res.Stderr)
		return
	}
	// "rkexec exec: " is what rkexec exec's stage inside the sandbox writes.
	if !strings.HasPrefix(line, "rkexec: ") && !strings.HasPrefix(line, "rkexec exec: ") {
		t.Errorf("stderr line does not start with %q: %q", "rkexec: ", line)
	}
	for _, w := range words {
		if !strings.Contains(line, w) {
			t.Errorf("stderr line does not mention %q: %q", w, line)
		}
	}
}

// nonEmptyLines returns the lines of s that are not empty, without their line ends.
func nonEmptyLines(s string) []string {
	var lines []string
	for line := range strings.Lines(s) {
		if line = strings.TrimRight(line, "\n"); line != "" {
			lines = append(lines, line)
		}
	}
	return lines
}

// mapLines returns the lines of a /proc/PID/{uid,gid}_map with the padding collapsed: "0 1000 1".
func mapLines(s string) []string {
	var lines []string
	for line := range strings.Lines(s) {
		if f := strings.Fields(line); len(f) > 0 {
			lines = append(lines, strings.Join(f, " "))
		}
	}
	return lines
}

// assertNoStateDir fails the test if dir exists, listing what is left in it.
func assertNoStateDir(t testing.TB, dir string) {
	t.Helper()
	_, err := os.Lstat(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return
	}
	if err != nil {
		t.Errorf("state dir %s: %v", dir, err)
		return
	}
	var left []string
	_ = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err == nil {
			left = append(left, path)
		}
		return nil // list what can be listed
	})
	t.Errorf("state dir %s still exists: %s", dir, strings.Join(left, " "))
}

// dirEntries returns the names in dir, or nil when dir does not exist.
func dirEntries(t testing.TB, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		t.Fatalf("read %s: %v", dir, err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

// notCreated fails the test if path exists: the command that would have created it must not have run.
func notCreated(t testing.TB, path, what string) {
	t.Helper()
	if _, err := os.Lstat(path); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("%s (%s exists: %v)", what, path, err)
	}
}

// stopFileScript is a command (sh -c stopFileScript sh STOP) that runs until the file STOP exists; see
// stopAndWait.
const stopFileScript = `while [ ! -e "$1" ]; do sleep 0.02; done`

// stopAndWait creates the stop file a running stopFileScript waits for, and wants rkexec (from
// startRkexecOpts) to exit 0 within defaultRunTimeout.
func stopAndWait(t testing.TB, cmd *exec.Cmd, stop string) {
	t.Helper()
	if err := os.WriteFile(stop, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if res := waitExit(t, cmd, defaultRunTimeout); res.status() != 0 {
		t.Errorf("%q: exit code %d, want 0; stderr: %s", cmd.Args[1:], res.status(), res.Stderr)
	}
}

// wantSIGTERMTrapped starts rkexec with args and a command whose SIGTERM trap prints "trapped" and
// exits 7, sends rkexec SIGTERM once the trap is set, and wants rkexec to exit 7 with the trap's output.
func wantSIGTERMTrapped(t testing.TB, opts runOpts, args ...string) {
	t.Helper()
	ready := filepath.Join(t.TempDir(), "ready")
	// The trap kills the background sleep: a sandbox that outlives this command (rkexec exec) would
	// keep the sleep, holding rkexec's stdout open.
	script := `trap 'kill $!; echo trapped; exit 7' TERM; touch "$1"; sleep 1000 & wait`
	cmd := startRkexecOpts(t, opts, append(args, "sh", "-c", script, "sh", ready)...)
	waitForFile(t, cmd, ready, 10*time.Second)
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	res := waitExit(t, cmd, 10*time.Second)
	if res.status() != 7 {
		t.Errorf("%q: exit code %d after SIGTERM, want 7 (from the trap); stderr: %s", args, res.status(), res.Stderr)
	}
	if res.Stdout != "trapped\n" {
		t.Errorf("%q: stdout %q, want the trap's %q", args, res.Stdout, "trapped\n")
	}
}

// fieldPairs maps the first field of each two-field line of s to the second ("pid comm", "kind link").
func fieldPairs(s string) map[string]string {
	pairs := map[string]string{}
	for line := range strings.Lines(s) {
		if f := strings.Fields(line); len(f) == 2 {
			pairs[f[0]] = f[1]
		}
	}
	return pairs
}

// writeScript writes an executable shell script.
func writeScript(t testing.TB, path, body string) {
	t.Helper()
	if err := os.WriteFile(path, []byte("#!/bin/sh\n"+body), 0o755); err != nil {
		t.Fatal(err)
	}
}
