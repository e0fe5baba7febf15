//go:build linux

package nsenter

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/rkexec/rkexec/internal/testenv"
)

func TestStartPlain(t *testing.T) {
	r, rep := mustStart(t, Config{}, startOpts{hold: true, exitCode: 7})
	if rep.Pid != r.p.Stage2PID {
		t.Errorf("stage 2 sees pid %d, Start reported %d", rep.Pid, r.p.Stage2PID)
	}
	if rep.Ppid != os.Getpid() {
		t.Errorf("stage 2's parent is %d, want the caller %d", rep.Ppid, os.Getpid())
	}
	if r.p.Stage1PID <= 0 || r.p.Stage1PID == r.p.Stage2PID {
		t.Errorf("Stage1PID = %d", r.p.Stage1PID)
	}
	if rep.Comm != "rkexec:[2:INIT]" {
		t.Errorf("comm %q, want rkexec:[2:INIT]", rep.Comm)
	}
	if rep.Stage != "2" || rep.HasInitPipe || rep.HasLogPipe {
		t.Errorf("environment: stage %q, init pipe %v, log pipe %v", rep.Stage, rep.HasInitPipe, rep.HasLogPipe)
	}
	if rep.ProcEnvironLeak || !rep.ProcEnvironStage {
		t.Errorf("/proc/<stage 2>/environ: pipe variables left %v, stage marker %v", rep.ProcEnvironLeak, rep.ProcEnvironStage)
	}
	if !rep.StageAfterUnsetIsGone {
		t.Error("IsStage2 still true after os.Unsetenv(EnvStage)")
	}
	if !rep.MarkerOpen || !rep.MarkerCloexec {
		t.Errorf("ExtraFiles[0] in stage 2: open %v, close-on-exec %v; want both", rep.MarkerOpen, rep.MarkerCloexec)
	}
	if len(rep.NonCloexecFDs) != 0 {
		t.Errorf("fds without close-on-exec in stage 2: %v", rep.NonCloexecFDs)
	}
	for _, typ := range []string{"user", "mnt", "net", "pid", "uts", "ipc"} {
		if rep.NS[typ] != nsInode(t, os.Getpid(), typ) {
			t.Errorf("stage 2 is in another %s namespace", typ)
		}
	}
	if rep.Uid != os.Getuid() || rep.Gid != os.Getgid() {
		t.Errorf("stage 2 is %d:%d, want the caller's %d:%d", rep.Uid, rep.Gid, os.Getuid(), os.Getgid())
	}
	if sid, _ := unix.Getsid(0); rep.Sid != sid {
		t.Errorf("stage 2 session %d, want the caller's %d without Setsid", rep.Sid, sid)
	}
	if rep.Dumpable != 0 {
		t.Errorf("dumpable = %d with no namespace joined, want 0 until exec", rep.Dumpable)
	}
	if ppid := ppidOf(t, r.p.Stage2PID); ppid != os.Getpid() {
		t.Errorf("/proc says stage 2's parent is %d, want %d", ppid, os.Getpid())
	}
	if _, err := os.Stat(fmt.Sprintf("/proc/%d", r.p.Stage1PID)); err == nil {
		t.Errorf("stage 1 (pid %d) is still there after Start", r.p.Stage1PID)
	}
	st := r.finish(t)
	if st.ExitCode() != 7 {
		t.Errorf("exit status %v, want 7", st)
	}
}

func ppidOf(t *testing.T, pid int) int {
	t.Helper()
	_, _, ppid, ok := procStat(pid)
	if !ok {
		t.Fatalf("no /proc/%d/stat", pid)
	}
	return ppid
}

func TestStage2NameAndParentDeathSignal(t *testing.T) {
	r, rep := mustStart(t, Config{}, startOpts{})
	if rep.MainPdeathsig != int(unix.SIGKILL) {
		t.Errorf("by default stage 2's parent-death signal is %d, want SIGKILL", rep.MainPdeathsig)
	}
	r.finish(t)
	r, rep = mustStart(t, Config{Name: "rkexec:test", ClearParentDeathSignal: true}, startOpts{})
	if rep.Comm != "rkexec:test" {
		t.Errorf("comm %q, want rkexec:test", rep.Comm)
	}
	if rep.MainPdeathsig != 0 {
		t.Errorf("with ClearParentDeathSignal: parent-death signal %d, want 0", rep.MainPdeathsig)
	}
	r.finish(t)
}

func TestSetsid(t *testing.T) {
	r, rep := mustStart(t, Config{Setsid: true}, startOpts{})
	if rep.Sid != rep.Pid || rep.Pgid != rep.Pid {
		t.Errorf("with Setsid: sid %d pgid %d, want both %d", rep.Sid, rep.Pgid, rep.Pid)
	}
	r.finish(t)
}

func TestUnshareUTSHostname(t *testing.T) {
	flags, writeMaps := creating(unix.CLONE_NEWUTS)
	myHost, _ := os.Hostname()
	r, rep := mustStart(t, Config{Unshare: flags, Hostname: "rkx-uts-test"}, startOpts{writeMaps: writeMaps})
	if rep.Hostname != "rkx-uts-test" {
		t.Errorf("hostname in stage 2 %q, want rkx-uts-test", rep.Hostname)
	}
	if rep.NS["uts"] == nsInode(t, os.Getpid(), "uts") {
		t.Error("stage 2 is in the caller's UTS namespace")
	}
	if h, _ := os.Hostname(); h != myHost {
		t.Errorf("the caller's hostname changed to %q", h)
	}
	r.finish(t)
}

func TestPidNamespace(t *testing.T) {
	flags, writeMaps := creating(unix.CLONE_NEWPID)
	r, rep := mustStart(t, Config{Unshare: flags}, startOpts{writeMaps: writeMaps, hold: true, exitCode: 3})
	if rep.Pid != 1 {
		t.Errorf("stage 2 has pid %d in its pid namespace, want 1", rep.Pid)
	}
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", r.p.Stage2PID))
	if err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("NSpid:\t%d\t1\n", r.p.Stage2PID)
	if !bytes.Contains(status, []byte(want)) {
		t.Errorf("/proc/%d/status has no %q:\n%s", r.p.Stage2PID, want, status)
	}
	if ppid := ppidOf(t, r.p.Stage2PID); ppid != os.Getpid() {
		t.Errorf("stage 2's parent is %d, want the caller %d", ppid, os.Getpid())
	}
	if st := r.finish(t); st.ExitCode() != 3 {
		t.Errorf("exit status %v, want 3", st)
	}
}

func TestUserNamespaceSingleMap(t *testing.T) {
	r, rep := mustStart(t, Config{Unshare: unix.CLONE_NEWUSER | unix.CLONE_NEWNS}, startOpts{writeMaps: writeSingleMap})
	if rep.Uid != 0 || rep.Gid != 0 || rep.Euid != 0 || rep.Egid != 0 {
		t.Errorf("stage 2 is uid %d gid %d euid %d egid %d, want 0", rep.Uid, rep.Gid, rep.Euid, rep.Egid)
	}
	if want := fmt.Sprintf("0 %d 1", os.Geteuid()); strings.Join(strings.Fields(rep.UidMap), " ") != want {
		t.Errorf("uid_map %q, want %q", rep.UidMap, want)
	}
	if rep.Setgroups != "deny" {
		t.Errorf("setgroups %q, want deny", rep.Setgroups)
	}
	if rep.NS["user"] == nsInode(t, os.Getpid(), "user") || rep.NS["mnt"] == nsInode(t, os.Getpid(), "mnt") {
		t.Error("stage 2 is in the caller's user or mount namespace")
	}
	r.finish(t)
}

// TestUserNamespaceNewuidmap writes a full map with newuidmap/newgidmap,
// as an unprivileged user with /etc/subuid and /etc/subgid ranges. As root
// it runs itself again as the test user that scripts/setup-test-env.sh gives
// ranges (named in scripts/test-users.env, see package internal/testenv).
func TestUserNamespaceNewuidmap(t *testing.T) {
	if privileged() {
		runAsTestUser(t, "^TestUserNamespaceNewuidmap$")
		return
	}
	ids := findNewidmap(t)
	writeMaps := func(pid int) error {
		return ids.run(pid, []int{0, os.Getuid(), 1, 1, ids.uidStart, ids.uidCount}, []int{0, os.Getgid(), 1, 1, ids.gidStart, ids.gidCount})
	}
	r, rep := mustStart(t, Config{Unshare: unix.CLONE_NEWUSER | unix.CLONE_NEWUTS, Hostname: "rkx-subid"}, startOpts{writeMaps: writeMaps})
	wantMap := fmt.Sprintf("0 %d 1\n1 %d %d", os.Getuid(), ids.uidStart, ids.uidCount)
	if normalizeMap(rep.UidMap) != wantMap {
		t.Errorf("uid_map %q, want %q", rep.UidMap, wantMap)
	}
	if rep.Uid != 0 || rep.Gid != 0 || len(rep.Groups) != 0 {
		t.Errorf("stage 2 is uid %d gid %d groups %v, want 0 0 []", rep.Uid, rep.Gid, rep.Groups)
	}
	if rep.Setgroups != "allow" {
		t.Errorf("setgroups %q, want allow", rep.Setgroups)
	}
	if rep.Hostname != "rkx-subid" {
		t.Errorf("hostname %q", rep.Hostname)
	}
	r.finish(t)
}

func normalizeMap(m string) string {
	var lines []string
	for _, l := range strings.Split(m, "\n") {
		lines = append(lines, strings.Join(strings.Fields(l), " "))
	}
	return strings.Join(lines, "\n")
}

// subidRange returns the first range of u in an /etc/subuid-style file.
func subidRange(t *testing.T, file string, u *user.User) (start, count int) {
	t.Helper()
	data, err := os.ReadFile(file)
	prereq(t, err == nil, "read %s: %v", file, err)
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Split(strings.TrimSpace(line), ":")
		if len(f) != 3 || (f[0] != u.Username && f[0] != u.Uid) {
			continue
		}
		start, err1 := strconv.Atoi(f[1])
		count, err2 := strconv.Atoi(f[2])
		if err1 == nil && err2 == nil && count > 0 {
			return start, count
		}
	}
	prereq(t, false, "no range for %s in %s", u.Username, file)
	return 0, 0
}

// runAsTestUser runs one test of a copy of this binary as the test user.
func runAsTestUser(t *testing.T, pattern string) {
	name, err := testenv.SubidUser()
	prereq(t, err == nil, "the test user's name: %v", err)
	_, err = user.Lookup(name)
	prereq(t, err == nil, "test user %q (scripts/setup-test-env.sh as root creates it): %v", name, err)
	runuser, err := exec.LookPath("runuser")
	prereq(t, err == nil, "runuser: %v", err)

	dir, err := os.MkdirTemp("", "nsenter-test-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "nsenter.test")
	src, err := os.Open(selfExe(t))
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	dst, err := os.OpenFile(bin, os.O_CREATE|os.O_WRONLY, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(dst, src); err != nil {
		t.Fatal(err)
	}
	if err := dst.Close(); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(runuser, "-u", name, "--", bin, "-test.run", pattern, "-test.v", "-test.count=1")
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	t.Logf("as %s:\n%s", name, out)
	if err != nil {
		t.Fatalf("%s as %s: %v", pattern, name, err)
	}
	if !bytes.Contains(out, []byte("--- PASS")) || bytes.Contains(out, []byte("--- SKIP")) {
		t.Fatalf("%s as %s did not pass", pattern, name)
	}
}

func TestJoinNamespaces(t *testing.T) {
	h := startHolder(t, unix.CLONE_NEWNET|unix.CLONE_NEWUTS|unix.CLONE_NEWPID, false)
	proc := func(typ string) string { return fmt.Sprintf("/proc/%d/ns/%s", h.pid, typ) }
	// Out of order on purpose: the user namespace must still come first.
	join := []Namespace{{"uts", proc("uts")}, {"net", proc("net")}, {"pid", proc("pid")}}
	if !privileged() {
		join = append(join, Namespace{"user", proc("user")})
	}
	r, rep := mustStart(t, Config{Join: join}, startOpts{hold: true})
	for _, typ := range []string{"net", "uts", "pid", "user"} {
		if got, want := rep.NS[typ], nsInode(t, h.pid, typ); got != want {
			t.Errorf("%s namespace %d, want the holder's %d", typ, got, want)
		}
	}
	if rep.Hostname != h.hostname {
		t.Errorf("hostname %q, want the holder's %q", rep.Hostname, h.hostname)
	}
	if rep.Pid == r.p.Stage2PID || rep.Pid <= 1 {
		t.Errorf("stage 2 has pid %d in the holder's pid namespace (outside %d)", rep.Pid, r.p.Stage2PID)
	}
	if !privileged() && (rep.Uid != 0 || rep.Gid != 0) {
		t.Errorf("stage 2 is %d:%d after joining a user namespace, want 0:0", rep.Uid, rep.Gid)
	}
	if rep.Dumpable != 0 {
		t.Errorf("dumpable = %d after joining namespaces, want 0 until exec", rep.Dumpable)
	}
	r.finish(t)
}

// TestJoinOwnNamespaceIsSkipped: setns into one's own user namespace fails
// with EINVAL, so a namespace identical to the current one is skipped.
func TestJoinOwnNamespaceIsSkipped(t *testing.T) {
	join := []Namespace{
		{"user", fmt.Sprintf("/proc/%d/ns/user", os.Getpid())},
		{"net", fmt.Sprintf("/proc/%d/ns/net", os.Getpid())},
	}
	r, rep := mustStart(t, Config{Join: join}, startOpts{})
	if rep.NS["user"] != nsInode(t, os.Getpid(), "user") {
		t.Error("stage 2 left the caller's user namespace")
	}
	if rep.Uid != os.Getuid() {
		t.Errorf("uid %d, want %d: a skipped user namespace changes no ids", rep.Uid, os.Getuid())
	}
	r.finish(t)
}

func TestJoinAndCreate(t *testing.T) {
	h := startHolder(t, unix.CLONE_NEWNET, true)
	proc := func(typ string) string { return fmt.Sprintf("/proc/%d/ns/%s", h.pid, typ) }
	cfg := Config{
		Join:     []Namespace{{"net", proc("net")}, {"user", proc("user")}},
		Unshare:  unix.CLONE_NEWUTS | unix.CLONE_NEWPID | unix.CLONE_NEWIPC,
		Hostname: "rkx-join-create",
		Setsid:   true,
	}
	r, rep := mustStart(t, cfg, startOpts{})
	if rep.Pid != 1 || rep.Hostname != "rkx-join-create" || rep.Sid != 1 {
		t.Errorf("pid %d hostname %q sid %d, want 1 rkx-join-create 1", rep.Pid, rep.Hostname, rep.Sid)
	}
	if rep.NS["user"] != nsInode(t, h.pid, "user") || rep.NS["net"] != nsInode(t, h.pid, "net") {
		t.Error("stage 2 is not in the holder's user and net namespaces")
	}
	if rep.NS["ipc"] == nsInode(t, h.pid, "ipc") {
		t.Error("stage 2 is in the holder's IPC namespace, want a new one")
	}
	r.finish(t)
}

func TestErrorNonexistentPath(t *testing.T) {
	_, err := startStage2(t, Config{Join: []Namespace{{"net", "/nonexistent/ns/net"}}}, startOpts{})
	want := "nsexec stage-1: open net /nonexistent/ns/net: No such file or directory"
	if err == nil || err.Error() != want {
		t.Fatalf("error %v, want %q", err, want)
	}
	var se *StageError
	if !errors.As(err, &se) || !errors.Is(err, syscall.ENOENT) {
		t.Errorf("error %#v is not a *StageError matching ENOENT", err)
	}
}

// TestErrorMessageEscaping: the path travels through a JSON line; quotes
// and backslashes come back as they were, a newline as \n.
func TestErrorMessageEscaping(t *testing.T) {
	path := "/nonexistent/\"q\" back\\slash \ttab\nnew ünï"
	_, err := startStage2(t, Config{Join: []Namespace{{"net", path}}}, startOpts{})
	want := `nsexec stage-1: open net /nonexistent/"q" back\slash \ttab\nnew ünï: No such file or directory`
	if err == nil || err.Error() != want {
		t.Fatalf("error %v, want %q", err, want)
	}
}

// TestErrorSetnsEPERM joins the user namespace of one holder and the
// network namespace of another: the second is owned by a user namespace
// where we have no capability.
func TestErrorSetnsEPERM(t *testing.T) {
	a := startHolder(t, unix.CLONE_NEWNET, true)
	b := startHolder(t, unix.CLONE_NEWNET, true)
	bNet := fmt.Sprintf("/proc/%d/ns/net", b.pid)
	cfg := Config{Join: []Namespace{{"net", bNet}, {"user", fmt.Sprintf("/proc/%d/ns/user", a.pid)}}}
	_, err := startStage2(t, cfg, startOpts{})
	want := "nsexec stage-1: setns net " + bNet + ": Operation not permitted"
	if err == nil || err.Error() != want {
		t.Fatalf("error %v, want %q", err, want)
	}
	if !errors.Is(err, syscall.EPERM) {
		t.Errorf("error %#v does not match EPERM", err)
	}

	// Unprivileged, the network namespace alone is just as foreign.
	if !privileged() {
		_, err := startStage2(t, Config{Join: []Namespace{{"net", bNet}}}, startOpts{})
		if err == nil || err.Error() != want {
			t.Fatalf("error %v, want %q", err, want)
		}
	}
}

func TestErrorUnshareWithoutPrivilege(t *testing.T) {
	r, err := startStage2(t, Config{Unshare: unix.CLONE_NEWNET | unix.CLONE_NEWUTS}, startOpts{})
	if privileged() {
		if err != nil {
			t.Fatalf("root: %v", err)
		}
		r.report(t)
		r.finish(t)
		return
	}
	want := "nsexec stage-1: unshare net,uts: Operation not permitted"
	if err == nil || err.Error() != want {
		t.Fatalf("error %v, want %q", err, want)
	}
}

func TestErrorHostnameWithoutUTS(t *testing.T) {
	// The Go side refuses it before starting anything...
	_, err := startStage2(t, Config{Hostname: "x"}, startOpts{})
	if err == nil || err.Error() != "nsenter: Hostname needs CLONE_NEWUTS in Unshare" {
		t.Fatalf("error %v", err)
	}
	// ...and so does the C parser, when the message comes from elsewhere.
	raw, err := bootstrap{Hostname: "x"}.marshal()
	if err != nil {
		t.Fatal(err)
	}
	_, err = startStage2(t, Config{}, startOpts{raw: raw})
	want := "nsexec stage-0: bootstrap: hostname needs CLONE_NEWUTS in the clone flags"
	if err == nil || err.Error() != want {
		t.Fatalf("error %v, want %q", err, want)
	}
}

func TestErrorBadBootstrap(t *testing.T) {
	good, err := bootstrap{}.encode()
	if err != nil {
		t.Fatal(err)
	}
	unknown := append(bytes.Clone(good), 8, 0, 99, 0, 1, 2, 3, 4)
	putLen(unknown)
	bigBool := bytes.Clone(good)
	bigBool[len(bigBool)-4] = 2 // the last attribute's payload (debug): 5 bytes 0x0005 0x0006 v 0 0 0
	for name, tc := range map[string]struct {
		msg  []byte
		want string
	}{
		"unknown attribute": {unknown, fmt.Sprintf("nsexec stage-0: bootstrap: unknown attribute type 99 at offset %d", len(good))},
		"boolean 2":         {bigBool, "nsexec stage-0: bootstrap: debug: boolean is 2, want 0 or 1"},
		"truncated":         {good[:4], "nsexec stage-0: read bootstrap header: got 4 of 8 bytes"},
		"short payload":     {good[:len(good)-4], fmt.Sprintf("nsexec stage-0: read bootstrap: got %d of %d bytes", len(good)-12, len(good)-8)},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := startStage2(t, Config{}, startOpts{raw: tc.msg})
			if err == nil || err.Error() != tc.want {
				t.Fatalf("error %v, want %q", err, tc.want)
			}
		})
	}
}

func putLen(msg []byte) {
	binary.NativeEndian.PutUint32(msg, uint32(len(msg)))
}

func TestErrorWriteMaps(t *testing.T) {
	var got int
	boom := errors.New("boom")
	_, err := startStage2(t, Config{Unshare: unix.CLONE_NEWUSER | unix.CLONE_NEWPID}, startOpts{
		writeMaps: func(pid int) error { got = pid; return boom },
	})
	if !errors.Is(err, boom) {
		t.Fatalf("error %v, want one wrapping boom", err)
	}
	if want := fmt.Sprintf("nsenter: write id maps of stage-1 (pid %d): boom", got); err.Error() != want {
		t.Errorf("error %q, want %q", err, want)
	}
}

func TestStartRejects(t *testing.T) {
	for name, tc := range map[string]struct {
		cfg       Config
		writeMaps func(int) error
		stdout    io.Writer
	}{
		"unknown type":       {cfg: Config{Join: []Namespace{{"foo", "/proc/1/ns/net"}}}},
		"relative path":      {cfg: Config{Join: []Namespace{{"net", "proc/1/ns/net"}}}},
		"type twice":         {cfg: Config{Join: []Namespace{{"net", "/a"}, {"net", "/b"}}}},
		"joined and created": {cfg: Config{Join: []Namespace{{"net", "/a"}}, Unshare: unix.CLONE_NEWNET}},
		"not a CLONE_NEW":    {cfg: Config{Unshare: unix.CLONE_VM}},
		"userns no maps":     {cfg: Config{Unshare: unix.CLONE_NEWUSER}},
		"maps no userns":     {cfg: Config{}, writeMaps: writeSingleMap},
		"long hostname":      {cfg: Config{Unshare: unix.CLONE_NEWUTS, Hostname: strings.Repeat("h", 65)}},
		"buffer stdout":      {cfg: Config{}, stdout: &bytes.Buffer{}},
		"root in go no user": {cfg: Config{Unshare: unix.CLONE_NEWNS, RootInGo: true}},
		"root in go, init":   {cfg: Config{Unshare: unix.CLONE_NEWUSER, RootInGo: true, Init: InitExec}, writeMaps: writeSingleMap},
		"root in go, net":    {cfg: Config{Unshare: unix.CLONE_NEWUSER | unix.CLONE_NEWNET, RootInGo: true}, writeMaps: writeSingleMap},
		"handoff, no net":    {cfg: Config{Unshare: unix.CLONE_NEWNS, NetHandoff: &NetHandoff{FD: 4, Tap: "t"}}},
		"handoff, bad tap":   {cfg: Config{Unshare: unix.CLONE_NEWNET, NetHandoff: &NetHandoff{FD: 4, Tap: "a/b"}}},
	} {
		t.Run(name, func(t *testing.T) {
			cmd := exec.Command(selfExe(t))
			cmd.Stdout = tc.stdout
			p, err := Start(cmd, tc.cfg, tc.writeMaps)
			if err == nil {
				p.Kill()
				p.Wait()
				t.Fatal("Start accepted it")
			}
			if cmd.Process != nil {
				t.Errorf("a process was started: %v", err)
			}
			t.Log(err)
		})
	}
}

// TestParentDeath: when the Go caller is SIGKILLed, stage 2 dies with it.
// Without pidfds (Linux < 5.3, here pidfd_open fails with ENOSYS) the stages
// check the caller with getppid(), which is 0 for a stage 2 in a new pid
// namespace.
func TestParentDeath(t *testing.T) {
	for _, tc := range []struct{ pidns, nopidfd bool }{{false, false}, {true, false}, {false, true}, {true, true}} {
		pidns := tc.pidns
		t.Run(fmt.Sprintf("pidns=%v,nopidfd=%v", pidns, tc.nopidfd), func(t *testing.T) {
			if tc.nopidfd {
				filterSyscalls(t, map[uintptr]syscall.Errno{unix.SYS_PIDFD_OPEN: unix.ENOSYS})
			}
			cmd := exec.Command(selfExe(t))
			cmd.Env = append(os.Environ(), "NSENTER_TEST_HELPER=caller")
			if pidns {
				cmd.Env = append(cmd.Env, "NSENTER_TEST_PIDNS=1")
			}
			cmd.Stderr = os.Stderr
			out, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			var line [32]byte
			n, _ := out.Read(line[:])
			stage2, err := strconv.Atoi(strings.TrimSpace(string(line[:n])))
			if err != nil {
				cmd.Process.Kill()
				cmd.Wait()
				t.Fatalf("caller printed %q", line[:n])
			}
			if _, state, ppid, ok := procStat(stage2); !ok || ppid != cmd.Process.Pid || state == "Z" {
				t.Fatalf("stage 2 (pid %d) is not a live child of the caller: state %q ppid %d", stage2, state, ppid)
			}
			cmd.Process.Kill()
			cmd.Wait()
			deadline := time.Now().Add(10 * time.Second)
			for {
				_, state, _, ok := procStat(stage2)
				if !ok || state == "Z" {
					return
				}
				if time.Now().After(deadline) {
					t.Fatalf("stage 2 (pid %d) still runs (state %s) after its caller was killed", stage2, state)
				}
				time.Sleep(10 * time.Millisecond)
			}
		})
	}
}

func TestConcurrentStarts(t *testing.T) {
	const n = 8
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cmd := exec.Command(selfExe(t))
			cmd.Env = append(os.Environ(), "NSENTER_TEST_EXIT=5")
			flags, writeMaps := creating(unix.CLONE_NEWUTS)
			p, err := Start(cmd, Config{Unshare: flags, Hostname: fmt.Sprintf("c%d", i)}, writeMaps)
			if err != nil {
				errs <- err
				return
			}
			st, err := p.Wait()
			if err == nil && st.ExitCode() != 5 {
				err = fmt.Errorf("exit status %v, want 5", st)
			}
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	if c := children(t); len(c) != 0 {
		t.Errorf("children left: %v", c)
	}
}

// TestBootstrapShortReads drives stage 0 by hand, writing the bootstrap one
// byte at a time: stage 0 must keep reading until it has the whole message.
func TestBootstrapShortReads(t *testing.T) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	initPipe, initChild := os.NewFile(uintptr(fds[0]), "init"), os.NewFile(uintptr(fds[1]), "init-child")
	defer initPipe.Close()
	logR, logW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer logR.Close()
	cmd := exec.Command(selfExe(t))
	cmd.Env = append(os.Environ(), EnvInitPipe+"=3", EnvLogPipe+"=4")
	cmd.ExtraFiles = []*os.File{initChild, logW}
	cmd.Stderr = os.Stderr
	err = cmd.Start()
	initChild.Close()
	logW.Close()
	if err != nil {
		t.Fatal(err)
	}
	msg, err := bootstrap{Setsid: true}.encode()
	if err != nil {
		t.Fatal(err)
	}
	for i := range msg {
		if _, err := initPipe.Write(msg[i : i+1]); err != nil {
			t.Fatalf("write byte %d: %v", i, err)
		}
		time.Sleep(time.Millisecond)
	}
	line, err := io.ReadAll(initPipe) // stage 0 closes it by exiting
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("stage 0: %v (log %v)", err, readLog(logR, nil))
	}
	var s1, s2 int
	if _, err := fmt.Sscanf(string(line), "{\"stage1_pid\":%d,\"stage2_pid\":%d}\n", &s1, &s2); err != nil {
		t.Fatalf("pids line %q: %v", line, err)
	}
	if err := reap(s1); err != nil {
		t.Errorf("stage 1: %v", err)
	}
	if err := reap(s2); err != nil {
		t.Errorf("stage 2: %v", err)
	}
	if errs := readLog(logR, nil); len(errs) != 0 {
		t.Errorf("errors logged: %v", errs)
	}
}

// TestBadEnvironment: a malformed fd number is reported on the log pipe,
// and the process exits 1 before anything else happens.
func TestBadEnvironment(t *testing.T) {
	logR, logW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer logR.Close()
	cmd := exec.Command(selfExe(t))
	cmd.Env = append(os.Environ(), EnvInitPipe+"=3x", EnvLogPipe+"=3")
	cmd.ExtraFiles = []*os.File{logW}
	err = cmd.Run()
	logW.Close()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 1 {
		t.Fatalf("exit: %v, want status 1", err)
	}
	errs := readLog(logR, nil)
	want := "nsexec stage-0: " + EnvInitPipe + "=3x: not an fd number"
	if len(errs) != 1 || errs[0].Msg != want {
		t.Fatalf("errors %v, want [%s]", errs, want)
	}
}

// TestSetgroupsIgnoresSandboxProc: a sandbox's root controls the mount
// namespace that `rkexec exec` joins, so it can mount a /proc whose
// self/setgroups says deny. Stage 2 must still drop the caller's
// supplementary groups (the namespace really allows it); otherwise the
// command would keep them (the docker group...) within the sandbox's reach.
// Stage 2's groups are read from the outside, on the host's /proc.
func TestSetgroupsIgnoresSandboxProc(t *testing.T) {
	h := startFakeProcHolder(t)
	var attr *syscall.SysProcAttr
	groups := []int{4242, 4343}
	if privileged() {
		attr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 0, Gid: 0, Groups: []uint32{4242, 4343}}}
	} else {
		var err error
		if groups, err = os.Getgroups(); err != nil {
			t.Fatal(err)
		}
	}
	var unmapped []int
	for _, g := range groups {
		if !inGIDMap(h.gidMap, g) {
			unmapped = append(unmapped, g)
		}
	}
	prereq(t, len(unmapped) > 0, "a supplementary group of the caller not mapped in the holder (groups %v, gid_map %q)", groups, h.gidMap)

	r, rep := mustStart(t, Config{Join: []Namespace{h.ns("user"), h.ns("mnt")}}, startOpts{hold: true, attr: attr})
	if privileged() { // unprivileged, the test may not read a non-dumpable stage 2's ns links
		for _, typ := range []string{"user", "mnt"} {
			if got, want := nsInode(t, r.p.Stage2PID, typ), nsInode(t, h.pid, typ); got != want {
				t.Fatalf("stage 2 is not in the holder's %s namespace", typ)
			}
		}
	}
	got := statusGroups(t, r.p.Stage2PID)
	for _, g := range got {
		if !inGIDMap(h.gidMap, g) {
			t.Errorf("stage 2 kept the caller's group %d (Groups %v, caller's %v, holder's gid_map %q; getgroups in stage 2: %v)",
				g, got, groups, h.gidMap, rep.Groups)
		}
	}
	if rep.Uid != 0 || rep.Gid != 0 {
		t.Errorf("stage 2 is %d:%d in the holder's user namespace, want 0:0", rep.Uid, rep.Gid)
	}
	r.finish(t)
}

// TestCloexecFallbackIgnoresSandboxProc: without close_range (Linux < 5.11,
// or a seccomp profile refusing it), stage 2 must still make every fd
// close-on-exec, even when the joined mount namespace's /proc/self/fd is an
// empty directory: the listing it walks must be the host's.
func TestCloexecFallbackIgnoresSandboxProc(t *testing.T) {
	h := startFakeProcHolder(t)
	for _, e := range []syscall.Errno{unix.ENOSYS, unix.EINVAL, unix.EPERM} {
		t.Run(e.Error(), func(t *testing.T) {
			filterSyscalls(t, map[uintptr]syscall.Errno{unix.SYS_CLOSE_RANGE: e})
			r, rep := mustStart(t, Config{Join: []Namespace{h.ns("user"), h.ns("mnt")}}, startOpts{hold: true})
			if !rep.MarkerOpen || !rep.MarkerCloexec {
				t.Errorf("ExtraFiles[0] in stage 2: open %v, close-on-exec %v; want both", rep.MarkerOpen, rep.MarkerCloexec)
			}
			if len(rep.NonCloexecFDs) != 0 {
				t.Errorf("fds without close-on-exec in stage 2: %v", rep.NonCloexecFDs)
			}
			r.finish(t)
		})
	}
}

// TestSetgroupsErrors: in a user namespace whose setgroups is deny,
// setgroups(2) fails with EPERM (kernel/groups.c: may_setgroups), and stage
// 2 goes on with the groups it has; any other error is fatal.
func TestSetgroupsErrors(t *testing.T) {
	h := startHolder(t, unix.CLONE_NEWNET, true) // Go writes setgroups deny
	if got := readTrim(fmt.Sprintf("/proc/%d/setgroups", h.pid)); got != "deny" {
		t.Fatalf("holder's setgroups %q, want deny", got)
	}
	join := []Namespace{{"user", fmt.Sprintf("/proc/%d/ns/user", h.pid)}}
	for _, tc := range []struct {
		name string
		e    syscall.Errno
		msg  string // strerror
	}{
		{"deny", 0, ""},
		{"EPERM", unix.EPERM, ""},
		{"EIO", unix.EIO, "Input/output error"},
		{"EINVAL", unix.EINVAL, "Invalid argument"},
	} {
		e := tc.e
		t.Run(tc.name, func(t *testing.T) {
			if e != 0 {
				filterSyscalls(t, map[uintptr]syscall.Errno{unix.SYS_SETGROUPS: e})
			}
			r, err := startStage2(t, Config{Join: join}, startOpts{})
			if e == 0 || e == unix.EPERM {
				if err != nil {
					t.Fatalf("Start: %v", err)
				}
				if rep := r.report(t); rep.Uid != 0 || rep.Gid != 0 {
					t.Errorf("stage 2 is %d:%d, want 0:0", rep.Uid, rep.Gid)
				}
				r.finish(t)
				return
			}
			want := "nsexec stage-2: setgroups 0: " + tc.msg
			if err == nil || err.Error() != want || !errors.Is(err, e) {
				t.Fatalf("error %v, want %q", err, want)
			}
		})
	}
}

// TestPidfdOpenRefused: pidfd_open failing with anything (ENOSYS before
// Linux 5.3, EPERM or another errno from a seccomp profile that does not know
// the call) does not fail Start: the stages watch getppid() instead, with and
// without a new user namespace (whose id change re-arms the check).
func TestPidfdOpenRefused(t *testing.T) {
	for _, e := range []syscall.Errno{unix.ENOSYS, unix.EPERM, unix.EACCES} {
		for _, userns := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/userns=%v", e, userns), func(t *testing.T) {
				cfg, o := Config{}, startOpts{}
				if userns {
					cfg.Unshare, o.writeMaps = unix.CLONE_NEWUSER, writeSingleMap
				}
				filterSyscalls(t, map[uintptr]syscall.Errno{unix.SYS_PIDFD_OPEN: e})
				r, rep := mustStart(t, cfg, o)
				if userns && rep.Uid != 0 {
					t.Errorf("stage 2 is uid %d in its user namespace, want 0", rep.Uid)
				}
				if st := r.finish(t); !st.Success() {
					t.Errorf("stage 2: %v", st)
				}
			})
		}
	}
}

// TestDebugLog: with Config.Debug every stage logs its steps, as debug lines
// that reach the callback (and are not taken for errors); without it, none.
func TestDebugLog(t *testing.T) {
	unshare, writeMaps := creating(unix.CLONE_NEWUTS)
	var mu sync.Mutex
	var lines []string
	cfg := Config{Unshare: unshare, Hostname: "dbg", Debug: func(msg string) {
		mu.Lock()
		defer mu.Unlock()
		lines = append(lines, msg)
	}}
	r, _ := mustStart(t, cfg, startOpts{writeMaps: writeMaps})
	r.finish(t)
	mu.Lock()
	defer mu.Unlock()
	for _, want := range []string{"nsexec stage-0: bootstrap: ", "nsexec stage-1: unshared ", "nsexec stage-1: hostname dbg",
		"nsexec stage-2: fds from 3 up close-on-exec"} {
		if !slices.ContainsFunc(lines, func(l string) bool { return strings.HasPrefix(l, want) }) {
			t.Errorf("no debug line starting %q in:\n%s", want, strings.Join(lines, "\n"))
		}
	}
	// Without a callback the bootstrap does not ask for them.
	msg, err := Config{Unshare: unshare, Hostname: "dbg"}.encode(writeMaps != nil)
	if err != nil {
		t.Fatal(err)
	}
	if b, err := decodeBootstrap(msg); err != nil || b.Debug {
		t.Errorf("bootstrap without Debug: debug %v (%v), want false", b.Debug, err)
	}
}

// TestRootInGo: with Config.RootInGo, stage 2's Go code runs while writeMaps does, before the maps
// exist (it has no uid in the new namespace yet), and BecomeRoot then gives it uid and gid 0 and,
// where the namespace allows setgroups, drops the supplementary groups on every thread; called on
// another thread than the main one, it refuses.
func TestRootInGo(t *testing.T) {
	t.Run("single mapping", func(t *testing.T) {
		rep := startRootInGo(t, nil, writeSingleMap)
		if rep.Setgroups != "deny" {
			t.Errorf("setgroups %q, want deny", rep.Setgroups)
		}
	})
	t.Run("groups dropped on every thread", func(t *testing.T) {
		prereq(t, privileged(), "root, to give stage 2 supplementary groups and a namespace that allows setgroups")
		attr := &syscall.SysProcAttr{Credential: &syscall.Credential{Groups: []uint32{10, 20}}}
		rep := startRootInGo(t, attr, func(pid int) error {
			for _, f := range []string{"uid_map", "gid_map"} {
				if err := os.WriteFile(fmt.Sprintf("/proc/%d/%s", pid, f), []byte("0 0 65536\n"), 0); err != nil {
					return err
				}
			}
			return nil
		})
		if len(rep.TaskGroups) < 2 {
			t.Fatalf("stage 2 has threads %v: want the main one and the runtime's", rep.TaskGroups)
		}
		for i, g := range rep.TaskGroups {
			if g != "Groups:" {
				t.Errorf("thread %d of stage 2 kept %q after BecomeRoot", i, g)
			}
		}
	})
}

// startRootInGo starts stage 2 with RootInGo, checks it runs before writeMaps writes its maps,
// without ids, then lets it call BecomeRoot and returns its report.
func startRootInGo(t *testing.T, attr *syscall.SysProcAttr, write func(pid int) error) report {
	t.Helper()
	outR, outW := testenv.Pipe(t)
	inR, inW := testenv.Pipe(t)
	cmd := exec.Command(selfExe(t))
	cmd.Env = append(os.Environ(), "NSENTER_TEST_ROOT_IN_GO=1", "NSENTER_TEST_HOLD=1")
	cmd.Stdin, cmd.Stdout, cmd.Stderr = inR, outW, os.Stderr
	cmd.SysProcAttr = attr
	stdout := bufio.NewReader(outR)
	lines := make(chan string, 1)
	var early string
	writeMaps := func(pid int) error {
		// Stage 2 speaks first: without RootInGo it would not exist yet, and this would time out.
		go func() {
			line, _ := stdout.ReadString('\n')
			lines <- strings.TrimSpace(line)
		}()
		select {
		case early = <-lines:
		case <-time.After(10 * time.Second):
			return errors.New("stage 2 said nothing before its id maps were written")
		}
		return write(pid)
	}
	p, err := Start(cmd, Config{Unshare: unix.CLONE_NEWUSER | unix.CLONE_NEWNS, RootInGo: true}, writeMaps)
	outW.Close()
	inR.Close()
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() { _ = p.Kill() })
	overflowUID, overflowGID := readTrim("/proc/sys/kernel/overflowuid"), readTrim("/proc/sys/kernel/overflowgid")
	if want := "early " + overflowUID + " " + overflowGID; early != want {
		t.Errorf("stage 2 started as %q, want %q (no uid before the maps)", early, want)
	}
	if _, err := inW.Write([]byte{1}); err != nil {
		t.Fatal(err)
	}
	line, err := stdout.ReadBytes('\n')
	if err != nil {
		t.Fatalf("read stage-2 report: %v (%q)", err, line)
	}
	var rep report
	if err := json.Unmarshal(line, &rep); err != nil {
		t.Fatalf("decode stage-2 report %q: %v", line, err)
	}
	if rep.Uid != 0 || rep.Gid != 0 || rep.Euid != 0 || rep.Egid != 0 {
		t.Errorf("after BecomeRoot stage 2 is uid %d gid %d euid %d egid %d, want 0", rep.Uid, rep.Gid, rep.Euid, rep.Egid)
	}
	if !strings.Contains(rep.OffMainBecomeRoot, "not on the main thread") {
		t.Errorf("BecomeRoot on another thread: error %q, want one naming the main thread", rep.OffMainBecomeRoot)
	}
	if rep.Dumpable != 0 {
		t.Errorf("stage 2 is dumpable (%d): it was spawned by a stage 1 made dumpable for its maps", rep.Dumpable)
	}
	if rep.NS["user"] == nsInode(t, os.Getpid(), "user") || rep.NS["mnt"] == nsInode(t, os.Getpid(), "mnt") {
		t.Error("stage 2 is in the caller's user or mount namespace")
	}
	inW.Close()
	if st, err := p.Wait(); err != nil || !st.Success() {
		t.Errorf("stage 2: %v %v", st, err)
	}
	return rep
}

// TestRootInGoWriteMapsFails: stage 2 already runs Go code when writeMaps fails; Start still returns
// the maps' error and leaves no process behind (startStage2 checks).
func TestRootInGoWriteMapsFails(t *testing.T) {
	boom := errors.New("boom")
	_, err := startStage2(t, Config{Unshare: unix.CLONE_NEWUSER | unix.CLONE_NEWNS, RootInGo: true}, startOpts{
		writeMaps: func(int) error { return boom },
		hold:      true,
	})
	if !errors.Is(err, boom) {
		t.Fatalf("error %v, want one wrapping boom", err)
	}
}

// TestNetHandoff: stage 2 creates the tap device in its new network namespace and has sent that
// namespace on the socket by the time Start returns.
func TestNetHandoff(t *testing.T) {
	tun, err := os.OpenFile("/dev/net/tun", os.O_RDWR, 0)
	prereq(t, err == nil, "/dev/net/tun (scripts/setup-test-env.sh lets users open it): %v", err)
	tun.Close()
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	ours, theirs := os.NewFile(uintptr(fds[0]), "handoff"), os.NewFile(uintptr(fds[1]), "handoff-child")
	defer ours.Close()
	flags, writeMaps := creating(unix.CLONE_NEWNET)
	cfg := Config{Unshare: flags, NetHandoff: &NetHandoff{FD: 4, Tap: "rkxtap0"}}
	r, rep := mustStart(t, cfg, startOpts{writeMaps: writeMaps, extra: []*os.File{theirs}})
	theirs.Close()
	buf, oob := make([]byte, 64), make([]byte, unix.CmsgSpace(4))
	n, oobn, _, _, err := unix.Recvmsg(int(ours.Fd()), buf, oob, unix.MSG_DONTWAIT)
	if err != nil {
		t.Fatalf("no network namespace waiting on the socket once Start returned: %v", err)
	}
	msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
	if err != nil || len(msgs) != 1 {
		t.Fatalf("control messages %v, %v: want one", msgs, err)
	}
	got, err := unix.ParseUnixRights(&msgs[0])
	if err != nil || len(got) != 1 {
		t.Fatalf("fds %v, %v: want one", got, err)
	}
	netns := os.NewFile(uintptr(got[0]), "netns")
	defer netns.Close()
	var st unix.Stat_t
	if err := unix.Fstat(int(netns.Fd()), &st); err != nil {
		t.Fatal(err)
	}
	if string(buf[:n]) != "/proc/self/ns/net" || st.Ino != rep.NS["net"] || st.Ino == nsInode(t, os.Getpid(), "net") {
		t.Errorf("got %q, inode %d; want /proc/self/ns/net of stage 2's new network namespace, %d", buf[:n], st.Ino, rep.NS["net"])
	}
	if !slices.Contains(rep.Interfaces, "rkxtap0") {
		t.Errorf("interfaces of stage 2's namespace %v: no rkxtap0", rep.Interfaces)
	}
	r.finish(t)
}
