// Package statedir manages sandboxes' state directories on disk: creation (0700, owned by the caller),
// the lock held while the sandbox lives, the files tools read (child_pid, state.json), listing the
// sandboxes under the state root, and removal.
//
// The layout is RootlessKit's, so tools written for it work: "lock", "child_pid" (written only once the
// sandbox is ready), "api.sock"; rkexec adds "state.json". It does not know what runs in the sandbox.
//
// A sandbox's root is the caller's uid outside, so it can write its own state directory (and the
// caller's others): nothing read from a state directory is trusted. A sandbox is named by its
// directory, never by what its state.json says; files are opened with O_NOFOLLOW|O_NONBLOCK through the
// directory's fd and accepted only as regular files of the caller's of bounded size; removal works on
// fds taken when the directory was found or created, never follows a symlink, and (for a pruned
// sandbox) removes only the files rkexec creates. Whether the rkexec holding a lock really is this
// directory's, and which process is the sandbox, is for the caller to check against the kernel (package
// enter); the State read here is a hint.
package statedir

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// Files in a state directory.
const (
	LockFile     = "lock"
	ChildPIDFile = "child_pid"
	StateFile    = "state.json"
	APISockFile  = "api.sock"
)

// MaxStateSize bounds state.json: a larger one is refused unread.
const MaxStateSize = 64 << 10

// tmpSuffix marks a file being written atomically.
const tmpSuffix = ".tmp"

// ownFiles are the names rkexec creates in a state directory, all but the lock: what a stale
// directory is emptied of, and all that pruning removes besides the lock.
func ownFiles() []string {
	return []string{ChildPIDFile, StateFile, APISockFile, ChildPIDFile + tmpSuffix, StateFile + tmpSuffix}
}

// ErrInUse reports a state directory locked by a living rkexec.
var ErrInUse = errors.New("in use by another running rkexec")

var validName = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,63}$`)

// CheckName validates a sandbox name given with --name.
func CheckName(name string) error {
	if !validName.MatchString(name) {
		return fmt.Errorf("invalid --name %q: use 1-64 letters, digits, '_', '.' or '-', starting with a letter or digit", name)
	}
	return nil
}

// Root is the directory holding named sandboxes, for the caller uid:
//   - runtimeDir/rkexec, when the caller has a runtime directory ($XDG_RUNTIME_DIR, passed in);
//   - else /run/user/UID/rkexec when that directory exists and is the caller's (systemd-logind's
//     runtime directory, which no other user can create), or /run/rkexec for root;
//   - else TMPDIR/rkexec-UID, which CheckRoot refuses when someone else made it first.
//
// It creates nothing.
func Root(runtimeDir string, uid int) string {
	if runtimeDir != "" {
		return filepath.Join(runtimeDir, "rkexec")
	}
	base := filepath.Join("/run/user", strconv.Itoa(uid))
	if uid == 0 {
		base = "/run"
	}
	var st unix.Stat_t
	if err := unix.Lstat(base, &st); err == nil && st.Mode&unix.S_IFMT == unix.S_IFDIR && int(st.Uid) == uid {
		return filepath.Join(base, "rkexec")
	}
	return filepath.Join(os.TempDir(), "rkexec-"+strconv.Itoa(uid))
}

// CheckRoot checks that root (see Root) is a directory of the caller's that nobody else can enter;
// with create, a missing one is made (0700). It reports whether root exists.
func CheckRoot(root string, create bool) (bool, error) {
	if create {
		if err := os.MkdirAll(filepath.Dir(root), 0o700); err != nil {
			return false, fmt.Errorf("creating %s: %w (set XDG_RUNTIME_DIR or use --state-dir)", filepath.Dir(root), err)
		}
		if err := os.Mkdir(root, 0o700); err != nil && !errors.Is(err, os.ErrExist) {
			return false, fmt.Errorf("creating %s: %w (set XDG_RUNTIME_DIR or use --state-dir)", root, err)
		}
	}
	var st unix.Stat_t
	if err := unix.Lstat(root, &st); err != nil {
		if errors.Is(err, unix.ENOENT) {
			return false, nil
		}
		return false, fmt.Errorf("checking %s: %w", root, err)
	}
	const fix = "set XDG_RUNTIME_DIR to a directory of your own (mode 0700) or use --state-dir"
	switch {
	case st.Mode&unix.S_IFMT == unix.S_IFLNK:
		return true, fmt.Errorf("%s is a symlink, not the directory of your sandboxes: remove it, or %s", root, fix)
	case st.Mode&unix.S_IFMT != unix.S_IFDIR:
		return true, fmt.Errorf("%s is not a directory: remove it, or %s", root, fix)
	case int(st.Uid) != os.Geteuid():
		return true, fmt.Errorf("%s belongs to uid %d, not to you (uid %d): another user made it, which would let them see or block your sandboxes; %s", root, st.Uid, os.Geteuid(), fix)
	case st.Mode&0o077 != 0:
		return true, fmt.Errorf("%s has mode %o: others may enter it; make it private (chmod 700 %s)", root, st.Mode&0o777, root)
	}
	return true, nil
}

// State is what state.json records for `rkexec ps`, `rkexec exec` and `rkexec info`. Read back, it
// is a hint: the sandbox could have written it.
type State struct {
	Name      string    `json:"name"`
	StateDir  string    `json:"state_dir"`
	ParentPID int       `json:"parent_pid"`
	ChildPID  int       `json:"child_pid"`
	Command   []string  `json:"command"`
	Network   string    `json:"network"`
	Ports     []string  `json:"ports,omitempty"`
	Started   time.Time `json:"started"`
}

// Dir is a state directory locked by this process, the parent of a sandbox.
type Dir struct {
	// Path is the directory, with no symlink in it (those of the given path are resolved).
	Path string
	// Created is true when rkexec made the directory, so removal takes the directory too.
	Created bool
	parent  *os.File // the directory holding it, for removing it by name
	dir     *os.File // the directory itself: rkexec exec checks that the lock holder holds it
	lock    *os.File
}

// Acquire creates (if needed) and locks the state directory path. A directory left by an rkexec that
// was killed is reused: its lock is free, and its old files are removed.
func Acquire(path string) (*Dir, error) {
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
	d := &Dir{Path: filepath.Join(parentPath, filepath.Base(path)), parent: parent}
	base := filepath.Base(path)
	if err := unix.Mkdirat(int(parent.Fd()), base, 0o700); err == nil {
		d.Created = true
	} else if !errors.Is(err, unix.EEXIST) {
		parent.Close()
		return nil, fmt.Errorf("creating state dir %s: %w", path, err)
	}
	fail := func(err error) (*Dir, error) {
		if d.Created {
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
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		d.Created = false // someone else's
		if errors.Is(err, unix.EWOULDBLOCK) {
			return fail(fmt.Errorf("state dir %s is %w", path, ErrInUse))
		}
		return fail(fmt.Errorf("locking %s: %w", filepath.Join(d.Path, LockFile), err))
	}
	d.lock = f
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
		err = removeDir(d.parent, filepath.Base(d.Path), d.dir, d.Path, d.Created)
	}
	d.close()
	return err
}

func (d *Dir) close() {
	for _, f := range []*os.File{d.lock, d.dir, d.parent} {
		if f != nil {
			f.Close()
		}
	}
	d.lock, d.dir, d.parent = nil, nil, nil
}

// Remove removes the files rkexec writes in the state directory path, and the directory with all in
// it when rkexec created it (created). The child uses it after a parent that was killed. path is
// Dir.Path: a symlink in it now was planted, and nothing is removed.
func Remove(path string, created bool) error {
	parent, err := openNoFollow(filepath.Dir(path))
	if err != nil {
		return fmt.Errorf("removing state dir %s: %w", path, err)
	}
	defer parent.Close()
	dir, err := openDirAt(parent, filepath.Base(path), path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil
		}
		return fmt.Errorf("removing state dir: %w", err)
	}
	defer dir.Close()
	return removeDir(parent, filepath.Base(path), dir, path, created)
}

// removeDir empties dir (found as name in parent, at path) of rkexec's files, or of everything when
// all is set, in which case it removes dir too, if name still is dir.
func removeDir(parent *os.File, name string, dir *os.File, path string, all bool) error {
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
	return removeIfSame(parent, name, dir, path)
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

// writeAtomic writes name in dir (at path) through a temporary file renamed over it. The temporary
// file is made anew (a FIFO or symlink planted under its name is removed first, never opened).
func writeAtomic(dir *os.File, path, name string, data []byte, perm uint32) error {
	tmp := name + tmpSuffix
	if err := unlinkAt(dir, tmp); err != nil {
		return fmt.Errorf("writing %s: %w", filepath.Join(path, tmp), err)
	}
	fd, err := unix.Openat(int(dir.Fd()), tmp, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, perm)
	if err != nil {
		return fmt.Errorf("writing %s: %w", filepath.Join(path, tmp), err)
	}
	f := os.NewFile(uintptr(fd), filepath.Join(path, tmp))
	_, err = f.Write(data)
	if err == nil {
		err = f.Chmod(os.FileMode(perm)) // the umask may have taken bits
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = unix.Renameat(int(dir.Fd()), tmp, int(dir.Fd()), name)
	}
	if err != nil {
		_ = unix.Unlinkat(int(dir.Fd()), tmp, 0) // the write failed; that error is reported
		return fmt.Errorf("writing %s: %w", filepath.Join(path, name), err)
	}
	return nil
}

// Sandbox is a state directory found on disk, before any check of the kernel: its name and path are
// where it was found, State is what its state.json claims.
type Sandbox struct {
	// Name is the directory's name.
	Name string
	// Path is the directory's path: the state root's joined with Name, or the path given to Open.
	Path string
	// Alive is true while a process holds the directory's lock.
	Alive bool
	// State is state.json's content, a hint; zero when there is none (StateErr says why).
	State State
	// StateErr is why State could not be read; os.ErrNotExist while a sandbox starts, or after a
	// kill in its first milliseconds.
	StateErr error
	dir      *os.File
	lock     *os.File // nil when there is no lock file
}

// Close releases the directory.
func (s *Sandbox) Close() {
	for _, f := range []*os.File{s.lock, s.dir} {
		if f != nil {
			f.Close()
		}
	}
	s.lock, s.dir = nil, nil
}

// DirFile is the directory, open.
func (s *Sandbox) DirFile() *os.File { return s.dir }

// LockFile is the lock file, open; nil when the directory has none.
func (s *Sandbox) LockFile() *os.File { return s.lock }

// Open opens the state directory path of a sandbox (the directory itself may not be a symlink) and
// checks that it is the caller's and that nobody else may write it. Broken state files (not regular,
// too large, not the caller's, not JSON) are reported in StateErr; a broken lock file is an error.
func Open(path string) (*Sandbox, error) {
	parentPath, err := filepath.EvalSymlinks(filepath.Dir(path))
	if err != nil {
		return nil, err
	}
	parent, err := openNoFollow(parentPath)
	if err != nil {
		return nil, err
	}
	defer parent.Close()
	return openAtRoot(parent, filepath.Base(path), path)
}

func openAtRoot(parent *os.File, name, path string) (*Sandbox, error) {
	dir, err := openDirAt(parent, name, path)
	if err != nil {
		return nil, err
	}
	s := &Sandbox{Name: name, Path: path, dir: dir}
	if err := checkOwnDir(dir, path); err != nil {
		s.Close()
		return nil, err
	}
	lock, err := openAt(dir, LockFile, unix.O_RDONLY, path)
	switch {
	case err == nil:
		if err := checkFile(lock, filepath.Join(path, LockFile)); err != nil {
			lock.Close()
			s.Close()
			return nil, err
		}
		s.lock = lock
		s.Alive = held(lock)
	case !errors.Is(err, os.ErrNotExist):
		s.Close()
		return nil, err
	}
	s.State, s.StateErr = readState(dir, path)
	return s, nil
}

// held reports whether a process holds the lock open as f (so that a shared lock cannot be taken).
func held(f *os.File) bool {
	if err := unix.Flock(int(f.Fd()), unix.LOCK_SH|unix.LOCK_NB); err != nil {
		return errors.Is(err, unix.EWOULDBLOCK)
	}
	_ = unix.Flock(int(f.Fd()), unix.LOCK_UN) // closing drops it anyway
	return false
}

// readState reads state.json in dir (at path): a regular file of the caller's, at most MaxStateSize.
func readState(dir *os.File, path string) (State, error) {
	var s State
	name := filepath.Join(path, StateFile)
	f, err := openAt(dir, StateFile, unix.O_RDONLY, path)
	if err != nil {
		return s, err
	}
	defer f.Close()
	if err := checkFile(f, name); err != nil {
		return s, err
	}
	b, err := io.ReadAll(io.LimitReader(f, MaxStateSize+1))
	if err != nil {
		return s, fmt.Errorf("reading %s: %w", name, err)
	}
	if len(b) > MaxStateSize {
		return s, fmt.Errorf("%s is larger than %d bytes", name, MaxStateSize)
	}
	if err := json.Unmarshal(b, &s); err != nil {
		return s, fmt.Errorf("decoding %s: %w", name, err)
	}
	return s, nil
}

// Problem is a directory entry under the state root that is not a sandbox.
type Problem struct {
	Name string
	Err  error
}

// List opens the sandboxes under root (see Root), sorted by name; the caller closes them. Entries
// that cannot be sandboxes (not a directory of the caller's, a name rkexec would not give, a broken
// lock) are returned as problems, to be shown as warnings; they never hide or block the others.
func List(root string) ([]*Sandbox, []Problem, error) {
	r, err := openNoFollow(root)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, fmt.Errorf("listing %s: %w", root, err)
	}
	defer r.Close()
	names, err := r.Readdirnames(-1)
	if err != nil {
		return nil, nil, fmt.Errorf("listing %s: %w", root, err)
	}
	slices.Sort(names)
	var out []*Sandbox
	var problems []Problem
	for _, name := range names {
		if err := CheckName(name); err != nil {
			problems = append(problems, Problem{name, errors.New("not a sandbox name: ignored")})
			continue
		}
		s, err := openAtRoot(r, name, filepath.Join(root, name))
		if err != nil {
			problems = append(problems, Problem{name, err})
			continue
		}
		out = append(out, s)
	}
	return out, problems, nil
}

// Prune removes the state directory name under root of a sandbox whose rkexec is gone, under its
// lock (taken, or created when a kill left none): rkexec's own files, each by name and never through
// a symlink, then the directory, which must then be empty. A directory whose lock is held is left.
func Prune(root, name string) error {
	if err := CheckName(name); err != nil {
		return err
	}
	path := filepath.Join(root, name)
	r, err := openNoFollow(root)
	if err != nil {
		return err
	}
	defer r.Close()
	dir, err := openDirAt(r, name, path)
	if err != nil {
		return err
	}
	defer dir.Close()
	if err := checkOwnDir(dir, path); err != nil {
		return err
	}
	lock, err := openAt(dir, LockFile, unix.O_RDWR|unix.O_CREAT, path)
	if err != nil {
		return err
	}
	defer lock.Close()
	if err := checkFile(lock, filepath.Join(path, LockFile)); err != nil {
		return err
	}
	if err := unix.Flock(int(lock.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		if errors.Is(err, unix.EWOULDBLOCK) {
			return fmt.Errorf("%s is %w", path, ErrInUse)
		}
		return fmt.Errorf("locking %s: %w", filepath.Join(path, LockFile), err)
	}
	for _, n := range ownFiles() {
		if err := unlinkAt(dir, n); err != nil {
			return fmt.Errorf("removing %s: %w", filepath.Join(path, n), err)
		}
	}
	if _, err := dir.Seek(0, io.SeekStart); err != nil {
		return err
	}
	left, err := dir.Readdirnames(-1)
	if err != nil {
		return fmt.Errorf("listing %s: %w", path, err)
	}
	left = slices.DeleteFunc(left, func(n string) bool { return n == LockFile })
	if len(left) > 0 {
		slices.Sort(left)
		return fmt.Errorf("%s holds files rkexec did not make (%q): left alone; remove it yourself if you do not need them", path, left)
	}
	if err := unlinkAt(dir, LockFile); err != nil {
		return fmt.Errorf("removing %s: %w", filepath.Join(path, LockFile), err)
	}
	return removeIfSame(r, name, dir, path)
}

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
