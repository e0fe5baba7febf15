package builtin

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Dialer creates the connections inside the sandbox's network namespace. laddr is the local address
// to bind (nil for any). The default dials from the calling thread, which in the child process is in
// the sandbox's namespace; tests substitute one that dials from a namespace of their own.
type Dialer func(network string, laddr, raddr net.Addr) (net.Conn, error)

// ChildOptions configure the child half.
type ChildOptions struct {
	// Dial; nil for the calling thread's namespace. With Dial and without Socket, TCP is relayed
	// by a goroutine per connection instead of the epoll loop.
	Dial Dialer
	// Socket creates the TCP connections' sockets inside (socket(2)'s arguments), for the epoll
	// loop; nil for the calling thread's namespace.
	Socket func(domain, typ, proto int) (int, error)
	// UDPIdle ends a UDP flow without traffic for that long; 0 for 60 seconds.
	UDPIdle time.Duration
	// MaxUDPFlows bounds the UDP flows of one port; 0 for 1024.
	MaxUDPFlows int
	// Log receives one line per relay that failed to start; nil discards.
	Log io.Writer
}

// Child is the sandbox-side half.
type Child struct {
	ctl  *net.UnixConn
	opt  ChildOptions
	mu   sync.Mutex
	open map[int]io.Closer
	wg   sync.WaitGroup
	// goRelay relays TCP with a goroutine per connection instead of the epoll loop (tcploop.go).
	goRelay bool
}

// NewChild takes the child's end of SocketPair.
func NewChild(ctl *os.File, opt ChildOptions) (*Child, error) {
	c, err := unixConn(ctl)
	if err != nil {
		return nil, err
	}
	// A Dial of the caller's own and no Socket: its connections cannot be made from the loop.
	goRelay := opt.Dial != nil && opt.Socket == nil
	if opt.Dial == nil {
		opt.Dial = dialHere
	}
	if opt.UDPIdle == 0 {
		opt.UDPIdle = 60 * time.Second
	}
	if opt.MaxUDPFlows == 0 {
		opt.MaxUDPFlows = 1024
	}
	if opt.Log == nil {
		opt.Log = io.Discard
	}
	return &Child{ctl: c, opt: opt, open: map[int]io.Closer{}, goRelay: goRelay}, nil
}

func dialHere(network string, laddr, raddr net.Addr) (net.Conn, error) {
	d := net.Dialer{LocalAddr: laddr, Timeout: 10 * time.Second}
	if laddr != nil {
		d.Control = bindAddressNoPort
	}
	return d.Dial(network, raddr.String())
}

// bindAddressNoPort defers the choice of the local port from bind to connect, which then only needs
// the 4-tuple to be unique: bind's own search for a free port is slow with many connections in
// TIME_WAIT. IPv4 only; IPv6 sockets honour it too (the option is in the IPv4 level for both).
func bindAddressNoPort(network, _ string, c syscall.RawConn) error {
	if !strings.HasPrefix(network, "tcp") {
		return nil
	}
	var serr error
	err := c.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.IPPROTO_IP, unix.IP_BIND_ADDRESS_NO_PORT, 1)
	})
	if err != nil {
		return err
	}
	return serr
}

// Serve answers the parent until the control socket closes, then closes every listener (relays in
// progress finish by themselves) and returns nil; another error ends it too.
func (c *Child) Serve() error {
	defer c.closeAll()
	for {
		var req request
		fd, err := c.recv(&req)
		if errors.Is(err, errEOF) {
			return nil
		}
		if err != nil {
			return err
		}
		var rep reply
		if err := c.handle(req, fd); err != nil {
			rep.Error = err.Error()
		}
		if err := send(c.ctl, rep, -1); err != nil {
			return fmt.Errorf("port driver reply: %w", err)
		}
	}
}

func (c *Child) recv(req *request) (int, error) {
	fd, err := recv(c.ctl, req)
	if err != nil && !errors.Is(err, errEOF) {
		if ne := new(net.OpError); errors.As(err, &ne) {
			return -1, fmt.Errorf("port driver control socket: %w", err)
		}
		// A malformed packet from the parent: its own bug; report it to the parent, keep serving.
		send(c.ctl, reply{Error: err.Error()}, -1)
		return c.recv(req)
	}
	return fd, err
}

func (c *Child) handle(req request, fd int) error {
	switch req.Op {
	case "add":
		if fd < 0 {
			return errors.New("add without a socket")
		}
		return c.add(req, os.NewFile(uintptr(fd), "published-port"))
	case "remove":
		closeFD(fd)
		c.mu.Lock()
		l, ok := c.open[req.ID]
		delete(c.open, req.ID)
		c.mu.Unlock()
		if !ok {
			return fmt.Errorf("no port %d in the sandbox", req.ID)
		}
		return l.Close()
	}
	closeFD(fd)
	return fmt.Errorf("unknown request %q", req.Op)
}

func (c *Child) add(req request, f *os.File) error {
	defer f.Close() // FileListener and FilePacketConn dup it
	ip := net.ParseIP(req.ChildIP)
	if ip == nil || req.ChildPort < 1 || req.ChildPort > 65535 {
		return fmt.Errorf("bad target %s:%d", req.ChildIP, req.ChildPort)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.open[req.ID]; ok {
		return fmt.Errorf("port %d exists", req.ID)
	}
	switch req.Proto {
	case "tcp", "tcp4", "tcp6":
		target := &net.TCPAddr{IP: ip, Port: req.ChildPort}
		if !c.goRelay {
			lfd, err := listeningTCP(f)
			if err != nil {
				return err
			}
			port, err := c.startTCPLoop(lfd, target)
			if err != nil {
				unix.Close(lfd)
				return err
			}
			c.open[req.ID] = port
			return nil
		}
		l, err := net.FileListener(f)
		if err != nil {
			return fmt.Errorf("published socket: %w", err)
		}
		tl, ok := l.(*net.TCPListener)
		if !ok {
			l.Close()
			return errors.New("published socket is not a TCP listener")
		}
		c.open[req.ID] = tl
		c.wg.Add(1)
		go c.acceptTCP(tl, target)
	case "udp", "udp4", "udp6":
		pc, err := net.FilePacketConn(f)
		if err != nil {
			return fmt.Errorf("published socket: %w", err)
		}
		uc, ok := pc.(*net.UDPConn)
		if !ok {
			pc.Close()
			return errors.New("published socket is not a UDP socket")
		}
		target := &net.UDPAddr{IP: ip, Port: req.ChildPort}
		c.open[req.ID] = uc
		c.wg.Add(1)
		go c.serveUDP(uc, target)
	default:
		return fmt.Errorf("unknown proto %q", req.Proto)
	}
	return nil
}

// listeningTCP checks that f is a listening TCP socket and returns a non-blocking duplicate of it.
func listeningTCP(f *os.File) (int, error) {
	rc, err := f.SyscallConn()
	if err != nil {
		return -1, fmt.Errorf("published socket: %w", err)
	}
	fd := -1
	var cerr error
	err = rc.Control(func(raw uintptr) {
		typ, err1 := unix.GetsockoptInt(int(raw), unix.SOL_SOCKET, unix.SO_TYPE)
		acc, err2 := unix.GetsockoptInt(int(raw), unix.SOL_SOCKET, unix.SO_ACCEPTCONN)
		sa, err3 := unix.Getsockname(int(raw))
		_, inet4 := sa.(*unix.SockaddrInet4)
		_, inet6 := sa.(*unix.SockaddrInet6)
		if err := errors.Join(err1, err2, err3); err != nil || typ != unix.SOCK_STREAM || acc != 1 || !inet4 && !inet6 {
			cerr = errors.New("published socket is not a TCP listener")
			return
		}
		if fd, cerr = unix.FcntlInt(raw, unix.F_DUPFD_CLOEXEC, 0); cerr != nil {
			return
		}
		cerr = unix.SetNonblock(fd, true)
	})
	if err == nil {
		err = cerr
	}
	if err != nil {
		if fd >= 0 {
			unix.Close(fd)
		}
		return -1, fmt.Errorf("published socket: %w", err)
	}
	return fd, nil
}

func (c *Child) closeAll() {
	c.mu.Lock()
	for id, l := range c.open {
		l.Close()
		delete(c.open, id)
	}
	c.mu.Unlock()
	c.ctl.Close()
	c.wg.Wait()
}

// Wait waits for the accept and receive loops to end (after Serve returned).
func (c *Child) Wait() { c.wg.Wait() }

func (c *Child) acceptTCP(l *net.TCPListener, target *net.TCPAddr) {
	defer c.wg.Done()
	for {
		conn, err := l.AcceptTCP()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			// EMFILE and the like: back off instead of spinning.
			fmt.Fprintf(c.opt.Log, "port %s: accept: %v\n", l.Addr(), err)
			time.Sleep(50 * time.Millisecond)
			continue
		}
		go c.relayTCP(conn, target)
	}
}

func (c *Child) relayTCP(client *net.TCPConn, target *net.TCPAddr) {
	src := sourceFor(client.RemoteAddr().(*net.TCPAddr).IP, target.IP)
	var laddr net.Addr
	if src != nil {
		laddr = &net.TCPAddr{IP: src}
	}
	conn, err := c.opt.Dial("tcp", laddr, target)
	if err != nil && laddr != nil {
		conn, err = c.opt.Dial("tcp", nil, target)
	}
	if err != nil {
		client.SetLinger(0) // a reset, as if the port were closed
		client.Close()
		return
	}
	server := conn.(*net.TCPConn)
	done := make(chan struct{})
	go func() {
		pipe(server, client)
		close(done)
	}()
	pipe(client, server)
	<-done
	client.Close()
	server.Close()
}

// pipe copies src to dst, then half-closes dst; on an error it closes both so the other direction
// ends too.
func pipe(dst, src *net.TCPConn) {
	_, err := io.Copy(dst, src) // splices between TCP sockets
	if err != nil {
		dst.Close()
		src.Close()
		return
	}
	dst.CloseWrite()
}

// sourceFor is the address to dial from so the server sees the client's: the client's own when it
// is a loopback address of the target's family (those exist in every namespace with lo up); nil
// when it is the address a loopback target would see anyway (127.0.0.1, ::1).
func sourceFor(client, target net.IP) net.IP {
	if v4 := client.To4(); v4 != nil {
		client = v4
	}
	if !client.IsLoopback() || (client.To4() == nil) != (target.To4() == nil) {
		return nil
	}
	if target.IsLoopback() && (client.Equal(net.IPv4(127, 0, 0, 1)) || client.Equal(net.IPv6loopback)) {
		return nil
	}
	return client
}

type flow struct {
	conn *net.UDPConn
}

func (c *Child) serveUDP(outer *net.UDPConn, target *net.UDPAddr) {
	defer c.wg.Done()
	var mu sync.Mutex
	flows := map[string]*flow{}
	defer func() {
		mu.Lock()
		for _, f := range flows {
			f.conn.Close()
		}
		mu.Unlock()
	}()
	buf := make([]byte, 65536)
	for {
		n, client, err := outer.ReadFromUDPAddrPort(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		key := client.String()
		mu.Lock()
		f := flows[key]
		if f == nil && len(flows) < c.opt.MaxUDPFlows {
			f = c.newFlow(outer, net.UDPAddrFromAddrPort(client), target)
			if f != nil {
				flows[key] = f
				go func() {
					c.flowReplies(outer, f, net.UDPAddrFromAddrPort(client))
					mu.Lock()
					delete(flows, key)
					mu.Unlock()
				}()
			}
		}
		mu.Unlock()
		if f == nil {
			continue // no flow for it: dropped, as a full queue would
		}
		f.conn.SetReadDeadline(time.Now().Add(c.opt.UDPIdle))
		f.conn.Write(buf[:n]) // a lost datagram is UDP's business
	}
}

func (c *Child) newFlow(outer *net.UDPConn, client, target *net.UDPAddr) *flow {
	src := sourceFor(client.IP, target.IP)
	var laddr net.Addr
	if src != nil {
		laddr = &net.UDPAddr{IP: src}
	}
	conn, err := c.opt.Dial("udp", laddr, target)
	if err != nil && laddr != nil {
		conn, err = c.opt.Dial("udp", nil, target)
	}
	if err != nil {
		fmt.Fprintf(c.opt.Log, "port %s: udp to %s: %v\n", outer.LocalAddr(), target, err)
		return nil
	}
	uc := conn.(*net.UDPConn)
	uc.SetReadDeadline(time.Now().Add(c.opt.UDPIdle))
	return &flow{conn: uc}
}

// flowReplies sends the server's datagrams back to the client until the flow is idle or closed.
func (c *Child) flowReplies(outer *net.UDPConn, f *flow, client *net.UDPAddr) {
	defer f.conn.Close()
	buf := make([]byte, 65536)
	for {
		n, err := f.conn.Read(buf)
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && !ne.Timeout() && !errors.Is(err, net.ErrClosed) {
				continue // ECONNREFUSED from an ICMP: the server may come back
			}
			return
		}
		if _, err := outer.WriteToUDP(buf[:n], client); errors.Is(err, net.ErrClosed) {
			return
		}
	}
}
