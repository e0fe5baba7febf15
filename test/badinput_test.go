package test

// Failures of rkexec itself: one "rkexec: " line on stderr naming the cause, exit status 125, and
// nothing left in the state directory.
//
// A malformed /etc/subuid line is not tested here: /etc/subuid is shared by every test and user on
// the machine, so a test cannot edit it; pkg/idmap's unit tests cover the parser's errors.

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// assertNoStateDirs fails the test if rkexec left anything in the test's $XDG_RUNTIME_DIR/rkexec.
func assertNoStateDirs(t testing.TB) {
	t.Helper()
	if left := dirEntries(t, filepath.Join(runtimeDirOf(t), "rkexec")); len(left) != 0 {
		t.Errorf("left in $XDG_RUNTIME_DIR/rkexec: %q", left)
	}
}

func TestBadInput(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		args  []string
		words []string // the error line mentions each
	}{
		{"no command", nil, []string{"command"}},
		{"no command after --", []string{"--"}, []string{"command"}},
		{"unknown flag", []string{"--bogus-flag", "--", "true"}, []string{"--bogus-flag"}},
		{"bad propagation", []string{"--propagation=bogus", "--", "true"}, []string{"--propagation", "bogus"}},
		{"bad copy-up-mode", []string{"--copy-up-mode=bogus", "--", "true"}, []string{"--copy-up-mode", "bogus"}},
		{"bad subid-source", []string{"--subid-source=bogus", "--", "true"}, []string{"--subid-source", "bogus"}},
		{"copy-up missing", []string{"--copy-up=" + dir + "/missing", "--", "true"}, []string{"--copy-up", dir + "/missing"}},
		{"copy-up file", []string{"--copy-up=" + file, "--", "true"}, []string{"--copy-up", file}},
		{"copy-up relative", []string{"--copy-up=etc", "--", "true"}, []string{"--copy-up", "etc"}},
		{"name with slash", []string{"--name", "a/b", "--", "true"}, []string{"--name", "a/b"}},
		{"name dot-dot", []string{"--name", "..", "--", "true"}, []string{"--name", ".."}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			res := rkexec(t, tc.args...)
			wantExit(t, res, 125)
			oneErrorLine(t, res, tc.words...)
			if res.Stdout != "" {
				t.Errorf("stdout not empty:\n%s", res.Stdout)
			}
			assertNoStateDirs(t)
		})
	}
}

// TestStateDirInUse: a second rkexec on a state dir that a running one holds fails, and leaves the
// first one's files and process alone.
func TestStateDirInUse(t *testing.T) {
	t.Parallel()
	tmp := t.TempDir()
	dir, stop := filepath.Join(tmp, "sd"), filepath.Join(tmp, "stop")
	first := startRkexec(t, "--state-dir", dir, "--", "sh", "-c", stopFileScript, "sh", stop)
	waitForFile(t, first, filepath.Join(dir, "child_pid"), 5*time.Second)

	res := rkexec(t, "--state-dir", dir, "--", "true")
	wantExit(t, res, 125)
	oneErrorLine(t, res, dir, "in use")
	for _, name := range []string{"lock", "child_pid", "state.json"} {
		if _, err := os.Lstat(filepath.Join(dir, name)); err != nil {
			t.Errorf("the second rkexec disturbed the first one's state dir: %v", err)
		}
	}

	stopAndWait(t, first, stop)
	assertNoStateDir(t, dir)
}

// TestStateDirNotWritable: a state dir rkexec cannot create, or cannot write in.
func TestStateDirNotWritable(t *testing.T) {
	t.Parallel()
	ro := filepath.Join(t.TempDir(), "ro")
	if err := os.Mkdir(ro, 0o500); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Chmod(ro, 0o700) })
	for name, dir := range map[string]string{"below": filepath.Join(ro, "x"), "itself": ro} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			res := rkexec(t, "--state-dir", dir, "--", "true")
			wantExit(t, res, 125)
			oneErrorLine(t, res, dir)
			if left := dirEntries(t, ro); len(left) != 0 {
				t.Errorf("created in the read-only dir: %q", left)
			}
		})
	}
}

// TestNewuidmapFails: a newuidmap that refuses the map makes rkexec fail with its message.
func TestNewuidmapFails(t *testing.T) {
	t.Parallel()
	requireSubids(t)
	fake := t.TempDir()
	writeScript(t, filepath.Join(fake, "newuidmap"), "echo 'newuidmap: uid range not allowed' >&2\nexit 1\n")
	res := rkexecOpts(t, runOpts{Env: []string{"PATH=" + fake + ":" + os.Getenv("PATH")}}, "--", "true")
	wantExit(t, res, 125)
	oneErrorLine(t, res, "newuidmap", "not allowed")
	assertNoStateDirs(t)
}

// TestUserNamespacesDisabled: with user.max_user_namespaces at 0 (set inside a user namespace of our
// own, where it is ours to set), rkexec fails and names the sysctl.
func TestUserNamespacesDisabled(t *testing.T) {
	t.Parallel()
	unshare, err := exec.LookPath("unshare")
	if err != nil {
		skipOrFail(t, "unshare in PATH (util-linux)")
	}
	stateDir := filepath.Join(runtimeDirOf(t), "sd")
	res := rkexecOpts(t, runOpts{Program: unshare}, "-Urpf", "--mount-proc", "sh", "-c",
		`echo 0 > /proc/sys/user/max_user_namespaces || exit 99; exec "$0" --state-dir "$1" -- true`,
		rkexecBin(t), stateDir)
	if res.ExitCode == 99 {
		skipOrFail(t, "setting user.max_user_namespaces inside a user namespace: %s", res.Stderr)
	}
	wantExit(t, res, 125)
	oneErrorLine(t, res, "user.max_user_namespaces")
	assertNoStateDir(t, stateDir)
}

// TestStateDirUnsafeRefused: a --state-dir that is a symlink, or that others may write, is refused
// with 125 and one line, and nothing is created in it.
func TestStateDirUnsafeRefused(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		make func(t *testing.T, tmp string) (stateDir, contentDir string)
		want string
	}{
		{"symlink", func(t *testing.T, tmp string) (string, string) {
			real, link := filepath.Join(tmp, "real"), filepath.Join(tmp, "link")
			if err := os.Mkdir(real, 0o700); err != nil {
				t.Fatal(err)
			}
			if err := os.Symlink(real, link); err != nil {
				t.Fatal(err)
			}
			return link, real
		}, "symlink"},
		{"mode-0777", func(t *testing.T, tmp string) (string, string) {
			dir := filepath.Join(tmp, "open")
			if err := os.Mkdir(dir, 0o700); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(dir, 0o777); err != nil { // not through the umask
				t.Fatal(err)
			}
			return dir, dir
		}, "writable by others"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tmp := t.TempDir()
			stateDir, contentDir := tc.make(t, tmp)
			ran := filepath.Join(tmp, "ran")
			res := rkexec(t, "--state-dir", stateDir, "--", "touch", ran)
			wantExit(t, res, 125)
			oneErrorLine(t, res, tc.want)
			if left := dirEntries(t, contentDir); len(left) != 0 {
				t.Errorf("rkexec --state-dir %s created %q in %s", stateDir, left, contentDir)
			}
			notCreated(t, ran, "rkexec ran the command with a refused --state-dir")
		})
	}
}
