// Package unixsock listens on and dials unix sockets by path, also when the path is longer than a
// socket address holds (107 bytes): then through /proc/self/fd/N/NAME, N being the socket's
// directory opened with O_PATH, which is short. State directories under a long $XDG_RUNTIME_DIR
// or --state-dir need it.
package unixsock

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// maxPath is the longest path a sockaddr_un holds, with its terminating NUL.
const maxPath = len(unix.RawSockaddrUnix{}.Path) - 1

// Listen listens on path. The socket is not removed on Close: the caller removes path.
func Listen(path string) (*net.UnixListener, error) {
	var l *net.UnixListener
	err := short(path, func(p string) (err error) {
		l, err = net.ListenUnix("unix", &net.UnixAddr{Name: p, Net: "unix"})
		return err
	})
	if err != nil {
		return nil, err
	}
	l.SetUnlinkOnClose(false)
	return l, nil
}

// DialContext connects to the socket at path.
func DialContext(ctx context.Context, path string) (net.Conn, error) {
	var c net.Conn
	err := short(path, func(p string) (err error) {
		c, err = (&net.Dialer{}).DialContext(ctx, "unix", p)
		return err
	})
	return c, err
}

// short calls f with path, or with a short alias of it while that alias is valid.
func short(path string, f func(string) error) error {
	if len(path) <= maxPath {
		return f(path)
	}
	fd, err := unix.Open(filepath.Dir(path), unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return &os.PathError{Op: "open", Path: filepath.Dir(path), Err: err}
	}
	defer unix.Close(fd)
	alias := fmt.Sprintf("/proc/self/fd/%d/%s", fd, filepath.Base(path))
	if len(alias) > maxPath {
		return fmt.Errorf("socket name %q is too long", filepath.Base(path))
	}
	return f(alias)
}
