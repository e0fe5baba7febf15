// Package statedir manages one sandbox's state directory: its creation (0700, owned by the caller),
// the lock held while the sandbox lives, the files tools read (child_pid, state.json), and removal.
//
// The layout is RootlessKit's, so tools written for it work: "lock", "child_pid" (written only once the
// sandbox is ready), "api.sock"; rkexec adds "state.json". It does not know what runs in the sandbox.
package statedir

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"syscall"
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

// Root is the directory holding named sandboxes: runtimeDir/rkexec, or /tmp/rkexec-UID when the
// caller has no runtime directory ($XDG_RUNTIME_DIR, which the caller passes in).
func Root(runtimeDir string, uid int) string {
	if runtimeDir != "" {
		return filepath.Join(runtimeDir, "rkexec")
	}
	return filepath.Join(os.TempDir(), "rkexec-"+strconv.Itoa(uid))
}

// State is what state.json records for `rkexec ps`, `rkexec exec` and `rkexec info`.
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

// Dir is a locked state directory.
type Dir struct {
	Path string
	// Created is true when rkexec made the directory, so removal takes the directory too.
	Created bool
	lock    *os.File
}

// Acquire creates (if needed) and locks the state directory path. A directory left by an rkexec that
// was killed is reused: its lock is free, and its old files are removed.
func Acquire(path string) (*Dir, error) {
	if !filepath.IsAbs(path) {
		return nil, fmt.Errorf("state dir %q must be an absolute path", path)
	}
	created := false
	if err := os.Mkdir(path, 0o700); err == nil {
		created = true
	} else if !errors.Is(err, os.ErrExist) {
		return nil, fmt.Errorf("creating state dir %s: %w", path, err)
	}
	d := &Dir{Path: path, Created: created}
	fi, err := os.Lstat(path)
	if err != nil {
		return nil, fmt.Errorf("state dir %s: %w", path, err)
	}
	switch {
	case fi.Mode()&os.ModeSymlink != 0:
		return nil, fmt.Errorf("state dir %s is a symlink: give the directory itself", path)
	case !fi.IsDir():
		return nil, fmt.Errorf("state dir %s is not a directory", path)
	case fi.Mode().Perm()&0o022 != 0:
		return nil, fmt.Errorf("state dir %s is writable by others (mode %o): make it 0700 or choose another --state-dir", path, fi.Mode().Perm())
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && int(st.Uid) != os.Geteuid() {
		return nil, fmt.Errorf("state dir %s belongs to uid %d, not to you (uid %d)", path, st.Uid, os.Geteuid())
	}
	lockPath := filepath.Join(path, LockFile)
	f, err := os.OpenFile(lockPath, os.O_RDWR|os.O_CREATE|unix.O_NOFOLLOW, 0o600)
	if err != nil {
		d.removeDirIfCreated()
		return nil, fmt.Errorf("state dir %s is not usable: %w", path, err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, fmt.Errorf("state dir %s is %w", path, ErrInUse)
		}
		return nil, fmt.Errorf("locking %s: %w", lockPath, err)
	}
	d.lock = f
	// Files of a killed rkexec that used this directory before.
	for _, name := range []string{ChildPIDFile, StateFile, APISockFile} {
		if err := os.Remove(filepath.Join(path, name)); err != nil && !errors.Is(err, os.ErrNotExist) {
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
	return writeAtomic(d.Join(ChildPIDFile), []byte(strconv.Itoa(pid)), 0o444)
}

// WriteState writes state.json.
func (d *Dir) WriteState(s State) error {
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return fmt.Errorf("encoding state: %w", err)
	}
	return writeAtomic(d.Join(StateFile), append(b, '\n'), 0o600)
}

// Release removes what rkexec wrote (the directory too when rkexec created it) and drops the lock.
func (d *Dir) Release() error {
	err := Remove(d.Path, d.Created)
	if d.lock != nil {
		d.lock.Close()
		d.lock = nil
	}
	return err
}

// Remove removes the files rkexec writes in the state directory path, and the directory itself when
// rkexec created it (created). The child uses it after a parent that was killed.
func Remove(path string, created bool) error {
	if created {
		if err := os.RemoveAll(path); err != nil {
			return fmt.Errorf("removing state dir %s: %w", path, err)
		}
		return nil
	}
	var errs []error
	for _, name := range []string{ChildPIDFile, StateFile, APISockFile, LockFile} {
		p := filepath.Join(path, name)
		if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, fmt.Errorf("removing %s: %w", p, err))
		}
	}
	return errors.Join(errs...)
}

func (d *Dir) removeDirIfCreated() {
	if d.Created {
		_ = os.Remove(d.Path) // best effort: the directory is empty, and the caller reports the first error.
	}
}

func writeAtomic(path string, data []byte, perm os.FileMode) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, perm); err != nil {
		return fmt.Errorf("writing %s: %w", tmp, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("renaming %s to %s: %w", tmp, path, err)
	}
	return nil
}

// ReadState reads state.json from the state directory dir.
func ReadState(dir string) (State, error) {
	var s State
	b, err := os.ReadFile(filepath.Join(dir, StateFile))
	if err != nil {
		return s, err
	}
	if err := json.Unmarshal(b, &s); err != nil {
		return s, fmt.Errorf("decoding %s: %w", filepath.Join(dir, StateFile), err)
	}
	return s, nil
}

// Alive reports whether a running rkexec holds dir's lock.
func Alive(dir string) bool {
	f, err := os.Open(filepath.Join(dir, LockFile))
	if err != nil {
		return false
	}
	defer f.Close()
	if err := unix.Flock(int(f.Fd()), unix.LOCK_SH|unix.LOCK_NB); err != nil {
		return errors.Is(err, unix.EWOULDBLOCK)
	}
	_ = unix.Flock(int(f.Fd()), unix.LOCK_UN) // closing drops it anyway
	return false
}

// Sandbox is a state directory found on disk.
type Sandbox struct {
	State
	// Alive is true while an rkexec holds the directory's lock.
	Alive bool
}

// Open finds the sandbox whose state directory is dir and checks that it belongs to the caller.
func Open(dir string) (Sandbox, error) {
	fi, err := os.Lstat(dir)
	if err != nil {
		return Sandbox{}, err
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !fi.IsDir() || !ok {
		return Sandbox{}, fmt.Errorf("%s is not a state directory", dir)
	}
	if int(st.Uid) != os.Geteuid() {
		return Sandbox{}, fmt.Errorf("state dir %s belongs to uid %d, not to you (uid %d)", dir, st.Uid, os.Geteuid())
	}
	alive := Alive(dir)
	s, err := ReadState(dir)
	if err != nil && (alive || !errors.Is(err, os.ErrNotExist)) {
		if errors.Is(err, os.ErrNotExist) {
			return Sandbox{}, fmt.Errorf("sandbox in %s is still starting: %w", dir, err)
		}
		return Sandbox{}, err
	}
	if s.StateDir == "" {
		s.StateDir = dir
		s.Name = filepath.Base(dir)
	}
	return Sandbox{State: s, Alive: alive}, nil
}

// List returns the sandboxes under root (see Root), sorted by name. Directories that are not the
// caller's or not sandboxes are left out.
func List(root string) ([]Sandbox, error) {
	entries, err := os.ReadDir(root)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("listing %s: %w", root, err)
	}
	var out []Sandbox
	for _, e := range entries {
		dir := filepath.Join(root, e.Name())
		if _, err := os.Stat(filepath.Join(dir, LockFile)); err != nil {
			continue
		}
		s, err := Open(dir)
		if err != nil {
			continue
		}
		out = append(out, s)
	}
	return out, nil
}

// Prune removes the state directory of a sandbox whose rkexec is gone, under the lock.
func Prune(dir string) error {
	d, err := Acquire(dir)
	if err != nil {
		return err
	}
	d.Created = true
	return d.Release()
}
