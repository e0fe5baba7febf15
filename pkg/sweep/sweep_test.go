package sweep

import (
	"errors"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rkexec/rkexec/internal/testenv"
	"github.com/rkexec/rkexec/pkg/proctree"
)

// TestKillsEveryProcessOfTheNamespace: a process in a new user namespace, its child and a daemon
// that left for a nested user namespace are all killed; this process, outside, is not.
func TestKillsEveryProcessOfTheNamespace(t *testing.T) {
	proc, err := proctree.Open()
	if err != nil {
		t.Fatal(err)
	}
	defer proc.Close()
	// The nested process prints its pid once it is in its own user namespace.
	cmd := exec.Command("sh", "-c", `sleep 30 & unshare --user sh -c 'echo $$; exec sleep 31' & wait`)
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Cloneflags:  syscall.CLONE_NEWUSER,
		UidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getuid(), Size: 1}},
		GidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getgid(), Size: 1}},
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		testenv.Missing(t, "a user namespace for an unprivileged child: %v", err)
		return
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	buf := make([]byte, 32)
	n, _ := out.Read(buf)
	nested, err := strconv.Atoi(strings.TrimSpace(string(buf[:n])))
	if err != nil {
		t.Fatalf("pid of the nested process: %q", buf[:n])
	}
	if id, err := proc.NamespaceID(nested, "user"); err != nil || id == mustID(t, proc, cmd.Process.Pid) {
		t.Fatalf("the nested process %d is not in a nested user namespace (%v)", nested, err)
	}
	fd, err := proc.OpenNamespace(cmd.Process.Pid, "user")
	if err != nil {
		t.Fatal(err)
	}
	ns := os.NewFile(uintptr(fd), "user namespace")
	defer ns.Close()

	killed, err := UserNamespace(proc, ns, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if killed < 3 {
		t.Errorf("killed %d processes, want at least sh, sleep and the nested sleep", killed)
	}
	if err := cmd.Wait(); err == nil || !strings.Contains(err.Error(), "killed") {
		t.Errorf("sh: %v, want killed", err)
	}
	if st, err := proc.Stat(nested); err == nil && !st.Exited() {
		t.Errorf("the process in the nested user namespace (pid %d) is still %c", nested, st.State)
	}
}

func mustID(t *testing.T, proc *proctree.Proc, pid int) proctree.NSID {
	t.Helper()
	id, err := proc.NamespaceID(pid, "user")
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// TestSweepFromInside: a process sweeping its own user namespace (the child does) kills the others
// in it, and not itself.
func TestSweepFromInside(t *testing.T) {
	if os.Getenv("SWEEP_TEST_INSIDE") == "1" {
		proc, err := proctree.Open()
		if err != nil {
			t.Fatal(err)
		}
		defer proc.Close()
		sleeper := exec.Command("sleep", "30")
		if err := sleeper.Start(); err != nil {
			t.Fatal(err)
		}
		ns, err := os.Open("/proc/self/ns/user")
		if err != nil {
			t.Fatal(err)
		}
		defer ns.Close()
		if killed, err := UserNamespace(proc, ns, 5*time.Second); err != nil || killed < 1 {
			t.Fatalf("killed %d (%v), want the sleep at least", killed, err)
		}
		if err := sleeper.Wait(); err == nil || !strings.Contains(err.Error(), "killed") {
			t.Fatalf("sleep: %v, want killed", err)
		}
		return
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, "-test.run=^TestSweepFromInside$")
	cmd.Env = append(os.Environ(), "SWEEP_TEST_INSIDE=1")
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Cloneflags:  syscall.CLONE_NEWUSER,
		UidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getuid(), Size: 1}},
		GidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getgid(), Size: 1}},
	}
	if out, err := cmd.CombinedOutput(); err != nil {
		if errors.Is(err, syscall.EPERM) || errors.Is(err, syscall.EINVAL) {
			testenv.Missing(t, "a user namespace for an unprivileged child: %v", err)
			return
		}
		t.Fatalf("inside a user namespace: %v\n%s", err, out)
	}
}
