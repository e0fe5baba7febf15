package parent

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rkexec/rkexec/internal/testenv"
	"github.com/rkexec/rkexec/pkg/wire"
)

// fakeChild plays the child's side of the handshake over real pipes. script runs in its own
// goroutine with the child's ends; it returns when the child would exit, closing both.
type fakeChild func(t *testing.T, from io.Reader, to io.Writer, closeFrom func())

// failingWriter fails the write of frame number failAt (0 first) with EPIPE, as a pipe whose reader
// exited does, and passes the others on.
type failingWriter struct {
	w      io.WriteCloser
	n      int
	failAt int
}

func (f *failingWriter) Write(p []byte) (int, error) {
	defer func() { f.n++ }()
	if f.n == f.failAt {
		return 0, syscall.EPIPE
	}
	return f.w.Write(p)
}

func (f *failingWriter) Close() error { return f.w.Close() }

type handshakeResult struct {
	err     *Error
	readyAt int // the pid ready was called with; 0 if not called
	stderr  string
}

// runHandshake runs the parent's handshake against child; failSend >= 0 makes the parent's send of
// that frame fail. It fails the test if the handshake does not end within a minute.
func runHandshake(t *testing.T, child fakeChild, failSend int, extraNS bool, readyErr error) handshakeResult {
	t.Helper()
	childR, parentW := testenv.Pipe(t)
	parentR, childW := testenv.Pipe(t)
	childDone := make(chan struct{})
	go func() {
		defer close(childDone)
		defer childW.Close()
		defer childR.Close()
		child(t, childR, childW, func() { childR.Close() })
	}()
	var res handshakeResult
	var stderr bytes.Buffer
	var to io.WriteCloser = parentW
	if failSend >= 0 {
		to = &failingWriter{w: parentW, failAt: failSend}
	}
	h := &handshake{
		cfg:     &wire.ChildConfig{Target: []string{"true"}},
		toChild: to, fromChild: parentR, extraNS: extraNS,
		warning: "only your own uid is mapped", stderr: &stderr,
		ready: func(pid int) error {
			res.readyAt = pid
			return readyErr
		},
	}
	done := make(chan *Error, 1)
	go func() { done <- h.run() }()
	select {
	case res.err = <-done:
	case <-time.After(time.Minute):
		t.Fatal("the handshake hangs")
	}
	// What the parent does after a failure: close its ends, which ends a child waiting for it.
	parentW.Close()
	parentR.Close()
	select {
	case <-childDone:
	case <-time.After(time.Minute):
		t.Fatal("the fake child hangs after the handshake")
	}
	res.stderr = stderr.String()
	return res
}

// expect reads the named message or fails the test.
func expect(t *testing.T, r io.Reader, name string) *wire.Message {
	m, err := wire.Expect(r, name)
	if err != nil {
		t.Errorf("fake child: %v", err)
		return nil
	}
	return m
}

func send(t *testing.T, w io.Writer, m *wire.Message) {
	if err := wire.Send(w, m); err != nil {
		t.Errorf("fake child: %v", err)
	}
}

// upTo returns a child that plays the handshake well up to (not including) its step n: 0 reads
// ParentHello, 1 sends ChildHello, 2 reads IDMapsWritten, 3 sends UserNSReady, 4 and 5 read
// NetworkConfigured and PortDriverReady, 6 sends TargetStarted (pid 200). Then it runs last.
func upTo(n int, last func(t *testing.T, from io.Reader, to io.Writer)) fakeChild {
	return func(t *testing.T, from io.Reader, to io.Writer, _ func()) {
		steps := []func(){
			func() {
				if m := expect(t, from, wire.ParentHello); m != nil && (m.Child == nil || m.Child.Target[0] != "true") {
					t.Errorf("fake child: ParentHello without the config: %+v", m)
				}
			},
			func() { send(t, to, &wire.Message{Name: wire.ChildHello}) },
			func() { expect(t, from, wire.IDMapsWritten) },
			func() { send(t, to, &wire.Message{Name: wire.UserNSReady}) },
			func() { expect(t, from, wire.NetworkConfigured) },
			func() { expect(t, from, wire.PortDriverReady) },
			func() { send(t, to, &wire.Message{Name: wire.TargetStarted, TargetPID: 200}) },
		}
		for _, s := range steps[:n] {
			s()
		}
		if last != nil {
			last(t, from, to)
		}
	}
}

// exits is a child that exits at that point.
func exits(*testing.T, io.Reader, io.Writer) {}

// fails is a child that sends an Error for step with code.
func fails(step string, code int) func(t *testing.T, from io.Reader, to io.Writer) {
	return func(t *testing.T, _ io.Reader, to io.Writer) {
		send(t, to, &wire.Message{Name: wire.Error, Step: step, Error: "it broke", ExitCode: code})
	}
}

// drains is a child that waits until the parent closes its end.
func drains(_ *testing.T, from io.Reader, _ io.Writer) { _, _ = io.Copy(io.Discard, from) }

func TestHandshakeEachStepFailing(t *testing.T) {
	for name, tc := range map[string]struct {
		child     fakeChild
		failSend  int // the parent's send that fails (0 ParentHello, 1 IDMapsWritten, 2 NetworkConfigured, 3 PortDriverReady)
		extraNS   bool
		readyErr  error
		step      string
		code      int
		errHas    string
		noWarning bool // the maps were never confirmed: no warning yet
	}{
		"ParentHello cannot be sent":     {child: upTo(0, drains), failSend: 0, step: "user namespace", code: 125, errHas: wire.ErrPeerGone.Error(), noWarning: true},
		"child exits before ChildHello":  {child: upTo(1, exits), failSend: -1, step: "user namespace", code: 125, errHas: "waiting for ChildHello", noWarning: true},
		"child fails before ChildHello":  {child: upTo(1, fails("user namespace", 0)), failSend: -1, step: "user namespace", code: 125, errHas: "it broke", noWarning: true},
		"child says something else":      {child: upTo(1, func(t *testing.T, _ io.Reader, to io.Writer) { send(t, to, &wire.Message{Name: wire.UserNSReady}) }), failSend: -1, step: "user namespace", code: 125, errHas: "got UserNSReady", noWarning: true},
		"IDMapsWritten cannot be sent":   {child: upTo(2, drains), failSend: 1, step: "id maps", code: 125, errHas: wire.ErrPeerGone.Error()},
		"mounts fail":                    {child: upTo(3, fails("mounts", 0)), failSend: -1, step: "mounts", code: 125, errHas: "it broke"},
		"child exits before UserNSReady": {child: upTo(3, exits), failSend: -1, step: "user namespace", code: 125, errHas: "waiting for UserNSReady"},
		"network cannot be sent":         {child: upTo(4, drains), failSend: 2, step: "network", code: 125, errHas: wire.ErrPeerGone.Error()},
		"ports cannot be sent":           {child: upTo(5, drains), failSend: 3, step: "ports", code: 125, errHas: wire.ErrPeerGone.Error()},
		"command not found":              {child: upTo(6, fails("starting the command", 127)), failSend: -1, step: "starting the command", code: 127, errHas: "it broke"},
		"command not executable":         {child: upTo(6, fails("starting the command", 126)), failSend: -1, step: "starting the command", code: 126, errHas: "it broke"},
		"child exits before the target":  {child: upTo(6, exits), failSend: -1, step: "starting the target", code: 125, errHas: "waiting for TargetStarted"},
		"no init pid with namespaces":    {child: upTo(6, func(t *testing.T, _ io.Reader, to io.Writer) { send(t, to, &wire.Message{Name: wire.TargetStarted}) }), failSend: -1, extraNS: true, step: "starting the target", code: 125, errHas: "init's pid"},
		"state dir cannot be written":    {child: upTo(7, drains), failSend: -1, readyErr: errors.New("disk full"), step: "state dir", code: 125, errHas: "disk full"},
	} {
		t.Run(name, func(t *testing.T) {
			res := runHandshake(t, tc.child, tc.failSend, tc.extraNS, tc.readyErr)
			if res.err == nil {
				t.Fatal("the handshake succeeded")
			}
			if res.err.Step != tc.step || res.err.Code != tc.code || !strings.Contains(res.err.Err.Error(), tc.errHas) {
				t.Errorf("error: step %q, code %d, %q; want step %q, code %d, containing %q",
					res.err.Step, res.err.Code, res.err.Err, tc.step, tc.code, tc.errHas)
			}
			if warned := strings.Contains(res.stderr, "only your own uid is mapped"); warned == tc.noWarning {
				t.Errorf("warning printed: %v, want %v (stderr %q)", warned, !tc.noWarning, res.stderr)
			}
			if tc.readyErr == nil && res.readyAt != 0 {
				t.Errorf("the sandbox was recorded ready (pid %d) after a failed step", res.readyAt)
			}
		})
	}
}

func TestHandshakeRecordsTheSandboxProcess(t *testing.T) {
	for _, tc := range []struct {
		extraNS bool
		want    int
	}{{false, 200}, {true, 200}} {
		res := runHandshake(t, upTo(7, drains), -1, tc.extraNS, nil)
		if res.err != nil {
			t.Fatalf("extra namespaces %v: %v", tc.extraNS, res.err)
		}
		if res.readyAt != tc.want {
			t.Errorf("extra namespaces %v: ready with pid %d, want %d (the target's or the init's, as the child reported)", tc.extraNS, res.readyAt, tc.want)
		}
	}
}
