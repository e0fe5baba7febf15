// Package sealedexe makes a sealed in-memory copy of the running binary, for the processes rkexec
// executes inside a sandbox (the init of a pid namespace). A process executed there belongs to the
// sandbox's user namespace, whose root may ptrace it and open /proc/PID/exe; if that led to the
// binary on disk, a sandbox could keep an O_PATH handle to it and rewrite it once rkexec has exited
// (CVE-2019-5736, which runc answers the same way). The copy is a memfd whose contents can no longer
// change (F_SEAL_WRITE, F_SEAL_GROW, F_SEAL_SHRINK, and F_SEAL_SEAL so no seal can be removed), so
// /proc/PID/exe of such a process reaches nothing worth writing.
//
// The copy costs every such start a few milliseconds (the copy, and an init that then runs from
// shmem pages), so it is made only when it protects something: Needed says whether the binary on disk
// could be rewritten from inside the sandbox at all. One installed by root for an unprivileged user
// (/usr/bin/rkexec, mode 0755) cannot be, and the init runs from it directly.
//
// It does not execute anything: the caller runs Path.
package sealedexe

import (
	"fmt"
	"io"
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// seals makes the copy immutable.
const seals = unix.F_SEAL_SEAL | unix.F_SEAL_SHRINK | unix.F_SEAL_GROW | unix.F_SEAL_WRITE

// Needed reports whether the running binary could be rewritten from inside a user namespace that
// maps the host uids for which mapped returns true. It could be when its owner is mapped there (the
// namespace's root then has CAP_FOWNER and CAP_DAC_OVERRIDE over it), or when it is writable by its
// group or by others (a process inside may be in that group, or join it with setgroups; an ACL that
// grants write shows as the group write bit, its mask). Otherwise no process inside can open it for
// writing, whatever it reaches through /proc/PID/exe.
func Needed(mapped func(uid uint32) bool) (bool, error) {
	var st unix.Stat_t
	// stat follows the magic link to the binary's inode; no path is looked up.
	if err := unix.Stat("/proc/self/exe", &st); err != nil {
		return true, fmt.Errorf("stat of the running binary: %w", os.NewSyscallError("stat /proc/self/exe", err))
	}
	return mapped(st.Uid) || st.Mode&0o022 != 0, nil
}

// Copy is a sealed copy of the running binary, open close-on-exec.
type Copy struct {
	f *os.File
}

// New copies /proc/self/exe (the running binary, through a magic link: no path lookup) into a sealed
// memfd whose fd is at least minFD, so that it survives the dup2s of a fork that places fds below it.
func New(minFD int) (*Copy, error) {
	self, err := os.Open("/proc/self/exe")
	if err != nil {
		return nil, fmt.Errorf("sealed copy of the binary: %w", err)
	}
	defer self.Close()
	fd, err := memfd()
	if err != nil {
		return nil, err
	}
	if fd < minFD {
		high, err := unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, minFD)
		unix.Close(fd)
		if err != nil {
			return nil, fmt.Errorf("sealed copy of the binary: %w", os.NewSyscallError("fcntl F_DUPFD_CLOEXEC", err))
		}
		fd = high
	}
	f := os.NewFile(uintptr(fd), "memfd:rkexec")
	if err := copyAll(f, self); err != nil {
		f.Close()
		return nil, fmt.Errorf("sealed copy of the binary: copying /proc/self/exe: %w", err)
	}
	if _, err := unix.FcntlInt(f.Fd(), unix.F_ADD_SEALS, seals); err != nil {
		f.Close()
		return nil, fmt.Errorf("sealed copy of the binary: %w", os.NewSyscallError("fcntl F_ADD_SEALS", err))
	}
	return &Copy{f: f}, nil
}

// copyAll copies src into dst with sendfile(2), in the kernel: copy_file_range refuses a memfd
// (another file system), and io.Copy would then move the binary through this process 32 KiB at a
// time, several times slower. Where sendfile cannot, io.Copy does.
func copyAll(dst, src *os.File) error {
	for {
		n, err := unix.Sendfile(int(dst.Fd()), int(src.Fd()), nil, 1<<30)
		switch {
		case err == unix.EINTR:
			continue
		case err == unix.EINVAL || err == unix.ENOSYS:
			_, err = io.Copy(dst, src)
			return err
		case err != nil:
			return os.NewSyscallError("sendfile", err)
		case n == 0:
			return nil
		}
	}
}

// memfd creates the memfd, executable: MFD_EXEC says so where vm.memfd_noexec may make memfds
// non-executable by default (Linux 6.3); older kernels reject the flag, and need none.
func memfd() (int, error) {
	const flags = unix.MFD_CLOEXEC | unix.MFD_ALLOW_SEALING
	fd, err := unix.MemfdCreate("rkexec", flags|unix.MFD_EXEC)
	if err == unix.EINVAL {
		fd, err = unix.MemfdCreate("rkexec", flags)
	}
	switch {
	case err == unix.EACCES:
		return -1, fmt.Errorf("sealed copy of the binary: memfd_create: %w: sysctl vm.memfd_noexec is 2, which forbids the executable memfd that the init of new namespaces runs from; set it to 0 or 1", err)
	case err != nil:
		return -1, fmt.Errorf("sealed copy of the binary: %w", os.NewSyscallError("memfd_create", err))
	}
	return fd, nil
}

// Path is the copy as a path that execve(2) accepts in this process and in its forks (until they
// exec, which closes the fd, the copy being then the new program's own).
func (c *Copy) Path() string { return "/proc/self/fd/" + strconv.Itoa(int(c.f.Fd())) }

// Close releases the copy; a process started from it keeps its own reference.
func (c *Copy) Close() error { return c.f.Close() }
