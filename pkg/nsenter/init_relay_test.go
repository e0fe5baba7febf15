//go:build linux

package nsenter

import (
	"testing"

	"golang.org/x/sys/unix"

	"github.com/rkexec/rkexec/pkg/sigforward"
)

// TestInitRelaysWhatSigforwardRelays: the init in C (init.c) keeps its own list of the signals it
// relays; it must be package sigforward's, which every Go relay uses.
func TestInitRelaysWhatSigforwardRelays(t *testing.T) {
	want := map[int]bool{}
	for _, s := range sigforward.Relayed() {
		want[int(s.(unix.Signal))] = true
	}
	for sig := 1; sig <= 64; sig++ {
		if got := cInitRelays(sig); got != want[sig] {
			t.Errorf("signal %d (%v): the C init relays it: %v, sigforward: %v", sig, unix.Signal(sig), got, want[sig])
		}
	}
}
