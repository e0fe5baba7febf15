package test

// Tests of `rkexec exec`: joining a running sandbox's namespaces, exit codes and signals, --cwd/-e/
// --user/--process, detach and pid file, --preserve-fds, --no-new-privs, --cap, terminals (-t and
// --console-socket), and refusing dead sandboxes and sandboxes of other users.

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
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

// execNSKinds are the namespaces rkexec exec joins.
var execNSKinds = []string{"user", "mnt", "net", "pid", "uts", "ipc", "cgroup", "time"}

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
			s := startSandbox(t, "dev", tc.flags...)
			script := `for n in ` + strings.Join(execNSKinds, " ") + `; do echo "$n $(readlink /proc/self/ns/$n)"; done
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
			for _, kind := range execNSKinds {
				want := nsLink(t, s.childPID, kind)
				if kind == "pid" || kind == "time" {
					// What the sandbox's processes get; child_pid itself may be outside.
					want = nsLink(t, s.childPID, kind+"_for_children")
				}
				if got[kind] != want {
					t.Errorf("exec'd command's %s namespace is %q, want the sandbox's %q", kind, got[kind], want)
				}
				host := nsLink(t, os.Getpid(), kind)
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
	s := startSandbox(t, "codes", "--pidns")
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
	s := startSandbox(t, "sig", "--pidns")
	wantSIGTERMTrapped(t, s.opts(), "exec", "sig", "--")
}

// TestExecCwdEnvUser: --cwd, -e and --user apply to the command.
func TestExecCwdEnvUser(t *testing.T) {
	t.Parallel()
	s := startSandbox(t, "opts", "--pidns")
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
	s := startSandbox(t, "bad", "--pidns")
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
			oneErrorLine(t, res, tc.want...)
			if _, err := os.Stat(ran); err == nil {
				t.Errorf("rkexec exec %q ran the command", args)
			}
		})
	}
}

// TestExecProcessJSON runs an OCI runtime-spec process file.
func TestExecProcessJSON(t *testing.T) {
	t.Parallel()
	s := startSandbox(t, "oci", "--pidns")
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
			s := startSandbox(t, "det", tc.flags...)
			marker := newMarker(t)
			start := time.Now()
			pid := s.execDetached(t, 10*time.Second, "det", "--", "sh", "-c", "sleep 1000; :", marker)
			if d := time.Since(start); d > 5*time.Second {
				t.Errorf("rkexec exec -d took %v to return", d)
			}
			cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
			if err != nil || !bytes.Contains(cmdline, []byte(marker)) || exitedUnreaped(pid) {
				t.Fatalf("pid %d from the pid file is not the running command (cmdline %q, err %v)", pid, cmdline, err)
			}
			for _, kind := range []string{"user", "mnt", "pid"} {
				want := nsLink(t, s.childPID, kind)
				if kind == "pid" {
					want = nsLink(t, s.childPID, "pid_for_children")
				}
				if got := nsLink(t, pid, kind); got != want {
					t.Errorf("detached command's %s namespace is %s, want the sandbox's %s", kind, got, want)
				}
			}
			s.stop(t)
			noProcessesLeft(t, marker)
		})
	}
}

// execDetached runs `rkexec exec -d --pid-file F ARGS...` (ARGS: the sandbox's name and the command),
// wants it to exit 0 within timeout, and returns the pid the pid file names.
func (s *sandbox) execDetached(t testing.TB, timeout time.Duration, args ...string) int {
	t.Helper()
	dir := t.TempDir()
	pidFile := filepath.Join(dir, "pid")
	// The detached command inherits rkexec exec's stdout and stderr, as with runc exec -d: a file here,
	// so that nothing waits for it to be closed.
	out, err := os.Create(filepath.Join(dir, "out"))
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	opts := s.opts()
	opts.Output, opts.Timeout = out, timeout
	res := rkexecOpts(t, opts, append([]string{"exec", "-d", "--pid-file", pidFile}, args...)...)
	wantExit(t, res, 0)
	data, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatalf("pid file: %v", err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil {
		t.Fatalf("pid file holds %q: %v", data, err)
	}
	return pid
}

// TestExecPreserveFDs passes an extra open file as fd 3 with --preserve-fds 1; without the flag the
// command does not get it.
func TestExecPreserveFDs(t *testing.T) {
	t.Parallel()
	s := startSandbox(t, "fds", "--pidns")
	file := filepath.Join(t.TempDir(), "fd3")
	if err := os.WriteFile(file, []byte("content-of-fd3\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	run := func(args ...string) *Result {
		f, err := os.Open(file)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		opts := s.opts()
		opts.ExtraFiles, opts.Timeout = []*os.File{f}, 10*time.Second
		return rkexecOpts(t, opts, append([]string{"exec"}, args...)...)
	}
	res := run("--preserve-fds", "1", "fds", "--", "sh", "-c", "cat <&3")
	if res.status() != 0 || res.Stdout != "content-of-fd3\n" {
		t.Errorf("--preserve-fds 1: cat <&3 printed %q (exit %d), want the file's content; stderr: %s", res.Stdout, res.status(), res.Stderr)
	}
	res = run("fds", "--", "sh", "-c", "cat <&3")
	if res.status() == 0 || res.Stdout != "" {
		t.Errorf("without --preserve-fds: cat <&3 printed %q (exit %d), want a failure: fd 3 must not be passed", res.Stdout, res.status())
	}
}

// statusField returns a field of /proc/self/status as printed by the command.
func statusField(t testing.TB, status, name string) string {
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
	s := startSandbox(t, "nnp", "--pidns")
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
		if got := statusField(t, res.Stdout, "NoNewPrivs"); got != tc.want {
			t.Errorf("rkexec exec %q: NoNewPrivs %s, want %s", tc.flags, got, tc.want)
		}
	}
}

// TestExecCaps: --cap keeps a capability for a non-root --user; without it such a user has none.
func TestExecCaps(t *testing.T) {
	t.Parallel()
	s := startSandbox(t, "caps", "--pidns")
	capEff := func(args ...string) uint64 {
		t.Helper()
		res := s.exec(t, append(args, "caps", "--", "cat", "/proc/self/status")...)
		if res.ExitCode != 0 {
			t.Fatalf("rkexec exec %q: exit code %d, want 0; stderr: %s", args, res.ExitCode, res.Stderr)
		}
		v, err := strconv.ParseUint(statusField(t, res.Stdout, "CapEff"), 16, 64)
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

// TestExecTTY runs rkexec exec -t on a real terminal: the command gets a new pty of the same size,
// its input and output go through, and resizing the terminal resizes the command's.
func TestExecTTY(t *testing.T) {
	t.Parallel()
	s := startSandbox(t, "tty", "--pidns")
	master, slave := openPty(t, 33, 101)
	outer, err := os.Readlink(fmt.Sprintf("/proc/self/fd/%d", slave.Fd()))
	if err != nil {
		t.Fatal(err)
	}
	opts := s.opts()
	opts.TTY = slave
	cmd := startRkexecOpts(t, opts, "exec", "-t", "tty", "--", "sh", "-c",
		`tty; stty size; echo ready; read x; echo "got:$x"; while read y && [ "$y" != q ]; do echo "size:$(stty size)"; done; exit 3`)
	out := readPty(master)
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
	err = waitUntil(5*time.Second, 50*time.Millisecond, func() error {
		if strings.Contains(out.String(), "size:40 120") {
			return nil
		}
		if _, err := master.Write([]byte("s\r")); err != nil {
			t.Fatal(err)
		}
		return errors.New("no size:40 120")
	})
	if err != nil {
		t.Errorf("after resizing the terminal to 40x120 the command's stty size stayed; terminal:\n%s", out.String())
	}
	if _, err := master.Write([]byte("q\r")); err != nil {
		t.Fatal(err)
	}
	res := waitExit(t, cmd, 10*time.Second)
	<-out.done
	text := strings.ReplaceAll(out.String(), "\r", "")
	if res.ExitCode != 3 {
		t.Errorf("exit code %d, want 3; terminal:\n%s", res.ExitCode, text)
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
	s := startSandbox(t, "console", "--pidns")
	sock := filepath.Join(s.runtimeDir, "console.sock")
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: sock, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	if err := ln.SetDeadline(time.Now().Add(10 * time.Second)); err != nil {
		t.Fatal(err)
	}
	cmd := startRkexecOpts(t, s.opts(),
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
	out := readPty(master)
	out.waitFor(t, "hello-from-tty", 10*time.Second)
	res := waitExit(t, cmd, 10*time.Second)
	if res.status() != 0 {
		t.Errorf("exit code %d, want 0; stderr: %s", res.status(), res.Stderr)
	}
	if !regexp.MustCompile(`(?m)^/dev/pts/\d+\r?$`).MatchString(out.String()) {
		t.Errorf("tty inside is not a pseudo-terminal; terminal: %q", out.String())
	}
	if strings.Contains(res.Stdout, "hello-from-tty") {
		t.Errorf("with --console-socket the output went to rkexec's stdout too: %q", res.Stdout)
	}
}

// TestExecDeadSandbox: exec into a sandbox whose rkexec is gone says it is not running.
func TestExecDeadSandbox(t *testing.T) {
	t.Parallel()
	makeDeadSandbox(t, runtimeDirOf(t), "ghost")
	ran := filepath.Join(t.TempDir(), "ran")
	res := rkexec(t, "exec", "ghost", "--", "touch", ran)
	if res.ExitCode != 125 {
		t.Errorf("exit code %d, want 125; stderr: %s", res.ExitCode, res.Stderr)
	}
	oneErrorLine(t, res, "ghost", "not running")
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
	waitForFile(t, cmd, filepath.Join(stateDir, "child_pid"), 10*time.Second)

	if res := rkexec(t, "exec", stateDir, "--", "true"); res.ExitCode != 0 {
		t.Fatalf("root's own rkexec exec: exit code %d, want 0; stderr: %s", res.ExitCode, res.Stderr)
	}

	ran := filepath.Join(base, "ran")
	res := rkexecOpts(t, runOpts{RuntimeDir: base, Timeout: 10 * time.Second,
		Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), Groups: []uint32{}}},
		"exec", stateDir, "--", "touch", ran)
	if res.ExitCode != 125 {
		t.Errorf("%s's rkexec exec into root's sandbox: exit code %d, want 125; stderr: %s", subidUser, res.ExitCode, res.Stderr)
	}
	oneErrorLine(t, res, stateDir)
	if !regexp.MustCompile(`(?i)belongs to|not (yours|to you|owned by you)`).MatchString(res.Stderr) {
		t.Errorf("stderr %q does not say the state dir is not the caller's", res.Stderr)
	}
	if _, err := os.Stat(ran); err == nil {
		t.Errorf("%s's rkexec exec ran a command in root's sandbox", subidUser)
	}
}

// TestExecRefusesTamperedState: rkexec exec refuses a sandbox whose state.json names a host process
// as child_pid, and runs nothing.
func TestExecRefusesTamperedState(t *testing.T) {
	t.Parallel()
	s := startSandbox(t, "tamper")
	st := readState(t, s.stateDir)
	st["child_pid"] = os.Getpid()
	data, err := json.Marshal(st)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(s.stateDir, "state.json"), data, 0o600); err != nil {
		t.Fatal(err)
	}
	ran := filepath.Join(t.TempDir(), "ran")
	res := s.exec(t, "tamper", "--", "touch", ran)
	wantExit(t, res, 125)
	oneErrorLine(t, res, "not a sandbox of yours")
	notCreated(t, ran, "rkexec exec ran the command with child_pid pointing at a host process")
}

// TestExecEnvOverridesCaller: exec -e wins over the caller's own value of the variable (one value,
// not two), and ROOTLESSKIT_STATE_DIR inside exec is the sandbox's, whatever the caller had.
func TestExecEnvOverridesCaller(t *testing.T) {
	t.Parallel()
	s := startSandbox(t, "envfix")
	t.Run("exec-e-over-caller", func(t *testing.T) {
		t.Parallel()
		opts := s.opts()
		opts.Env = []string{"FOO=old"}
		res := rkexecOpts(t, opts, "exec", "-e", "FOO=new", "envfix", "--", "printenv", "FOO")
		wantExit(t, res, 0)
		if res.Stdout != "new\n" {
			t.Errorf("caller FOO=old, rkexec exec -e FOO=new: printenv FOO printed %q, want %q", res.Stdout, "new\n")
		}
	})
	t.Run("exec-stale-state-dir", func(t *testing.T) {
		t.Parallel()
		opts := s.opts()
		opts.Env = []string{"ROOTLESSKIT_STATE_DIR=/stale"}
		res := rkexecOpts(t, opts, "exec", "envfix", "--", "printenv", "ROOTLESSKIT_STATE_DIR")
		wantExit(t, res, 0)
		if want := s.stateDir + "\n"; res.Stdout != want {
			t.Errorf("caller ROOTLESSKIT_STATE_DIR=/stale: printenv in rkexec exec printed %q, want the sandbox's %q", res.Stdout, want)
		}
	})
}

// TestExecTTYRelaysKilledSIGINT: rkexec exec -t relays a SIGINT sent to it with kill (not typed on
// the terminal) to the command.
func TestExecTTYRelaysKilledSIGINT(t *testing.T) {
	t.Parallel()
	s := startSandbox(t, "ttyint", "--pidns")
	master, slave := openPty(t, 24, 80)
	opts := s.opts()
	opts.TTY = slave
	cmd := startRkexecOpts(t, opts, "exec", "-t", "ttyint", "--",
		"sh", "-c", `trap "echo got-INT; exit 3" INT; echo ready; while :; do sleep 0.1; done`)
	out := readPty(master)
	out.waitFor(t, "ready", 4*time.Second)
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	res := waitExit(t, cmd, 5*time.Second)
	<-out.done
	text := out.String()
	if res.Signal != 0 || res.ExitCode != 3 {
		t.Errorf("rkexec exec -t after SIGINT: %v, want exit code 3 from the command's trap; terminal: %q", cmd.ProcessState, text)
	}
	if !strings.Contains(text, "got-INT") {
		t.Errorf("the command's INT trap did not run; terminal: %q", text)
	}
}

// TestExecDetachedDoesNotHoldSIGTERM: a --pidns sandbox with an `rkexec exec -d` command in it ends
// within 2s of SIGTERM even though the test process, a subreaper that never reaps strangers, is the
// nearest subreaper outside; the detached command is gone. Not parallel: the subreaper is process-wide.
func TestExecDetachedDoesNotHoldSIGTERM(t *testing.T) {
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		t.Fatalf("PR_SET_CHILD_SUBREAPER: %v", err)
	}
	defer func() {
		if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0); err != nil {
			t.Errorf("PR_SET_CHILD_SUBREAPER 0: %v", err)
		}
	}()
	s := startSandbox(t, "D", "--pidns")
	marker := sleepMarker(t)
	pid := s.execDetached(t, 4*time.Second, "D", "--", "sleep", marker)
	// Should the test process have adopted the detached command, reap it in the end.
	defer func() {
		var ws unix.WaitStatus
		_, _ = unix.Wait4(pid, &ws, unix.WNOHANG, nil)
	}()
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = s.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(2 * time.Second):
		// Let the sandbox end (reaping the command it may wait for) before clean-up.
		var ws unix.WaitStatus
		_, _ = unix.Wait4(pid, &ws, 0, nil)
		select {
		case <-done:
		case <-time.After(2 * time.Second):
			_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
			<-done
		}
		t.Fatalf("rkexec --pidns did not exit within 2s of SIGTERM while an exec -d command (pid %d) ran in it", pid)
	}
	noProcessesLeft(t, marker)
}
