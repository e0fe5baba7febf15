package test

// Tests of `rkexec exec`: joining a running sandbox's namespaces, exit codes and signals, --cwd/-e/
// --user/--process, detach and pid file, --preserve-fds, --no-new-privs, --cap, terminals (-t and
// --console-socket), and refusing dead sandboxes and sandboxes of other users.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/rkexec/rkexec/internal/testenv"
)

// nxSandbox is a running `rkexec --name NAME ... -- sh -c 'sleep 1000; :' MARKER` started for a test.
type nxSandbox struct {
	cmd        *exec.Cmd
	name       string
	runtimeDir string // its XDG_RUNTIME_DIR, to reach it by name from subtests
	stateDir   string
	childPID   int
	marker     string // on the command line of rkexec and of the sandbox's command
}

// nxStartSandbox starts a sandbox named name with extra run flags and waits until it is ready
// (child_pid exists). Clean-up kills it.
func nxStartSandbox(t testing.TB, name string, flags ...string) *nxSandbox {
	t.Helper()
	s := &nxSandbox{name: name, runtimeDir: runtimeDirOf(t), marker: newMarker(t)}
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
	nxWaitForFileOrExit(t, s.cmd, pidFile, 10*time.Second)
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

// exec runs `rkexec exec ARGS...` (flags, the sandbox's name, the command) against the sandbox's
// XDG_RUNTIME_DIR.
func (s *nxSandbox) exec(t testing.TB, args ...string) *Result {
	t.Helper()
	return rkexecOpts(t, runOpts{RuntimeDir: s.runtimeDir}, append([]string{"exec"}, args...)...)
}

// stop ends the sandbox with SIGTERM to rkexec (relayed to its command) and waits for it.
func (s *nxSandbox) stop(t testing.TB) {
	t.Helper()
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code := nxWaitExit(t, s.cmd, 10*time.Second); code != 143 {
		_, stderr := outputOf(s.cmd)
		t.Errorf("sandbox %s after SIGTERM: exit code %d, want 143; stderr: %s", s.name, code, stderr)
	}
}

// nxNS returns the /proc/PID/ns/KIND link of a process, as the test process sees it.
func nxNS(t testing.TB, pid int, kind string) string {
	t.Helper()
	link, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/%s", pid, kind))
	if err != nil {
		t.Fatal(err)
	}
	return link
}

// nxExecNSKinds are the namespaces rkexec exec joins.
var nxExecNSKinds = []string{"user", "mnt", "net", "pid", "uts", "ipc", "cgroup", "time"}

// TestExecJoinsNamespaces execs into sandboxes with various namespaces: the command's namespaces,
// uid_map, hostname and PID 1 are the sandbox's, and namespaces the sandbox does not have are the host's.
func TestExecJoinsNamespaces(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		flags    []string
		own      []string // namespaces the sandbox has of its own; the others are the host's
		hostname string   // "" for the host's
		comm1    string   // a substring of /proc/1/comm inside; "" when there is no pid namespace
	}{
		{"all", []string{"--pidns", "--utsns", "--ipcns", "--cgroupns", "--timens", "--hostname", "sbx-dev"},
			[]string{"user", "mnt", "pid", "uts", "ipc", "cgroup", "time"}, "sbx-dev", "rkexec"},
		// PID 1 is the sandbox's command, sh -c 'sleep 1000; :'.
		{"no-reaper", []string{"--pidns", "--reaper=false"}, []string{"user", "mnt", "pid"}, "", "sh"},
		{"plain", nil, []string{"user", "mnt"}, "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := nxStartSandbox(t, "dev", tc.flags...)
			script := `for n in ` + strings.Join(nxExecNSKinds, " ") + `; do echo "$n $(readlink /proc/self/ns/$n)"; done
echo "hostname $(hostname)"
echo "comm1 $(cat /proc/1/comm)"
cat /proc/self/uid_map`
			res := s.exec(t, "dev", "--", "sh", "-c", script)
			if res.ExitCode != 0 {
				t.Fatalf("exit code %d, want 0; stderr: %s", res.ExitCode, res.Stderr)
			}
			got := map[string]string{}
			var uidMap []string
			for line := range strings.Lines(res.Stdout) {
				f := strings.Fields(line)
				switch {
				case len(f) == 2:
					got[f[0]] = f[1]
				case len(f) == 3:
					uidMap = append(uidMap, strings.Join(f, " "))
				}
			}
			for _, kind := range nxExecNSKinds {
				want := nxNS(t, s.childPID, kind)
				if kind == "pid" || kind == "time" {
					// What the sandbox's processes get; child_pid itself may be outside.
					want = nxNS(t, s.childPID, kind+"_for_children")
				}
				if got[kind] != want {
					t.Errorf("exec'd command's %s namespace is %q, want the sandbox's %q", kind, got[kind], want)
				}
				host := nxNS(t, os.Getpid(), kind)
				if own := slices.Contains(tc.own, kind); own && got[kind] == host {
					t.Errorf("exec'd command's %s namespace is the host's %s, want the sandbox's own", kind, host)
				} else if !own && got[kind] != host {
					t.Errorf("exec'd command's %s namespace is %s, want the host's %s (the sandbox has none of its own)", kind, got[kind], host)
				}
			}
			wantHostname := tc.hostname
			if wantHostname == "" {
				var err error
				if wantHostname, err = os.Hostname(); err != nil {
					t.Fatal(err)
				}
			}
			if got["hostname"] != wantHostname {
				t.Errorf("hostname in exec: %q, want %q", got["hostname"], wantHostname)
			}
			if tc.comm1 != "" && !strings.Contains(got["comm1"], tc.comm1) {
				t.Errorf("/proc/1/comm in exec: %q, want the sandbox's PID 1 (%s)", got["comm1"], tc.comm1)
			}
			data, err := os.ReadFile(fmt.Sprintf("/proc/%d/uid_map", s.childPID))
			if err != nil {
				t.Fatal(err)
			}
			if want := mapLines(string(data)); !slices.Equal(uidMap, want) {
				t.Errorf("uid_map in exec: %q, want the sandbox's %q", uidMap, want)
			}
		})
	}
}

// TestExecExitCodes: rkexec exec returns the command's status, 128+N for a signal, 126/127.
func TestExecExitCodes(t *testing.T) {
	t.Parallel()
	s := nxStartSandbox(t, "codes", "--pidns")
	for _, tc := range []struct {
		name string
		cmd  []string
		want int
	}{
		{"exit", []string{"sh", "-c", "exit 9"}, 9},
		{"sigterm", []string{"sh", "-c", "kill -TERM $$"}, 143},
		{"sigkill", []string{"sh", "-c", "kill -KILL $$"}, 137},
		{"not-found", []string{"rkexec-no-such-command"}, 127},
		{"not-executable", []string{"/etc/hostname"}, 126},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			res := s.exec(t, append([]string{"codes", "--"}, tc.cmd...)...)
			if res.ExitCode != tc.want {
				t.Errorf("rkexec exec codes -- %q: exit code %d, want %d; stderr: %s", tc.cmd, res.ExitCode, tc.want, res.Stderr)
			}
		})
	}
}

// TestExecSignalRelayed sends SIGTERM to the rkexec exec process: the command's trap runs and its
// exit code is rkexec exec's.
func TestExecSignalRelayed(t *testing.T) {
	t.Parallel()
	s := nxStartSandbox(t, "sig", "--pidns")
	ready := filepath.Join(t.TempDir(), "ready")
	// The trap kills the background sleep: the sandbox outlives this command, and so would the sleep,
	// holding rkexec exec's stdout open.
	script := `trap 'kill $!; echo trapped; exit 7' TERM; touch "$1"; sleep 1000 & wait`
	cmd := startRkexecOpts(t, runOpts{RuntimeDir: s.runtimeDir}, "exec", "sig", "--", "sh", "-c", script, "sh", ready)
	nxWaitForFileOrExit(t, cmd, ready, 10*time.Second)
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	code := nxWaitExit(t, cmd, 10*time.Second)
	stdout, stderr := outputOf(cmd)
	if code != 7 {
		t.Errorf("rkexec exec: exit code %d after SIGTERM, want 7 (from the trap); stderr: %s", code, stderr)
	}
	if stdout != "trapped\n" {
		t.Errorf("stdout %q, want the trap's %q", stdout, "trapped\n")
	}
}

// TestExecCwdEnvUser: --cwd, -e and --user apply to the command.
func TestExecCwdEnvUser(t *testing.T) {
	t.Parallel()
	s := nxStartSandbox(t, "opts", "--pidns")
	res := s.exec(t, "--cwd", "/tmp", "-e", "FOO=bar", "--user", "1000:1000", "opts", "--",
		"sh", "-c", `pwd; echo "$FOO"; id -u; id -g`)
	if res.ExitCode != 0 {
		t.Fatalf("exit code %d, want 0; stderr: %s", res.ExitCode, res.Stderr)
	}
	if got, want := strings.Fields(res.Stdout), []string{"/tmp", "bar", "1000", "1000"}; !slices.Equal(got, want) {
		t.Errorf("pwd, $FOO, id -u, id -g: %q, want %q", got, want)
	}

	// Defaults: root of the sandbox; --user UID alone means GID 0.
	res = s.exec(t, "--user", "1000", "opts", "--", "sh", "-c", `id -u; id -g`)
	if got, want := strings.Fields(res.Stdout), []string{"1000", "0"}; res.ExitCode != 0 || !slices.Equal(got, want) {
		t.Errorf("--user 1000: id -u, id -g: %q (exit %d), want %q; stderr: %s", got, res.ExitCode, want, res.Stderr)
	}
	res = s.exec(t, "opts", "--", "sh", "-c", `id -u; id -g`)
	if got, want := strings.Fields(res.Stdout), []string{"0", "0"}; res.ExitCode != 0 || !slices.Equal(got, want) {
		t.Errorf("no --user: id -u, id -g: %q (exit %d), want %q; stderr: %s", got, res.ExitCode, want, res.Stderr)
	}
}

// TestExecBadInput: rkexec exec refuses bad flags and unknown sandboxes with 125 and one line naming
// the culprit, and runs nothing.
func TestExecBadInput(t *testing.T) {
	t.Parallel()
	s := nxStartSandbox(t, "bad", "--pidns")
	dir := t.TempDir()
	badJSON := filepath.Join(dir, "bad.json")
	if err := os.WriteFile(badJSON, []byte(`{"args": [`), 0o644); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "missing.json")
	for _, tc := range []struct {
		name string
		args []string // before the command
		want []string
	}{
		{"cwd-missing", []string{"--cwd", "/nonexistent", "bad"}, []string{"--cwd", "/nonexistent"}},
		{"unknown-sandbox", []string{"rkexec-no-such-sandbox"}, []string{"rkexec-no-such-sandbox"}},
		{"user-not-numeric", []string{"--user", "abc", "bad"}, []string{"--user", "abc"}},
		{"process-missing", []string{"--process", missing, "bad"}, []string{"--process", missing}},
		{"process-invalid-json", []string{"--process", badJSON, "bad"}, []string{"--process", badJSON}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ran := filepath.Join(t.TempDir(), "ran")
			args := append(tc.args, "--", "touch", ran)
			if slices.Contains(tc.args, "--process") {
				args = tc.args // the command comes from the process file
			}
			res := s.exec(t, args...)
			if res.ExitCode != 125 {
				t.Errorf("rkexec exec %q: exit code %d, want 125; stderr: %s", args, res.ExitCode, res.Stderr)
			}
			nxOneLineError(t, res.Stderr, tc.want...)
			if _, err := os.Stat(ran); err == nil {
				t.Errorf("rkexec exec %q ran the command", args)
			}
		})
	}
}

// TestExecProcessJSON runs an OCI runtime-spec process file.
func TestExecProcessJSON(t *testing.T) {
	t.Parallel()
	s := nxStartSandbox(t, "oci", "--pidns")
	file := filepath.Join(t.TempDir(), "process.json")
	spec := `{"args":["sh","-c","echo $X; pwd; id -u; exit 3"],"env":["X=1","PATH=/usr/bin:/bin"],"cwd":"/tmp","user":{"uid":1000,"gid":1000}}`
	if err := os.WriteFile(file, []byte(spec), 0o644); err != nil {
		t.Fatal(err)
	}
	res := s.exec(t, "--process", file, "oci")
	if res.ExitCode != 3 {
		t.Errorf("exit code %d, want 3; stderr: %s", res.ExitCode, res.Stderr)
	}
	if got, want := strings.Fields(res.Stdout), []string{"1", "/tmp", "1000"}; !slices.Equal(got, want) {
		t.Errorf("$X, pwd, id -u: %q, want %q", got, want)
	}
}

// TestExecDetachPidFile: -d returns at once, the pid file names the running command, which lives in
// the sandbox's namespaces and dies with the sandbox.
func TestExecDetachPidFile(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		flags []string
	}{
		{"pidns", []string{"--pidns"}},
		{"no-pidns", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := nxStartSandbox(t, "det", tc.flags...)
			pidFile := filepath.Join(t.TempDir(), "pid")
			marker := newMarker(t)
			// The detached command inherits rkexec exec's stdout and stderr, as with runc exec -d: files
			// here, so that nothing waits for them to be closed.
			outFile := filepath.Join(t.TempDir(), "out")
			out, err := os.Create(outFile)
			if err != nil {
				t.Fatal(err)
			}
			defer out.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			ex := rkexecCommand(ctx, t, runOpts{RuntimeDir: s.runtimeDir},
				[]string{"exec", "-d", "--pid-file", pidFile, "det", "--", "sh", "-c", "sleep 1000; :", marker})
			ex.Stdout, ex.Stderr = out, out
			start := time.Now()
			if err := ex.Run(); err != nil {
				msg, _ := os.ReadFile(outFile)
				t.Fatalf("rkexec exec -d: %v; output: %s", err, msg)
			}
			if d := time.Since(start); d > 5*time.Second {
				t.Errorf("rkexec exec -d took %v to return", d)
			}
			data, err := os.ReadFile(pidFile)
			if err != nil {
				t.Fatalf("pid file: %v", err)
			}
			pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
			if err != nil {
				t.Fatalf("pid file holds %q: %v", data, err)
			}
			cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
			if err != nil || !bytes.Contains(cmdline, []byte(marker)) || nxExitedUnreaped(pid) {
				t.Fatalf("pid %d from the pid file is not the running command (cmdline %q, err %v)", pid, cmdline, err)
			}
			for _, kind := range []string{"user", "mnt", "pid"} {
				want := nxNS(t, s.childPID, kind)
				if kind == "pid" {
					want = nxNS(t, s.childPID, "pid_for_children")
				}
				if got := nxNS(t, pid, kind); got != want {
					t.Errorf("detached command's %s namespace is %s, want the sandbox's %s", kind, got, want)
				}
			}
			s.stop(t)
			noProcessesLeft(t, marker)
		})
	}
}

// TestExecPreserveFDs passes an extra open file as fd 3 with --preserve-fds 1; without the flag the
// command does not get it.
func TestExecPreserveFDs(t *testing.T) {
	t.Parallel()
	s := nxStartSandbox(t, "fds", "--pidns")
	file := filepath.Join(t.TempDir(), "fd3")
	if err := os.WriteFile(file, []byte("content-of-fd3\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	run := func(args ...string) (string, string, int) {
		f, err := os.Open(file)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		cmd := rkexecCommand(ctx, t, runOpts{RuntimeDir: s.runtimeDir}, append([]string{"exec"}, args...))
		cmd.ExtraFiles = []*os.File{f}
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err = cmd.Run()
		var exitErr *exec.ExitError
		if err != nil && !errors.As(err, &exitErr) {
			t.Fatalf("rkexec %q: %v", args, err)
		}
		return stdout.String(), stderr.String(), cmd.ProcessState.ExitCode()
	}
	stdout, stderr, code := run("--preserve-fds", "1", "fds", "--", "sh", "-c", "cat <&3")
	if code != 0 || stdout != "content-of-fd3\n" {
		t.Errorf("--preserve-fds 1: cat <&3 printed %q (exit %d), want the file's content; stderr: %s", stdout, code, stderr)
	}
	stdout, _, code = run("fds", "--", "sh", "-c", "cat <&3")
	if code == 0 || stdout != "" {
		t.Errorf("without --preserve-fds: cat <&3 printed %q (exit %d), want a failure: fd 3 must not be passed", stdout, code)
	}
}

// nxStatusField returns a field of /proc/self/status as printed by the command.
func nxStatusField(t testing.TB, status, name string) string {
	t.Helper()
	for line := range strings.Lines(status) {
		if k, v, ok := strings.Cut(line, ":"); ok && k == name {
			return strings.TrimSpace(v)
		}
	}
	t.Fatalf("no %s in:\n%s", name, status)
	return ""
}

// TestExecNoNewPrivs: --no-new-privs sets NoNewPrivs; without it, it is not set.
func TestExecNoNewPrivs(t *testing.T) {
	t.Parallel()
	s := nxStartSandbox(t, "nnp", "--pidns")
	for _, tc := range []struct {
		flags []string
		want  string
	}{
		{[]string{"--no-new-privs"}, "1"},
		{nil, "0"},
	} {
		res := s.exec(t, append(tc.flags, "nnp", "--", "cat", "/proc/self/status")...)
		if res.ExitCode != 0 {
			t.Fatalf("exit code %d, want 0; stderr: %s", res.ExitCode, res.Stderr)
		}
		if got := nxStatusField(t, res.Stdout, "NoNewPrivs"); got != tc.want {
			t.Errorf("rkexec exec %q: NoNewPrivs %s, want %s", tc.flags, got, tc.want)
		}
	}
}

// TestExecCaps: --cap keeps a capability for a non-root --user; without it such a user has none.
func TestExecCaps(t *testing.T) {
	t.Parallel()
	s := nxStartSandbox(t, "caps", "--pidns")
	capEff := func(args ...string) uint64 {
		t.Helper()
		res := s.exec(t, append(args, "caps", "--", "cat", "/proc/self/status")...)
		if res.ExitCode != 0 {
			t.Fatalf("rkexec exec %q: exit code %d, want 0; stderr: %s", args, res.ExitCode, res.Stderr)
		}
		v, err := strconv.ParseUint(nxStatusField(t, res.Stdout, "CapEff"), 16, 64)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	const netBindService = 1 << 10
	if got := capEff("--cap", "CAP_NET_BIND_SERVICE", "--user", "1000:1000"); got != netBindService {
		t.Errorf("--cap CAP_NET_BIND_SERVICE --user 1000:1000: CapEff %#x, want %#x (bit 10 only)", got, netBindService)
	}
	if got := capEff("--user", "1000:1000"); got != 0 {
		t.Errorf("--user 1000:1000: CapEff %#x, want 0", got)
	}
	if got := capEff(); got&netBindService == 0 {
		t.Errorf("root of the sandbox: CapEff %#x lacks CAP_NET_BIND_SERVICE", got)
	}
}

// nxOpenPty opens a new pseudo-terminal pair with the given size.
func nxOpenPty(t testing.TB, rows, cols uint16) (master, slave *os.File) {
	t.Helper()
	master, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		skipOrFail(t, "open /dev/ptmx: %v", err)
	}
	t.Cleanup(func() { master.Close() })
	if err := unix.IoctlSetPointerInt(int(master.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		t.Fatalf("unlockpt: %v", err)
	}
	n, err := unix.IoctlGetUint32(int(master.Fd()), unix.TIOCGPTN)
	if err != nil {
		t.Fatalf("ptsname: %v", err)
	}
	slave, err = os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { slave.Close() })
	if err := unix.IoctlSetWinsize(int(slave.Fd()), unix.TIOCSWINSZ, &unix.Winsize{Row: rows, Col: cols}); err != nil {
		t.Fatalf("set window size: %v", err)
	}
	return master, slave
}

// nxPtyReader collects what a pty master produces, until EIO (every slave closed).
type nxPtyReader struct {
	buf  syncBuffer
	done chan struct{}
}

func nxReadPty(master *os.File) *nxPtyReader {
	r := &nxPtyReader{done: make(chan struct{})}
	go func() {
		defer close(r.done)
		_, _ = io.Copy(&r.buf, master) // ends with EIO once no slave is open
	}()
	return r
}

// waitFor waits until the output contains s.
func (r *nxPtyReader) waitFor(t testing.TB, s string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !strings.Contains(r.buf.String(), s) {
		if time.Now().After(deadline) {
			t.Fatalf("no %q on the terminal within %v; got %q", s, timeout, r.buf.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestExecTTY runs rkexec exec -t on a real terminal: the command gets a new pty of the same size,
// its input and output go through, and resizing the terminal resizes the command's.
func TestExecTTY(t *testing.T) {
	t.Parallel()
	s := nxStartSandbox(t, "tty", "--pidns")
	master, slave := nxOpenPty(t, 33, 101)
	outer, err := os.Readlink(fmt.Sprintf("/proc/self/fd/%d", slave.Fd()))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	cmd := rkexecCommand(ctx, t, runOpts{RuntimeDir: s.runtimeDir},
		[]string{"exec", "-t", "tty", "--", "sh", "-c",
			`tty; stty size; echo ready; read x; echo "got:$x"; while read y && [ "$y" != q ]; do echo "size:$(stty size)"; done; exit 3`})
	cmd.Stdin, cmd.Stdout, cmd.Stderr = slave, slave, slave
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	slave.Close()
	out := nxReadPty(master)
	out.waitFor(t, "ready", 10*time.Second)
	if _, err := master.Write([]byte("hello\r")); err != nil {
		t.Fatal(err)
	}
	out.waitFor(t, "got:hello", 10*time.Second)

	// Resizing the outer terminal (which sends rkexec exec SIGWINCH) resizes the command's. Nothing
	// says when rkexec exec has handled the signal, so ask for the size until it changes (up to 5s).
	if err := unix.IoctlSetWinsize(int(master.Fd()), unix.TIOCSWINSZ, &unix.Winsize{Row: 40, Col: 120}); err != nil {
		t.Fatal(err)
	}
	resized := false
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); {
		if _, err := master.Write([]byte("s\r")); err != nil {
			t.Fatal(err)
		}
		time.Sleep(50 * time.Millisecond)
		if strings.Contains(out.buf.String(), "size:40 120") {
			resized = true
			break
		}
	}
	if !resized {
		t.Errorf("after resizing the terminal to 40x120 the command's stty size stayed; terminal:\n%s", out.buf.String())
	}
	if _, err := master.Write([]byte("q\r")); err != nil {
		t.Fatal(err)
	}
	err = cmd.Wait()
	var exitErr *exec.ExitError
	if err != nil && !errors.As(err, &exitErr) {
		t.Fatal(err)
	}
	<-out.done
	text := strings.ReplaceAll(out.buf.String(), "\r", "")
	if code := cmd.ProcessState.ExitCode(); code != 3 {
		t.Errorf("exit code %d, want 3; terminal:\n%s", code, text)
	}
	m := regexp.MustCompile(`(?m)^(/dev/pts/\d+)$`).FindStringSubmatch(text)
	if m == nil {
		t.Errorf("tty inside printed no /dev/pts/N; terminal:\n%s", text)
	} else if m[1] == outer {
		t.Errorf("tty inside is the outer terminal %s, want a new pseudo-terminal", outer)
	}
	if !regexp.MustCompile(`(?m)^33 101$`).MatchString(text) {
		t.Errorf("stty size inside is not the terminal's 33 101; terminal:\n%s", text)
	}
	if !regexp.MustCompile(`(?m)^got:hello$`).MatchString(text) {
		t.Errorf("the command did not read the input; terminal:\n%s", text)
	}
}

// TestExecConsoleSocket: with --console-socket, rkexec exec -t sends the terminal's master over the
// socket (SCM_RIGHTS) and the command's output is read from it.
func TestExecConsoleSocket(t *testing.T) {
	t.Parallel()
	s := nxStartSandbox(t, "console", "--pidns")
	sock := filepath.Join(s.runtimeDir, "console.sock")
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: sock, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	if err := ln.SetDeadline(time.Now().Add(10 * time.Second)); err != nil {
		t.Fatal(err)
	}
	cmd := startRkexecOpts(t, runOpts{RuntimeDir: s.runtimeDir},
		"exec", "-t", "--console-socket", sock, "console", "--", "sh", "-c", "tty; echo hello-from-tty")
	conn, err := ln.AcceptUnix()
	if err != nil {
		_, stderr := outputOf(cmd)
		t.Fatalf("accept on the console socket: %v; rkexec stderr: %s", err, stderr)
	}
	defer conn.Close()
	if err := conn.SetDeadline(time.Now().Add(10 * time.Second)); err != nil {
		t.Fatal(err)
	}
	buf, oob := make([]byte, 4096), make([]byte, unix.CmsgSpace(4*4))
	_, oobn, _, _, err := conn.ReadMsgUnix(buf, oob)
	if err != nil {
		t.Fatalf("read from the console socket: %v", err)
	}
	msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
	if err != nil || len(msgs) != 1 {
		t.Fatalf("control messages: %d, %v; want one", len(msgs), err)
	}
	fds, err := unix.ParseUnixRights(&msgs[0])
	if err != nil || len(fds) != 1 {
		t.Fatalf("SCM_RIGHTS: %v, %v; want one fd", fds, err)
	}
	master := os.NewFile(uintptr(fds[0]), "console-master")
	defer master.Close()
	out := nxReadPty(master)
	out.waitFor(t, "hello-from-tty", 10*time.Second)
	if code := nxWaitExit(t, cmd, 10*time.Second); code != 0 {
		_, stderr := outputOf(cmd)
		t.Errorf("exit code %d, want 0; stderr: %s", code, stderr)
	}
	if !regexp.MustCompile(`(?m)^/dev/pts/\d+\r?$`).MatchString(out.buf.String()) {
		t.Errorf("tty inside is not a pseudo-terminal; terminal: %q", out.buf.String())
	}
	if stdout, _ := outputOf(cmd); strings.Contains(stdout, "hello-from-tty") {
		t.Errorf("with --console-socket the output went to rkexec's stdout too: %q", stdout)
	}
}

// nxMakeDeadSandbox creates by hand what a killed rkexec leaves: a state directory with a lock file
// nobody holds and a state.json.
func nxMakeDeadSandbox(t testing.TB, runtimeDir, name string) string {
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

// TestExecDeadSandbox: exec into a sandbox whose rkexec is gone says it is not running.
func TestExecDeadSandbox(t *testing.T) {
	t.Parallel()
	nxMakeDeadSandbox(t, runtimeDirOf(t), "ghost")
	ran := filepath.Join(t.TempDir(), "ran")
	res := rkexec(t, "exec", "ghost", "--", "touch", ran)
	if res.ExitCode != 125 {
		t.Errorf("exit code %d, want 125; stderr: %s", res.ExitCode, res.Stderr)
	}
	nxOneLineError(t, res.Stderr, "ghost", "not running")
	if _, err := os.Stat(ran); err == nil {
		t.Error("rkexec exec ran a command in a dead sandbox")
	}
}

// TestRealRootExecOtherUsersSandbox: a user cannot exec into a sandbox whose state directory is
// root's; root itself can.
func TestRealRootExecOtherUsersSandbox(t *testing.T) {
	requireRoot(t)
	subidUser, err := testenv.SubidUser()
	if err != nil {
		skipOrFail(t, "the test user's name: %v", err)
	}
	u, err := user.Lookup(subidUser)
	if err != nil {
		skipOrFail(t, "user %s: %v", subidUser, err)
	}
	uid, _ := strconv.ParseUint(u.Uid, 10, 32)
	gid, _ := strconv.ParseUint(u.Gid, 10, 32)
	base, err := os.MkdirTemp("/tmp", "rkexec-rootsb-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(base) })
	if err := os.Chmod(base, 0o755); err != nil { // the user may reach the state dir, not enter it
		t.Fatal(err)
	}
	stateDir := filepath.Join(base, "sb")
	marker := newMarker(t)
	cmd := startRkexec(t, "--state-dir", stateDir, "--pidns", "--", "sh", "-c", "sleep 1000; :", marker)
	nxWaitForFileOrExit(t, cmd, filepath.Join(stateDir, "child_pid"), 10*time.Second)

	if res := rkexec(t, "exec", stateDir, "--", "true"); res.ExitCode != 0 {
		t.Fatalf("root's own rkexec exec: exit code %d, want 0; stderr: %s", res.ExitCode, res.Stderr)
	}

	ran := filepath.Join(base, "ran")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ex := rkexecCommand(ctx, t, runOpts{RuntimeDir: base}, []string{"exec", stateDir, "--", "touch", ran})
	ex.SysProcAttr.Credential = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), Groups: []uint32{}}
	var stdout, stderr bytes.Buffer
	ex.Stdout, ex.Stderr = &stdout, &stderr
	err = ex.Run()
	var exitErr *exec.ExitError
	if err != nil && !errors.As(err, &exitErr) {
		t.Fatal(err)
	}
	if code := ex.ProcessState.ExitCode(); code != 125 {
		t.Errorf("%s's rkexec exec into root's sandbox: exit code %d, want 125; stderr: %s", subidUser, code, stderr.String())
	}
	nxOneLineError(t, stderr.String(), stateDir)
	if !regexp.MustCompile(`(?i)belongs to|not (yours|to you|owned by you)`).MatchString(stderr.String()) {
		t.Errorf("stderr %q does not say the state dir is not the caller's", stderr.String())
	}
	if _, err := os.Stat(ran); err == nil {
		t.Errorf("%s's rkexec exec ran a command in root's sandbox", subidUser)
	}
}
