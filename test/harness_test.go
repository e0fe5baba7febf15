// Package test holds rkexec's integration tests: they run the built binary as an unprivileged user and
// check what is seen inside its namespaces. It is not for unit tests of packages (those live next to
// the package).
//
// This file is the harness; helpers_test.go holds what the tests share (running rkexec, waiting, a
// running sandbox, a pty), and each <feature>_test.go the tests of one feature. TestMain builds ./cmd/rkexec once (or takes $RKEXEC_BIN) into a temporary
// directory every user can read. Run as a normal user, all tests run as that user. Run as root, the
// tests run in three phases, each streamed with a header line:
//
//  1. TestRealRoot* in the root process itself;
//  2. every other test except TestNoSubid*, as the test user with /etc/subuid and /etc/subgid ranges
//     (rkexec-test), by re-executing a copy of the test binary with that user's credentials;
//  3. TestNoSubid*, as the test user without ranges (rkexec-test2).
//
// scripts/setup-test-env.sh creates both users; their names live in scripts/test-users.env (read
// through package internal/testenv), so the set-up and the tests cannot disagree. A phase's tests are chosen with -test.skip, joined to
// the user's own -test.skip, so the user's -test.run and -test.skip still apply in every phase.
//
// go test never caches this package's result (see dropTestLog).
//
// A test that needs something the machine lacks calls requireRoot, requireSubids or requireNoSubids;
// these skip, except under CI=true, where a missing prerequisite is a failure (see skipOrFail).
package test

import (
	"bytes"
	"cmp"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rkexec/rkexec/internal/testenv"
)

const (
	// rootPrefix names the tests that run as real root.
	rootPrefix = "TestRealRoot"
	// noSubidPrefix names the tests that run as a user without subordinate ids.
	noSubidPrefix = "TestNoSubid"
	// binEnv hands the rkexec binary's path to the tests and to the re-executed test binaries.
	binEnv = "RKEXEC_BIN"
	// defaultRunTimeout bounds one rkexec run.
	defaultRunTimeout = 30 * time.Second
	// leftoverTimeout is how long noProcessesLeft waits for processes to exit.
	leftoverTimeout = 5 * time.Second
	// defaultPath is used when the harness's own PATH is empty.
	defaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
)

// forwardedFlags are the test flags the re-executed test binaries get, as the user gave them.
// -test.timeout is forwarded as what is left of it, -test.skip per phase. Flags naming output
// files (profiles, -test.testlogfile, coverage) are not forwarded: the test users cannot write there.
var forwardedFlags = []string{
	"test.v", "test.run", "test.count", "test.failfast", "test.short", "test.parallel", "test.cpu",
	"test.shuffle", "test.paniconexit0", "test.fullpath",
	"test.bench", "test.benchtime", "test.benchmem",
}

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

// runMain is TestMain's body; it returns the exit code so that deferred clean-ups run.
func runMain(m *testing.M) int {
	start := time.Now()
	flag.Parse()
	if flag.Lookup("test.list").Value.String() != "" {
		return m.Run() // listing tests needs no binary
	}

	defer dropTestLog()

	h, err := newHarness(start)
	if err != nil {
		fmt.Fprintf(os.Stderr, "harness: %v\n", err)
		return 1
	}
	defer h.cleanup()

	bin, err := h.rkexecBinary()
	if err != nil {
		fmt.Fprintf(os.Stderr, "harness: %v\n", err)
		return 1
	}
	if err := os.Setenv(binEnv, bin); err != nil {
		fmt.Fprintf(os.Stderr, "harness: %v\n", err)
		return 1
	}
	if mayRunSome(listTests(), func(name string) bool { return strings.HasPrefix(name, rootlessKitTestPrefix) }) {
		buildReferenceRootlessKit(h.dir) // for rootlesskit_cli_test.go
	}
	if os.Geteuid() != 0 {
		return m.Run()
	}
	return h.runPhases(m, bin)
}

// dropTestLog deletes the log of files and variables the tests consulted that go test asked for
// (-test.testlogfile), so that go test does not cache this package's result: the tests run a binary
// built from sources that log does not name, and as root most of them run in other processes.
func dropTestLog() {
	if name := flag.Lookup("test.testlogfile").Value.String(); name != "" {
		if err := os.Remove(name); err != nil && !errors.Is(err, fs.ErrNotExist) {
			fmt.Fprintf(os.Stderr, "harness: %v (go test may cache a stale result)\n", err)
		}
	}
}

// harness holds what TestMain set up: a temporary directory every user can read.
type harness struct {
	start time.Time // when TestMain started, for what is left of -test.timeout
	dir   string    // mode 0755: the rkexec binary, the copy of the test binary, per-user TMPDIRs
}

func newHarness(start time.Time) (*harness, error) {
	base := os.TempDir()
	if os.Geteuid() == 0 && !othersCanTraverse(base) {
		base = "/tmp" // root's TMPDIR may be private; the test users must reach the binary
	}
	dir, err := os.MkdirTemp(base, "rkexec-harness-")
	if err != nil {
		return nil, err
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	return &harness{start: start, dir: dir}, nil
}

func (h *harness) cleanup() {
	if err := os.RemoveAll(h.dir); err != nil {
		fmt.Fprintf(os.Stderr, "harness: clean-up: %v\n", err)
	}
}

// rkexecBinary returns $RKEXEC_BIN, or builds ./cmd/rkexec into h.dir. As root the binary is always
// in h.dir, so the test users can execute it.
func (h *harness) rkexecBinary() (string, error) {
	out := filepath.Join(h.dir, "rkexec")
	if given := os.Getenv(binEnv); given != "" {
		abs, err := filepath.Abs(given)
		if err != nil {
			return "", err
		}
		if os.Geteuid() != 0 {
			return abs, nil
		}
		return out, copyFile(abs, out, 0o755)
	}

	root, err := testenv.ModuleRoot()
	if err != nil {
		return "", err
	}
	goCmd, err := findGo()
	if err != nil {
		return "", err
	}
	// The binary as shipped (scripts/build.sh: static). -buildvcs=false: the tests need no VCS
	// stamp, and git refuses a checkout owned by another user.
	build := exec.Command("/bin/sh", filepath.Join(root, "scripts", "build.sh"), out, "-buildvcs=false")
	build.Dir = root
	build.Env = append(os.Environ(), "GO="+goCmd)
	var output bytes.Buffer
	build.Stdout, build.Stderr = &output, &output
	if err := build.Run(); err != nil {
		return "", fmt.Errorf("scripts/build.sh %s -buildvcs=false (in %s): %w\n%s", out, root, err, output.Bytes())
	}
	return out, os.Chmod(out, 0o755)
}

// phase is one group of tests run by one user.
type phase struct {
	user string            // "" for the root process itself
	skip string            // -test.skip joined to the user's, selecting this phase's tests
	in   func(string) bool // whether a top-level test belongs to this phase (what skip selects)
	what string            // for the header line
}

// runPhases runs the tests as root in three phases (see the package doc) and returns the exit code.
func (h *harness) runPhases(m *testing.M, bin string) int {
	subidUser, err1 := testenv.SubidUser()
	noSubidUser, err2 := testenv.NoSubidUser()
	if err := errors.Join(err1, err2); err != nil {
		fmt.Fprintf(os.Stderr, "harness: the test users: %v\n", err)
		return 1
	}
	userSkip := flag.Lookup("test.skip").Value.String()
	failFast := flag.Lookup("test.failfast").Value.String() == "true"
	isRoot := func(name string) bool { return strings.HasPrefix(name, rootPrefix) }
	isNoSubid := func(name string) bool { return strings.HasPrefix(name, noSubidPrefix) }
	phases := []phase{
		{user: "", skip: notPrefixRegexp(rootPrefix), in: isRoot, what: rootPrefix + "*"},
		{
			user: subidUser, skip: "^(?:" + rootPrefix + "|" + noSubidPrefix + ")",
			in:   func(name string) bool { return !isRoot(name) && !isNoSubid(name) },
			what: "all tests but " + rootPrefix + "* and " + noSubidPrefix + "*",
		},
		{user: noSubidUser, skip: notPrefixRegexp(noSubidPrefix), in: isNoSubid, what: noSubidPrefix + "*"},
	}
	names := listTests()
	code := 0
	for i, p := range phases {
		skip := joinSkip(userSkip, p.skip)
		if !mayRunSome(names, p.in) {
			fmt.Printf("=== harness phase %d/%d: no %s test selected, %s not needed\n",
				i+1, len(phases), p.what, cmp.Or(p.user, "root"))
			continue
		}
		var err error
		if p.user == "" {
			fmt.Printf("=== harness phase %d/%d: root (uid 0) runs %s in this process, -test.skip=%s\n",
				i+1, len(phases), p.what, skip)
			if err = flag.Set("test.skip", skip); err == nil && m.Run() != 0 {
				err = errors.New("tests failed")
			}
		} else {
			err = h.runAs(i+1, len(phases), p, skip, bin)
		}
		if err != nil {
			fmt.Printf("=== harness phase %d/%d FAILED: %v\n", i+1, len(phases), err)
			code = 1
			if failFast {
				break
			}
		}
	}
	return code
}

// runAs re-executes a copy of the test binary as user p.user with -test.skip=skip.
func (h *harness) runAs(n, total int, p phase, skip, bin string) error {
	u, err := user.Lookup(p.user)
	if err != nil {
		if inCI() {
			return fmt.Errorf("missing prerequisite (CI=true): user %s: %w; run scripts/setup-test-env.sh as root", p.user, err)
		}
		fmt.Printf("=== harness phase %d/%d SKIPPED: no user %s (run scripts/setup-test-env.sh as root)\n", n, total, p.user)
		return nil
	}
	uid, err := strconv.ParseUint(u.Uid, 10, 32)
	if err != nil {
		return fmt.Errorf("user %s: uid %q: %w", p.user, u.Uid, err)
	}
	gid, err := strconv.ParseUint(u.Gid, 10, 32)
	if err != nil {
		return fmt.Errorf("user %s: gid %q: %w", p.user, u.Gid, err)
	}

	exe, err := h.testBinary()
	if err != nil {
		return err
	}
	tmp, err := os.MkdirTemp(h.dir, "tmp-"+p.user+"-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	if err := os.Chown(tmp, int(uid), int(gid)); err != nil {
		return err
	}
	home := u.HomeDir
	if fi, err := os.Stat(home); err != nil || fi.Sys().(*syscall.Stat_t).Uid != uint32(uid) {
		home = tmp // the test user without ranges has no home directory
	}
	// The tests run in the package directory, as under go test, when the user can reach it (a clone
	// under /root cannot be reached).
	dir, err := os.Getwd()
	if err != nil || !othersCanTraverse(dir) {
		dir = tmp
	}

	args := append(h.childFlags(), "-test.skip="+skip)
	fmt.Printf("=== harness phase %d/%d: user %s (uid %d) runs %s: %s %s\n",
		n, total, p.user, uid, p.what, exe, strings.Join(args, " "))

	cmd := exec.Command(exe, args...)
	cmd.Dir = dir
	cmd.Env = childEnv(p.user, home, tmp, bin)
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr // stdin stays /dev/null
	cmd.SysProcAttr = &syscall.SysProcAttr{
		// Groups empty (not nil): setgroups(0), so no supplementary group of root's survives.
		Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), Groups: []uint32{}},
		Pdeathsig:  syscall.SIGKILL,
	}
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("user %s: %w", p.user, err)
	}
	return nil
}

// testBinary copies the running test binary into h.dir (go test's build directory is private to
// root) and returns the copy's path.
func (h *harness) testBinary() (string, error) {
	dst := filepath.Join(h.dir, "rkexec.test")
	if _, err := os.Stat(dst); err == nil {
		return dst, nil
	}
	self, err := os.Executable()
	if err != nil {
		return "", err
	}
	return dst, copyFile(self, dst, 0o755)
}

// childFlags returns the forwarded flags the user set, and what is left of -test.timeout.
func (h *harness) childFlags() []string {
	forward := map[string]bool{}
	for _, name := range forwardedFlags {
		forward[name] = true
	}
	var args []string
	flag.Visit(func(f *flag.Flag) {
		if forward[f.Name] {
			args = append(args, "-"+f.Name+"="+f.Value.String())
		}
	})
	if timeout := flag.Lookup("test.timeout").Value.(flag.Getter).Get().(time.Duration); timeout > 0 {
		left := max(timeout-time.Since(h.start), time.Second)
		args = append(args, "-test.timeout="+left.Round(time.Second).String())
	}
	return args
}

// childEnv is the environment of a re-executed test binary: no XDG_RUNTIME_DIR, no root paths.
func childEnv(name, home, tmp, bin string) []string {
	path := os.Getenv("PATH")
	if path == "" {
		path = defaultPath
	}
	env := []string{
		"PATH=" + path, "HOME=" + home, "USER=" + name, "LOGNAME=" + name, "TMPDIR=" + tmp,
		binEnv + "=" + bin,
	}
	for _, k := range []string{"CI", "TERM", "LANG", "LC_ALL", "GOTRACEBACK", "GODEBUG", "GORACE", "RKEXEC_LONG_TESTS",
		testenv.SubidUserKey, testenv.NoSubidUserKey, refRootlessKitEnv, refRootlessKitErrEnv} {
		if v, ok := os.LookupEnv(k); ok {
			env = append(env, k+"="+v)
		}
	}
	return env
}

// listTests returns the top-level names in this test binary (-test.list), or nil if that fails.
func listTests() []string {
	self, err := os.Executable()
	if err != nil {
		return nil
	}
	out, err := exec.Command(self, "-test.list=.").Output()
	if err != nil {
		return nil
	}
	return strings.Fields(string(out))
}

// mayRunSome reports whether a phase may run anything. It is false only when it is sure nothing runs
// (no test of the phase, or none matched by the first level of -test.run), so that a phase with
// nothing to do does not print "no tests to run", which go test would report for the whole package.
func mayRunSome(names []string, in func(string) bool) bool {
	if names == nil || flag.Lookup("test.bench").Value.String() != "" {
		return true // unknown, or benchmarks, which -test.run does not select
	}
	var first []*regexp.Regexp
	if run := flag.Lookup("test.run").Value.String(); run != "" {
		for _, alt := range topLevelPatterns(run) {
			re, err := regexp.Compile(alt)
			if err != nil {
				return true // the test binary reports it
			}
			first = append(first, re)
		}
	}
	for _, name := range names {
		if !in(name) {
			continue
		}
		if len(first) == 0 {
			return true
		}
		for _, re := range first {
			if re.MatchString(name) {
				return true
			}
		}
	}
	return false
}

// topLevelPatterns returns, for each alternative of a -test.run pattern, the part that top-level
// names must match: it splits at unbracketed | and cuts at the first unbracketed /, like package
// testing does.
func topLevelPatterns(pattern string) []string {
	var alts []string
	brackets, parens, start, cut := 0, 0, 0, -1
	for i := 0; i < len(pattern); i++ {
		switch pattern[i] {
		case '[':
			brackets++
		case ']':
			brackets = max(brackets-1, 0) // an unmatched ] is legal
		case '(':
			if brackets == 0 {
				parens++
			}
		case ')':
			if brackets == 0 {
				parens--
			}
		case '\\':
			i++
		case '/':
			if brackets == 0 && parens == 0 && cut < 0 {
				cut = i
			}
		case '|':
			if brackets == 0 && parens == 0 {
				end := i
				if cut >= 0 {
					end = cut
				}
				alts = append(alts, pattern[start:end])
				start, cut = i+1, -1
			}
		}
	}
	if cut < 0 {
		cut = len(pattern)
	}
	return append(alts, pattern[start:cut])
}

// notPrefixRegexp returns a regexp matching the names that do not start with prefix (RE2 has no
// negative look-ahead): some first i bytes agree and byte i differs or is missing.
func notPrefixRegexp(prefix string) string {
	alts := make([]string, 0, len(prefix))
	for i := range len(prefix) {
		alts = append(alts, regexp.QuoteMeta(prefix[:i])+"(?:$|[^"+regexp.QuoteMeta(prefix[i:i+1])+"])")
	}
	return "^(?:" + strings.Join(alts, "|") + ")"
}

// joinSkip joins two -test.skip patterns; an unbracketed | separates alternatives of the whole
// slash-separated pattern, so the result skips what either one skips.
func joinSkip(a, b string) string {
	if a == "" {
		return b
	}
	return a + "|" + b
}

// othersCanTraverse reports whether every directory from / to dir is searchable by other users.
func othersCanTraverse(dir string) bool {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return false
	}
	for {
		fi, err := os.Stat(dir)
		if err != nil || fi.Mode().Perm()&0o001 == 0 {
			return false
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return true
		}
		dir = parent
	}
}

// findGo returns the go command: from PATH, else $GOROOT/bin, else /usr/local/go/bin.
func findGo() (string, error) {
	if p, err := exec.LookPath("go"); err == nil {
		return p, nil
	}
	for _, p := range []string{filepath.Join(os.Getenv("GOROOT"), "bin", "go"), "/usr/local/go/bin/go"} {
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	return "", errors.New("go command not found in PATH, $GOROOT/bin or /usr/local/go/bin")
}

// copyFile copies src to dst with the given mode.
func copyFile(src, dst string, mode os.FileMode) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, mode)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return fmt.Errorf("copy %s to %s: %w", src, dst, err)
	}
	if err := out.Close(); err != nil {
		return err
	}
	return os.Chmod(dst, mode) // the umask may have narrowed it
}

// ---- prerequisites ----

// inCI reports whether this is a CI run, where a missing prerequisite fails instead of skipping.
func inCI() bool { return testenv.InCI() }

// skipOrFail skips the test for a missing prerequisite, or fails it when CI=true.
func skipOrFail(t testing.TB, format string, args ...any) {
	t.Helper()
	testenv.Missing(t, format, args...)
}

// requireRoot needs real root (go test run as root, where the harness runs TestRealRoot* as root).
func requireRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		skipOrFail(t, "real root (euid is %d; run go test as root)", os.Geteuid())
	}
}

// requireSubids needs /etc/subuid and /etc/subgid ranges for the current user and newuidmap/newgidmap.
func requireSubids(t testing.TB) {
	t.Helper()
	for _, file := range []string{"/etc/subuid", "/etc/subgid"} {
		if len(subIDRanges(t, file)) == 0 {
			skipOrFail(t, "a range for uid %d in %s (run go test as root, or scripts/setup-test-env.sh)", os.Getuid(), file)
		}
	}
	for _, helper := range []string{"newuidmap", "newgidmap"} {
		if _, err := exec.LookPath(helper); err != nil {
			skipOrFail(t, "%s in PATH (apt-get install uidmap)", helper)
		}
	}
}

// requireNoSubids needs a user without /etc/subuid and /etc/subgid ranges (root runs these as the
// test user without ranges).
func requireNoSubids(t testing.TB) {
	t.Helper()
	for _, file := range []string{"/etc/subuid", "/etc/subgid"} {
		if r := subIDRanges(t, file); len(r) > 0 {
			skipOrFail(t, "a user without ranges, but uid %d has %v in %s (run go test as root: %s* run as $%s)",
				os.Getuid(), r, file, noSubidPrefix, testenv.NoSubidUserKey)
		}
	}
}

// idRange is one line of /etc/subuid or /etc/subgid.
type idRange struct {
	Start, Count uint32
}

// subIDRanges returns the current user's ranges in file (/etc/subuid or /etc/subgid), by name or by
// uid, in file order; a missing file has none. Lines that do not parse are ignored.
func subIDRanges(t testing.TB, file string) []idRange {
	t.Helper()
	data, err := os.ReadFile(file)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		t.Fatalf("read %s: %v", file, err)
	}
	me := strconv.Itoa(os.Getuid())
	names := map[string]bool{me: true}
	if u, err := user.LookupId(me); err == nil {
		names[u.Username] = true
	}
	var ranges []idRange
	for line := range strings.Lines(string(data)) {
		f := strings.Split(strings.TrimSpace(line), ":")
		if len(f) != 3 || !names[f[0]] {
			continue
		}
		start, err1 := strconv.ParseUint(f[1], 10, 32)
		count, err2 := strconv.ParseUint(f[2], 10, 32)
		if err1 == nil && err2 == nil && count > 0 {
			ranges = append(ranges, idRange{Start: uint32(start), Count: uint32(count)})
		}
	}
	return ranges
}

// ---- tests that prove the harness ----

func TestHelpExitsZero(t *testing.T) {
	res := rkexec(t, "--help")
	if res.ExitCode != 0 {
		t.Errorf("rkexec --help: exit code %d, want 0; stderr: %s", res.ExitCode, res.Stderr)
	}
	if !strings.Contains(strings.ToLower(res.Stdout), "usage") {
		t.Errorf("rkexec --help: stdout has no usage:\n%s", res.Stdout)
	}
	if res.Stderr != "" {
		t.Errorf("rkexec --help: stderr not empty:\n%s", res.Stderr)
	}
}

func TestUIDMapFull(t *testing.T) {
	requireSubids(t)
	want := []string{fmt.Sprintf("0 %d 1", os.Getuid())}
	inside := uint64(1)
	for _, r := range subIDRanges(t, "/etc/subuid") {
		want = append(want, fmt.Sprintf("%d %d %d", inside, r.Start, r.Count))
		inside += uint64(r.Count)
	}
	res := rkexec(t, "--", "cat", "/proc/self/uid_map")
	if res.ExitCode != 0 {
		t.Fatalf("exit code %d, want 0; stderr: %s", res.ExitCode, res.Stderr)
	}
	if got := mapLines(res.Stdout); !slices.Equal(got, want) {
		t.Errorf("uid_map:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestRealRootFullMap(t *testing.T) {
	requireRoot(t)
	res := rkexec(t, "--", "cat", "/proc/self/uid_map")
	if res.ExitCode != 0 {
		t.Fatalf("exit code %d, want 0; stderr: %s", res.ExitCode, res.Stderr)
	}
	if got, want := mapLines(res.Stdout), []string{"0 0 4294967295"}; !slices.Equal(got, want) {
		t.Errorf("uid_map as real root: %q, want %q", got, want)
	}
}

func TestNoSubidSingleMapping(t *testing.T) {
	requireNoSubids(t)
	res := rkexec(t, "--", "cat", "/proc/self/uid_map")
	if res.ExitCode != 0 {
		t.Fatalf("exit code %d, want 0; stderr: %s", res.ExitCode, res.Stderr)
	}
	if got, want := mapLines(res.Stdout), []string{fmt.Sprintf("0 %d 1", os.Getuid())}; !slices.Equal(got, want) {
		t.Errorf("uid_map without subordinate ids: %q, want %q", got, want)
	}
	var warnings []string
	for line := range strings.Lines(res.Stderr) {
		if strings.Contains(line, "/etc/subuid") {
			warnings = append(warnings, line)
		}
	}
	if len(warnings) != 1 {
		t.Errorf("want one warning line on stderr mentioning /etc/subuid, got %d; stderr:\n%s", len(warnings), res.Stderr)
	}
}
