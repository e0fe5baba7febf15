package child

import (
	"errors"
	"io"
	"testing"
	"time"

	"github.com/rkexec/rkexec/internal/testenv"
	"github.com/rkexec/rkexec/pkg/wire"
)

type testLog struct{ t *testing.T }

func (l testLog) Debugf(format string, args ...any) { l.t.Logf(format, args...) }
func (l testLog) Debug(args ...any)                 { l.t.Log(args...) }
func (l testLog) Errorf(format string, args ...any) { l.t.Logf("error: "+format, args...) }

// fakeParent plays the parent up to (not including) its step n: 0 reads ChildHello, 1 sends
// IDMapsWritten, 2 reads UserNSReady, 3 sends NetworkConfigured, 4 sends PortDriverReady. Then it
// runs last, and returns what the child sent after that (an Error's step, or "").
func fakeParent(n int, last func(from io.Reader, to io.WriteCloser)) func(t *testing.T, from io.Reader, to io.WriteCloser) {
	return func(t *testing.T, from io.Reader, to io.WriteCloser) {
		steps := []func() error{
			func() error { _, err := wire.Expect(from, wire.ChildHello); return err },
			func() error { return wire.Send(to, &wire.Message{Name: wire.IDMapsWritten}) },
			func() error { _, err := wire.Expect(from, wire.UserNSReady); return err },
			func() error { return wire.Send(to, &wire.Message{Name: wire.NetworkConfigured}) },
			func() error { return wire.Send(to, &wire.Message{Name: wire.PortDriverReady}) },
		}
		for i, s := range steps[:n] {
			if err := s(); err != nil {
				t.Errorf("fake parent, step %d: %v", i, err)
				return
			}
		}
		last(from, to)
	}
}

// hangsUp closes the pipe to the child: the parent died.
func hangsUp(_ io.Reader, to io.WriteCloser) { to.Close() }

// sendsError sends an Error, as a parent whose own step failed does.
func sendsError(_ io.Reader, to io.WriteCloser) {
	_ = wire.SendError(to, "network", errors.New("slirp4netns died"), 125)
}

// sends sends a message out of order.
func sends(name string) func(io.Reader, io.WriteCloser) {
	return func(_ io.Reader, to io.WriteCloser) { _ = wire.Send(to, &wire.Message{Name: name}) }
}

func waits(io.Reader, io.WriteCloser) {}

func TestChildHandshakeEachStepFailing(t *testing.T) {
	for name, tc := range map[string]struct {
		parent   func(t *testing.T, from io.Reader, to io.WriteCloser)
		setUpErr error
		ok       bool
		sent     string // the step of the Error the child sends, "" for none
		removed  bool   // the child removed the state dir (the parent is gone)
	}{
		"parent gone before ChildHello":     {parent: func(_ *testing.T, from io.Reader, _ io.WriteCloser) { from.(io.Closer).Close() }, removed: true},
		"parent gone before IDMapsWritten":  {parent: fakeParent(1, hangsUp), removed: true},
		"parent fails before IDMapsWritten": {parent: fakeParent(1, sendsError)},
		"parent says something else":        {parent: fakeParent(1, sends(wire.PortDriverReady)), sent: "id maps"},
		"mounts fail":                       {parent: fakeParent(2, waits), setUpErr: errors.New("mount: EPERM"), sent: "mounts"},
		"parent gone before the network":    {parent: fakeParent(3, hangsUp), removed: true},
		"network fails":                     {parent: fakeParent(3, sendsError)},
		"parent gone before the ports":      {parent: fakeParent(4, hangsUp), removed: true},
		"ports out of order":                {parent: fakeParent(4, sends(wire.TargetStarted)), sent: "ports"},
		"all well":                          {parent: fakeParent(5, waits), ok: true},
	} {
		t.Run(name, func(t *testing.T) {
			childR, parentW := testenv.Pipe(t)
			parentR, childW := testenv.Pipe(t)
			defer childR.Close()
			defer parentR.Close()
			parentDone := make(chan struct{})
			go func() {
				defer close(parentDone)
				defer parentW.Close()
				tc.parent(t, parentR, parentW)
			}()
			removed := false
			c := &child{log: testLog{t}, from: childR, to: childW, removeStateDir: func() { removed = true }}
			type result struct {
				code int
				ok   bool
			}
			done := make(chan result, 1)
			go func() {
				code, ok := c.handshake(func() (string, error) { return "mounts", tc.setUpErr })
				done <- result{code, ok}
			}()
			var res result
			select {
			case res = <-done:
			case <-time.After(time.Minute):
				t.Fatal("the child's handshake hangs")
			}
			childW.Close() // the child exits
			select {
			case <-parentDone:
			case <-time.After(time.Minute):
				t.Fatal("the fake parent hangs")
			}
			// What the child sent after the parent's last step: an Error, or nothing.
			sent := ""
			for {
				m, err := wire.Recv(parentR)
				if err != nil {
					break
				}
				if m.Name == wire.Error {
					sent = m.Step
				}
			}
			if res.ok != tc.ok || (!res.ok && res.code != 125) {
				t.Errorf("handshake: code %d, ok %v; want ok %v (125 on failure)", res.code, res.ok, tc.ok)
			}
			if sent != tc.sent {
				t.Errorf("the child sent an Error for step %q, want %q", sent, tc.sent)
			}
			if removed != tc.removed {
				t.Errorf("state dir removed: %v, want %v", removed, tc.removed)
			}
		})
	}
}
