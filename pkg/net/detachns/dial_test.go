package detachns

import (
	"bufio"
	"errors"
	"net"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// here makes the sockets in the test's own namespace: dial is the same whatever namespace they
// belong to.
func here(domain, typ int) (int, error) {
	return unix.Socket(domain, typ|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
}

// peerServer answers each TCP connection with the address it came from.
func peerServer(t *testing.T) *net.TCPAddr {
	t.Helper()
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.Write([]byte(c.RemoteAddr().(*net.TCPAddr).IP.String() + "\n"))
			c.Close()
		}
	}()
	return l.Addr().(*net.TCPAddr)
}

func TestDialTCP(t *testing.T) {
	addr := peerServer(t)
	for _, tc := range []struct {
		laddr net.Addr
		want  string
	}{{nil, "127.0.0.1"}, {&net.TCPAddr{IP: net.ParseIP("127.0.0.2")}, "127.0.0.2"}} {
		c, err := dial(here, "tcp", tc.laddr, addr)
		if err != nil {
			t.Fatalf("dial from %v: %v", tc.laddr, err)
		}
		if _, ok := c.(*net.TCPConn); !ok {
			t.Fatalf("dial gave a %T, want *net.TCPConn", c)
		}
		c.SetDeadline(time.Now().Add(10 * time.Second))
		line, err := bufio.NewReader(c).ReadString('\n')
		c.Close()
		if err != nil || strings.TrimSpace(line) != tc.want {
			t.Fatalf("from %v the server saw %q (%v), want %s", tc.laddr, line, err, tc.want)
		}
	}
}

func TestDialTCPConcurrent(t *testing.T) {
	addr := peerServer(t)
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := dial(here, "tcp4", nil, addr)
			if err != nil {
				errs <- err
				return
			}
			c.Close()
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestDialRefused(t *testing.T) {
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().(*net.TCPAddr)
	l.Close()
	_, err = dial(here, "tcp", nil, addr)
	if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("dial to a closed port: %v, want ECONNREFUSED", err)
	}
	var oe *net.OpError
	if !errors.As(err, &oe) || oe.Op != "dial" {
		t.Fatalf("dial error %T %v, want a *net.OpError", err, err)
	}
}

func TestDialUDP(t *testing.T) {
	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	go func() {
		buf := make([]byte, 100)
		n, from, err := pc.ReadFrom(buf)
		if err == nil {
			pc.WriteTo([]byte(from.(*net.UDPAddr).IP.String()+" "+string(buf[:n])), from)
		}
	}()
	c, err := dial(here, "udp", &net.UDPAddr{IP: net.ParseIP("127.0.0.3")}, pc.LocalAddr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, ok := c.(*net.UDPConn); !ok {
		t.Fatalf("dial gave a %T, want *net.UDPConn", c)
	}
	c.Write([]byte("ping"))
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	buf := make([]byte, 100)
	n, err := c.Read(buf)
	if err != nil || string(buf[:n]) != "127.0.0.3 ping" {
		t.Fatalf("UDP answer %q (%v), want \"127.0.0.3 ping\"", buf[:n], err)
	}
}

func TestDialBadInput(t *testing.T) {
	tcp := &net.TCPAddr{IP: net.ParseIP("127.0.0.1"), Port: 1}
	for _, tc := range []struct {
		network      string
		laddr, raddr net.Addr
	}{
		{"sctp", nil, tcp},
		{"udp", nil, tcp},
		{"tcp", &net.TCPAddr{IP: net.ParseIP("::1")}, tcp},
	} {
		if c, err := dial(here, tc.network, tc.laddr, tc.raddr); err == nil {
			c.Close()
			t.Errorf("dial %s from %v to %v succeeded", tc.network, tc.laddr, tc.raddr)
		}
	}
}
