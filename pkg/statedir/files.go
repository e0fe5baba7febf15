package statedir

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// checkOwnDir checks that the open directory at path is the caller's and not writable by others.
func checkOwnDir(dir *os.File, path string) error {
	var st unix.Stat_t
	if err := unix.Fstat(int(dir.Fd()), &st); err != nil {
		return fmt.Errorf("state dir %s: %w", path, err)
	}
	if int(st.Uid) != os.Geteuid() {
		return fmt.Errorf("state dir %s belongs to uid %d, not to you (uid %d)", path, st.Uid, os.Geteuid())
	}
	if st.Mode&0o022 != 0 {
		return fmt.Errorf("state dir %s is writable by others (mode %o)", path, st.Mode&0o777)
	}
	return nil
}

// checkFile checks that the open file at path is a regular file of the caller's.
func checkFile(f *os.File, path string) error {
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		return fmt.Errorf("%s is not a regular file", path)
	}
	if int(st.Uid) != os.Geteuid() {
		return fmt.Errorf("%s belongs to uid %d, not to you", path, st.Uid)
	}
	return nil
}

// openNoFollow opens the directory path, where no component may be a symlink.
func openNoFollow(path string) (*os.File, error) {
	if !filepath.IsAbs(path) {
		return nil, fmt.Errorf("%q is not an absolute path", path)
	}
	fd, err := unix.Open("/", unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: "/", Err: err}
	}
	cur := "/"
	for _, c := range splitPath(path) {
		next, err := unix.Openat(fd, c, unix.O_PATH|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		unix.Close(fd)
		cur = filepath.Join(cur, c)
		if err != nil {
			return nil, pathError(cur, err)
		}
		fd = next
	}
	// O_PATH cannot list: reopen the last one for reading.
	rfd, err := unix.Openat(fd, ".", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	unix.Close(fd)
	if err != nil {
		return nil, pathError(path, err)
	}
	return os.NewFile(uintptr(rfd), path), nil
}

func splitPath(path string) []string {
	var out []string
	for _, c := range strings.Split(filepath.Clean(path), "/") {
		if c != "" {
			out = append(out, c)
		}
	}
	return out
}

// openDirAt opens the directory name in parent (at path), which may not be a symlink.
func openDirAt(parent *os.File, name, path string) (*os.File, error) {
	fd, err := unix.Openat(int(parent.Fd()), name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if errors.Is(err, unix.ENOTDIR) || errors.Is(err, unix.EACCES) {
		var st unix.Stat_t
		if unix.Fstatat(int(parent.Fd()), name, &st, unix.AT_SYMLINK_NOFOLLOW) == nil {
			switch {
			case st.Mode&unix.S_IFMT == unix.S_IFLNK:
				err = unix.ELOOP
			case int(st.Uid) != os.Geteuid():
				return nil, fmt.Errorf("state dir %s belongs to uid %d, not to you (uid %d)", path, st.Uid, os.Geteuid())
			}
		}
	}
	if err != nil {
		return nil, pathError(path, err)
	}
	return os.NewFile(uintptr(fd), path), nil
}

// openAt opens name in dir (at dirPath) with flags, never following a symlink and never blocking on
// a FIFO; the caller checks the file's type (checkFile).
func openAt(dir *os.File, name string, flags int, dirPath string) (*os.File, error) {
	path := filepath.Join(dirPath, name)
	fd, err := unix.Openat(int(dir.Fd()), name, flags|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_NOCTTY|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return nil, pathError(path, err)
	}
	return os.NewFile(uintptr(fd), path), nil
}

// pathError turns an open error into a *os.PathError, and ELOOP (O_NOFOLLOW met a symlink) and
// ENOTDIR into what they mean here.
func pathError(path string, err error) error {
	switch {
	case errors.Is(err, unix.ELOOP):
		return fmt.Errorf("%s is a symlink: give the directory or file itself", path)
	case errors.Is(err, unix.ENOTDIR):
		return fmt.Errorf("%s is not a directory", path)
	}
	return &os.PathError{Op: "open", Path: path, Err: err}
}

// unlinkAt removes the file name in dir, never what a symlink points to; a missing one is fine.
func unlinkAt(dir *os.File, name string) error {
	if err := unix.Unlinkat(int(dir.Fd()), name, 0); err != nil && !errors.Is(err, unix.ENOENT) {
		return err
	}
	return nil
}
