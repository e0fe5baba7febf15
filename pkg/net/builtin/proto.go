package builtin

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"

	"golang.org/x/sys/unix"
)

// maxMsg bounds one control packet.
const maxMsg = 4096

type request struct {
	// Op is "add" (with a socket) or "remove".
	Op        string `json:"op"`
	ID        int    `json:"id"`
	Proto     string `json:"proto,omitempty"`
	ChildIP   string `json:"childIP,omitempty"`
	ChildPort int    `json:"childPort,omitempty"`
}

type reply struct {
	Error string `json:"error,omitempty"`
}

// SocketPair returns the two ends of a control socket (SOCK_SEQPACKET, close-on-exec): one for
// NewParent, one for the child half (handed to the child process as an fd, then ChildConn).
func SocketPair() (parent, child *os.File, err error) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("port driver control socket: %w", err)
	}
	return os.NewFile(uintptr(fds[0]), "builtin-parent"), os.NewFile(uintptr(fds[1]), "builtin-child"), nil
}

// unixConn turns one end of SocketPair into a *net.UnixConn (f is closed; the conn has its own fd).
func unixConn(f *os.File) (*net.UnixConn, error) {
	defer f.Close()
	c, err := net.FileConn(f)
	if err != nil {
		return nil, fmt.Errorf("port driver control socket: %w", err)
	}
	uc, ok := c.(*net.UnixConn)
	if !ok {
		c.Close()
		return nil, errors.New("port driver control socket: not a unix socket")
	}
	return uc, nil
}

func send(c *net.UnixConn, v any, fd int) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	var oob []byte
	if fd >= 0 {
		oob = unix.UnixRights(fd)
	}
	_, _, err = c.WriteMsgUnix(b, oob, nil)
	return err
}

// recv reads one packet into v and returns the fd that came with it (-1 for none). Extra fds are
// closed; a truncated packet is an error.
func recv(c *net.UnixConn, v any) (int, error) {
	buf := make([]byte, maxMsg)
	oob := make([]byte, unix.CmsgSpace(4*4))
	n, oobn, flags, _, err := c.ReadMsgUnix(buf, oob)
	if errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) {
		return -1, errEOF
	}
	if err != nil {
		return -1, err
	}
	fd := -1
	if oobn > 0 {
		msgs, perr := unix.ParseSocketControlMessage(oob[:oobn])
		if perr != nil {
			return -1, fmt.Errorf("control message: %w", perr)
		}
		for _, m := range msgs {
			fds, _ := unix.ParseUnixRights(&m) // not SCM_RIGHTS: no fds to keep
			for _, f := range fds {
				if fd < 0 {
					fd = f
				} else {
					unix.Close(f)
				}
			}
		}
	}
	if flags&(unix.MSG_TRUNC|unix.MSG_CTRUNC) != 0 {
		closeFD(fd)
		return -1, errors.New("control packet truncated")
	}
	if n == 0 {
		closeFD(fd)
		return -1, errEOF
	}
	if err := json.Unmarshal(buf[:n], v); err != nil {
		closeFD(fd)
		return -1, fmt.Errorf("control packet: %w", err)
	}
	return fd, nil
}

var errEOF = errors.New("control socket closed")

func closeFD(fd int) {
	if fd >= 0 {
		unix.Close(fd)
	}
}
