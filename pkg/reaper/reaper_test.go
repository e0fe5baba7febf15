package reaper

import (
	"os"
	"os/exec"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/rkexec/rkexec/pkg/proctree"
)

// TestWaitRelaysAndReaps runs in a re-executed test binary that is a child subreaper, so that the
// grandchild orphaned by the target comes back to it.
func TestWaitRelaysAndReaps(t *testing.T) {
	testWaitRelaysAndReaps(t, "TestWaitRelaysAndReaps", func() *Reaper { return New() })
}

// TestLeanWaitRelaysAndReaps: the same with the signals caught by plain handlers.
func TestLeanWaitRelaysAndReaps(t *testing.T) {
	testWaitRelaysAndReaps(t, "TestLeanWaitRelaysAndReaps", func() *Reaper {
		r, err := NewLean()
		if err != nil {
			t.Fatal(err)
		}
		return r
	})
}

func testWaitRelaysAndReaps(t *testing.T, name string, newReaper func() *Reaper) {
	if os.Getenv("REAPER_TEST_CHILD") == "" {
		cmd := exec.Command(os.Args[0], "-test.run=^"+name+"$", "-test.v")
		cmd.Env = append(os.Environ(), "REAPER_TEST_CHILD=1")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("child: %v\n%s", err, out)
		}
		return
	}
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		t.Fatal(err)
	}
	r := newReaper()
	defer r.Stop()
	// The target leaves an orphan, then waits for SIGUSR1 and exits 7.
	cmd := exec.Command("sh", "-c", `sleep 30 & trap 'exit 7' USR1; echo ready; while :; do sleep 0.05; done`)
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 6)
	if _, err := stdout.Read(buf); err != nil {
		t.Fatal(err)
	}
	if err := unix.Kill(os.Getpid(), unix.SIGUSR1); err != nil { // relayed to the target
		t.Fatal(err)
	}
	code, interrupted := r.Wait(cmd.Process.Pid, nil, nil)
	if code != 7 || interrupted {
		t.Fatalf("Wait = %d, %v; want 7, false", code, interrupted)
	}
	proc, err := proctree.Open()
	if err != nil {
		t.Fatal(err)
	}
	defer proc.Close()
	KillDescendants(proc)
	if kids := proc.Descendants(os.Getpid()); len(kids) != 0 {
		t.Fatalf("descendants left: %v", kids)
	}
	var ws unix.WaitStatus
	if _, err := unix.Wait4(-1, &ws, unix.WNOHANG, nil); err != unix.ECHILD {
		t.Fatalf("a child is left to reap: %v", err)
	}
}
