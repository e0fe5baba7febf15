// Package sigforward relays the signals a process receives to another process, the way a shell-less
// wrapper must: every catchable signal except those that only make sense for the wrapper itself.
//
// Not relayed: SIGCHLD, SIGURG (the Go runtime's), SIGPIPE, the synchronous fault signals, glibc's
// internal real-time signals 32 and 33, and the job-control stops SIGTSTP, SIGTTIN and SIGTTOU, whose
// default action stops the wrapper so the caller's shell sees the job stop (the terminal sends them to
// the target too). SIGINT, SIGQUIT and SIGWINCH are not relayed while the wrapper is in the terminal's
// foreground process group: the terminal already delivered them to the whole group, target included,
// and relaying would deliver them twice.
package sigforward

import (
	"os"
	"os/signal"
	"sync/atomic"
	"syscall"

	"golang.org/x/sys/unix"
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

// Forwarder relays signals until Stop.
type Forwarder struct {
	ch     chan os.Signal
	target chan int
	done   chan struct{}
	// relayed has bit N set once signal N was relayed.
	relayed atomic.Uint64
}

// Relayed reports whether sig was relayed to the target.
func (f *Forwarder) Relayed(sig syscall.Signal) bool {
	return sig > 0 && sig < 64 && f.relayed.Load()&(1<<uint(sig)) != 0
}

// Start catches the relayed signals from now on and relays them to the process named by SetTarget;
// those that arrive before it are held (up to 64). intercept, when not nil, sees each signal first
// and returns true to consume it.
func Start(intercept func(unix.Signal) bool) *Forwarder {
	f := &Forwarder{ch: make(chan os.Signal, 64), target: make(chan int, 1), done: make(chan struct{})}
	signal.Notify(f.ch, Relayed()...)
	go func() {
		defer close(f.done)
		pid := <-f.target
		if pid <= 0 {
			return // stopped before a target was set (kill(0) would signal our own group)
		}
		// Signals held from before the target existed are relayed as they are: the terminal could
		// not have delivered them to a process that did not exist yet.
		for held := len(f.ch); held > 0; held-- {
			if s, ok := <-f.ch; ok {
				f.relay(pid, s.(syscall.Signal), intercept, false)
			}
		}
		for s := range f.ch {
			f.relay(pid, s.(syscall.Signal), intercept, true)
		}
	}()
	return f
}

// relay sends sig to pid unless intercept consumes it or, with dedupe, the terminal already sent it.
func (f *Forwarder) relay(pid int, sig syscall.Signal, intercept func(unix.Signal) bool, dedupe bool) {
	if intercept != nil && intercept(sig) {
		return
	}
	if dedupe && FromTerminal(sig) {
		return
	}
	// ESRCH only: the process has exited and its wait is about to return.
	if unix.Kill(pid, sig) == nil && sig < 64 {
		f.relayed.Or(1 << uint(sig))
	}
}

// SetTarget starts the relaying to pid (> 0); call it once, before Stop.
func (f *Forwarder) SetTarget(pid int) { f.target <- pid }

// Stop ends relaying and restores the default dispositions; signals already caught are still relayed.
func (f *Forwarder) Stop() {
	signal.Stop(f.ch)
	close(f.ch)
	select {
	case f.target <- 0: // never set: the goroutine returns
	default: // set: the goroutine ends with the closed channel
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
