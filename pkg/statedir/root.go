package statedir

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	"golang.org/x/sys/unix"
)

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
