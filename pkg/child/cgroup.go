package child

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// mountCgroup2 mounts, for --evacuate-cgroup2, the cgroup v2 hierarchy as this process's cgroup
// namespace sees it on /sys/fs/cgroup, over a tmpfs, as RootlessKit's child does (its tmpfs is there
// to avoid EBUSY): the sandbox then sees rkexec's cgroup as the root, the evacuation sub-group in it,
// and may create sub-groups beside that one.
func mountCgroup2() error {
	const dir = "/sys/fs/cgroup"
	if err := unix.Mount("none", dir, "tmpfs", 0, ""); err != nil {
		return fmt.Errorf("mounting a tmpfs on %s: %w", dir, err)
	}
	if err := unix.Mount("none", dir, "cgroup2", 0, ""); err != nil {
		return fmt.Errorf("mounting cgroup2 on %s: %w", dir, err)
	}
	return nil
}
