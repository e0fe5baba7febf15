package test

// What a sandbox can write is a hint, never an authority. A sandbox's root is the caller's uid outside,
// so it can rewrite its own state directory, and the caller's others: these tests do that from inside a
// sandbox (through rkexec exec, as its root) and check that exec, info and ps still reach only what the
// directory they resolved and the kernel say, and that ps --prune removes only what it found.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/rkexec/rkexec/internal/testenv"
)

// inside runs a shell script as root of sandbox s; $1 is the state root ($XDG_RUNTIME_DIR/rkexec).
func (s *sandbox) inside(t testing.TB, script string, args ...string) {
	t.Helper()
	root := filepath.Join(s.runtimeDir, "rkexec")
	res := s.exec(t, append([]string{s.name, "--", "sh", "-ec", script, "sh", root}, args...)...)
	if res.ExitCode != 0 {
		t.Fatalf("in sandbox %s: %q: exit code %d; stderr: %s", s.name, script, res.ExitCode, res.Stderr)
	}
}

// TestExecNotRedirectedIntoAnotherSandbox: from inside sandbox a, point a's state directory at
// sandbox b (b's state.json and child_pid copied over a's, b's lock linked or moved into a's
// directory); rkexec exec a and rkexec info a then refuse, and never reach b, whose private tmpfs
// holds a file a cannot see.
func TestExecNotRedirectedIntoAnotherSandbox(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, script string
	}{
		{"state.json copied", `cp -f "$1/b/state.json" "$1/b/child_pid" "$1/a/"`},
		{"lock hard-linked", `cp -f "$1/b/state.json" "$1/b/child_pid" "$1/a/"; ln -f "$1/b/lock" "$1/a/lock"`},
		{"lock moved", `cp -f "$1/b/state.json" "$1/b/child_pid" "$1/a/"; mv -f "$1/b/lock" "$1/a/lock"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			private := t.TempDir()
			a := startSandbox(t, "a")
			b := startSandbox(t, "b")
			b.inside(t, `mount -t tmpfs tmpfs "$2" && echo secret-of-b > "$2/marker"`, private)
			if res := a.exec(t, "a", "--", "cat", filepath.Join(private, "marker")); res.ExitCode == 0 {
				t.Fatalf("sandbox a reads b's private file before the attack: %q", res.Stdout)
			}

			a.inside(t, tc.script)
			res := a.exec(t, "a", "--", "cat", filepath.Join(private, "marker"))
			if strings.Contains(res.Stdout, "secret-of-b") {
				t.Fatalf("rkexec exec a ran in sandbox b: stdout %q", res.Stdout)
			}
			wantExit(t, res, 125)
			oneErrorLine(t, res, "sandbox \"a\"")

			info := rkexecOpts(t, runOpts{RuntimeDir: a.runtimeDir}, "info", "a")
			if strings.Contains(info.Stdout, nsLink(t, b.childPID, "mnt")) {
				t.Errorf("rkexec info a shows sandbox b's mount namespace: %s", info.Stdout)
			}
			wantExit(t, info, 125)
			oneErrorLine(t, info, "sandbox \"a\"")
		})
	}
}

// TestPsPruneRemovesOnlyWhatItFound: from inside a sandbox, plant dead sandboxes under the state root
// that name one of the caller's directories in state.json, hold symlinks named like rkexec's files,
// or are symlinks themselves; ps --prune removes the planted directories it found, by their own
// paths, and nothing they point to.
func TestPsPruneRemovesOnlyWhatItFound(t *testing.T) {
	t.Parallel()
	precious := t.TempDir()
	for _, name := range []string{"keep", "child_pid", "state.json"} {
		if err := os.WriteFile(filepath.Join(precious, name), []byte("precious"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	evil := startSandbox(t, "evil")
	evil.inside(t, `
mkdir -m 700 "$1/x" "$1/y" "$1/z"
: > "$1/x/lock"
printf '{"name":"evil","state_dir":"%s","child_pid":1}' "$2" > "$1/x/state.json"
: > "$1/y/lock"
ln -s "$2/child_pid" "$1/y/child_pid"
ln -s "$2/state.json" "$1/y/state.json"
ln -s "$2" "$1/y/api.sock"
: > "$1/z/lock"
ln -s "$2" "$1/z/precious-dir"
ln -s "$2" "$1/link"`, precious)

	rows, stderr := psTable(t, evil.runtimeDir, "--prune")
	for _, name := range []string{"keep", "child_pid", "state.json"} {
		if data, err := os.ReadFile(filepath.Join(precious, name)); err != nil || string(data) != "precious" {
			t.Errorf("ps --prune touched %s: %q, %v", filepath.Join(precious, name), data, err)
		}
	}
	root := filepath.Join(evil.runtimeDir, "rkexec")
	for _, gone := range []string{"x", "y"} {
		if _, err := os.Lstat(filepath.Join(root, gone)); err == nil {
			t.Errorf("ps --prune left the dead sandbox %s (%q); stderr: %s", gone, dirEntries(t, filepath.Join(root, gone)), stderr)
		}
	}
	// z holds a file rkexec does not make: left, with a warning; so is the symlink, not followed.
	if left := dirEntries(t, filepath.Join(root, "z")); !slices.Equal(left, []string{"lock", "precious-dir"}) {
		t.Errorf("ps --prune: z holds %q, want [lock precious-dir] (only rkexec's files are pruned)", left)
	}
	if !strings.Contains(stderr, "z") || !strings.Contains(stderr, "link") {
		t.Errorf("ps --prune: stderr names neither z (not pruned) nor link (not a sandbox):\n%s", stderr)
	}
	if fi, err := os.Lstat(filepath.Join(root, "link")); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Errorf("ps --prune removed or followed the symlink link: %v %v", fi, err)
	}
	var names []string
	for _, row := range rows[1:] {
		names = append(names, row[0])
	}
	if !slices.Equal(names, []string{"evil", "z"}) {
		t.Errorf("ps --prune lists %q, want [evil z] (x is named by its directory, not by its state.json)", names)
	}
}

// TestBrokenSandboxBlocksNobody: a sandbox that turns its state files into a FIFO, a symlink to
// /dev/zero, a 1 GiB sparse file, or another sandbox's state.json neither hangs nor bloats ps, info or
// exec of the others, nor hides them: it shows as broken with one warning line.
func TestBrokenSandboxBlocksNobody(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, script string
		warn         string // in ps's warning about a; "" for none
		status       string // a's status in ps; "" when it is left out
	}{
		{"state.json FIFO", `rm "$1/a/state.json"; mkfifo "$1/a/state.json"`, "not a regular file", "broken"},
		{"lock FIFO", `rm "$1/a/lock"; mkfifo "$1/a/lock"`, "not a regular file", ""},
		{"state.json to /dev/zero", `ln -sf /dev/zero "$1/a/state.json"`, "symlink", "broken"},
		{"state.json 1 GiB", `truncate -s 1G "$1/a/state.json"`, "larger than", "broken"},
		{"name of another", `sed 's/"name": "a"/"name": "b"/' "$1/a/state.json" > "$1/a/s"; mv "$1/a/s" "$1/a/state.json"`, "", "running"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			a := startSandbox(t, "a")
			b := startSandbox(t, "b")
			a.inside(t, tc.script)
			opts := runOpts{RuntimeDir: a.runtimeDir, Timeout: 15 * time.Second}

			ctx, cancel := context.WithTimeout(t.Context(), opts.Timeout)
			defer cancel()
			cmd := rkexecCommand(ctx, t, opts, []string{"ps", "--format", "json"})
			res := runPrepared(t, ctx, cmd)
			wantExit(t, res, 0)
			if rss := cmd.ProcessState.SysUsage().(*syscall.Rusage).Maxrss; rss > 100<<10 {
				t.Errorf("rkexec ps used %d MiB of memory", rss>>10)
			}
			var entries []psEntry
			var status []struct {
				Name   string `json:"name"`
				Status string `json:"status"`
			}
			if err := json.Unmarshal([]byte(res.Stdout), &entries); err != nil {
				t.Fatalf("rkexec ps --format json: %v\n%s", err, res.Stdout)
			}
			_ = json.Unmarshal([]byte(res.Stdout), &status) // same document
			got := map[string]string{}
			for i, e := range entries {
				got[e.Name] = status[i].Status
				if e.Name == "b" && (!e.Alive || e.ChildPID != b.childPID || e.ParentPID != b.cmd.Process.Pid) {
					t.Errorf("ps shows b as %+v, want alive with child_pid %d and parent_pid %d", e, b.childPID, b.cmd.Process.Pid)
				}
			}
			if got["b"] != "running" {
				t.Errorf("ps lists %v, want b running", got)
			}
			if st, listed := got["a"]; st != tc.status || listed != (tc.status != "") {
				t.Errorf("ps shows a as %q (listed: %v), want %q", st, listed, tc.status)
			}
			var warnings []string
			for _, line := range nonEmptyLines(res.Stderr) {
				if strings.Contains(line, "warning") {
					warnings = append(warnings, line)
				}
			}
			if tc.warn != "" && (len(warnings) != 1 || !strings.Contains(warnings[0], "a") || !strings.Contains(warnings[0], tc.warn)) {
				t.Errorf("ps warnings %q, want one naming a and saying %q", warnings, tc.warn)
			}

			res = rkexecOpts(t, opts, "info", "b")
			wantExit(t, res, 0)
			if !strings.Contains(res.Stdout, `"child_pid": `+strconv.Itoa(b.childPID)) {
				t.Errorf("rkexec info b: %s", res.Stdout)
			}
			res = rkexecOpts(t, opts, "exec", "b", "--", "cat", "/proc/self/uid_map")
			wantExit(t, res, 0)
			// a itself: refused with one line, or (a name claimed in state.json changes nothing) run.
			res = rkexecOpts(t, opts, "exec", "a", "--", "true")
			if tc.status == "running" {
				wantExit(t, res, 0)
			} else if res.ExitCode != 125 {
				t.Errorf("rkexec exec a: exit code %d, want 125; stderr: %s", res.ExitCode, res.Stderr)
			}
		})
	}
}

// TestPsSeesHalfCreatedStateDirs: state directories that a SIGKILL in rkexec's first milliseconds
// leaves (empty, or with only the lock) show as dead and are pruned; one whose lock is held (a sandbox
// starting) shows as starting and is kept.
func TestPsSeesHalfCreatedStateDirs(t *testing.T) {
	t.Parallel()
	root := filepath.Join(runtimeDirOf(t), "rkexec")
	for _, name := range []string{"empty", "lockonly", "starting"} {
		if err := os.MkdirAll(filepath.Join(root, name), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	for _, name := range []string{"lockonly", "starting"} {
		if err := os.WriteFile(filepath.Join(root, name, "lock"), nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	lock, err := os.Open(filepath.Join(root, "starting", "lock"))
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Close()
	if err := unix.Flock(int(lock.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		t.Fatal(err)
	}

	rows, _ := psTable(t, runtimeDirOf(t))
	uptime := map[string]string{}
	for _, row := range rows[1:] {
		uptime[row[0]] = row[4]
	}
	if want := map[string]string{"empty": "dead", "lockonly": "dead", "starting": "starting"}; fmt.Sprint(uptime) != fmt.Sprint(want) {
		t.Errorf("rkexec ps: UPTIME %v, want %v", uptime, want)
	}
	rows, stderr := psTable(t, runtimeDirOf(t), "--prune")
	if left := dirEntries(t, root); !slices.Equal(left, []string{"starting"}) {
		t.Errorf("after ps --prune the state root holds %q, want [starting]; stderr: %s", left, stderr)
	}
	if len(rows) != 2 || rows[1][0] != "starting" {
		t.Errorf("rkexec ps --prune lists %q, want starting alone", rows)
	}
}

// TestExecAndRunRejectOutOfRangeFlags: -g over 32 bits and control characters in --hostname are
// refused with one line naming the flag, before anything runs.
func TestExecAndRunRejectOutOfRangeFlags(t *testing.T) {
	t.Parallel()
	s := startSandbox(t, "flags")
	for _, g := range []string{"4294967296", "-1"} {
		res := s.exec(t, "-g", g, "flags", "--", "id", "-G")
		wantExit(t, res, 125)
		oneErrorLine(t, res, "--additional-gids", g)
	}
	for _, h := range []string{"box\x1b]0;owned\x07", "box\nroot", "box\r"} {
		res := rkexec(t, "--utsns", "--hostname", h, "--", "hostname")
		wantExit(t, res, 125)
		oneErrorLine(t, res, "--hostname", "control characters")
	}
}

// TestRealRootStateRootNotSquatted: without XDG_RUNTIME_DIR, another user who made TMPDIR/rkexec-UID
// first cannot block or watch the user's sandboxes: rkexec uses /run/user/UID (systemd-logind's
// runtime directory, which only root creates) when it exists, and otherwise refuses the squatted
// directory with one line that says what to do.
func TestRealRootStateRootNotSquatted(t *testing.T) {
	requireRoot(t)
	victim, squatter := testUserIDs(t, testenv.SubidUser), testUserIDs(t, testenv.NoSubidUser)
	tmp, err := os.MkdirTemp("/tmp", "rkexec-squat-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(tmp) })
	if err := os.Chmod(tmp, 0o1777); err != nil { // a /tmp of its own
		t.Fatal(err)
	}
	squat := filepath.Join(tmp, "rkexec-"+strconv.Itoa(victim.uid))
	if err := os.Mkdir(squat, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(squat, squatter.uid, squatter.gid); err != nil {
		t.Fatal(err)
	}
	asVictim := func(args ...string) *Result {
		t.Helper()
		cmd := rkexecCommand(t.Context(), t, runOpts{}, args)
		cmd.Env = slices.DeleteFunc(cmd.Env, func(kv string) bool { return strings.HasPrefix(kv, "XDG_RUNTIME_DIR=") })
		cmd.Env = append(cmd.Env, "TMPDIR="+tmp, "HOME=/")
		cmd.Dir = "/"
		cmd.SysProcAttr.Credential = &syscall.Credential{Uid: uint32(victim.uid), Gid: uint32(victim.gid), Groups: []uint32{}}
		return runPrepared(t, t.Context(), cmd)
	}

	t.Run("refused", func(t *testing.T) {
		if _, err := os.Stat(filepath.Join("/run/user", strconv.Itoa(victim.uid))); err == nil {
			skipOrFail(t, "/run/user/%d exists: the squatted directory is not the default", victim.uid)
		}
		for _, args := range [][]string{{"--", "true"}, {"ps"}, {"exec", "x", "--", "true"}} {
			res := asVictim(args...)
			wantExit(t, res, 125)
			oneErrorLine(t, res, squat, "belongs to uid "+strconv.Itoa(squatter.uid), "XDG_RUNTIME_DIR")
		}
	})

	t.Run("run-user", func(t *testing.T) {
		runUser := filepath.Join("/run/user", strconv.Itoa(victim.uid))
		if _, err := os.Stat(runUser); err == nil {
			skipOrFail(t, "%s exists already: not touching it", runUser)
		}
		if err := os.MkdirAll(filepath.Dir(runUser), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Mkdir(runUser, 0o700); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.RemoveAll(runUser) })
		if err := os.Chown(runUser, victim.uid, victim.gid); err != nil {
			t.Fatal(err)
		}
		res := asVictim("--name", "sq", "--", "sh", "-c", `echo "$RKEXEC_STATE_DIR"`)
		wantExit(t, res, 0)
		if want := filepath.Join(runUser, "rkexec", "sq"); strings.TrimSpace(res.Stdout) != want {
			t.Errorf("state dir %q, want %q", strings.TrimSpace(res.Stdout), want)
		}
		if left := dirEntries(t, squat); len(left) != 0 {
			t.Errorf("the squatted %s holds %q", squat, left)
		}
	})
}

// ids is a user's uid and gid.
type ids struct{ uid, gid int }

// testUserIDs looks up a test user (testenv.SubidUser or testenv.NoSubidUser).
func testUserIDs(t testing.TB, name func() (string, error)) ids {
	t.Helper()
	n, err := name()
	if err != nil {
		skipOrFail(t, "the test user's name: %v", err)
	}
	u, err := user.Lookup(n)
	if err != nil {
		skipOrFail(t, "user %s: %v", n, err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return ids{uid, gid}
}

// TestSandboxEndRemovesOnlyItsOwnDirectory: a sandbox that moves the state root away and puts a
// symlink to another of the caller's directories in its place does not make rkexec's clean-up remove
// the same-named directory there: rkexec removes the directory it created, found by the fds it kept.
func TestSandboxEndRemovesOnlyItsOwnDirectory(t *testing.T) {
	t.Parallel()
	victim := t.TempDir()
	if err := os.MkdirAll(filepath.Join(victim, "x"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(victim, "x", "keep"), []byte("precious"), 0o600); err != nil {
		t.Fatal(err)
	}
	s := startSandbox(t, "x")
	s.inside(t, `mv "$1" "$1.moved" && ln -s "$2" "$1"`, victim)
	s.stop(t)
	if data, err := os.ReadFile(filepath.Join(victim, "x", "keep")); err != nil || string(data) != "precious" {
		t.Errorf("the sandbox's end removed %s: %q, %v", filepath.Join(victim, "x", "keep"), data, err)
	}
	assertNoStateDir(t, filepath.Join(s.runtimeDir, "rkexec.moved", "x"))
}

// runPrepared runs cmd from rkexecCommand, adjusted by the test, to its end; cmd.ProcessState then
// holds its resource usage.
func runPrepared(t testing.TB, ctx context.Context, cmd *exec.Cmd) *Result {
	t.Helper()
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("%q: no exit in time, killed its process group\nstdout: %s\nstderr: %s", cmd.Args, stdout.Bytes(), stderr.Bytes())
	}
	res := &Result{Stdout: stdout.String(), Stderr: stderr.String()}
	if err := fillExit(res, err); err != nil {
		t.Fatalf("%q: %v\nstderr: %s", cmd.Args, err, stderr.Bytes())
	}
	return res
}

// TestPsSeesWhatEarlyKillsLeave: rkexec SIGKILLed at once, many times over, leaves state directories
// in every stage of creation (some empty, some with only the lock); once no lock is held, ps lists
// every one of them as dead, and ps --prune removes them all.
func TestPsSeesWhatEarlyKillsLeave(t *testing.T) {
	t.Parallel()
	root := filepath.Join(runtimeDirOf(t), "rkexec")
	for i := range 40 {
		cmd := startRkexec(t, "--name", "k"+strconv.Itoa(i), "--", "true")
		// Vary how far it gets: nothing to synchronise with, the point is to interrupt it anywhere.
		time.Sleep(time.Duration(i%20) * 400 * time.Microsecond)
		if err := cmd.Process.Kill(); err != nil {
			t.Fatal(err)
		}
		_ = cmd.Wait() // killed, or done: both leave what they leave
	}
	// The child of a killed rkexec holds the lock until it has cleaned up.
	var entries []psEntry
	eventually(t, 20*time.Second, 50*time.Millisecond, func() error {
		entries = psJSON(t, runtimeDirOf(t))
		for _, e := range entries {
			if e.Alive {
				return fmt.Errorf("%s is still alive", e.Name)
			}
		}
		return nil
	})
	var listed []string
	for _, e := range entries {
		listed = append(listed, e.Name)
	}
	left := dirEntries(t, root)
	t.Logf("%d of 40 killed runs left a state directory", len(left))
	if !slices.Equal(listed, left) {
		t.Errorf("ps lists %q, but the state root holds %q", listed, left)
	}
	rows, stderr := psTable(t, runtimeDirOf(t), "--prune")
	if left := dirEntries(t, root); len(left) != 0 || len(rows) != 1 {
		t.Errorf("after ps --prune: %q left, ps lists %q; stderr: %s", left, rows[1:], stderr)
	}
}
