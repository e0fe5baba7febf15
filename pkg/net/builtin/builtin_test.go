package builtin

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/rootless-containers/rootlesskit/v2/pkg/port"

	"github.com/rkexec/rkexec/internal/nettest"
	"github.com/rkexec/rkexec/internal/testenv"
	"github.com/rkexec/rkexec/pkg/net/netconf"
	"github.com/rkexec/rkexec/pkg/net/portspec"

	"golang.org/x/sys/unix"
)

// sandbox is a network namespace with lo up, a TCP and a UDP server inside that answer with the
// peer address they see, and the two halves of the driver between it and the host.
type sandbox struct {
	ns      *nettest.NetNS
	parent  *Parent
	child   *Child
	served  chan error
	tcpPort int // of the servers inside, on 127.0.0.1 and ::1
	udpPort int
}

// newSandbox runs the halves with TCP relayed by the epoll loop (its sockets made inside the test's
// namespace); newGoSandbox with the goroutine relay, as for a Dial of a caller's own.
func newSandbox(t *testing.T) *sandbox { return newSandboxWith(t, true) }

func newGoSandbox(t *testing.T) *sandbox { return newSandboxWith(t, false) }

func newSandboxWith(t *testing.T, loop bool) *sandbox {
	t.Helper()
	ns := nettest.New(t)
	if err := ns.Do(netconf.LoopbackUp); err != nil {
		t.Fatal(err)
	}
	s := &sandbox{ns: ns, served: make(chan error, 1)}
	s.tcpPort = s.tcpServer(t, "tcp4", "127.0.0.1:0")
	s.tcpServer(t, "tcp6", net.JoinHostPort("::1", strconv.Itoa(s.tcpPort)))
	s.udpPort = s.udpServer(t, "udp4", "127.0.0.1:0")
	s.udpServer(t, "udp6", net.JoinHostPort("::1", strconv.Itoa(s.udpPort)))
	pf, cf, err := SocketPair()
	if err != nil {
		t.Fatal(err)
	}
	if s.parent, err = NewParent(pf); err != nil {
		t.Fatal(err)
	}
	dial := func(network string, laddr, raddr net.Addr) (c net.Conn, err error) {
		err = ns.Do(func() (err error) {
			c, err = (&net.Dialer{LocalAddr: laddr}).Dial(network, raddr.String())
			return
		})
		return
	}
	opt := ChildOptions{Dial: dial, Log: os.Stderr}
	if loop {
		opt.Socket = func(domain, typ, proto int) (fd int, err error) {
			err = ns.Do(func() (err error) {
				fd, err = unix.Socket(domain, typ, proto)
				return
			})
			return
		}
	}
	if s.child, err = NewChild(cf, opt); err != nil {
		t.Fatal(err)
	}
	go func() { s.served <- s.child.Serve() }()
	t.Cleanup(func() {
		s.parent.Close()
		if err := <-s.served; err != nil {
			t.Errorf("child Serve: %v", err)
		}
	})
	return s
}

// tcpServer answers "<peer address>\n" and then echoes.
func (s *sandbox) tcpServer(t *testing.T, network, addr string) int {
	l, err := s.ns.Listen(network, addr)
	if err != nil {
		t.Fatal(err)
	}
	nettest.Serve(t, l, func(c net.Conn) {
		fmt.Fprintf(c, "%s\n", c.RemoteAddr().(*net.TCPAddr).IP)
		io.Copy(c, c)
	})
	return l.Addr().(*net.TCPAddr).Port
}

// udpServer answers each datagram with "<peer address> <datagram>".
func (s *sandbox) udpServer(t *testing.T, network, addr string) int {
	c, err := s.ns.ListenPacket(network, addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	go func() {
		buf := make([]byte, 2048)
		for {
			n, from, err := c.ReadFrom(buf)
			if err != nil {
				return
			}
			c.WriteTo([]byte(from.(*net.UDPAddr).IP.String()+" "+string(buf[:n])), from)
		}
	}()
	return c.LocalAddr().(*net.UDPAddr).Port
}

func freePort(t testing.TB, network string) int {
	t.Helper()
	if strings.HasPrefix(network, "udp") {
		c, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		return c.LocalAddr().(*net.UDPAddr).Port
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func (s *sandbox) add(t *testing.T, spec string) *port.Status {
	t.Helper()
	sp, err := portspec.Parse(spec)
	if err != nil {
		t.Fatal(err)
	}
	st, err := s.parent.AddPort(context.Background(), sp)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// tcpPeer connects from src (may be "") to addr and returns what the server inside saw and checks
// the echo.
func tcpPeer(t *testing.T, src, addr string) string {
	t.Helper()
	d := net.Dialer{Timeout: 10 * time.Second}
	if src != "" {
		d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(src)}
	}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	r := bufio.NewReader(c)
	peer, err := r.ReadString('\n')
	if err != nil {
		t.Fatalf("through %s: %v", addr, err)
	}
	fmt.Fprintf(c, "ping\n")
	if echo, err := r.ReadString('\n'); echo != "ping\n" {
		t.Fatalf("echo through %s: %q %v", addr, echo, err)
	}
	return strings.TrimSpace(peer)
}

func udpPeer(t *testing.T, src, addr string) string {
	t.Helper()
	var laddr *net.UDPAddr
	if src != "" {
		laddr = &net.UDPAddr{IP: net.ParseIP(src)}
	}
	raddr, err := net.ResolveUDPAddr("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	c, err := net.DialUDP("udp", laddr, raddr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	buf := make([]byte, 2048)
	// UDP may drop: a few tries, each awaiting the answer.
	for try := 0; try < 5; try++ {
		c.Write([]byte("ping"))
		c.SetReadDeadline(time.Now().Add(2 * time.Second))
		n, err := c.Read(buf)
		if err == nil {
			peer, msg, _ := strings.Cut(string(buf[:n]), " ")
			if msg != "ping" {
				t.Fatalf("udp through %s: %q", addr, buf[:n])
			}
			return peer
		}
	}
	t.Fatalf("no udp answer through %s", addr)
	return ""
}

func hasIPv6Loopback() bool {
	l, err := net.Listen("tcp6", "[::1]:0")
	if err != nil {
		return false
	}
	l.Close()
	return true
}

func TestTCPAndUDPWithSourceAddress(t *testing.T) {
	t.Run("loop", func(t *testing.T) { testSourceAddress(t, newSandbox(t)) })
	t.Run("goroutines", func(t *testing.T) { testSourceAddress(t, newGoSandbox(t)) })
}

// TestHalfClose: a client's half-close reaches the server inside, whose answer still comes back.
func TestHalfClose(t *testing.T) {
	for name, s := range map[string]func(*testing.T) *sandbox{"loop": newSandbox, "goroutines": newGoSandbox} {
		t.Run(name, func(t *testing.T) {
			s := s(t)
			hp := freePort(t, "tcp")
			s.add(t, fmt.Sprintf("127.0.0.1:%d:%d/tcp", hp, s.tcpPort))
			c, err := net.DialTimeout("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(hp)), 10*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(10 * time.Second))
			r := bufio.NewReader(c)
			if _, err := r.ReadString('\n'); err != nil {
				t.Fatal(err)
			}
			big := strings.Repeat("x", 1<<20) // more than a pipe and a socket buffer hold
			go func() {
				io.WriteString(c, big)
				c.(*net.TCPConn).CloseWrite()
			}()
			// The server echoes until EOF, then closes: all of it back, then EOF, no reset.
			got, err := io.ReadAll(r)
			if err != nil || len(got) != len(big) {
				t.Fatalf("after the half-close: %d bytes back of %d, %v", len(got), len(big), err)
			}
		})
	}
}

func testSourceAddress(t *testing.T, s *sandbox) {
	hp := freePort(t, "tcp")
	s.add(t, fmt.Sprintf("127.0.0.1:%d:%d/tcp", hp, s.tcpPort))
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(hp))
	if peer := tcpPeer(t, "127.0.0.2", addr); peer != "127.0.0.2" {
		t.Fatalf("the server inside saw a TCP client on 127.0.0.2 as %s", peer)
	}
	if peer := tcpPeer(t, "", addr); peer != "127.0.0.1" {
		t.Fatalf("a client on 127.0.0.1 seen as %s", peer)
	}
	up := freePort(t, "udp")
	s.add(t, fmt.Sprintf("127.0.0.1:%d:%d/udp", up, s.udpPort))
	uaddr := net.JoinHostPort("127.0.0.1", strconv.Itoa(up))
	if peer := udpPeer(t, "127.0.0.2", uaddr); peer != "127.0.0.2" {
		t.Fatalf("the server inside saw a UDP client on 127.0.0.2 as %s", peer)
	}
	if peer := udpPeer(t, "127.0.0.3", uaddr); peer != "127.0.0.3" {
		t.Fatalf("a second UDP client on 127.0.0.3 seen as %s", peer)
	}
}

func TestProtosAndFamilies(t *testing.T) {
	s := newSandbox(t)
	v6 := hasIPv6Loopback()
	for _, tc := range []struct {
		spec, dial string // %d: host port, %c: child port
		six        bool
	}{
		{"127.0.0.1:%d:%c/tcp4", "127.0.0.1", false},
		{"127.0.0.1:%d:%c/udp4", "127.0.0.1", false},
		{"[::1]:%d:%c/tcp6", "::1", true},
		{"[::1]:%d:%c/udp6", "::1", true},
		{"[::1]:%d:127.0.0.1:%c/tcp", "::1", true}, // v6 outside, v4 inside
		{"[::1]:%d:127.0.0.1:%c/udp", "::1", true},
		{"127.0.0.1:%d:[::1]:%c/tcp", "127.0.0.1", true}, // v4 outside, v6 inside
		{"127.0.0.1:%d:[::1]:%c/udp", "127.0.0.1", true},
	} {
		t.Run(tc.spec, func(t *testing.T) {
			if tc.six && !v6 {
				testenv.Missing(t, "IPv6 loopback (::1) on this host, for the v6 port specs")
			}
			udp := strings.Contains(tc.spec, "udp")
			cp := s.tcpPort
			if udp {
				cp = s.udpPort
			}
			hp := freePort(t, tc.spec[len(tc.spec)-4:])
			spec := strings.Replace(strings.Replace(tc.spec, "%d", strconv.Itoa(hp), 1), "%c", strconv.Itoa(cp), 1)
			st := s.add(t, spec)
			addr := net.JoinHostPort(tc.dial, strconv.Itoa(hp))
			if udp {
				udpPeer(t, "", addr)
			} else {
				tcpPeer(t, "", addr)
			}
			if err := s.parent.RemovePort(context.Background(), st.ID); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestRemoveClosesTheListener(t *testing.T) {
	s := newSandbox(t)
	hp := freePort(t, "tcp")
	st := s.add(t, fmt.Sprintf("127.0.0.1:%d:%d/tcp", hp, s.tcpPort))
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(hp))
	// A connection made before the removal goes on afterwards.
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	r := bufio.NewReader(c)
	if _, err := r.ReadString('\n'); err != nil {
		t.Fatal(err)
	}
	if err := s.parent.RemovePort(context.Background(), st.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := net.Dial("tcp", addr); err == nil {
		t.Fatal("the host port still accepts after RemovePort")
	}
	fmt.Fprintf(c, "still\n")
	if echo, err := r.ReadString('\n'); echo != "still\n" {
		t.Fatalf("the established connection broke: %q %v", echo, err)
	}
	if err := s.parent.RemovePort(context.Background(), st.ID); !errors.Is(err, portspec.ErrNotFound) {
		t.Fatalf("removing twice: %v", err)
	}
	if l, _ := s.parent.ListPorts(context.Background()); len(l) != 0 {
		t.Fatalf("list after remove: %v", l)
	}
	// The port can be published again.
	s.add(t, fmt.Sprintf("127.0.0.1:%d:%d/tcp", hp, s.tcpPort))
	tcpPeer(t, "", addr)
}

func TestBindErrors(t *testing.T) {
	s := newSandbox(t)
	busy, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	bp := busy.Addr().(*net.TCPAddr).Port
	sp := port.Spec{Proto: "tcp", ParentIP: "127.0.0.1", ParentPort: bp, ChildPort: 80}
	if _, err := s.parent.AddPort(context.Background(), sp); err == nil || !strings.Contains(err.Error(), "in use") {
		t.Fatalf("a port in use: %v", err)
	}
	sp.ParentIP = "192.0.2.1" // TEST-NET-1: never on this host; binding fails locally, nothing is sent
	if _, err := s.parent.AddPort(context.Background(), sp); err == nil || !strings.Contains(err.Error(), "not on this host") {
		t.Fatalf("a foreign address: %v", err)
	}
	if _, err := s.parent.AddPort(context.Background(), port.Spec{Proto: "tcp", ParentPort: 1}); !errors.Is(err, portspec.ErrInvalid) {
		t.Fatalf("child port 0: %v", err)
	}
	if l, _ := s.parent.ListPorts(context.Background()); len(l) != 0 {
		t.Fatalf("failed adds left ports: %v", l)
	}
	msg := portspec.BindError(sp, "x", &os.SyscallError{Syscall: "bind", Err: syscall.EACCES})
	if !strings.Contains(msg.Error(), "ip_unprivileged_port_start") {
		t.Fatalf("privileged port message: %v", msg)
	}
}

func TestConcurrentDuplicateAdds(t *testing.T) {
	s := newSandbox(t)
	hp := freePort(t, "tcp")
	sp := port.Spec{Proto: "tcp", ParentIP: "127.0.0.1", ParentPort: hp, ChildPort: s.tcpPort}
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := s.parent.AddPort(context.Background(), sp)
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	ok := 0
	for err := range errs {
		if err == nil {
			ok++
		} else if !errors.Is(err, portspec.ErrConflict) {
			t.Errorf("a losing add: %v", err)
		}
	}
	if ok != 1 {
		t.Fatalf("%d of 8 concurrent adds of one port succeeded", ok)
	}
}

func TestChildGone(t *testing.T) {
	s := newSandbox(t)
	hp := freePort(t, "tcp")
	s.add(t, fmt.Sprintf("127.0.0.1:%d:%d/tcp", hp, s.tcpPort))
	s.child.ctl.Close() // the sandbox side dies
	_, err := s.parent.AddPort(context.Background(), port.Spec{Proto: "tcp", ParentIP: "127.0.0.1", ParentPort: freePort(t, "tcp"), ChildPort: 1})
	if err == nil || !strings.Contains(err.Error(), "port driver is gone") {
		t.Fatalf("add after the child went: %v", err)
	}
	// Its listeners went with it.
	if c, err := net.Dial("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(hp))); err == nil {
		c.Close()
		t.Fatal("a published port outlived the child half")
	}
}

func TestNoFDLeak(t *testing.T) {
	s := newSandbox(t)
	hp := freePort(t, "tcp")
	up := freePort(t, "udp")
	before := countFDs(t)
	for range 20 {
		a := s.add(t, fmt.Sprintf("127.0.0.1:%d:%d/tcp", hp, s.tcpPort))
		b := s.add(t, fmt.Sprintf("127.0.0.1:%d:%d/udp", up, s.udpPort))
		s.parent.RemovePort(context.Background(), a.ID)
		s.parent.RemovePort(context.Background(), b.ID)
	}
	// A closed listener's fd goes once its accept loop has returned: no signal for that, so poll.
	deadline := time.Now().Add(10 * time.Second)
	for after := countFDs(t); after > before; after = countFDs(t) {
		if time.Now().After(deadline) {
			t.Fatalf("fds: %d before, %d after 20 add/remove rounds", before, after)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func countFDs(t *testing.T) int {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}

// TestConnectionRate makes sequential connections through the driver and directly, and reports both.
// The bound is loose (a loaded machine); the numbers are the point.
func TestConnectionRate(t *testing.T) {
	s := newSandbox(t)
	hp := freePort(t, "tcp")
	s.add(t, fmt.Sprintf("127.0.0.1:%d:%d/tcp", hp, s.tcpPort))
	direct, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer direct.Close()
	go func() {
		for {
			c, err := direct.Accept()
			if err != nil {
				return
			}
			go func() { fmt.Fprintf(c, "x\n"); io.Copy(io.Discard, c); c.Close() }()
		}
	}()
	const n = 1000
	rate := func(addr string) float64 {
		begin := time.Now()
		buf := make([]byte, 64)
		for i := 0; i < n; i++ {
			c, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatalf("connection %d to %s: %v", i, addr, err)
			}
			if _, err := c.Read(buf); err != nil {
				t.Fatalf("connection %d to %s: %v", i, addr, err)
			}
			c.Close()
		}
		return n / time.Since(begin).Seconds()
	}
	viaDriver := rate(net.JoinHostPort("127.0.0.1", strconv.Itoa(hp)))
	viaLoopback := rate(direct.Addr().String())
	t.Logf("sequential connections/s: through the builtin driver %.0f, direct loopback %.0f (%.0f%%)", viaDriver, viaLoopback, 100*viaDriver/viaLoopback)
}
