// Package sigforward relays the signals a process receives to another process, the way a shell-less
// wrapper must: every catchable signal except those that only make sense for the wrapper itself.
//
// Not relayed: SIGCHLD, SIGURG (the Go runtime's), SIGPIPE, the synchronous fault signals, glibc's
// internal real-time signals 32 and 33, and the job-control stops SIGTSTP, SIGTTIN and SIGTTOU, whose
// default action stops the wrapper so the caller's shell sees the job stop (the terminal sends them to
// the target too). SIGINT, SIGQUIT and SIGWINCH are not relayed while the wrapper is in the terminal's
// foreground process group: the terminal already delivered them to the whole group, target included,
// and relaying would deliver them twice. A hook may decide otherwise for each signal.
//
// It is the one relay loop of rkexec in Go: the parent uses it directly, and every process that waits
// for a target through package reaper uses it there; nsexec's init in C (pkg/nsenter/init.c), a PID 1
// without a Go runtime, mirrors Relayed and FromTerminal. It does not wait for the target.
package sigforward

import (
	"os"
	"os/signal"
	"sync/atomic"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/rkexec/rkexec/pkg/sigcatch"
)

// Relayed lists the signals Start relays.
func Relayed() []os.Signal {
	skip := map[unix.Signal]bool{
		unix.SIGKILL: true, unix.SIGSTOP: true, unix.SIGCHLD: true, unix.SIGURG: true, unix.SIGPIPE: true,
		unix.SIGSEGV: true, unix.SIGBUS: true, unix.SIGFPE: true, unix.SIGILL: true, unix.SIGTRAP: true, unix.SIGSYS: true,
		unix.SIGTSTP: true, unix.SIGTTIN: true, unix.SIGTTOU: true,
		32: true, 33: true,
	}
	var sigs []os.Signal
	for s := unix.Signal(1); s <= 64; s++ {
		if !skip[s] {
			sigs = append(sigs, s)
		}
	}
	return sigs
}

// Action is what the relay does with a signal it caught, as a hook decides.
type Action int

// The actions.
const (
	Relay       Action = iota // send it to the target, unless the terminal already did (FromTerminal)
	RelayAlways               // send it to the target: the caller's terminal sends the target none
	Drop                      // do not send it: the hook handled it
)

// Forwarder relays signals until Stop. It is the one relay loop: the parent's, and the reaper's of
// every process that waits for a target.
type Forwarder struct {
	ch     chan os.Signal
	target chan target
	done   chan struct{}
	// stop is closed by Stop; caught is closed once the signals are caught (StartAsync).
	stop   chan struct{}
	caught chan struct{}
	// fromTerminal is FromTerminal; tests give another.
	fromTerminal func(unix.Signal) bool
	// relayed has bit N-1 set once signal N (1 to 64) was relayed.
	relayed atomic.Uint64
}

// target is where the loop sends signals, and the hook that decides about each.
type target struct {
	send    func(unix.Signal) error // nil: Stop came before a target
	release func()
	hook    func(unix.Signal) Action
}

// Start catches the relayed signals from now on and relays them to the process named by SetTarget;
// those that arrive before it are held (up to 64).
func Start() *Forwarder {
	f := StartAsync()
	f.Caught()
	return f
}

// StartAsync is Start with the catching done in the background, for a caller with other work to do
// meanwhile: catching a signal takes a round trip with the Go runtime's signal thread, which is
// locked to its OS thread, so the ~50 relayed signals cost 1-3 ms. Call Caught before anything that
// a signal must not interrupt.
func StartAsync() *Forwarder {
	f := newForwarder(FromTerminal)
	go func() {
		signal.Notify(f.ch, Relayed()...)
		close(f.caught)
	}()
	go f.run()
	return f
}

// Caught returns once the relayed signals are caught.
func (f *Forwarder) Caught() { <-f.caught }

// StartFrom is Start for signals that the caller catches itself and sends on ch (as os/signal
// would: without blocking, dropping one when ch is full), for example with package sigcatch. Stop
// must not be called while ch may still be sent to.
func StartFrom(ch chan os.Signal) *Forwarder {
	f := newForwarder(FromTerminal)
	f.ch = ch
	close(f.caught) // the caller caught them
	go f.run()
	return f
}

func newForwarder(fromTerminal func(unix.Signal) bool) *Forwarder {
	return &Forwarder{
		ch: make(chan os.Signal, 64), target: make(chan target, 1), done: make(chan struct{}),
		stop: make(chan struct{}), caught: make(chan struct{}), fromTerminal: fromTerminal,
	}
}

// Relayed reports whether sig was relayed to the target.
func (f *Forwarder) Relayed(sig syscall.Signal) bool {
	return sig > 0 && sig <= 64 && f.relayed.Load()&(1<<uint(sig-1)) != 0
}

// SetTarget starts the relaying to pid (> 0), which must not have been reaped yet; call it once,
// before Stop. hook, when not nil, decides about every signal (Relay when nil).
func (f *Forwarder) SetTarget(pid int, hook func(unix.Signal) Action) {
	send, release := signaller(pid)
	f.target <- target{send: send, release: release, hook: hook}
}

// signaller sends signals to pid through a pidfd, opened now: once the target is reaped, a signal
// still on its way fails with ESRCH instead of reaching a process that reused the pid.
func signaller(pid int) (send func(unix.Signal) error, release func()) {
	fd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		// No pidfds (before Linux 5.3, or a seccomp filter refuses them): signal the pid.
		return func(sig unix.Signal) error { return unix.Kill(pid, sig) }, func() {}
	}
	return func(sig unix.Signal) error { return unix.PidfdSendSignal(fd, sig, nil, 0) },
		func() { _ = unix.Close(fd) } // nothing was written through it
}

// run is the loop: it waits for the target, relays what was held, then every signal until Stop.
func (f *Forwarder) run() {
	defer close(f.done)
	t := <-f.target
	if t.send == nil {
		return // stopped before a target was set
	}
	defer t.release()
	// Signals held from before the target existed are relayed as they are: the terminal could not
	// have delivered them to a process that did not exist yet.
	for held := len(f.ch); held > 0; held-- {
		f.relay(t, (<-f.ch).(syscall.Signal), false)
	}
	for {
		select {
		case s := <-f.ch:
			f.relay(t, s.(syscall.Signal), true)
		case <-f.stop:
			// What was caught before Stop is still relayed.
			for n := len(f.ch); n > 0; n-- {
				f.relay(t, (<-f.ch).(syscall.Signal), true)
			}
			return
		}
	}
}

// relay sends sig to the target unless the hook drops it or, with dedupe, the terminal already sent it.
func (f *Forwarder) relay(t target, sig syscall.Signal, dedupe bool) {
	action := Relay
	if t.hook != nil {
		action = t.hook(sig)
	}
	if action == Drop || (action == Relay && dedupe && f.fromTerminal(sig)) {
		return
	}
	// ESRCH only: the process has exited and its wait is about to return.
	if t.send(sig) == nil && sig > 0 && sig <= 64 {
		f.relayed.Or(1 << uint(sig-1)) // bit N-1 for signal N: 1 to 64 fit
	}
}

// Stop ends relaying; signals already caught are still relayed. The signals stay caught, and are
// dropped from then on: every user of a Forwarder exits right after Stop, and restoring the default
// dispositions would cost the round trips of StartAsync again.
func (f *Forwarder) Stop() {
	// A catching still under way (StartAsync) may register the channel after this returns: harmless.
	close(f.stop)
	select {
	case f.target <- target{}: // never set: the loop returns
	default: // set: the loop ends on stop
	}
	<-f.done
}

// FromTerminal reports whether sig is one a terminal sends to its foreground process group and this
// process is in that group, so the target (in the same group) got it already.
func FromTerminal(sig unix.Signal) bool {
	if sig != unix.SIGINT && sig != unix.SIGQUIT && sig != unix.SIGWINCH {
		return false
	}
	tty, err := os.OpenFile("/dev/tty", os.O_RDONLY|unix.O_NOCTTY, 0)
	if err != nil {
		return false // no controlling terminal: the signal was sent with kill
	}
	defer tty.Close()
	fg, err := unix.IoctlGetInt(int(tty.Fd()), unix.TIOCGPGRP)
	return err == nil && fg == unix.Getpgrp()
}

// Diverted is a signal that a lean forwarder catches with the relayed ones and sends on Ch instead
// of relaying it (the reaper's SIGCHLD), without blocking, dropping one when Ch is full.
type Diverted struct {
	Sig unix.Signal
	Ch  chan os.Signal
}

// StartLean is Start for a process that exits or executes once the relaying ends: the relayed
// signals, and diverted, are caught by plain handlers (package sigcatch) instead of os/signal, which
// takes a round trip between two threads for each of them, and stay caught until then (Stop only
// stops the relaying). SIGPROF is left to the runtime, as os/signal never delivers it either. Nothing
// else in the process may catch these signals with os/signal.
func StartLean(diverted ...Diverted) (*Forwarder, error) {
	sigs := make([]unix.Signal, 0, 72)
	for _, d := range diverted {
		sigs = append(sigs, d.Sig)
	}
	for _, s := range Relayed() {
		if s != unix.SIGPROF {
			sigs = append(sigs, s.(unix.Signal))
		}
	}
	pipe, err := sigcatch.Catch(sigs)
	if err != nil {
		return nil, err
	}
	relay := make(chan os.Signal, 64)
	go func() {
		buf := make([]byte, 64)
		for {
			n, err := pipe.Read(buf)
			for _, b := range buf[:n] {
				ch := relay
				for _, d := range diverted {
					if unix.Signal(b) == d.Sig {
						ch = d.Ch
					}
				}
				select {
				case ch <- unix.Signal(b):
				default: // full: os/signal drops it too
				}
			}
			if err != nil {
				return // the pipe cannot fail while the process lives
			}
		}
	}()
	return StartFrom(relay), nil
}
