package statedir

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"

	"golang.org/x/sys/unix"

	"github.com/rkexec/rkexec/pkg/atomicfile"
)

// Dir is a state directory locked by this process, the parent of a sandbox.
type Dir struct {
	// Path is the directory, with no symlink in it (those of the given path are resolved).
	Path string
	// Created is true when the directory is rkexec's (it made it, or it is under the default state
	// root), so removal takes the directory too.
	Created bool
	// dir is the directory itself: rkexec exec checks that the lock holder holds it open, and only
	// it. The directory holding it is not kept open (the state root would pass that check for a lock
	// linked into it); removal reaches it through "..".
	dir  *os.File
	lock *os.File
}

// Acquire creates (if needed) and locks the state directory path. A directory left by an rkexec that
// was killed is reused: its lock is free, and its old files are removed. owned says the directory is
// rkexec's whoever made it (it is under the default state root): a reused one is then removed at the
// end like a created one; else (a --state-dir) only what rkexec made is.
func Acquire(path string, owned bool) (*Dir, error) {
	if !filepath.IsAbs(path) {
		return nil, fmt.Errorf("state dir %q must be an absolute path", path)
	}
	parentPath, err := filepath.EvalSymlinks(filepath.Dir(path))
	if err != nil {
		return nil, fmt.Errorf("state dir %s: %w", path, err)
	}
	parent, err := openNoFollow(parentPath)
	if err != nil {
		return nil, fmt.Errorf("state dir %s: %w", path, err)
	}
	defer parent.Close()
	d := &Dir{Path: filepath.Join(parentPath, filepath.Base(path))}
	base := filepath.Base(path)
	made := false
	if err := unix.Mkdirat(int(parent.Fd()), base, 0o700); err == nil {
		made = true
	} else if !errors.Is(err, unix.EEXIST) {
		return nil, fmt.Errorf("creating state dir %s: %w", path, err)
	}
	fail := func(err error) (*Dir, error) {
		if made {
			_ = unix.Unlinkat(int(parent.Fd()), base, unix.AT_REMOVEDIR) // empty still; the first error is reported
		}
		d.close()
		return nil, err
	}
	d.dir, err = openDirAt(parent, base, d.Path)
	if err != nil {
		return fail(err)
	}
	var st unix.Stat_t
	if err := unix.Fstat(int(d.dir.Fd()), &st); err != nil {
		return fail(fmt.Errorf("state dir %s: %w", path, err))
	}
	if st.Mode&0o022 != 0 {
		return fail(fmt.Errorf("state dir %s is writable by others (mode %o): make it 0700 or choose another --state-dir", path, st.Mode&0o777))
	}
	if int(st.Uid) != os.Geteuid() {
		return fail(fmt.Errorf("state dir %s belongs to uid %d, not to you (uid %d)", path, st.Uid, os.Geteuid()))
	}
	f, err := openAt(d.dir, LockFile, unix.O_RDWR|unix.O_CREAT, d.Path)
	if err != nil {
		return fail(fmt.Errorf("state dir %s is not usable: %w", path, err))
	}
	if err := checkFile(f, filepath.Join(d.Path, LockFile)); err != nil {
		f.Close()
		return fail(fmt.Errorf("state dir %s is not usable: %w", path, err))
	}
	if err := lockExclusive(f); err != nil {
		f.Close()
		made = false // someone else's
		if errors.Is(err, unix.EWOULDBLOCK) {
			return fail(fmt.Errorf("state dir %s is %w", path, ErrInUse))
		}
		return fail(fmt.Errorf("locking %s: %w", filepath.Join(d.Path, LockFile), err))
	}
	d.lock = f
	d.Created = made || owned
	if made {
		return d, nil // new and locked: nothing stale in it
	}
	// Files of a killed rkexec that used this directory before.
	for _, name := range ownFiles() {
		if err := unlinkAt(d.dir, name); err != nil {
			d.Release()
			return nil, fmt.Errorf("removing stale %s: %w", name, err)
		}
	}
	return d, nil
}

// LockFile returns the open lock file, for handing to the child so the lock lives as long as it does.
func (d *Dir) LockFile() *os.File { return d.lock }

// DirFile returns the open directory, for handing to the child, which cleans up through it after a
// parent that was killed (RemoveOwnFiles).
func (d *Dir) DirFile() *os.File { return d.dir }

// Join returns the path of a file in the directory.
func (d *Dir) Join(name string) string { return filepath.Join(d.Path, name) }

// WriteChildPID writes child_pid, the signal that the sandbox is ready.
func (d *Dir) WriteChildPID(pid int) error {
	return writeAtomic(d.dir, d.Path, ChildPIDFile, []byte(strconv.Itoa(pid)), 0o444)
}

// WriteState writes state.json.
func (d *Dir) WriteState(s State) error {
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return fmt.Errorf("encoding state: %w", err)
	}
	return writeAtomic(d.dir, d.Path, StateFile, append(b, '\n'), 0o600)
}

// Release removes what rkexec wrote (the directory and all in it when rkexec created it) and drops
// the lock. It works on the directory opened by Acquire, whatever was renamed or planted since.
func (d *Dir) Release() error {
	var err error
	if d.dir != nil {
		err = removeDir(d.dir, d.Path, d.Created)
	}
	d.close()
	return err
}

func (d *Dir) close() {
	for _, f := range []*os.File{d.lock, d.dir} {
		if f != nil {
			f.Close()
		}
	}
	d.lock, d.dir = nil, nil
}

// RemoveOwnFiles removes, from the state directory open as dir (Dir.DirFile, at path), the files
// rkexec writes and the lock, then, when created, the directory itself if it is then empty and still
// named by its name in its parent. The child uses it after a parent that was killed: dir was opened
// by the parent, outside the sandbox, so neither a mount in the sandbox's namespace nor a rename of
// the path redirects it to another directory, and a file rkexec did not make is never removed.
func RemoveOwnFiles(dir *os.File, path string, created bool) error {
	var errs []error
	for _, n := range append(ownFiles(), LockFile) {
		if err := unlinkAt(dir, n); err != nil {
			errs = append(errs, fmt.Errorf("removing %s: %w", filepath.Join(path, n), err))
		}
	}
	if len(errs) > 0 || !created {
		return errors.Join(errs...)
	}
	if _, err := dir.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("removing state dir %s: %w", path, err)
	}
	if left, err := dir.Readdirnames(1); err != nil && err != io.EOF {
		return fmt.Errorf("removing state dir %s: %w", path, err)
	} else if len(left) > 0 {
		return fmt.Errorf("state dir %s holds files rkexec did not make: left for rkexec ps --prune", path)
	}
	return removeSelf(dir, path)
}

// removeSelf removes the empty directory dir from its parent (through ".."), if the name it had
// there still is dir.
func removeSelf(dir *os.File, path string) error {
	parent, err := openDirAt(dir, "..", filepath.Dir(path))
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil // removed by someone else
		}
		return fmt.Errorf("removing state dir %s: %w", path, err)
	}
	defer parent.Close()
	return removeIfSame(parent, filepath.Base(path), dir, path)
}

// removeDir empties dir (at path) of rkexec's files, or of everything when all is set, in which case
// it removes dir too, if its name in its parent still is dir.
func removeDir(dir *os.File, path string, all bool) error {
	if !all {
		var errs []error
		for _, n := range append(ownFiles(), LockFile) {
			if err := unlinkAt(dir, n); err != nil {
				errs = append(errs, fmt.Errorf("removing %s: %w", filepath.Join(path, n), err))
			}
		}
		return errors.Join(errs...)
	}
	if err := removeContents(dir, path); err != nil {
		return fmt.Errorf("removing state dir %s: %w", path, err)
	}
	return removeSelf(dir, path)
}

// removeIfSame removes the empty directory name in parent if it is dir (open).
func removeIfSame(parent *os.File, name string, dir *os.File, path string) error {
	var want, got unix.Stat_t
	if err := unix.Fstat(int(dir.Fd()), &want); err != nil {
		return fmt.Errorf("removing state dir %s: %w", path, err)
	}
	if err := unix.Fstatat(int(parent.Fd()), name, &got, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		if errors.Is(err, unix.ENOENT) {
			return nil // renamed or removed by someone else: not ours to chase
		}
		return fmt.Errorf("removing state dir %s: %w", path, err)
	}
	if got.Dev != want.Dev || got.Ino != want.Ino {
		return fmt.Errorf("removing state dir %s: it was replaced by another file; left alone", path)
	}
	if err := unix.Unlinkat(int(parent.Fd()), name, unix.AT_REMOVEDIR); err != nil {
		return fmt.Errorf("removing state dir %s: %w", path, err)
	}
	return nil
}

// removeContents removes everything in the open directory dir, descending into directories through
// fds opened with O_NOFOLLOW: a symlink is removed, never followed.
func removeContents(dir *os.File, path string) error {
	if _, err := dir.Seek(0, io.SeekStart); err != nil {
		return err
	}
	names, err := dir.Readdirnames(-1)
	if err != nil {
		return err
	}
	for _, n := range names {
		err := unix.Unlinkat(int(dir.Fd()), n, 0)
		if err == nil || errors.Is(err, unix.ENOENT) {
			continue
		}
		if !errors.Is(err, unix.EISDIR) {
			return fmt.Errorf("%s: %w", filepath.Join(path, n), err)
		}
		sub, err := openDirAt(dir, n, filepath.Join(path, n))
		if err != nil {
			return err
		}
		err = removeContents(sub, filepath.Join(path, n))
		sub.Close()
		if err != nil {
			return err
		}
		if err := unix.Unlinkat(int(dir.Fd()), n, unix.AT_REMOVEDIR); err != nil && !errors.Is(err, unix.ENOENT) {
			return fmt.Errorf("%s: %w", filepath.Join(path, n), err)
		}
	}
	return nil
}

// writeAtomic writes name in dir (at path) atomically (package atomicfile).
func writeAtomic(dir *os.File, path, name string, data []byte, perm uint32) error {
	if err := atomicfile.WriteAt(dir, name, data, os.FileMode(perm)); err != nil {
		return fmt.Errorf("writing %s: %w", filepath.Join(path, name), err)
	}
	return nil
}
