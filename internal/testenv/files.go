package testenv

import (
	"os"
	"testing"

	"github.com/containerd/console"
	"golang.org/x/sys/unix"
)

// OpenPty opens a new pseudo-terminal pair for a test, both ends closed when the test ends (closing
// either earlier is fine). No /dev/ptmx is a missing prerequisite.
func OpenPty(t testing.TB) (master, slave *os.File) {
	t.Helper()
	master, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		Missing(t, "a pseudo-terminal (open /dev/ptmx: %v)", err)
	}
	t.Cleanup(func() { master.Close() })
	// The library unlocks the pair and names its slave; master stays the test's file.
	_, slavePath, err := console.NewPtyFromFile(master)
	if err != nil {
		t.Fatalf("setting up the pty: %v", err)
	}
	slave, err = os.OpenFile(slavePath, os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { slave.Close() })
	return master, slave
}

// Pipe returns a new pipe's read and write ends, both closed when the test ends (closing either
// earlier is fine).
func Pipe(t testing.TB) (r, w *os.File) {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		r.Close()
		w.Close()
	})
	return r, w
}
