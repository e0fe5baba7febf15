package test

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestIdleParentUnmapsTheBinary: once a sandbox has run a moment, rkexec's parent (like the child,
// which the test user cannot inspect) holds few of the binary's read-only pages mapped: start-up maps
// most of them (the kernel's fault-around), an idle wait needs few.
func TestIdleParentUnmapsTheBinary(t *testing.T) {
	t.Parallel()
	bin, err := filepath.EvalSymlinks(rkexecBin(t))
	if err != nil {
		t.Fatal(err)
	}
	s := startSandbox(t, "idlemem", "--pidns")
	eventually(t, 10*time.Second, 100*time.Millisecond, func() error {
		rss, size, err := readOnlyMapped(s.cmd.Process.Pid, bin)
		if err != nil {
			return err
		}
		if size == 0 {
			return fmt.Errorf("no read-only mapping of %s in process %d", bin, s.cmd.Process.Pid)
		}
		if rss*100 > size*60 {
			return fmt.Errorf("rkexec's parent has %d of the %d KiB of %s's read-only mappings resident, want under 60%%", rss, size, bin)
		}
		return nil
	})
}

// readOnlyMapped sums Size and Rss (KiB) of pid's mappings of path that are not writable.
func readOnlyMapped(pid int, path string) (rss, size int, err error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/smaps", pid))
	if err != nil {
		return 0, 0, err
	}
	mine := false
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		switch {
		case len(f) >= 5 && strings.Contains(f[0], "-") && len(f[1]) == 4:
			mine = len(f) >= 6 && f[5] == path && f[1][1] != 'w'
		case mine && len(f) == 3 && f[0] == "Size:":
			n, _ := strconv.Atoi(f[1])
			size += n
		case mine && len(f) == 3 && f[0] == "Rss:":
			n, _ := strconv.Atoi(f[1])
			rss += n
		}
	}
	return rss, size, nil
}
