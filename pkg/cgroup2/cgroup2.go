// Package cgroup2 does --evacuate-cgroup2, as RootlessKit does: the processes of the cgroup rkexec
// starts in move into a sub-group of it, so that the cgroup itself holds no process and every
// controller it has can be enabled for its sub-groups (cgroup v2's "no internal processes" rule);
// the sandbox, in a cgroup namespace rooted at that cgroup, then sees the sub-group and may create
// others beside it with controllers (what a container engine inside needs).
//
// cgroup v2 only: a host with v1 hierarchies (alone, or beside v2 in the "hybrid" layout) is refused
// by Check before anything starts. It does not create cgroup namespaces or mount anything: the
// parent evacuates, the child mounts (package child).
package cgroup2

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// Mountpoint is where a cgroup v2 host mounts the unified hierarchy.
const Mountpoint = "/sys/fs/cgroup"

// CheckName checks a sub-group name given to --evacuate-cgroup2: one path component.
func CheckName(name string) error {
	if name == "" || name == "." || name == ".." || strings.Contains(name, "/") {
		return fmt.Errorf("invalid --evacuate-cgroup2 %q: give the name of one sub-group, without \"/\" (e.g. rkexec_evacuation)", name)
	}
	return nil
}

// Check says whether mountpoint holds the unified hierarchy (cgroup v2), with an error that names
// what the host has instead.
func Check(mountpoint string) error {
	var st unix.Statfs_t
	if err := unix.Statfs(mountpoint, &st); err != nil {
		return fmt.Errorf("--evacuate-cgroup2 needs cgroup v2 on %s: %w", mountpoint, &os.PathError{Op: "statfs", Path: mountpoint, Err: err})
	}
	if st.Type == unix.CGROUP2_SUPER_MAGIC {
		return nil
	}
	what := "cgroup v1"
	var u unix.Statfs_t
	if unix.Statfs(filepath.Join(mountpoint, "unified"), &u) == nil && u.Type == unix.CGROUP2_SUPER_MAGIC {
		what = "cgroup v1 with v2 beside it (hybrid)"
	}
	return fmt.Errorf("--evacuate-cgroup2 needs cgroup v2 (the unified hierarchy on %s), and this host has %s: boot with systemd.unified_cgroup_hierarchy=1, or drop --evacuate-cgroup2", mountpoint, what)
}

// Own returns the cgroup v2 path of process pid ("self" for the caller), from its /proc/PID/cgroup.
func Own(pid string) (string, error) {
	name := filepath.Join("/proc", pid, "cgroup")
	b, err := os.ReadFile(name)
	if err != nil {
		return "", err
	}
	if g, ok := unifiedPath(b); ok {
		return g, nil
	}
	return "", fmt.Errorf("%s has no cgroup v2 entry (0::)", name)
}

// unifiedPath is the path of the "0::" line of a /proc/PID/cgroup.
func unifiedPath(b []byte) (string, bool) {
	s := bufio.NewScanner(bytes.NewReader(b))
	for s.Scan() {
		if g, ok := strings.CutPrefix(s.Text(), "0::"); ok {
			return g, true
		}
	}
	return "", false
}

// Evacuate moves every process of the cgroup group (a path under mountpoint, e.g. Own's) into its
// sub-group evac, created if missing, then enables in group's cgroup.subtree_control each controller
// of its cgroup.controllers. A process that cannot be moved (it exited, or belongs to someone else)
// and a controller that cannot be enabled are reported to warn and skipped, as RootlessKit does;
// the sub-group that cannot be made, or files that cannot be read, fail it.
func Evacuate(mountpoint, group, evac string, warn func(format string, args ...any)) error {
	if err := CheckName(evac); err != nil {
		return err
	}
	oldPath := filepath.Join(mountpoint, group)
	newPath := filepath.Join(oldPath, evac)
	if err := os.Mkdir(newPath, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
		if errors.Is(err, os.ErrPermission) {
			return fmt.Errorf("creating cgroup %s: %w: the cgroup rkexec runs in is not delegated to you (systemd delegates user@UID.service's; run rkexec in a unit or scope with Delegate=yes)", newPath, err)
		}
		return fmt.Errorf("creating cgroup %s: %w", newPath, err)
	}
	procs, err := os.ReadFile(filepath.Join(oldPath, "cgroup.procs"))
	if err != nil {
		return fmt.Errorf("listing the processes of cgroup %s: %w", oldPath, err)
	}
	dest, err := os.OpenFile(filepath.Join(newPath, "cgroup.procs"), os.O_WRONLY, 0)
	if err != nil {
		return fmt.Errorf("evacuating cgroup %s: %w", oldPath, err)
	}
	defer dest.Close()
	for _, pid := range strings.Fields(string(procs)) {
		if pid == "0" { // a process of another pid namespace
			continue
		}
		// One pid per write: the kernel takes one at a time.
		if _, err := dest.WriteString(pid); err != nil {
			warn("cannot move process %s to cgroup %s: %v", pid, newPath, err)
		}
	}
	controllers, err := os.ReadFile(filepath.Join(oldPath, "cgroup.controllers"))
	if err != nil {
		return fmt.Errorf("reading the controllers of cgroup %s: %w", oldPath, err)
	}
	subtree, err := os.OpenFile(filepath.Join(oldPath, "cgroup.subtree_control"), os.O_WRONLY, 0)
	if err != nil {
		return fmt.Errorf("enabling the controllers of cgroup %s: %w", oldPath, err)
	}
	defer subtree.Close()
	for _, c := range strings.Fields(string(controllers)) {
		if _, err := subtree.WriteString("+" + c); err != nil {
			warn("cannot enable controller %s for the sub-groups of cgroup %s: %v", c, oldPath, err)
		}
	}
	return nil
}
