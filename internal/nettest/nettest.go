// Package nettest gives tests network namespaces of their own: each is held by one OS thread that
// unshared it and runs, on request, the work that must happen inside (creating sockets, netlink).
// A socket keeps the namespace it was created in, so a listener or connection made through Do can
// be used from any goroutine afterwards.
//
// It needs CAP_SYS_ADMIN (root); without it the test is skipped, or fails under CI=true. It is for
// tests only.
package nettest

import (
	"fmt"
	"net"
	"os"
	"runtime"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/rkexec/rkexec/internal/testenv"
)

// NetNS is a network namespace held by a locked thread.
type NetNS struct {
	// Path names the namespace (/proc/PID/task/TID/ns/net) while it lives.
	Path string
	reqs chan func()
	done chan struct{}
}

// New creates a namespace, with lo down, and closes it at the end of the test.
func New(t testing.TB) *NetNS {
	t.Helper()
	if os.Geteuid() != 0 {
		testenv.Missing(t, "root, to create network namespaces in a unit test")
	}
	n := &NetNS{reqs: make(chan func()), done: make(chan struct{})}
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
		for f := range n.reqs {
			f()
		}
	}()
	if err := <-errc; err != nil {
		testenv.Missing(t, "%v", err)
	}
	t.Cleanup(n.Close)
	return n
}

// Do runs f inside the namespace and returns its error.
func (n *NetNS) Do(f func() error) error {
	errc := make(chan error, 1)
	n.reqs <- func() { errc <- f() }
	return <-errc
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
	select {
	case <-n.done:
		return
	default:
	}
	close(n.reqs)
	<-n.done
}
