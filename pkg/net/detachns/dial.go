package detachns

import (
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// DialTimeout bounds a TCP connect.
const DialTimeout = 10 * time.Second

// Dial connects to raddr from a socket of the namespace, bound to laddr when that is not nil
// (a *net.TCPAddr or *net.UDPAddr, port 0). network is tcp, tcp4, tcp6, udp, udp4 or udp6; the
// address family is raddr's. It has the signature of the builtin port driver's Dialer.
func (n *NS) Dial(network string, laddr, raddr net.Addr) (net.Conn, error) {
	return dial(func(domain, typ int) (int, error) {
		return n.Socket(domain, typ|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	}, network, laddr, raddr)
}

// Socket is socket(2) in the namespace: the socket is made on the namespace's thread and works from
// any thread. It has the signature of the builtin port driver's Socket.
func (n *NS) Socket(domain, typ, proto int) (int, error) {
	fd := -1
	err := n.Do(func() error {
		var err error
		fd, err = unix.Socket(domain, typ, proto)
		return os.NewSyscallError("socket", err)
	})
	return fd, err
}

// dial connects a socket made by socket (non-blocking, close-on-exec) as Dial describes.
func dial(socket func(domain, typ int) (int, error), network string, laddr, raddr net.Addr) (net.Conn, error) {
	typ := unix.SOCK_STREAM
	var rip, lip net.IP
	var rport int
	switch {
	case strings.HasPrefix(network, "tcp"):
		a, ok := raddr.(*net.TCPAddr)
		if !ok {
			return nil, fmt.Errorf("dial %s: address %v is not TCP", network, raddr)
		}
		rip, rport = a.IP, a.Port
		if l, ok := laddr.(*net.TCPAddr); ok && l != nil {
			lip = l.IP
		}
	case strings.HasPrefix(network, "udp"):
		typ = unix.SOCK_DGRAM
		a, ok := raddr.(*net.UDPAddr)
		if !ok {
			return nil, fmt.Errorf("dial %s: address %v is not UDP", network, raddr)
		}
		rip, rport = a.IP, a.Port
		if l, ok := laddr.(*net.UDPAddr); ok && l != nil {
			lip = l.IP
		}
	default:
		return nil, fmt.Errorf("dial: unknown network %q", network)
	}
	domain, rsa := sockaddr(rip, rport)
	fd, err := socket(domain, typ)
	if err != nil {
		return nil, err
	}
	f := os.NewFile(uintptr(fd), "dial "+raddr.String()) // non-blocking: a pollable file
	defer f.Close()                                      // FileConn dups it
	opErr := func(op string, err error) error {
		return &net.OpError{Op: "dial", Net: network, Source: laddr, Addr: raddr, Err: os.NewSyscallError(op, err)}
	}
	if lip != nil {
		if typ == unix.SOCK_STREAM {
			// As the port driver's own dialer: the port is chosen at connect, with the 4-tuple.
			if err := unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_BIND_ADDRESS_NO_PORT, 1); err != nil {
				return nil, opErr("setsockopt", err)
			}
		}
		ldomain, lsa := sockaddr(lip, 0)
		if ldomain != domain {
			return nil, &net.OpError{Op: "dial", Net: network, Source: laddr, Addr: raddr, Err: errors.New("local and remote addresses of different families")}
		}
		if err := unix.Bind(fd, lsa); err != nil {
			return nil, opErr("bind", err)
		}
	}
	switch err := unix.Connect(fd, rsa); {
	case err == nil:
	case errors.Is(err, unix.EINPROGRESS), errors.Is(err, unix.EINTR), errors.Is(err, unix.EALREADY):
		if err := waitConnected(f); err != nil {
			return nil, opErr("connect", err)
		}
	default:
		return nil, opErr("connect", err)
	}
	c, err := net.FileConn(f)
	if err != nil {
		return nil, fmt.Errorf("dial %s %v: %w", network, raddr, err)
	}
	return c, nil
}

// waitConnected waits, through the runtime's poller, until the non-blocking connect on f is done,
// and returns its outcome.
func waitConnected(f *os.File) error {
	if err := f.SetWriteDeadline(time.Now().Add(DialTimeout)); err != nil {
		return err
	}
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var result error
	err = rc.Write(func(fd uintptr) bool {
		v, err := unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_ERROR)
		if err != nil {
			result = err
			return true
		}
		switch e := unix.Errno(v); e {
		case 0:
			// Writable and no error: connected; not writable yet: still under way.
			_, err := unix.Getpeername(int(fd))
			return err == nil
		case unix.EINPROGRESS, unix.EALREADY, unix.EINTR:
			return false
		default:
			result = e
			return true
		}
	})
	if err != nil {
		return err // the deadline, as os.ErrDeadlineExceeded
	}
	return result
}

// sockaddr returns the address family and socket address of ip:port.
func sockaddr(ip net.IP, port int) (int, unix.Sockaddr) {
	if v4 := ip.To4(); v4 != nil {
		sa := &unix.SockaddrInet4{Port: port}
		copy(sa.Addr[:], v4)
		return unix.AF_INET, sa
	}
	sa := &unix.SockaddrInet6{Port: port}
	copy(sa.Addr[:], ip.To16())
	return unix.AF_INET6, sa
}
