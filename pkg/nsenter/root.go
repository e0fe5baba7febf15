//go:build linux

package nsenter

import (
	"errors"
	"fmt"
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// BecomeRoot is what stage 2 does in C without Config.RootInGo, for the Go code of a stage 2
// started with it: it drops the supplementary groups and takes uid and gid 0 of its new user
// namespace. Call it once the id maps are written (Start returned in the caller), before anything
// that needs an id in the namespace, on the process's main thread: lock the main goroutine to it
// with runtime.LockOSThread in an init function. It changes every thread of the process, as
// package syscall's set*id do with cgo through glibc, which signals the other threads by the
// thread ids it has recorded: that of a stage 2's main thread is stage 0's (a stage is a clone
// that never went through fork), so a call from another thread would miss the main one.
//
// Each change is a round of signals to every thread (glibc's set*id under cgo), 0.1-0.2 ms, so a
// change that would change nothing is skipped: the caller's ids are usually the ones the maps send
// to 0, which the process has then already. setgroups failing with EPERM is accepted, as in C: the
// namespace denies it (a single mapping whose creator wrote "deny" to /proc/self/setgroups), and the
// groups stay those the process came with, as for every process in such a namespace.
func BecomeRoot() error {
	if tid, pid := unix.Gettid(), os.Getpid(); tid != pid {
		return fmt.Errorf("nsenter: BecomeRoot on thread %d, not on the main thread %d (runtime.LockOSThread in an init function)", tid, pid)
	}
	groups, err := syscall.Getgroups()
	if err != nil || len(groups) > 0 {
		if err := syscall.Setgroups([]int{}); err != nil && !errors.Is(err, syscall.EPERM) {
			return fmt.Errorf("dropping the supplementary groups in the new user namespace: %w", err)
		}
	}
	if r, e, s := unix.Getresgid(); r != 0 || e != 0 || s != 0 {
		if err := syscall.Setresgid(0, 0, 0); err != nil {
			return fmt.Errorf("taking gid 0 in the new user namespace (are its id maps written?): %w", err)
		}
	}
	if r, e, s := unix.Getresuid(); r != 0 || e != 0 || s != 0 {
		if err := syscall.Setresuid(0, 0, 0); err != nil {
			return fmt.Errorf("taking uid 0 in the new user namespace (are its id maps written?): %w", err)
		}
	}
	return nil
}
