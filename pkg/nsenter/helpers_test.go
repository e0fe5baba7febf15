//go:build linux

package nsenter

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"os"
	"os/exec"
	"os/user"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/rkexec/rkexec/internal/testenv"
)

// The test binary links this package, so nsexec.c runs in it too: tests
// start the test binary itself through Start, and TestMain runs a small
// stage-2 action instead of the tests when IsStage2().
//
// Environment of the helper processes:
//
//	NSENTER_TEST_EXIT=N     stage 2 exits with N after its report
//	NSENTER_TEST_HOLD=1     stage 2 waits for stdin EOF after its report
//	NSENTER_TEST_HELPER=hold     a namespace holder (see startHolder)
//	NSENTER_TEST_HELPER=caller   a Go caller of Start (see TestParentDeath)
//	NSENTER_TEST_HELPER=fakeproc stage 2 that fakes its /proc (see startFakeProcHolder)
func TestMain(m *testing.M) {
	if IsStage2() {
		if os.Getenv("NSENTER_TEST_HELPER") == "fakeproc" {
			os.Exit(fakeProcMain())
		}
		os.Exit(stage2Main())
	}
	switch os.Getenv("NSENTER_TEST_HELPER") {
	case "hold":
		os.Exit(holdMain())
	case "caller":
		os.Exit(callerMain())
	}
	os.Exit(m.Run())
}

// report is what stage 2 sees, printed as one JSON line on stdout.
type report struct {
	Pid, Ppid, Sid, Pgid  int
	Uid, Gid, Euid, Egid  int
	Groups                []int
	Hostname              string
	NS                    map[string]uint64
	UidMap, GidMap        string
	Setgroups             string
	Comm                  string
	Stage                 string
	HasInitPipe           bool
	HasLogPipe            bool
	ProcEnvironLeak       bool
	ProcEnvironStage      bool
	NonCloexecFDs         []int
	MarkerOpen            bool // fd 3, the test's ExtraFiles[0] (fcntl, not /proc)
	MarkerCloexec         bool
	Dumpable              int
	StageAfterUnsetIsGone bool
	MainPdeathsig         int      // the main thread's parent-death signal as the runtime started
	OffMainBecomeRoot     string   // BecomeRoot's error on another thread than the main one
	Interfaces            []string // the network interfaces of its namespace (/proc/self/net/dev)
	TaskGroups            []string // the Groups line of each thread's status
}

// mainPdeathsig is the parent-death signal of the main thread when the Go runtime started: package
// variables are initialised there, before main.
var mainPdeathsig = func() int {
	var sig int32
	_ = unix.Prctl(unix.PR_GET_PDEATHSIG, uintptr(unsafe.Pointer(&sig)), 0, 0, 0) // cannot fail with a valid pointer
	return int(sig)
}()

// init keeps stage 2's main goroutine on the main thread, for BecomeRoot (as cmd/rkexec does).
func init() {
	if IsStage2() {
		runtime.LockOSThread()
	}
}

func stage2Main() int {
	var offMain string
	if os.Getenv("NSENTER_TEST_ROOT_IN_GO") == "1" {
		// Started with Config.RootInGo: say which ids the runtime started with, then wait for the
		// test's word that the maps are written before taking uid 0 and reporting.
		fmt.Printf("early %d %d\n", os.Getuid(), os.Getgid())
		var word [1]byte
		if _, err := os.Stdin.Read(word[:]); err != nil {
			return 101
		}
		// From another thread first (the main goroutine holds the main one): it must refuse.
		done := make(chan error)
		go func() {
			runtime.LockOSThread()
			done <- BecomeRoot()
		}()
		if err := <-done; err != nil {
			offMain = err.Error()
		}
		if err := BecomeRoot(); err != nil {
			fmt.Printf("BecomeRoot: %v\n", err)
			return 102
		}
	}
	r := report{
		OffMainBecomeRoot: offMain,
		Pid:               os.Getpid(), Ppid: os.Getppid(), Uid: os.Getuid(), Gid: os.Getgid(),
		Euid: os.Geteuid(), Egid: os.Getegid(), NS: map[string]uint64{},
		Stage: os.Getenv(EnvStage),
	}
	r.Sid, _ = unix.Getsid(0)
	r.Pgid = unix.Getpgrp()
	r.Groups, _ = os.Getgroups()
	r.Hostname, _ = os.Hostname()
	for _, t := range nsTypes() {
		var st unix.Stat_t
		if unix.Stat("/proc/self/ns/"+t.name, &st) == nil {
			r.NS[t.name] = st.Ino
		}
	}
	r.UidMap = readTrim("/proc/self/uid_map")
	r.GidMap = readTrim("/proc/self/gid_map")
	r.Setgroups = readTrim("/proc/self/setgroups")
	r.Comm = readTrim("/proc/self/comm")
	_, r.HasInitPipe = os.LookupEnv(EnvInitPipe)
	_, r.HasLogPipe = os.LookupEnv(EnvLogPipe)
	// What other processes see (ps e): the strings C rewrote in place.
	environ, _ := os.ReadFile("/proc/self/environ")
	r.ProcEnvironLeak = bytes.Contains(environ, []byte("NSEXEC_INITPIPE")) ||
		bytes.Contains(environ, []byte("NSEXEC_LOGPIPE"))
	r.ProcEnvironStage = bytes.Contains(environ, []byte("\x00"+EnvStage+"=2\x00"))
	// fcntl, not /proc/self/fd: the /proc of a joined mount namespace may lie.
	for fd := 3; fd < 1024; fd++ {
		flags, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0)
		if err != nil {
			continue // not open
		}
		if fd == 3 {
			r.MarkerOpen, r.MarkerCloexec = true, flags&unix.FD_CLOEXEC != 0
		}
		if flags&unix.FD_CLOEXEC == 0 {
			r.NonCloexecFDs = append(r.NonCloexecFDs, fd)
		}
	}
	r.Dumpable, _ = unix.PrctlRetInt(unix.PR_GET_DUMPABLE, 0, 0, 0, 0)
	netdev, _ := os.ReadFile("/proc/self/net/dev")
	for _, line := range strings.Split(string(netdev), "\n") {
		if name, _, ok := strings.Cut(line, ":"); ok {
			r.Interfaces = append(r.Interfaces, strings.TrimSpace(name))
		}
	}
	tasks, _ := os.ReadDir("/proc/self/task")
	for _, task := range tasks {
		status, _ := os.ReadFile("/proc/self/task/" + task.Name() + "/status")
		for _, line := range strings.Split(string(status), "\n") {
			if strings.HasPrefix(line, "Groups:") {
				r.TaskGroups = append(r.TaskGroups, strings.Join(strings.Fields(line), " "))
			}
		}
	}
	r.MainPdeathsig = mainPdeathsig
	os.Unsetenv(EnvStage)
	r.StageAfterUnsetIsGone = !IsStage2()
	if err := json.NewEncoder(os.Stdout).Encode(r); err != nil {
		return 100
	}
	if os.Getenv("NSENTER_TEST_HOLD") == "1" {
		_, _ = io.Copy(io.Discard, os.Stdin) // until the test closes it
	}
	code, _ := strconv.Atoi(os.Getenv("NSENTER_TEST_EXIT"))
	return code
}

func readTrim(path string) string {
	b, _ := os.ReadFile(path)
	return strings.TrimSpace(string(b))
}

func selfExe(t testing.TB) string {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return exe
}

// run is one Start of the test binary with a reading end on its stdout.
type run struct {
	p      *Process
	stdout *bufio.Reader
	stdin  *os.File // write end of stage 2's stdin when hold is set
	out    *os.File
}

type startOpts struct {
	writeMaps func(int) error
	hold      bool // stage 2 waits for stdin EOF after its report
	exitCode  int
	raw       []byte // a bootstrap message to send instead of cfg's
	attr      *syscall.SysProcAttr
	extra     []*os.File // ExtraFiles after the marker (fd 3): fd 4 and up
}

// startStage2 starts the test binary through Start and returns its process,
// or the error of Start after checking that no child is left behind.
func startStage2(t *testing.T, cfg Config, o startOpts) (*run, error) {
	t.Helper()
	before := children(t)
	outR, outW := testenv.Pipe(t)
	inR, inW := testenv.Pipe(t)
	marker, err := os.Open("/dev/null")
	if err != nil {
		t.Fatal(err)
	}
	defer marker.Close()
	defer outW.Close()
	defer inR.Close()

	cmd := exec.Command(selfExe(t))
	cmd.Env = append(os.Environ(), "NSENTER_TEST_EXIT="+strconv.Itoa(o.exitCode))
	if o.hold {
		cmd.Env = append(cmd.Env, "NSENTER_TEST_HOLD=1")
	}
	cmd.Stdin, cmd.Stdout, cmd.Stderr = inR, outW, os.Stderr
	cmd.ExtraFiles = append([]*os.File{marker}, o.extra...)
	cmd.SysProcAttr = o.attr
	var p *Process
	if o.raw != nil {
		p, err = startWithBootstrap(cmd, o.raw, o.writeMaps, nil)
	} else {
		p, err = Start(cmd, cfg, o.writeMaps)
	}
	if err != nil {
		outR.Close()
		inW.Close()
		if after := children(t); !maps.Equal(before, after) {
			t.Errorf("children before Start %v, after failed Start %v", before, after)
		}
		return nil, err
	}
	r := &run{p: p, stdout: bufio.NewReader(outR), stdin: inW, out: outR}
	t.Cleanup(func() {
		inW.Close()
		outR.Close()
		_ = p.Kill() // ErrProcessDone after a Wait
	})
	return r, nil
}

// report reads the report line of stage 2.
func (r *run) report(t *testing.T) report {
	t.Helper()
	line, err := r.stdout.ReadBytes('\n')
	if err != nil {
		t.Fatalf("read stage-2 report: %v (%q)", err, line)
	}
	var rep report
	if err := json.Unmarshal(line, &rep); err != nil {
		t.Fatalf("decode stage-2 report %q: %v", line, err)
	}
	return rep
}

// finish closes stage 2's stdin and waits for it.
func (r *run) finish(t *testing.T) *os.ProcessState {
	t.Helper()
	r.stdin.Close()
	st, err := r.p.Wait()
	if err != nil {
		t.Fatalf("wait for stage 2: %v", err)
	}
	return st
}

// mustStart is startStage2 that fails the test on error, and returns the
// report and the exit status.
func mustStart(t *testing.T, cfg Config, o startOpts) (*run, report) {
	t.Helper()
	r, err := startStage2(t, cfg, o)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	return r, r.report(t)
}

// children lists the children of this process as "comm", or "comm zombie"
// for one that exited and was not reaped. (Not the full state: a holder that
// printed "ready" may still be running, R, and then sleep, S.)
func children(t testing.TB) map[int]string {
	t.Helper()
	out := map[int]string{}
	dirs, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	me := os.Getpid()
	for _, d := range dirs {
		pid, err := strconv.Atoi(d.Name())
		if err != nil {
			continue
		}
		comm, state, ppid, ok := procStat(pid)
		if ok && ppid == me {
			out[pid] = comm
			if state == "Z" {
				out[pid] += " zombie"
			}
		}
	}
	return out
}

// procStat parses /proc/<pid>/stat.
func procStat(pid int) (comm, state string, ppid int, ok bool) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return "", "", 0, false
	}
	s := string(b)
	open, end := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
	if open < 0 || end < open {
		return "", "", 0, false
	}
	f := strings.Fields(s[end+1:])
	if len(f) < 2 {
		return "", "", 0, false
	}
	ppid, err = strconv.Atoi(f[1])
	return s[open+1 : end], f[0], ppid, err == nil
}

func nsInode(t testing.TB, pid int, typ string) uint64 {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Stat(fmt.Sprintf("/proc/%d/ns/%s", pid, typ), &st); err != nil {
		t.Fatal(err)
	}
	return st.Ino
}

// prereq fails in CI and skips elsewhere: CI must run every test.
func prereq(t *testing.T, ok bool, format string, args ...any) {
	t.Helper()
	if !ok {
		testenv.Missing(t, format, args...)
	}
}

func privileged() bool { return os.Geteuid() == 0 }

// creating returns the Unshare flags and writeMaps this user needs to create
// the namespaces in flags: as is for root, with a user namespace and a
// single mapping otherwise.
func creating(flags uintptr) (uintptr, func(int) error) {
	if privileged() {
		return flags, nil
	}
	return flags | unix.CLONE_NEWUSER, writeSingleMap
}

// writeSingleMap maps uid and gid 0 of the new namespace to ours, the
// mapping an unprivileged process may write itself.
func writeSingleMap(pid int) error {
	files := []struct{ name, data string }{
		{"setgroups", "deny"},
		{"uid_map", fmt.Sprintf("0 %d 1\n", os.Geteuid())},
		{"gid_map", fmt.Sprintf("0 %d 1\n", os.Getegid())},
	}
	for _, f := range files {
		if err := os.WriteFile(fmt.Sprintf("/proc/%d/%s", pid, f.name), []byte(f.data), 0); err != nil {
			return err
		}
	}
	return nil
}

// lockUntilCleanup keeps the test's goroutine on its thread until the
// cleanups registered after it have run. A holder dies with the thread that
// started it (Pdeathsig, or Start's parent-death signal); unlocked, that
// thread could be the one a subtest locks in filterSyscalls and ends.
func lockUntilCleanup(t *testing.T) {
	runtime.LockOSThread()
	t.Cleanup(runtime.UnlockOSThread)
}

// holder is a process of the test binary sitting in namespaces of its own.
type holder struct {
	pid      int
	hostname string
}

// startHolder starts a holder in new namespaces (flags, plus a user
// namespace when unprivileged or when userns is set), with a hostname
// when it has a UTS namespace. It lives until the test ends.
func startHolder(t *testing.T, flags uintptr, userns bool) holder {
	t.Helper()
	h := holder{hostname: fmt.Sprintf("holder-%d", time.Now().UnixNano()%100000)}
	cmd := exec.Command(selfExe(t))
	cmd.Env = append(os.Environ(), "NSENTER_TEST_HELPER=hold", "NSENTER_TEST_HOSTNAME="+h.hostname)
	attr := &syscall.SysProcAttr{Cloneflags: flags, Pdeathsig: syscall.SIGKILL}
	if userns || !privileged() {
		attr.Cloneflags |= unix.CLONE_NEWUSER
		attr.UidMappings = []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Geteuid(), Size: 1}}
		attr.GidMappings = []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getegid(), Size: 1}}
	}
	cmd.SysProcAttr = attr
	lockUntilCleanup(t)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		prereq(t, false, "start a namespace holder with clone flags %#x: %v", attr.Cloneflags, err)
	}
	t.Cleanup(func() {
		stdin.Close()
		_ = cmd.Wait()
	})
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if line != "ready\n" {
		t.Fatalf("holder: %q, %v", line, err)
	}
	h.pid = cmd.Process.Pid
	return h
}

func holdMain() int {
	if h := os.Getenv("NSENTER_TEST_HOSTNAME"); h != "" {
		if err := unix.Sethostname([]byte(h)); err != nil && err != unix.EPERM {
			fmt.Fprintln(os.Stderr, "holder: sethostname:", err)
			return 1
		}
	}
	fmt.Println("ready")
	_, _ = io.Copy(io.Discard, os.Stdin)
	return 0
}

// callerMain is a Go caller of Start for TestParentDeath: it starts a
// holding stage 2, prints its pid and waits to be killed.
func callerMain() int {
	cmd := exec.Command(os.Args[0])
	env := slices.DeleteFunc(os.Environ(), func(kv string) bool { return strings.HasPrefix(kv, "NSENTER_TEST_HELPER=") })
	cmd.Env = append(env, "NSENTER_TEST_HOLD=1")
	r, w, err := os.Pipe() // stage 2's stdin: this process keeps the write end
	if err != nil {
		return 1
	}
	cmd.Stdin = r
	cmd.Stderr = os.Stderr
	cfg := Config{}
	var writeMaps func(int) error
	if os.Getenv("NSENTER_TEST_PIDNS") == "1" {
		cfg.Unshare, writeMaps = creating(unix.CLONE_NEWPID)
	}
	p, err := Start(cmd, cfg, writeMaps)
	if err != nil {
		fmt.Fprintln(os.Stderr, "caller:", err)
		return 1
	}
	fmt.Println(p.Stage2PID)
	_, _ = p.Wait()
	w.Close()
	return 0
}

// newidmap is the caller's first subordinate ranges and the setuid helpers
// that map them.
type newidmap struct {
	newuidmap, newgidmap                   string
	uidStart, uidCount, gidStart, gidCount int
}

// findNewidmap finds the caller's ranges and the helpers (a prerequisite).
func findNewidmap(t *testing.T) newidmap {
	t.Helper()
	me, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	var n newidmap
	n.uidStart, n.uidCount = subidRange(t, "/etc/subuid", me)
	n.gidStart, n.gidCount = subidRange(t, "/etc/subgid", me)
	var err1, err2 error
	n.newuidmap, err1 = exec.LookPath("newuidmap")
	n.newgidmap, err2 = exec.LookPath("newgidmap")
	prereq(t, err1 == nil && err2 == nil, "newuidmap and newgidmap (package uidmap): %v %v", err1, err2)
	return n
}

// run maps pid's ids with newuidmap and newgidmap, each given its map as
// inside/outside/count triples.
func (n newidmap) run(pid int, uidMap, gidMap []int) error {
	for _, m := range []struct {
		tool string
		ids  []int
	}{{n.newuidmap, uidMap}, {n.newgidmap, gidMap}} {
		args := []string{strconv.Itoa(pid)}
		for _, v := range m.ids {
			args = append(args, strconv.Itoa(v))
		}
		if out, err := exec.Command(m.tool, args...).CombinedOutput(); err != nil {
			return fmt.Errorf("%s %s: %w: %s", m.tool, strings.Join(args, " "), err, bytes.TrimSpace(out))
		}
	}
	return nil
}

// fakeProcHolder is a stage 2 (started through Start) alone in a new user
// and mount namespace whose /proc is a tmpfs, as a sandbox's root may make
// it: self/setgroups says "deny" and self/fd is empty. Its ids are mapped to
// subordinate ids only, so none of the caller's groups is mapped in it.
type fakeProcHolder struct {
	pid    int
	gidMap string // as the host sees it
}

func (h fakeProcHolder) ns(typ string) Namespace {
	return Namespace{Type: typ, Path: fmt.Sprintf("/proc/%d/ns/%s", h.pid, typ)}
}

// startFakeProcHolder starts a fakeProcHolder that lives until the test ends.
func startFakeProcHolder(t *testing.T) fakeProcHolder {
	t.Helper()
	writeMaps := func(pid int) error { // root: 100000-165535, setgroups left at allow
		for _, f := range []string{"uid_map", "gid_map"} {
			if err := os.WriteFile(fmt.Sprintf("/proc/%d/%s", pid, f), []byte("0 100000 65536\n"), 0); err != nil {
				return err
			}
		}
		return nil
	}
	if !privileged() {
		// newuidmap/newgidmap leave setgroups at allow, which a map written
		// by an unprivileged process itself cannot.
		ids := findNewidmap(t)
		writeMaps = func(pid int) error {
			return ids.run(pid, []int{0, ids.uidStart, ids.uidCount}, []int{0, ids.gidStart, ids.gidCount})
		}
	}
	inR, inW := testenv.Pipe(t)
	outR, outW := testenv.Pipe(t)
	cmd := exec.Command(selfExe(t))
	cmd.Env = append(os.Environ(), "NSENTER_TEST_HELPER=fakeproc")
	lockUntilCleanup(t)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = inR, outW, os.Stderr
	p, err := Start(cmd, Config{Unshare: unix.CLONE_NEWUSER | unix.CLONE_NEWNS}, writeMaps)
	inR.Close()
	outW.Close()
	if err != nil {
		inW.Close()
		outR.Close()
		t.Fatalf("start the fake-/proc holder: %v", err)
	}
	t.Cleanup(func() {
		inW.Close()
		outR.Close()
		_, _ = p.Wait()
	})
	line, err := bufio.NewReader(outR).ReadString('\n')
	if line != "ready\n" {
		t.Fatalf("fake-/proc holder: %q, %v", line, err)
	}
	h := fakeProcHolder{pid: p.Stage2PID, gidMap: readTrim(fmt.Sprintf("/proc/%d/gid_map", p.Stage2PID))}
	// The fake must be in place, or the tests using it prove nothing.
	fake := fmt.Sprintf("/proc/%d/root/proc/self/setgroups", h.pid)
	if got := readTrim(fake); got != "deny" {
		t.Fatalf("%s = %q, want the fake deny", fake, got)
	}
	if got := readTrim(fmt.Sprintf("/proc/%d/setgroups", h.pid)); got != "allow" {
		t.Fatalf("the holder's real setgroups is %q, want allow", got)
	}
	return h
}

// fakeProcMain is the stage 2 of startFakeProcHolder: root in its new user
// and mount namespaces, it hides the real /proc.
func fakeProcMain() int {
	steps := []struct {
		what string
		do   func() error
	}{
		// Dumpable again (the id change cleared it), so that an unprivileged
		// test, which owns our user namespace, may open /proc/<us>/ns/*.
		{"dumpable", func() error { return unix.Prctl(unix.PR_SET_DUMPABLE, 1, 0, 0, 0) }},
		// Nothing below propagates back to the test's mount namespace.
		{"make / private", func() error { return unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, "") }},
		{"tmpfs on /proc", func() error { return unix.Mount("fakeproc", "/proc", "tmpfs", 0, "mode=0755") }},
		{"mkdir /proc/self/fd", func() error { return os.MkdirAll("/proc/self/fd", 0o755) }},
		{"write /proc/self/setgroups", func() error { return os.WriteFile("/proc/self/setgroups", []byte("deny\n"), 0o644) }},
	}
	for _, s := range steps {
		if err := s.do(); err != nil {
			fmt.Printf("fakeproc: %s: %v\n", s.what, err)
			return 1
		}
	}
	fmt.Println("ready")
	_, _ = io.Copy(io.Discard, os.Stdin)
	return 0
}

// inGIDMap reports whether the host gid g is mapped in a gid_map (as the
// host reads it: "inside outside count" lines).
func inGIDMap(gidMap string, g int) bool {
	for _, l := range strings.Split(gidMap, "\n") {
		var in, out, n int
		if _, err := fmt.Sscan(l, &in, &out, &n); err == nil && g >= out && g < out+n {
			return true
		}
	}
	return false
}

// statusGroups returns the Groups line of /proc/<pid>/status (host view).
func statusGroups(t *testing.T, pid int) []int {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(l, "Groups:"); ok {
			var gs []int
			for _, f := range strings.Fields(rest) {
				g, err := strconv.Atoi(f)
				if err != nil {
					t.Fatalf("Groups line %q", l)
				}
				gs = append(gs, g)
			}
			return gs
		}
	}
	t.Fatalf("no Groups line in /proc/%d/status", pid)
	return nil
}

// filterSyscalls makes the given syscalls fail with the given errno in the
// calling thread and in every process it starts from now on: nsexec then
// meets the errors of a kernel or a seccomp profile it cannot otherwise be
// tested against. The thread stays locked, so it ends with the test's
// goroutine and the filter never runs other code. (No architecture check:
// the test binary makes native syscalls only.)
func filterSyscalls(t *testing.T, errnos map[uintptr]syscall.Errno) {
	t.Helper()
	runtime.LockOSThread() // never unlocked, on purpose
	// Load seccomp_data.nr, then one test per syscall.
	prog := []unix.SockFilter{{Code: unix.BPF_LD | unix.BPF_W | unix.BPF_ABS, K: 0}}
	for nr, e := range errnos {
		prog = append(prog,
			unix.SockFilter{Code: unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K, K: uint32(nr), Jt: 0, Jf: 1},
			unix.SockFilter{Code: unix.BPF_RET | unix.BPF_K, K: unix.SECCOMP_RET_ERRNO | uint32(e)})
	}
	prog = append(prog, unix.SockFilter{Code: unix.BPF_RET | unix.BPF_K, K: unix.SECCOMP_RET_ALLOW})
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		t.Fatalf("PR_SET_NO_NEW_PRIVS: %v", err)
	}
	fprog := unix.SockFprog{Len: uint16(len(prog)), Filter: &prog[0]}
	_, _, e := unix.Syscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER, 0, uintptr(unsafe.Pointer(&fprog)))
	prereq(t, e == 0, "seccomp filter: %v", e)
}
