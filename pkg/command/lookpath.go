package command

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"

	"golang.org/x/sys/unix"
)

// Error is a failure to start a command, with the exit code to report: 125 for a bad setting, 126
// when the command cannot be executed, 127 when it is not found.
type Error struct {
	Code int
	Err  error
}

func (e *Error) Error() string { return e.Err.Error() }
func (e *Error) Unwrap() error { return e.Err }

// Errorf returns an *Error with code and a formatted message (%w wraps as in fmt.Errorf).
func Errorf(code int, format string, args ...any) error {
	return &Error{Code: code, Err: fmt.Errorf(format, args...)}
}

// LookPath resolves name with PATH from env (a default PATH when env has none), as the command will
// see it. Failures are *Error with code 127 (not found) or 126 (not executable).
func LookPath(name string, env []string) (string, error) {
	if strings.Contains(name, "/") {
		fi, err := os.Stat(name)
		switch {
		case err != nil:
			return "", &Error{Code: 127, Err: fmt.Errorf("%s: %w", name, errors.Unwrap(err))}
		case fi.IsDir() || fi.Mode()&0o111 == 0:
			return "", &Error{Code: 126, Err: fmt.Errorf("%s: permission denied", name)}
		}
		return name, nil
	}
	path := "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, "PATH="); ok {
			path = v
		}
	}
	for _, dir := range strings.Split(path, ":") {
		if dir == "" {
			dir = "."
		}
		p := dir + "/" + name
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", &Error{Code: 127, Err: fmt.Errorf("%s: %w", name, exec.ErrNotFound)}
}

// CodeOf is the exit code for a failure to start a command: an *Error's own code, 127 when the file
// is not there, 126 when it cannot be executed (no permission, not an executable, or an argument
// list and environment over the kernel's limit, E2BIG, as a shell reports it), 125 otherwise (and 0
// for no error).
func CodeOf(err error) int {
	var pe *Error
	switch {
	case err == nil:
		return 0
	case errors.As(err, &pe):
		return pe.Code
	case errors.Is(err, exec.ErrNotFound), errors.Is(err, os.ErrNotExist):
		return 127
	case errors.Is(err, os.ErrPermission), errors.Is(err, unix.ENOEXEC), errors.Is(err, unix.EISDIR), errors.Is(err, unix.E2BIG):
		return 126
	}
	return 125
}

// ExecFailed is the *Error for a failed execve of name: its code (CodeOf), and for E2BIG the limit
// that was hit, which the kernel's message does not name.
func ExecFailed(name string, err error) error {
	if errors.Is(err, unix.E2BIG) {
		err = fmt.Errorf("%w (the command line and environment are over the kernel's limit, ARG_MAX, at most 3/4 of the stack limit, ulimit -s)", err)
	}
	return &Error{Code: CodeOf(err), Err: fmt.Errorf("exec %s: %w", name, err)}
}
