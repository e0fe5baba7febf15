package enter

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/rkexec/rkexec/internal/testenv"
	"github.com/rkexec/rkexec/pkg/nsenter"
)

// The sandbox checks read a /proc built by the test: fake pids for the lock holder and the process
// tree, whose namespace files are symlinks to real ones (the ownership ioctls need real namespaces),
// and real processes for the sandbox (a pidfd pins it).

// fakeHolder is the pid of the rkexec that holds the lock in the fake /proc; no process has it.
// fakeChild is its child, the sandbox's parent.
const (
	fakeHolder = 4000001
	fakeChild  = 4000002
)

// fixture is a fake /proc describing a running sandbox: a state directory and its lock, held by
// fakeHolder, whose grandchild (through fakeChild) is a real process in a user and mount namespace of
// its own, of which fakeHolder holds a pidfd.
type fixture struct {
	t         *testing.T
	proc      string
	dir, lock *os.File
	sandbox   int // a real process in a new user and mount namespace
	host      int // a real process in the test's namespaces
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	f := &fixture{t: t, proc: t.TempDir()}
	state := t.TempDir()
	var err error
	if f.dir, err = os.Open(state); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.dir.Close() })
	if f.lock, err = os.Create(filepath.Join(state, "lock")); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.lock.Close() })
	f.sandbox = startSleep(t, &syscall.SysProcAttr{
		Cloneflags:  unix.CLONE_NEWUSER | unix.CLONE_NEWNS,
		UidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Geteuid(), Size: 1}},
		GidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getegid(), Size: 1}},
	})
	f.host = startSleep(t, nil)

	f.link("/proc/self", "self")
	f.lockedBy(fakeHolder, "WRITE")
	f.link("/proc/self/ns/user", strconv.Itoa(fakeHolder), "ns", "user")
	f.link(state, strconv.Itoa(fakeHolder), "fd", "3")
	f.link(f.lock.Name(), strconv.Itoa(fakeHolder), "fd", "4")
	f.process(fakeChild, fakeHolder, f.host)
	f.process(f.sandbox, fakeChild, f.sandbox)
	f.process(f.host, fakeChild, f.host)
	f.pidfd(5, fakeChild)
	f.pidfd(6, f.sandbox)
	return f
}

// startSleep starts a real process that the test's clean-up kills.
func startSleep(t *testing.T, attr *syscall.SysProcAttr) int {
	t.Helper()
	cmd := exec.Command("sleep", "1000")
	cmd.SysProcAttr = attr
	if err := cmd.Start(); err != nil {
		testenv.Missing(t, "starting a process in new namespaces (%+v): %v", attr, err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill() // it sleeps: only the kill ends it
		_ = cmd.Wait()         // its status after the kill says nothing
	})
	return cmd.Process.Pid
}

// link makes the fake /proc's elem a symlink to target.
func (f *fixture) link(target string, elem ...string) {
	f.t.Helper()
	path := filepath.Join(append([]string{f.proc}, elem...)...)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		f.t.Fatal(err)
	}
	os.Remove(path)
	if err := os.Symlink(target, path); err != nil {
		f.t.Fatal(err)
	}
}

// write makes the fake /proc's elem a file holding content.
func (f *fixture) write(content string, elem ...string) {
	f.t.Helper()
	path := filepath.Join(append([]string{f.proc}, elem...)...)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		f.t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		f.t.Fatal(err)
	}
}

// lockedBy writes fakeHolder's fdinfo of the lock (fd 4) with the lock held by pid, in mode WRITE
// (flock LOCK_EX) or READ.
func (f *fixture) lockedBy(pid int, mode string) {
	var st unix.Stat_t
	if err := unix.Fstat(int(f.lock.Fd()), &st); err != nil {
		f.t.Fatal(err)
	}
	f.write(fmt.Sprintf("pos:\t0\nflags:\t02100002\nmnt_id:\t27\nino:\t%d\nlock:\t1: FLOCK  ADVISORY  %s %d %02x:%02x:%d 0 EOF\n",
		st.Ino, mode, pid, unix.Major(st.Dev), unix.Minor(st.Dev), st.Ino), strconv.Itoa(fakeHolder), "fdinfo", "4")
}

// pidfd gives fakeHolder, as fd, a pidfd of pid (-1: of a process that is gone).
func (f *fixture) pidfd(fd, pid int) {
	f.link("anon_inode:[pidfd]", strconv.Itoa(fakeHolder), "fd", strconv.Itoa(fd))
	f.write(fmt.Sprintf("pos:\t0\nflags:\t02000002\nmnt_id:\t4\nino:\t2\nPid:\t%d\nNSpid:\t%d\n", pid, pid),
		strconv.Itoa(fakeHolder), "fdinfo", strconv.Itoa(fd))
}

// process describes pid in the fake /proc: its parent, and the namespaces of the real process nsOf.
func (f *fixture) process(pid, ppid, nsOf int) {
	fields := []string{"S", strconv.Itoa(ppid)}
	for len(fields) < 20 {
		fields = append(fields, "0")
	}
	fields[19] = "12345" // starttime
	f.write(fmt.Sprintf("%d (sleep) %s\n", pid, strings.Join(fields, " ")), strconv.Itoa(pid), "stat")
	for _, t := range nsenter.NamespaceTypes() {
		f.link(fmt.Sprintf("/proc/%d/ns/%s", nsOf, t), strconv.Itoa(pid), "ns", t)
	}
}

func (f *fixture) pin(pid int) (*Sandbox, error) {
	return procFS{root: f.proc, euid: os.Geteuid()}.pin(f.dir, f.lock, fakeHolder, pid)
}

func TestPinAcceptsTheSandbox(t *testing.T) {
	f := newFixture(t)
	s, err := f.pin(f.sandbox)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.PID != f.sandbox || s.Holder != fakeHolder {
		t.Errorf("pinned pid %d holder %d, want %d and %d", s.PID, s.Holder, f.sandbox, fakeHolder)
	}
	ns, err := s.Namespaces()
	if err != nil {
		t.Fatal(err)
	}
	for _, typ := range []string{"user", "mnt", "net"} {
		want, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/%s", f.sandbox, typ))
		if err != nil {
			t.Fatal(err)
		}
		if ns[typ] != want {
			t.Errorf("namespace %s: %q, want %q", typ, ns[typ], want)
		}
	}
	if len(s.joins) != len(s.files) || !strings.HasPrefix(s.joins[0].Path, fmt.Sprintf("/proc/%d/fd/", os.Getpid())) {
		t.Errorf("joins %+v: want one per open namespace, through this process's fds", s.joins)
	}
}

// TestPin_a_pidfd_in_the_path: a state directory and lock whose paths contain "pidfd" (this test's
// temporary directories are named after it) are files, not pidfds, in the one listing of the
// holder's fds.
func TestPin_a_pidfd_in_the_path(t *testing.T) {
	f := newFixture(t)
	if !strings.Contains(f.lock.Name(), "pidfd") {
		t.Fatalf("the lock's path %s does not contain pidfd", f.lock.Name())
	}
	s, err := f.pin(f.sandbox)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
}

func TestPinWithoutTimeNamespaces(t *testing.T) {
	f := newFixture(t)
	os.Remove(filepath.Join(f.proc, strconv.Itoa(f.sandbox), "ns", "time"))
	s, err := f.pin(f.sandbox)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ns, err := s.Namespaces()
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := ns["time"]; ok || slices.Contains(s.types, "time") || ns["user"] == "" {
		t.Errorf("namespaces %v: want all but time, which this kernel lacks", ns)
	}
}

func TestPinRefuses(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(f *fixture) (pid int)
		want   string
	}{
		{"no lock file", func(f *fixture) int { f.lock = nil; return f.sandbox }, "has no lock"},
		{"lock not held", func(f *fixture) int {
			f.write("pos:\t0\n", strconv.Itoa(fakeHolder), "fdinfo", "4")
			return f.sandbox
		}, "nobody holds its lock"},
		{"lock held by another process than the hint", func(f *fixture) int { f.lockedBy(4000008, "WRITE"); return f.sandbox }, "nobody holds its lock"},
		{"lock fd is another file", func(f *fixture) int {
			f.link(f.dir.Name(), strconv.Itoa(fakeHolder), "fd", "4")
			return f.sandbox
		}, "nobody holds its lock"},
		{"lock held shared", func(f *fixture) int { f.lockedBy(fakeHolder, "READ"); return f.sandbox }, "nobody holds its lock"},
		{"lock held from another user namespace", func(f *fixture) int {
			// e.g. a process inside a sandbox, holding a lock file it planted
			f.link(fmt.Sprintf("/proc/%d/ns/user", f.sandbox), strconv.Itoa(fakeHolder), "ns", "user")
			return f.sandbox
		}, "not a process of your user namespace"},
		{"lock holder gone", func(f *fixture) int {
			os.RemoveAll(filepath.Join(f.proc, strconv.Itoa(fakeHolder)))
			return f.sandbox
		}, "nobody holds its lock"},
		{"lock holder runs another state directory", func(f *fixture) int {
			// the lock was linked or moved here from another sandbox's directory
			f.link(f.t.TempDir(), strconv.Itoa(fakeHolder), "fd", "3")
			return f.sandbox
		}, "runs another state directory"},
		{"no pid in state.json", func(f *fixture) int { return 0 }, "names no sandbox process"},
		{"pid not running", func(f *fixture) int { f.pidfd(7, 4000009); return 4000009 }, "sandbox process 4000009"},
		{"pid the holder has no pidfd of", func(f *fixture) int { f.pidfd(6, f.host); return f.sandbox }, "did not start it"},
		{"pid whose process is gone", func(f *fixture) int { f.pidfd(6, -1); return f.sandbox }, "did not start it"},
		{"pid of rkexec's child", func(f *fixture) int {
			// rkexec's child lives in the caller's pid namespace: --pidns would be escaped
			f.process(f.sandbox, fakeHolder, f.sandbox)
			return f.sandbox
		}, "does not descend from rkexec"},
		{"pid of another tree", func(f *fixture) int {
			f.process(f.sandbox, 4000003, f.sandbox) // 4000003 has no stat: not the holder's child
			return f.sandbox
		}, "does not descend from rkexec"},
		{"pid three levels down", func(f *fixture) int {
			f.process(4000005, fakeChild, f.sandbox)
			f.process(f.sandbox, 4000005, f.sandbox)
			return f.sandbox
		}, "does not descend from rkexec"},
		{"pid in the caller's namespaces", func(f *fixture) int { f.pidfd(6, f.host); return f.host }, "not in a sandbox"},
		{"pid shares the caller's mount namespace", func(f *fixture) int {
			f.link("/proc/self/ns/mnt", strconv.Itoa(f.sandbox), "ns", "mnt")
			return f.sandbox
		}, "shares your mount namespace"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			pid := tc.change(f)
			s, err := f.pin(pid)
			if err == nil {
				s.Close()
				t.Fatalf("pinned process %d, want an error saying %q", pid, tc.want)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q, want one saying %q", err, tc.want)
			}
		})
	}
}

func TestPinRefusesAUserNamespaceOfAnotherOwner(t *testing.T) {
	f := newFixture(t)
	s, err := procFS{root: f.proc, euid: os.Geteuid() + 1}.pin(f.dir, f.lock, fakeHolder, f.sandbox)
	if err == nil {
		s.Close()
		t.Fatal("pinned a sandbox whose user namespace another uid owns")
	}
	if !strings.Contains(err.Error(), "belongs to uid "+strconv.Itoa(os.Geteuid())) {
		t.Errorf("error %q, want one naming the owner", err)
	}
}
