package proctree

import (
	"os"
	"os/exec"
	"slices"
	"testing"

	"golang.org/x/sys/unix"
)

func TestDescendantsAndPids(t *testing.T) {
	p, err := Open()
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	// sh, with a sleep of its own, below this test.
	cmd := exec.Command("sh", "-c", "sleep 30 & echo $!; wait")
	out, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	buf := make([]byte, 32)
	n, _ := out.Read(buf)
	var sleepPID int
	for _, c := range buf[:n] {
		if c >= '0' && c <= '9' {
			sleepPID = sleepPID*10 + int(c-'0')
		}
	}
	got := p.Descendants(os.Getpid())
	if !slices.Contains(got, cmd.Process.Pid) || !slices.Contains(got, sleepPID) {
		t.Fatalf("descendants %v lack sh %d or sleep %d", got, cmd.Process.Pid, sleepPID)
	}
	if !slices.Contains(p.Pids(), os.Getpid()) {
		t.Fatal("Pids lacks this process")
	}
	if p.ppid(sleepPID) != cmd.Process.Pid || !slices.Contains(p.childrenByScan(cmd.Process.Pid), sleepPID) {
		t.Fatal("the scan fallback does not find the sleep")
	}
	_ = unix.Kill(sleepPID, unix.SIGKILL)
}

func TestOpenNamespace(t *testing.T) {
	p, err := Open()
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	fd, err := p.OpenNamespace(os.Getpid(), "user")
	if err != nil {
		t.Fatal(err)
	}
	unix.Close(fd)
	if _, err := p.OpenNamespace(os.Getpid(), "nope"); err == nil {
		t.Fatal("opened a namespace that does not exist")
	}
}
