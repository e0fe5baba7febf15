package test

// --evacuate-cgroup2 GROUP, RootlessKit's: needs --cgroupns and --pidns and a cgroup v2 host. On a
// v1 or hybrid host it is refused before anything starts; on a v2 host (where the test user's cgroup
// is delegated to it) the command sees its cgroup namespace's root holding GROUP, with itself in it.

import (
	"errors"
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/rkexec/rkexec/internal/testenv"
)

func TestEvacuateCgroup2Refused(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		args  []string
		words []string
	}{
		{"without cgroupns", []string{"--evacuate-cgroup2=evac", "--pidns"}, []string{"--evacuate-cgroup2", "--cgroupns"}},
		{"without pidns", []string{"--evacuate-cgroup2=evac", "--cgroupns"}, []string{"--evacuate-cgroup2", "--pidns"}},
		{"not a name", []string{"--evacuate-cgroup2=a/b", "--cgroupns", "--pidns"}, []string{"--evacuate-cgroup2", "a/b"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			wantRefused(t, tc.args, tc.words...)
		})
	}
}

// wantRefused runs rkexec with args and a command, and wants a one-line error with words, exit 125,
// and nothing run or left.
func wantRefused(t *testing.T, args []string, words ...string) {
	t.Helper()
	marker := newMarker(t)
	res := rkexec(t, append(args, "--", "sh", "-c", "echo started", marker)...)
	wantExit(t, res, 125)
	oneErrorLine(t, res, words...)
	if strings.Contains(res.Stdout, "started") {
		t.Errorf("the command ran")
	}
	noProcessesLeft(t, marker)
	assertNoStateDirs(t)
}

// TestEvacuateCgroup2 checks what the host allows: on cgroup v1 or hybrid, a clear refusal; on
// cgroup v2, the evacuation as the command sees it.
func TestEvacuateCgroup2(t *testing.T) {
	t.Parallel()
	var st unix.Statfs_t
	if err := unix.Statfs("/sys/fs/cgroup", &st); err != nil {
		t.Fatal(err)
	}
	if st.Type != unix.CGROUP2_SUPER_MAGIC {
		wantRefused(t, []string{"--evacuate-cgroup2=evac", "--cgroupns", "--pidns"}, "--evacuate-cgroup2", "cgroup v2", "cgroup v1")
		return
	}
	own, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		t.Fatal(err)
	}
	group := filepath.Join("/sys/fs/cgroup", strings.TrimPrefix(strings.TrimSpace(string(own)), "0::"))
	if err := unix.Access(group, unix.W_OK); err != nil {
		skipOrFail(t, "cgroup %s is not delegated to the test user (%v): nothing can be evacuated", group, err)
	}
	// rkexec evacuates the whole cgroup it starts in: a cgroup of the test's own, not the test's.
	dir := filepath.Join(group, fmt.Sprintf("rkexec-test-%d", os.Getpid()))
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	evac := "rkexec_evacuation"
	t.Cleanup(func() {
		for _, d := range []string{filepath.Join(dir, evac), dir} {
			if err := os.Remove(d); err != nil && !errors.Is(err, os.ErrNotExist) {
				t.Errorf("removing the test's cgroup: %v", err)
			}
		}
	})
	wrapper := `echo $$ >"$1/cgroup.procs" && shift && exec "$@"`
	res := rkexecOpts(t, runOpts{Program: "/bin/sh"}, "-c", wrapper, "sh", dir, rkexecBin(t), "--evacuate-cgroup2="+evac, "--cgroupns", "--pidns", "--",
		"sh", "-c", "cat /proc/self/cgroup; ls /sys/fs/cgroup; wc -w </sys/fs/cgroup/cgroup.procs")
	wantExit(t, res, 0)
	lines := nonEmptyLines(res.Stdout)
	if len(lines) < 2 || !slices.Contains(lines, "0::/"+evac) || !slices.Contains(lines, evac) || lines[len(lines)-1] != "0" {
		t.Fatalf("inside: %q, want 0::/%s, %s in /sys/fs/cgroup and no process in its root", lines, evac, evac)
	}
	// Every controller of the cgroup is enabled for its sub-groups.
	controllers, _ := os.ReadFile(filepath.Join(dir, "cgroup.controllers"))
	enabled, _ := os.ReadFile(filepath.Join(dir, "cgroup.subtree_control"))
	if strings.TrimSpace(string(controllers)) != strings.TrimSpace(string(enabled)) {
		t.Errorf("controllers %q, enabled for the sub-groups %q", controllers, enabled)
	}
}

// TestRealRootEvacuateCgroup2OnUnified runs the cgroup v2 path on any host with cgroup2 support:
// as root it gives a process a private mount namespace with the unified hierarchy on
// /sys/fs/cgroup, a cgroup of its own delegated to the test user (cgroup v2's rules for
// delegation), and runs rkexec there as that user. The command sees its cgroup namespace's root
// empty, itself in the evacuation sub-group, and may create a sub-group beside it; the controllers
// the cgroup has (none on a hybrid host's unified hierarchy) are enabled for its sub-groups.
func TestRealRootEvacuateCgroup2OnUnified(t *testing.T) {
	requireRoot(t)
	hier := ""
	for _, p := range []string{"/sys/fs/cgroup", "/sys/fs/cgroup/unified"} {
		var st unix.Statfs_t
		if unix.Statfs(p, &st) == nil && st.Type == unix.CGROUP2_SUPER_MAGIC {
			hier = p
		}
	}
	if hier == "" {
		skipOrFail(t, "a cgroup v2 hierarchy mounted (on /sys/fs/cgroup or /sys/fs/cgroup/unified)")
	}
	name, err := testenv.SubidUser()
	if err != nil {
		t.Fatal(err)
	}
	u, err := user.Lookup(name)
	if err != nil {
		skipOrFail(t, "the test user %s (run scripts/setup-test-env.sh): %v", name, err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	own, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		t.Fatal(err)
	}
	var base string
	for line := range strings.Lines(string(own)) {
		if g, ok := strings.CutPrefix(strings.TrimSpace(line), "0::"); ok {
			base = g
		}
	}
	group := filepath.Join(base, fmt.Sprintf("rkexec-test-evac-%d", os.Getpid()))
	dir := filepath.Join(hier, group)
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	const evac = "rkexec_evacuation"
	t.Cleanup(func() {
		for _, d := range []string{filepath.Join(dir, evac, "sub"), filepath.Join(dir, "sub"), filepath.Join(dir, evac), dir} {
			if err := os.Remove(d); err != nil && !errors.Is(err, os.ErrNotExist) {
				t.Errorf("removing the test's cgroup: %v", err)
			}
		}
	})
	for _, f := range []string{"", "cgroup.procs", "cgroup.subtree_control", "cgroup.threads"} {
		if err := os.Chown(filepath.Join(dir, f), uid, gid); err != nil {
			t.Fatal(err)
		}
	}
	home, err := os.MkdirTemp("", "rkexec-evac-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(home) })
	if err := os.Chown(home, uid, gid); err != nil {
		t.Fatal(err)
	}
	script := `mount -t cgroup2 none /sys/fs/cgroup && echo $$ >"/sys/fs/cgroup$1/cgroup.procs" && shift && exec "$@"`
	inside := `cat /proc/self/cgroup; ls /sys/fs/cgroup; wc -w </sys/fs/cgroup/cgroup.procs; mkdir /sys/fs/cgroup/sub && echo made sub`
	res := rkexecOpts(t, runOpts{Program: "unshare"}, "-m", "--propagation=private", "sh", "-c", script, "sh", group,
		"setpriv", "--reuid="+u.Uid, "--regid="+u.Gid, "--clear-groups",
		"env", "-i", "PATH="+defaultPath, "HOME="+home,
		rkexecBin(t), "--state-dir="+filepath.Join(home, "state"), "--evacuate-cgroup2="+evac, "--cgroupns", "--pidns", "--",
		"sh", "-c", inside)
	wantExit(t, res, 0)
	lines := nonEmptyLines(res.Stdout)
	if len(lines) < 3 || !slices.Contains(lines, "0::/"+evac) || !slices.Contains(lines, evac) || lines[len(lines)-2] != "0" || lines[len(lines)-1] != "made sub" {
		t.Fatalf("inside: %q\nwant 0::/%s, %s in /sys/fs/cgroup, no process in its root, a sub-group made", lines, evac, evac)
	}
	if _, err := os.Stat(filepath.Join(dir, "sub")); err != nil {
		t.Errorf("the sub-group made inside is not beside %s: %v", evac, err)
	}
	if procs, _ := os.ReadFile(filepath.Join(dir, "cgroup.procs")); len(strings.Fields(string(procs))) != 0 {
		t.Errorf("the evacuated cgroup holds %q", procs)
	}
	controllers, _ := os.ReadFile(filepath.Join(dir, "cgroup.controllers"))
	enabled, _ := os.ReadFile(filepath.Join(dir, "cgroup.subtree_control"))
	if strings.TrimSpace(string(controllers)) != strings.TrimSpace(string(enabled)) {
		t.Errorf("controllers %q, enabled for the sub-groups %q", controllers, enabled)
	}
}
