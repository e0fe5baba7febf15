//go:build linux

// Package sigcatch catches signals with plain sigaction(2) handlers that write each signal's number
// on a pipe, for a short-lived process that must catch many signals from its start: os/signal takes
// a round trip between two threads for every signal it starts (or stops) catching, about a
// millisecond for the sixty or so that a relay catches. The handlers run on the thread's alternate
// signal stack (SA_ONSTACK), as the Go runtime requires of foreign handlers, and stay installed until
// the process exits or executes: nothing restores the runtime's own.
//
// It does not relay or wait (packages sigforward and reaper do), and must not be given the signals
// the Go runtime needs for itself (SIGURG, SIGPROF, the synchronous faults).
package sigcatch

/*
#cgo CFLAGS: -Wall -Wextra
#include "sigcatch.h"
*/
import "C"

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// Catch installs the handlers for sigs and returns the pipe's read end, on which each caught
// signal is one byte, its number. Catch may be called once per process.
func Catch(sigs []unix.Signal) (*os.File, error) {
	for _, s := range sigs {
		switch s {
		case unix.SIGURG, unix.SIGPROF, unix.SIGSEGV, unix.SIGBUS, unix.SIGFPE, unix.SIGILL, unix.SIGTRAP, unix.SIGSYS, unix.SIGKILL, unix.SIGSTOP:
			return nil, fmt.Errorf("sigcatch: %v belongs to the Go runtime or cannot be caught", s)
		}
		if s <= 0 || s > 64 {
			return nil, fmt.Errorf("sigcatch: signal %d out of range", int(s))
		}
	}
	var p [2]int
	if err := unix.Pipe2(p[:], unix.O_CLOEXEC|unix.O_NONBLOCK); err != nil {
		return nil, fmt.Errorf("sigcatch: pipe: %w", err)
	}
	nums := make([]C.int, len(sigs))
	for i, s := range sigs {
		nums[i] = C.int(s)
	}
	var ptr *C.int
	if len(nums) > 0 {
		ptr = &nums[0]
	}
	if r := C.rkx_sig_catch(C.int(p[1]), ptr, C.int(len(nums))); r != 0 {
		// Some handlers may be installed, writing to p[1]: leave it open.
		unix.Close(p[0])
		return nil, fmt.Errorf("sigcatch: sigaction: %w", unix.Errno(-r))
	}
	return os.NewFile(uintptr(p[0]), "sigcatch"), nil
}
