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
	"errors"
	"fmt"
	"time"

	"github.com/rkexec/rkexec/pkg/atomicfile"
)

// Files in a state directory.
const (
	LockFile     = "lock"
	ChildPIDFile = "child_pid"
	StateFile    = "state.json"
	APISockFile  = "api.sock"
	// The network's: slirp4netns's API socket, the files bind-mounted over /etc's.
	SlirpSockFile  = "slirp4netns.sock"
	ResolvConfFile = "resolv.conf"
	HostsFile      = "hosts"
	// NetNSFile is --detach-netns's network namespace: a bind mount in the sandbox's mount
	// namespace, an empty file outside.
	NetNSFile = "netns"
)

// MaxStateSize bounds state.json: a larger one is refused unread.
const MaxStateSize = 64 << 10

// ownFiles are the names rkexec creates in a state directory, all but the lock: what a stale
// directory is emptied of, and all that pruning removes besides the lock.
func ownFiles() []string {
	return []string{ChildPIDFile, StateFile, APISockFile, SlirpSockFile, ResolvConfFile, HostsFile, NetNSFile,
		atomicfile.TempName(ChildPIDFile), atomicfile.TempName(StateFile)}
}

// ErrInUse reports a state directory locked by a living rkexec.
var ErrInUse = errors.New("in use by another running rkexec")

// validName says whether name is 1-64 letters, digits, '_', '.' or '-', starting with a letter or
// digit. (Not a regexp: compiling one at package init costs every start of the binary, every role
// included, about a third of a millisecond.)
func validName(name string) bool {
	if len(name) == 0 || len(name) > 64 {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case i > 0 && (c == '_' || c == '.' || c == '-'):
		default:
			return false
		}
	}
	return true
}

// CheckName validates a sandbox name given with --name.
func CheckName(name string) error {
	if !validName(name) {
		return fmt.Errorf("invalid --name %q: use 1-64 letters, digits, '_', '.' or '-', starting with a letter or digit", name)
	}
	return nil
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
