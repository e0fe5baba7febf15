package cgroup2

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/rkexec/rkexec/internal/testenv"
)

func TestCheckName(t *testing.T) {
	for _, bad := range []string{"", ".", "..", "a/b", "/a"} {
		if err := CheckName(bad); err == nil || !strings.Contains(err.Error(), "--evacuate-cgroup2") {
			t.Errorf("CheckName(%q) = %v, want an error naming the flag", bad, err)
		}
	}
	if err := CheckName("rkexec_evacuation"); err != nil {
		t.Error(err)
	}
}

func TestUnifiedPath(t *testing.T) {
	for _, tc := range []struct {
		in, want string
		ok       bool
	}{
		{"0::/user.slice/user-1000.slice/session-2.scope\n", "/user.slice/user-1000.slice/session-2.scope", true},
		{"12:pids:/\n1:name=systemd:/x\n0::/x\n", "/x", true},
		{"4:memory:/a\n1:cpu:/\n", "", false},
	} {
		got, ok := unifiedPath([]byte(tc.in))
		if got != tc.want || ok != tc.ok {
			t.Errorf("unifiedPath(%q) = %q, %v; want %q, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}

func TestCheckRefusesOtherFileSystems(t *testing.T) {
	err := Check(t.TempDir())
	if err == nil || !strings.Contains(err.Error(), "--evacuate-cgroup2") || !strings.Contains(err.Error(), "cgroup v1") {
		t.Fatalf("Check on a plain directory: %v", err)
	}
}

// unified finds a cgroup v2 mount to test on: /sys/fs/cgroup on a v2 host, its unified/ on a hybrid one.
func unified(t *testing.T) string {
	for _, p := range []string{Mountpoint, filepath.Join(Mountpoint, "unified")} {
		var st unix.Statfs_t
		if unix.Statfs(p, &st) == nil && st.Type == unix.CGROUP2_SUPER_MAGIC {
			return p
		}
	}
	testenv.Missing(t, "a cgroup v2 hierarchy (on %s or %s/unified)", Mountpoint, Mountpoint)
	return ""
}

// TestEvacuate runs Evacuate on a real cgroup v2 hierarchy, on a cgroup of its own holding two
// processes of its own: both end up in the sub-group, and the cgroup itself holds none.
func TestEvacuate(t *testing.T) {
	mnt := unified(t)
	if os.Geteuid() != 0 {
		testenv.Missing(t, "root, to make a cgroup under %s", mnt)
	}
	group := fmt.Sprintf("/rkexec-test-evacuate-%d", os.Getpid())
	dir := filepath.Join(mnt, group)
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	var pids []string
	var cmds []*exec.Cmd
	t.Cleanup(func() {
		for _, cmd := range cmds {
			cmd.Process.Kill()
			cmd.Wait()
		}
		// Empty now: removable.
		for _, d := range []string{filepath.Join(dir, "evac"), dir} {
			if err := os.Remove(d); err != nil && !os.IsNotExist(err) {
				t.Errorf("removing the test's cgroup: %v", err)
			}
		}
	})
	for range 2 {
		cmd := exec.Command("sleep", "1000")
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		cmds = append(cmds, cmd)
		pid := strconv.Itoa(cmd.Process.Pid)
		pids = append(pids, pid)
		if err := os.WriteFile(filepath.Join(dir, "cgroup.procs"), []byte(pid), 0); err != nil {
			t.Fatal(err)
		}
	}
	var warnings []string
	warn := func(format string, args ...any) { warnings = append(warnings, fmt.Sprintf(format, args...)) }
	if err := Evacuate(mnt, group, "evac", warn); err != nil {
		t.Fatal(err)
	}
	if left, _ := os.ReadFile(filepath.Join(dir, "cgroup.procs")); len(strings.Fields(string(left))) != 0 {
		t.Errorf("the evacuated cgroup still holds %q", left)
	}
	moved, _ := os.ReadFile(filepath.Join(dir, "evac", "cgroup.procs"))
	if got := strings.Fields(string(moved)); len(got) != 2 {
		t.Errorf("the sub-group holds %q, want %v", got, pids)
	}
	for _, p := range pids {
		if g, err := Own(p); err != nil || g != group+"/evac" {
			t.Errorf("process %s is in %q (%v), want %s/evac", p, g, err, group)
		}
	}
	// Again: the sub-group exists, nothing is left to move; not an error.
	if err := Evacuate(mnt, group, "evac", warn); err != nil {
		t.Fatalf("a second evacuation: %v", err)
	}
	if len(warnings) != 0 {
		t.Errorf("warnings: %q", warnings)
	}
	if err := Evacuate(mnt, group+"/nonexistent", "evac", warn); err == nil {
		t.Error("evacuating a cgroup that does not exist succeeded")
	}
}
