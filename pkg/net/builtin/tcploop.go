package builtin

import (
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// The TCP relay of one published port: one goroutine blocked in epoll_wait on the listening socket
// and every relayed connection's two sockets, with non-blocking accept, connect and splice through a
// pipe per direction. The Go netpoller version (a goroutine per connection, io.Copy per direction)
// costs about twice the context switches and syscalls per connection, which is most of a short
// connection's cost (docs/benchmarks.md).

// maxSplice bounds one splice, as the standard library's.
const maxSplice = 1 << 20

// maxFreePipes bounds the empty pipes kept for the next connections.
const maxFreePipes = 64

// tcpLoop is one port's relay; epoll_event.Fd is the socket an event is for.
type tcpLoop struct {
	c        *Child
	ep       int
	lfd      int // the listening socket; -1 once the port is removed
	stop     int // eventfd: the port is removed
	target   unix.Sockaddr
	targetIP net.IP
	family   int
	socket   func(domain, typ, proto int) (int, error)
	conns    map[int]*tconn
	pipes    [][2]int
	done     func() // once the listener is closed
	port     *tcpPort
}

// tconn is one relayed connection: the client's socket (accepted) and the server's (dialled inside).
type tconn struct {
	client, server int
	up, down       tflow // client → server, server → client
	connecting     bool
	bound          bool // dialled from the client's address: retried without when that fails
	clientIP       net.IP
}

// tflow is one direction: bytes go from src to dst through a pipe.
type tflow struct {
	src, dst  int
	pipe      [2]int // -1 until the first byte
	n         int    // bytes in the pipe
	eof, shut bool   // src reached EOF; dst shut down for writing
}

// tcpPort is the handle of a port's loop: Close removes the port (relays in progress go on).
type tcpPort struct {
	mu       sync.Mutex
	lfd      int
	stop     int
	closed   bool          // Close was called, or the loop is closing the listening socket
	released chan struct{} // closed once the loop has closed the listening socket
}

// Close returns once the listening socket is closed, so that the port can be bound again at once.
func (p *tcpPort) Close() error {
	p.mu.Lock()
	if !p.closed {
		p.closed = true
		// New connections are refused from now on, not once the loop has woken up.
		unix.Shutdown(p.lfd, unix.SHUT_RDWR)
		var one [8]byte
		one[0] = 1 // any count wakes the loop, whatever the byte order
		unix.Write(p.stop, one[:])
	}
	p.mu.Unlock()
	<-p.released
	return nil
}

// ended is the loop's last act: nothing writes to stop after it is closed.
func (p *tcpPort) ended() {
	p.mu.Lock()
	defer p.mu.Unlock()
	unix.Close(p.stop)
}

// startTCPLoop takes over the listening socket lfd (a dup it owns) and relays its connections to
// target in the background; the returned handle removes the port.
func (c *Child) startTCPLoop(lfd int, target *net.TCPAddr) (*tcpPort, error) {
	ep, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("epoll: %w", err)
	}
	stop, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		unix.Close(ep)
		return nil, fmt.Errorf("eventfd: %w", err)
	}
	l := &tcpLoop{c: c, ep: ep, lfd: lfd, stop: stop, targetIP: target.IP, conns: map[int]*tconn{}, socket: c.opt.Socket}
	if l.socket == nil {
		l.socket = unix.Socket
	}
	if ip4 := target.IP.To4(); ip4 != nil {
		sa := &unix.SockaddrInet4{Port: target.Port}
		copy(sa.Addr[:], ip4)
		l.target, l.family = sa, unix.AF_INET
	} else {
		sa := &unix.SockaddrInet6{Port: target.Port}
		copy(sa.Addr[:], target.IP.To16())
		l.target, l.family = sa, unix.AF_INET6
	}
	// The listener level-triggered (a backlog left after an error is retried), the rest edge-triggered.
	for _, fd := range []int{lfd, stop} {
		if err := unix.EpollCtl(ep, unix.EPOLL_CTL_ADD, fd, &unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(fd)}); err != nil {
			unix.Close(ep)
			unix.Close(stop)
			return nil, fmt.Errorf("epoll: %w", err)
		}
	}
	c.wg.Add(1)
	l.done = sync.OnceFunc(c.wg.Done)
	port := &tcpPort{lfd: lfd, stop: stop, released: make(chan struct{})}
	l.port = port
	go l.run(port)
	return port, nil
}

func (l *tcpLoop) run(port *tcpPort) {
	defer func() {
		l.closeListener()
		for _, tc := range l.conns {
			l.closeConn(tc) // only after an epoll_wait error
		}
		for _, p := range l.pipes {
			unix.Close(p[0])
			unix.Close(p[1])
		}
		unix.Close(l.ep)
		port.ended()
	}()
	evs := make([]unix.EpollEvent, 128)
	for l.lfd >= 0 || len(l.conns) > 0 {
		n, err := unix.EpollWait(l.ep, evs, -1)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			fmt.Fprintf(l.c.opt.Log, "port relay: epoll_wait: %v\n", err)
			return
		}
		for _, ev := range evs[:n] {
			switch fd := int(ev.Fd); {
			case fd == l.stop:
				unix.EpollCtl(l.ep, unix.EPOLL_CTL_DEL, l.stop, nil)
				l.closeListener()
			case fd == l.lfd:
				l.accept()
			default:
				if tc := l.conns[fd]; tc != nil {
					l.event(tc, fd, ev.Events)
				}
			}
		}
	}
}

func (l *tcpLoop) closeListener() {
	if l.lfd >= 0 {
		l.port.mu.Lock()
		l.port.closed = true // Close leaves the socket alone from now on
		l.port.mu.Unlock()
		unix.Close(l.lfd)
		l.lfd = -1
		close(l.port.released)
		l.done()
	}
}

func (l *tcpLoop) accept() {
	for l.lfd >= 0 {
		fd, sa, err := unix.Accept4(l.lfd, unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC)
		switch {
		case err == nil:
		case errors.Is(err, unix.EAGAIN):
			return
		case errors.Is(err, unix.EINTR), errors.Is(err, unix.ECONNABORTED):
			continue
		case errors.Is(err, unix.EINVAL):
			return // shut down by Close: the stop event follows
		default:
			// EMFILE and the like: back off instead of spinning.
			fmt.Fprintf(l.c.opt.Log, "port relay: accept: %v\n", err)
			time.Sleep(50 * time.Millisecond)
			return
		}
		tc := &tconn{client: fd, server: -1, up: tflow{pipe: [2]int{-1, -1}}, down: tflow{pipe: [2]int{-1, -1}}}
		switch a := sa.(type) {
		case *unix.SockaddrInet4:
			tc.clientIP = net.IP(a.Addr[:]).To16()
		case *unix.SockaddrInet6:
			tc.clientIP = net.IP(a.Addr[:])
		}
		unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1)
		src := sourceFor(tc.clientIP, l.targetIP)
		err = l.dial(tc, src)
		if err != nil && src != nil {
			err = l.dial(tc, nil)
		}
		if err != nil {
			l.reset(tc)
		}
	}
}

// dial starts the connection to the target, from src's address when it is not nil.
func (l *tcpLoop) dial(tc *tconn, src net.IP) error {
	fd, err := l.socket(l.family, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1)
	if src != nil {
		// See bindAddressNoPort.
		unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_BIND_ADDRESS_NO_PORT, 1)
		var sa unix.Sockaddr
		if l.family == unix.AF_INET {
			a := &unix.SockaddrInet4{}
			copy(a.Addr[:], src.To4())
			sa = a
		} else {
			a := &unix.SockaddrInet6{}
			copy(a.Addr[:], src.To16())
			sa = a
		}
		if err := unix.Bind(fd, sa); err != nil {
			unix.Close(fd)
			return err
		}
	}
	if err := unix.Connect(fd, l.target); err != nil && !errors.Is(err, unix.EINPROGRESS) {
		unix.Close(fd)
		return err
	}
	if err := unix.EpollCtl(l.ep, unix.EPOLL_CTL_ADD, fd, &unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLOUT | unix.EPOLLRDHUP | unix.EPOLLET, Fd: int32(fd)}); err != nil {
		unix.Close(fd)
		return err
	}
	tc.server, tc.connecting, tc.bound = fd, true, src != nil
	l.conns[fd] = tc
	return nil
}

// reset refuses the client as a closed port would.
func (l *tcpLoop) reset(tc *tconn) {
	unix.SetsockoptLinger(tc.client, unix.SOL_SOCKET, unix.SO_LINGER, &unix.Linger{Onoff: 1, Linger: 0})
	unix.Close(tc.client)
}

func (l *tcpLoop) event(tc *tconn, fd int, events uint32) {
	if tc.connecting {
		if fd != tc.server {
			return
		}
		// The edge after connect: writable when connected, else an error (SO_ERROR, which reading
		// clears).
		v, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_ERROR)
		if err == nil && v == 0 {
			// An event meant for an earlier socket with this number, from the same epoll_wait,
			// must not pass for the connection.
			if _, perr := unix.Getpeername(fd); errors.Is(perr, unix.ENOTCONN) {
				return
			}
		}
		if err != nil || v != 0 || events&unix.EPOLLOUT == 0 {
			delete(l.conns, fd)
			unix.Close(fd)
			tc.server = -1
			if !tc.bound || l.dial(tc, nil) != nil {
				l.reset(tc)
			}
			return
		}
		tc.connecting = false
		tc.up = tflow{src: tc.client, dst: tc.server, pipe: [2]int{-1, -1}}
		tc.down = tflow{src: tc.server, dst: tc.client, pipe: [2]int{-1, -1}}
		if err := unix.EpollCtl(l.ep, unix.EPOLL_CTL_ADD, tc.client, &unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLOUT | unix.EPOLLRDHUP | unix.EPOLLET, Fd: int32(tc.client)}); err != nil {
			l.closeConn(tc)
			return
		}
		l.conns[tc.client] = tc
	}
	if err := l.pump(&tc.up); err != nil {
		l.closeConn(tc)
		return
	}
	if err := l.pump(&tc.down); err != nil {
		l.closeConn(tc)
		return
	}
	if tc.up.shut && tc.down.shut {
		l.closeConn(tc)
	}
}

// pump moves what can be moved now from f.src to f.dst; at src's EOF, once the pipe is empty, it
// shuts dst down for writing. It stops where a new edge will call it again: src has nothing to read
// with the pipe empty, or dst takes nothing more.
func (l *tcpLoop) pump(f *tflow) error {
	for {
		if f.n > 0 {
			n, err := unix.Splice(f.pipe[0], nil, f.dst, nil, f.n, unix.SPLICE_F_MOVE|unix.SPLICE_F_NONBLOCK)
			switch {
			case errors.Is(err, unix.EINTR):
				continue
			case errors.Is(err, unix.EAGAIN):
				return nil
			case err != nil:
				return err
			}
			f.n -= int(n)
			continue
		}
		if f.eof {
			if !f.shut {
				unix.Shutdown(f.dst, unix.SHUT_WR)
				f.shut = true
			}
			return nil
		}
		if f.pipe[0] < 0 {
			if err := l.getPipe(&f.pipe); err != nil {
				return err
			}
		}
		n, err := unix.Splice(f.src, nil, f.pipe[1], nil, maxSplice, unix.SPLICE_F_MOVE|unix.SPLICE_F_NONBLOCK)
		switch {
		case errors.Is(err, unix.EINTR):
			continue
		case errors.Is(err, unix.EAGAIN):
			return nil
		case err != nil:
			return err
		}
		if n == 0 {
			f.eof = true
			continue
		}
		f.n += int(n)
	}
}

func (l *tcpLoop) getPipe(p *[2]int) error {
	if k := len(l.pipes); k > 0 {
		*p = l.pipes[k-1]
		l.pipes = l.pipes[:k-1]
		return nil
	}
	var fds [2]int
	if err := unix.Pipe2(fds[:], unix.O_NONBLOCK|unix.O_CLOEXEC); err != nil {
		return err
	}
	// As the standard library's splice: a larger pipe, fewer splices per byte of bulk data (a
	// pipe takes memory only for what it holds). Best effort: the default size works too.
	unix.FcntlInt(uintptr(fds[0]), unix.F_SETPIPE_SZ, maxSplice)
	*p = fds
	return nil
}

func (l *tcpLoop) putPipe(f *tflow) {
	if f.pipe[0] < 0 {
		return
	}
	if f.n == 0 && len(l.pipes) < maxFreePipes {
		l.pipes = append(l.pipes, f.pipe)
	} else {
		unix.Close(f.pipe[0])
		unix.Close(f.pipe[1])
	}
	f.pipe = [2]int{-1, -1}
}

// closeConn closes both sockets (after an error, the other direction ends with it).
func (l *tcpLoop) closeConn(tc *tconn) {
	for _, fd := range []int{tc.client, tc.server} {
		if fd >= 0 {
			delete(l.conns, fd)
			unix.Close(fd)
		}
	}
	tc.client, tc.server = -1, -1
	l.putPipe(&tc.up)
	l.putPipe(&tc.down)
}
