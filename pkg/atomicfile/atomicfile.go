// Package atomicfile writes small files so that a reader sees the old content or the new, never a
// part: the content goes to a temporary file beside the target, made anew (O_EXCL, never through a
// symlink) and renamed over it. It is the one way rkexec writes state.json, child_pid and --pid-file.
//
// The write is not synced to disk: these files describe running processes (they live in a runtime
// directory, usually a tmpfs) and mean nothing after a crash, so start-up does not pay for fsync.
package atomicfile

import (
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"

	"golang.org/x/sys/unix"
)

// TempName is the temporary file WriteAt uses for name: what a clean-up of a directory whose writer
// was killed removes.
func TempName(name string) string { return name + ".tmp" }

// WriteAt replaces name in the open directory dir with data, with permissions perm (not masked by
// the umask), through the temporary file TempName(name). For a directory only its owner writes in:
// a file planted under the temporary name is removed, never opened. On failure name is unchanged and
// no temporary file is left. Errors are *os.PathError or *os.LinkError.
func WriteAt(dir *os.File, name string, data []byte, perm os.FileMode) error {
	tmp := TempName(name)
	if err := unix.Unlinkat(int(dir.Fd()), tmp, 0); err != nil && !errors.Is(err, unix.ENOENT) {
		return &os.PathError{Op: "unlink", Path: filepath.Join(dir.Name(), tmp), Err: err}
	}
	return replace(dir, tmp, name, data, perm)
}

// Write replaces the file path with data, with permissions perm (not masked by the umask), through a
// temporary file of a name of its own, so that writers in a shared directory (/tmp) neither meet nor
// block each other. On failure path is unchanged and no temporary file is left. Errors are
// *os.PathError or *os.LinkError.
func Write(path string, data []byte, perm os.FileMode) error {
	dir, err := os.OpenFile(filepath.Dir(path), os.O_RDONLY|unix.O_DIRECTORY, 0)
	if err != nil {
		return err
	}
	defer dir.Close()
	name := filepath.Base(path)
	for try := 1; ; try++ {
		tmp := "." + name + ".tmp-" + strconv.FormatUint(uint64(rand.Uint32()), 36)
		err := replace(dir, tmp, name, data, perm)
		var pe *os.PathError
		if try < 100 && errors.As(err, &pe) && pe.Op == "create" && errors.Is(err, unix.EEXIST) {
			continue // another writer's temporary file: draw another name
		}
		return err
	}
}

// replace writes data to the new file tmp in dir and renames it over name, removing it on failure.
func replace(dir *os.File, tmp, name string, data []byte, perm os.FileMode) error {
	tmpPath := filepath.Join(dir.Name(), tmp)
	fd, err := unix.Openat(int(dir.Fd()), tmp, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, uint32(perm.Perm()))
	if err != nil {
		return &os.PathError{Op: "create", Path: tmpPath, Err: err}
	}
	f := os.NewFile(uintptr(fd), tmpPath)
	_, err = f.Write(data)
	if err == nil {
		err = f.Chmod(perm) // the umask may have taken bits
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		if rerr := unix.Renameat(int(dir.Fd()), tmp, int(dir.Fd()), name); rerr != nil {
			err = &os.LinkError{Op: "rename", Old: tmpPath, New: filepath.Join(dir.Name(), name), Err: rerr}
		}
	}
	if err != nil {
		_ = unix.Unlinkat(int(dir.Fd()), tmp, 0) // the write failed; that error is the one to report
		return err
	}
	return nil
}
