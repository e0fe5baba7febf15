package child

import (
	"fmt"

	"github.com/rootless-containers/rootlesskit/v2/pkg/copyup/tmpfssymlink"
	"golang.org/x/sys/unix"
)

// PropagationFlags returns the mount flags of a --propagation value, and whether it is one.
func PropagationFlags(name string) (uintptr, bool) {
	switch name {
	case "private":
		return unix.MS_PRIVATE, true
	case "rprivate":
		return unix.MS_REC | unix.MS_PRIVATE, true
	case "shared":
		return unix.MS_SHARED, true
	case "rshared":
		return unix.MS_REC | unix.MS_SHARED, true
	case "slave":
		return unix.MS_SLAVE, true
	case "rslave":
		return unix.MS_REC | unix.MS_SLAVE, true
	}
	return 0, false
}

// setupMounts sets the propagation of / and copies up dirs (tmpfs+symlink, RootlessKit's driver).
func setupMounts(propagation string, copyUp []string) error {
	flags, ok := PropagationFlags(propagation)
	if !ok {
		return fmt.Errorf("unknown propagation %q", propagation)
	}
	if err := unix.Mount("none", "/", "", flags, ""); err != nil {
		return fmt.Errorf("setting propagation of / to %s: %w", propagation, err)
	}
	if len(copyUp) == 0 {
		return nil
	}
	if _, err := tmpfssymlink.NewChildDriver().CopyUp(copyUp); err != nil {
		return fmt.Errorf("copy-up: %w", err)
	}
	return nil
}
