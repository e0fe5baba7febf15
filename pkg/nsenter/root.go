//go:build linux

package nsenter

import (
	"errors"
	"fmt"
	"syscall"
)

// BecomeRoot is what stage 2 does in C without Config.RootInGo, for the Go code of a stage 2
// started with it: it drops the supplementary groups and takes uid and gid 0 of its new user
// namespace. Call it once the id maps are written (Start returned in the caller), before anything
// that needs an id in the namespace. It changes every thread of the process (package syscall's
// set*id do), so it needs no locked thread.
//
// setgroups failing with EPERM is accepted, as in C: the namespace denies it (a single mapping
// whose creator wrote "deny" to /proc/self/setgroups), and the groups stay those the process came
// with, as for every process in such a namespace.
func BecomeRoot() error {
	if err := syscall.Setgroups([]int{}); err != nil && !errors.Is(err, syscall.EPERM) {
		return fmt.Errorf("dropping the supplementary groups in the new user namespace: %w", err)
	}
	if err := syscall.Setresgid(0, 0, 0); err != nil {
		return fmt.Errorf("taking gid 0 in the new user namespace (are its id maps written?): %w", err)
	}
	if err := syscall.Setresuid(0, 0, 0); err != nil {
		return fmt.Errorf("taking uid 0 in the new user namespace (are its id maps written?): %w", err)
	}
	return nil
}
