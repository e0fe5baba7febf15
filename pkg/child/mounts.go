package child

import (
	"fmt"

	"github.com/rootless-containers/rootlesskit/v2/pkg/copyup/tmpfssymlink"
	"golang.org/x/sys/unix"
)

// Propagations are the --propagation values and their mount flags.
var Propagations = map[string]uintptr{
	"private":  unix.MS_PRIVATE,
	"rprivate": unix.MS_REC | unix.MS_PRIVATE,
	"shared":   unix.MS_SHARED,
	"rshared":  unix.MS_REC | unix.MS_SHARED,
	"slave":    unix.MS_SLAVE,
	"rslave":   unix.MS_REC | unix.MS_SLAVE,
}

// setupMounts sets the propagation of / and copies up dirs (tmpfs+symlink, RootlessKit's driver).
func setupMounts(propagation string, copyUp []string) error {
	flags, ok := Propagations[propagation]
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
