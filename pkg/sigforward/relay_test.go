package sigforward

import (
	"os"
	"slices"
	"testing"

	"golang.org/x/sys/unix"
)

// fakeTarget records what the loop sends it; it is gone (ESRCH) for the signals in gone.
type fakeTarget struct {
	got  []unix.Signal
	gone map[unix.Signal]bool
}

func (f *fakeTarget) send(sig unix.Signal) error {
	if f.gone[sig] {
		return unix.ESRCH
	}
	f.got = append(f.got, sig)
	return nil
}

// TestRelayLoop drives the loop with signals of its own and a fake target: held signals are all
// relayed (the terminal could not have sent them to a target that did not exist); later ones are not
// when the terminal sent them already, unless the hook says RelayAlways; the hook sees every signal
// and may drop it; a signal the target could not get is not reported relayed.
func TestRelayLoop(t *testing.T) {
	terminal := map[unix.Signal]bool{unix.SIGINT: true, unix.SIGQUIT: true}
	f := newForwarder(func(sig unix.Signal) bool { return terminal[sig] })
	go f.run()
	held := []os.Signal{unix.SIGINT, unix.SIGUSR1}
	for _, s := range held {
		f.ch <- s
	}
	seen := make(chan unix.Signal, 16)
	hook := func(sig unix.Signal) Action {
		seen <- sig
		switch sig {
		case unix.SIGWINCH:
			return Drop
		case unix.SIGQUIT:
			return RelayAlways
		}
		return Relay
	}
	fake := &fakeTarget{gone: map[unix.Signal]bool{unix.SIGHUP: true}}
	f.target <- target{send: fake.send, release: func() {}, hook: hook}
	// The held signals are done once the hook has seen them: what follows arrives after the target.
	hooked := []unix.Signal{<-seen, <-seen}
	later := []os.Signal{unix.SIGINT, unix.SIGWINCH, unix.SIGQUIT, unix.SIGTERM, unix.SIGHUP}
	for _, s := range later {
		f.ch <- s
	}
	f.Stop() // relays what was caught, then ends the loop
	close(seen)
	for sig := range seen {
		hooked = append(hooked, sig)
	}
	if want := []unix.Signal{unix.SIGINT, unix.SIGUSR1, unix.SIGQUIT, unix.SIGTERM}; !slices.Equal(fake.got, want) {
		t.Errorf("the target got %v, want %v", fake.got, want)
	}
	if want := []unix.Signal{unix.SIGINT, unix.SIGUSR1, unix.SIGINT, unix.SIGWINCH, unix.SIGQUIT, unix.SIGTERM, unix.SIGHUP}; !slices.Equal(hooked, want) {
		t.Errorf("the hook saw %v, want %v", hooked, want)
	}
	for sig, want := range map[unix.Signal]bool{unix.SIGINT: true, unix.SIGUSR1: true, unix.SIGQUIT: true, unix.SIGTERM: true, unix.SIGWINCH: false, unix.SIGHUP: false, unix.SIGUSR2: false} {
		if f.Relayed(sig) != want {
			t.Errorf("Relayed(%v) = %v, want %v", sig, !want, want)
		}
	}
}

// TestSignallerReachesOnlyItsProcess: the pidfd-backed signaller signals a live child, and fails with
// ESRCH, instead of signalling anything, once that child is reaped.
func TestSignallerReachesOnlyItsProcess(t *testing.T) {
	var attr os.ProcAttr
	p, err := os.StartProcess("/bin/sleep", []string{"sleep", "30"}, &attr)
	if err != nil {
		t.Fatal(err)
	}
	send, release := signaller(p.Pid)
	defer release()
	if err := send(unix.SIGKILL); err != nil {
		t.Fatalf("signalling the live child: %v", err)
	}
	if _, err := p.Wait(); err != nil {
		t.Fatal(err)
	}
	if err := send(unix.SIGTERM); err != unix.ESRCH {
		t.Fatalf("signalling the reaped child: %v, want ESRCH", err)
	}
}
