//go:build linux

package sigcatch

import (
	"os"
	"os/exec"
	"slices"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestCatch runs in a re-executed test binary, since the handlers stay for the process: two signals
// sent to it arrive on the pipe, in order, as their numbers, and neither kills it.
func TestCatch(t *testing.T) {
	if os.Getenv("SIGCATCH_TEST_CHILD") == "" {
		cmd := exec.Command(os.Args[0], "-test.run=^TestCatch$", "-test.v")
		cmd.Env = append(os.Environ(), "SIGCATCH_TEST_CHILD=1")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("child: %v\n%s", err, out)
		}
		return
	}
	sigs := []unix.Signal{unix.SIGTERM, unix.Signal(40)}
	pipe, err := Catch(sigs)
	if err != nil {
		t.Fatal(err)
	}
	defer pipe.Close()
	for _, s := range sigs {
		if err := unix.Kill(os.Getpid(), s); err != nil {
			t.Fatal(err)
		}
	}
	if err := pipe.SetReadDeadline(time.Now().Add(10 * time.Second)); err != nil {
		t.Fatal(err)
	}
	var got []unix.Signal
	buf := make([]byte, 8)
	for len(got) < len(sigs) {
		n, err := pipe.Read(buf)
		if err != nil {
			t.Fatalf("after %v: %v", got, err)
		}
		for _, b := range buf[:n] {
			got = append(got, unix.Signal(b))
		}
	}
	slices.Sort(got) // two signals pending at once are delivered lowest first
	if !slices.Equal(got, sigs) {
		t.Fatalf("caught %v, want %v", got, sigs)
	}
}

func TestCatchRefusesTheRuntimesSignals(t *testing.T) {
	for _, s := range []unix.Signal{unix.SIGURG, unix.SIGPROF, unix.SIGSEGV, unix.SIGKILL, 0, 65} {
		if _, err := Catch([]unix.Signal{s}); err == nil {
			t.Errorf("Catch(%v) accepted", s)
		}
	}
}
