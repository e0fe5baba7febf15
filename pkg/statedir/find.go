package statedir

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"time"

	"golang.org/x/sys/unix"
)

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

// lockExclusive takes the exclusive flock on f without waiting for a living rkexec. held, which
// `rkexec ps`, `info` and `exec` call, takes a shared lock for a moment: a few quick retries keep such
// a look from making a start or a prune that comes at the same moment fail as "in use".
func lockExclusive(f *os.File) error {
	var err error
	for try := 0; try < lockTries; try++ {
		if err = unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); !errors.Is(err, unix.EWOULDBLOCK) {
			return err
		}
		time.Sleep(lockRetryDelay)
	}
	return err
}

// lockTries and lockRetryDelay bound lockExclusive: far longer than held keeps its shared lock.
const (
	lockTries      = 5
	lockRetryDelay = 2 * time.Millisecond
)

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
	if err := lockExclusive(lock); err != nil {
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
