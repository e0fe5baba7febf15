// Package nsfd hands a namespace file from the process inside the namespace to rkexec's parent, over
// a socket pair (SCM_RIGHTS). The sandbox's own processes are non-dumpable, so no other process may
// open their /proc/PID/ns files; the parent gets the namespace this way and passes it on by fd (to
// slirp4netns, as /proc/self/fd/N).
package nsfd

import (
	"errors"
	"fmt"
	"net"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// SocketPair returns the parent's and the child's ends (SOCK_SEQPACKET, close-on-exec).
func SocketPair() (parent, child *os.File, err error) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("namespace socket: %w", err)
	}
	return os.NewFile(uintptr(fds[0]), "nsfd-parent"), os.NewFile(uintptr(fds[1]), "nsfd-child"), nil
}

// Send opens path (e.g. /proc/self/ns/net) and sends it on sock, which it closes.
func Send(sock *os.File, path string) error {
	defer sock.Close()
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return &os.PathError{Op: "open", Path: path, Err: err}
	}
	defer unix.Close(fd)
	if err := unix.Sendmsg(int(sock.Fd()), []byte(path), unix.UnixRights(fd), nil, 0); err != nil {
		return fmt.Errorf("sending %s: %w", path, err)
	}
	return nil
}

// SendFile sends the namespace f (e.g. /proc/self/ns/net, opened) on sock; both stay open.
func SendFile(sock, f *os.File) error {
	if err := unix.Sendmsg(int(sock.Fd()), []byte(f.Name()), unix.UnixRights(int(f.Fd())), nil, 0); err != nil {
		return fmt.Errorf("sending %s: %w", f.Name(), err)
	}
	return nil
}

// Recv waits up to timeout for the namespace sent on sock (which it closes) and returns it.
func Recv(sock *os.File, timeout time.Duration) (*os.File, error) {
	c, err := net.FileConn(sock)
	sock.Close()
	if err != nil {
		return nil, fmt.Errorf("namespace socket: %w", err)
	}
	defer c.Close()
	uc, ok := c.(*net.UnixConn)
	if !ok {
		return nil, errors.New("namespace socket: not a unix socket")
	}
	if err := uc.SetReadDeadline(time.Now().Add(timeout)); err != nil {
		return nil, err
	}
	buf := make([]byte, 256)
	oob := make([]byte, unix.CmsgSpace(4*4))
	n, oobn, _, _, err := uc.ReadMsgUnix(buf, oob)
	if err != nil {
		return nil, fmt.Errorf("waiting for the sandbox's namespace: %w", err)
	}
	msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
	if err != nil {
		return nil, fmt.Errorf("namespace message: %w", err)
	}
	var fds []int
	for _, m := range msgs {
		got, _ := unix.ParseUnixRights(&m) // anything but SCM_RIGHTS carries no fd
		fds = append(fds, got...)
	}
	if len(fds) != 1 || n == 0 {
		for _, fd := range fds {
			unix.Close(fd)
		}
		return nil, fmt.Errorf("namespace message with %d fds, want 1 (the sandbox's process ended?)", len(fds))
	}
	return os.NewFile(uintptr(fds[0]), string(buf[:n])), nil
}
