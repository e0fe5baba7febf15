package proctree

import (
	"os"
	"os/exec"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/rkexec/rkexec/internal/testenv"
)

func TestParseStat(t *testing.T) {
	// The command name may hold spaces and parentheses.
	line := "4242 (a) b (c) S 17 4242 4242 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 987654 1000 10\n"
	st, err := ParseStat([]byte(line))
	if err != nil {
		t.Fatal(err)
	}
	if want := (Stat{State: 'S', PPID: 17, StartTime: 987654}); st != want {
		t.Errorf("ParseStat: %+v, want %+v", st, want)
	}
	if st.Exited() {
		t.Error("a sleeping process counts as exited")
	}
	for _, bad := range []string{"", "1 (x", "1 (x) S 2", "1 (x) SS 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20"} {
		if _, err := ParseStat([]byte(bad)); err == nil {
			t.Errorf("ParseStat(%q) accepted it", bad)
		}
	}
}

func TestStatOfThisProcess(t *testing.T) {
	p, err := Open()
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	a, err1 := p.Stat(os.Getpid())
	b, err2 := ReadStat(os.Getpid())
	if err1 != nil || err2 != nil {
		t.Fatal(err1, err2)
	}
	// The state may change between the two reads (running, sleeping); the rest may not.
	if a.PPID != os.Getppid() || a.PPID != b.PPID || a.StartTime != b.StartTime || a.StartTime == 0 {
		t.Errorf("Stat %+v, ReadStat %+v, want ppid %d and the same start time", a, b, os.Getppid())
	}
}

// TestInUserNamespace: this process is in its own user namespace; a child in a user namespace
// nested in it is too, and this process is not in the child's.
func TestInUserNamespace(t *testing.T) {
	p, err := Open()
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	own, err := p.NamespaceID(os.Getpid(), "user")
	if err != nil {
		t.Fatal(err)
	}
	if path, err := NSIDOfPath("/proc/self/ns/user"); err != nil || path != own {
		t.Errorf("NSIDOfPath %v (%v), NamespaceID %v", path, err, own)
	}
	if !p.InUserNamespace(os.Getpid(), own) {
		t.Error("this process is not in its own user namespace")
	}
	cmd := exec.Command("sleep", "30")
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWUSER}
	if err := cmd.Start(); err != nil {
		testenv.Missing(t, "a user namespace for an unprivileged child: %v", err)
		return
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	nested, err := p.NamespaceID(cmd.Process.Pid, "user")
	if err != nil || nested == own {
		t.Fatalf("the child's user namespace %v (%v) is ours", nested, err)
	}
	if !p.InUserNamespace(cmd.Process.Pid, own) {
		t.Error("a child in a nested user namespace is not found in ours")
	}
	if p.InUserNamespace(os.Getpid(), nested) {
		t.Error("this process counts as in its child's user namespace")
	}
	fd, err := p.OpenNamespace(cmd.Process.Pid, "user")
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	if uid, err := OwnerUID(fd); err != nil || int(uid) != os.Geteuid() {
		t.Errorf("owner of the child's user namespace: %d (%v), want %d", uid, err, os.Geteuid())
	}
}
