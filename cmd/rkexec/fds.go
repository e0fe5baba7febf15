package main

import (
	"fmt"
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// closeOnExecFrom marks every fd from lowfd up close-on-exec. It runs first in run and exec, before
// anything is executed: Go's os/exec hands every inherited fd that is not close-on-exec to every
// program it starts, so an fd the caller leaked to rkexec (a root-only file of a privileged parent)
// would otherwise reach nsexec's stages, the child and the helpers, where the sandbox's root could
// take it. The fds rkexec passes on are chosen by the caller (socket activation, --preserve-fds) and
// lie below lowfd; every fd rkexec opens itself is close-on-exec already.
//
// This covers every program rkexec starts, where a keep-list in nsexec's last stage would cover only
// those, and needs no protocol. nsexec's stage 2 still marks every fd above 2 close-on-exec.
func closeOnExecFrom(lowfd int) error {
	err := unix.CloseRange(uint(lowfd), ^uint(0), unix.CLOSE_RANGE_CLOEXEC)
	if err == nil {
		return nil
	}
	// Linux < 5.11, or a seccomp profile: list our fds instead (our /proc: no sandbox exists yet).
	d, err := os.Open("/proc/self/fd")
	if err != nil {
		return fmt.Errorf("marking inherited fds close-on-exec: %w", err)
	}
	defer d.Close()
	names, err := d.Readdirnames(-1)
	if err != nil {
		return fmt.Errorf("marking inherited fds close-on-exec: %w", err)
	}
	for _, n := range names {
		fd, err := strconv.Atoi(n)
		if err != nil || fd < lowfd || fd == int(d.Fd()) {
			continue
		}
		if _, err := unix.FcntlInt(uintptr(fd), unix.F_SETFD, unix.FD_CLOEXEC); err != nil && err != unix.EBADF {
			return fmt.Errorf("marking inherited fd %d close-on-exec: %w", fd, err)
		}
	}
	return nil
}
