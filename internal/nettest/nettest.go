// Package nettest gives tests network namespaces of their own: each is held by one OS thread that
// unshared it and runs, on request, the work that must happen inside (creating sockets, netlink).
// A socket keeps the namespace it was created in, so a listener or connection made through Do can
// be used from any goroutine afterwards.
//
// It needs CAP_SYS_ADMIN (root); without it the test is skipped, or fails under CI=true. It is for
// tests only.
package nettest

import (
	"errors"
	"fmt"
	"net"
	"os"
	"runtime"
	"sync"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/rkexec/rkexec/internal/testenv"
)

// NetNS is a network namespace held by a locked thread.
type NetNS struct {
	// Path names the namespace (/proc/PID/task/TID/ns/net) while it lives.
	Path string
	reqs chan func()
	quit chan struct{} // closed by Close
	once sync.Once
	done chan struct{} // closed when the thread has gone
}

// New creates a namespace, with lo down, and closes it at the end of the test.
func New(t testing.TB) *NetNS {
	t.Helper()
	if os.Geteuid() != 0 {
		testenv.Missing(t, "root, to create network namespaces in a unit test")
	}
	n := &NetNS{reqs: make(chan func()), quit: make(chan struct{}), done: make(chan struct{})}
	errc := make(chan error, 1)
	go func() {
		// The thread is never unlocked: it leaves the namespace by exiting with the goroutine.
		runtime.LockOSThread()
		defer close(n.done)
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("unshare(CLONE_NEWNET): %w", err)
			return
		}
		n.Path = fmt.Sprintf("/proc/%d/task/%d/ns/net", os.Getpid(), unix.Gettid())
		errc <- nil
		for {
			select {
			case f := <-n.reqs:
				f()
			case <-n.quit:
				return
			}
		}
	}()
	if err := <-errc; err != nil {
		testenv.Missing(t, "%v", err)
	}
	t.Cleanup(n.Close)
	return n
}

// ErrClosed is Do's error after Close.
var ErrClosed = errors.New("nettest: namespace closed")

// Do runs f inside the namespace and returns its error (ErrClosed once the namespace is closed).
func (n *NetNS) Do(f func() error) error {
	errc := make(chan error, 1)
	select {
	case n.reqs <- func() { errc <- f() }:
		return <-errc
	case <-n.quit:
		return ErrClosed
	}
}

// Listen creates a listener inside the namespace.
func (n *NetNS) Listen(network, addr string) (net.Listener, error) {
	var l net.Listener
	err := n.Do(func() (err error) { l, err = net.Listen(network, addr); return })
	return l, err
}

// ListenPacket creates a packet socket inside the namespace.
func (n *NetNS) ListenPacket(network, addr string) (net.PacketConn, error) {
	var c net.PacketConn
	err := n.Do(func() (err error) { c, err = net.ListenPacket(network, addr); return })
	return c, err
}

// Dial connects from inside the namespace.
func (n *NetNS) Dial(network, addr string) (net.Conn, error) {
	var c net.Conn
	err := n.Do(func() (err error) { c, err = net.Dial(network, addr); return })
	return c, err
}

// Close ends the thread and with it the namespace (once its sockets are closed too).
func (n *NetNS) Close() {
	n.once.Do(func() { close(n.quit) })
	<-n.done
}

// Serve accepts connections on l until it is closed, each handled by handle in its own goroutine
// and closed after it; the test closes l when it ends.
func Serve(t testing.TB, l net.Listener, handle func(net.Conn)) {
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				handle(c)
			}()
		}
	}()
}
