package process

import "golang.org/x/sys/unix"

// MovePreserved moves the n fds at from, from+1, ... down to 3, 4, ... (where the command expects
// them), and closes the ones left above. The caller has closed or moved what was at 3..from-1. The
// moved fds are not close-on-exec.
func MovePreserved(from, n int) error {
	if from == 3 || n == 0 {
		return nil
	}
	for i := 0; i < n; i++ {
		if err := unix.Dup3(from+i, 3+i, 0); err != nil {
			return fail(125, "moving fd %d to %d: %w", from+i, 3+i, err)
		}
	}
	// The sources below 3+n now hold copies; the rest are closed.
	for fd := max(from, 3+n); fd < from+n; fd++ {
		if err := unix.Close(fd); err != nil {
			return fail(125, "closing fd %d: %w", fd, err)
		}
	}
	return nil
}
