package test

// rkexec called rootlesskit (a symlink): RootlessKit v2's command line, checked against the real
// RootlessKit of the version go.mod requires, which the harness builds (referenceRootlessKit); and
// rkexec called rootlesskit-docker-proxy, dockerd's port proxy, through the sandbox's API.

import (
	"bufio"
	"cmp"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/signal"
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
	// refRootlessKitEnv names the reference RootlessKit binary, for the test users too.
	refRootlessKitEnv = "RKEXEC_TEST_ROOTLESSKIT"
	// refRootlessKitErrEnv says why there is none.
	refRootlessKitErrEnv = "RKEXEC_TEST_ROOTLESSKIT_ERR"
	// rootlessKitModule is the module of the reference RootlessKit.
	rootlessKitModule = "github.com/rootless-containers/rootlesskit/v2"
	// rootlessKitTestPrefix names the tests that need the reference binary.
	rootlessKitTestPrefix = "TestRootlessKit"
)

// buildReferenceRootlessKit builds RootlessKit's command, of the version go.mod requires, into
// dir/rootlesskit-ref/rootlesskit for the tests named rootlessKitTestPrefix, and says where in the
// environment (or why it could not). TestMain calls it when such a test may run.
func buildReferenceRootlessKit(dir string) {
	if os.Getenv(refRootlessKitEnv) != "" {
		return
	}
	path, err := func() (string, error) {
		root, err := testenv.ModuleRoot()
		if err != nil {
			return "", err
		}
		goCmd, err := findGo()
		if err != nil {
			return "", err
		}
		list := exec.Command(goCmd, "list", "-m", "-f", "{{.Version}}", rootlessKitModule)
		list.Dir = root
		out, err := list.Output()
		if err != nil {
			return "", fmt.Errorf("go list -m %s: %w", rootlessKitModule, err)
		}
		bin := filepath.Join(dir, "rootlesskit-ref")
		install := exec.Command(goCmd, "install", rootlessKitModule+"/cmd/rootlesskit@"+strings.TrimSpace(string(out)))
		install.Dir = root
		install.Env = append(os.Environ(), "GOBIN="+bin)
		if out, err := install.CombinedOutput(); err != nil {
			return "", fmt.Errorf("%q: %w\n%s", install.Args, err, out)
		}
		return filepath.Join(bin, "rootlesskit"), os.Chmod(bin, 0o755)
	}()
	if err != nil {
		os.Setenv(refRootlessKitErrEnv, oneLineOf(err.Error()))
		return
	}
	os.Setenv(refRootlessKitEnv, path)
}

func oneLineOf(s string) string { return strings.Join(strings.Fields(s), " ") }

// referenceRootlessKit is the real RootlessKit's binary.
func referenceRootlessKit(t testing.TB) string {
	t.Helper()
	path := os.Getenv(refRootlessKitEnv)
	if path == "" {
		skipOrFail(t, "the reference RootlessKit (go install %s/cmd/rootlesskit): %s", rootlessKitModule,
			cmp.Or(os.Getenv(refRootlessKitErrEnv), "not built (TestMain builds it)"))
	}
	return path
}

// asNames returns the path of rkexec under name (a symlink in a directory of the test's).
func asName(t testing.TB, name string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.Symlink(rkexecBin(t), path); err != nil {
		t.Fatal(err)
	}
	return path
}

// rootlessKitFlag is one flag RootlessKit's --help lists.
type rootlessKitFlag struct {
	name  string // without dashes
	short string // its one-letter alias, or ""
	value bool   // it takes a value
}

// rootlessKitHelpFlags parses the flags of RootlessKit's --help (urfave/cli's layout: "--name value,
// -n value   usage").
func rootlessKitHelpFlags(t testing.TB, help string) []rootlessKitFlag {
	t.Helper()
	line := regexp.MustCompile(`^\s+--([a-z0-9][a-z0-9-]*)( value)?(?:, -([a-z0-9])(?: value)?)?(?:\s|$)`)
	var flags []rootlessKitFlag
	for l := range strings.Lines(help) {
		if m := line.FindStringSubmatch(l); m != nil {
			flags = append(flags, rootlessKitFlag{name: m[1], value: m[2] != "", short: m[3]})
		}
	}
	if len(flags) < 30 {
		t.Fatalf("found %d flags in RootlessKit's --help, expected 30 or more: has its layout changed?\n%s", len(flags), help)
	}
	return flags
}

// TestRootlessKitFlags: every flag the real RootlessKit lists in --help is accepted by rkexec called
// rootlesskit (each run with a value of its own and a command, which must run). A flag a new
// RootlessKit adds has no sample below and fails the test (add the flag to rkexec, or a refusal that
// says what to use instead, and a sample).
func TestRootlessKitFlags(t *testing.T) {
	t.Parallel()
	requireSubids(t)
	ref := referenceRootlessKit(t)
	out, err := exec.Command(ref, "--help").Output()
	if err != nil {
		t.Fatalf("%s --help: %v", ref, err)
	}
	flags := rootlessKitHelpFlags(t, string(out))
	rk := asName(t, "rootlesskit")
	// The arguments that try each flag with a value other than its default where one is possible,
	// with the flags it needs.
	samples := map[string][]string{
		"state-dir":           {"--state-dir=" + filepath.Join(t.TempDir(), "state")},
		"net":                 {"--net=none"},
		"pasta-binary":        {"--pasta-binary=/usr/bin/pasta"},
		"slirp4netns-binary":  {"--net=slirp4netns", "--slirp4netns-binary=slirp4netns"},
		"slirp4netns-sandbox": {"--net=slirp4netns", "--slirp4netns-sandbox=false"},
		"slirp4netns-seccomp": {"--net=slirp4netns", "--slirp4netns-seccomp=true"},
		"vpnkit-binary":       {"--vpnkit-binary=/usr/bin/vpnkit"},
		"lxc-user-nic-binary": {"--lxc-user-nic-binary=/usr/libexec/lxc/lxc-user-nic"},
		"lxc-user-nic-bridge": {"--lxc-user-nic-bridge=br0"},
		"mtu":                 {"--net=slirp4netns", "--mtu=1500"},
		"cidr":                {"--net=slirp4netns", "--cidr=10.0.3.0/24"},
		"ifname":              {"--net=slirp4netns", "--ifname=eth0"},
		"copy-up":             {"--copy-up=/etc"},
		"copy-up-mode":        {"--copy-up=/etc", "--copy-up-mode=tmpfs+symlink"},
		"port-driver":         {"--net=none", "--port-driver=builtin"},
		"publish":             {"--net=none", "--port-driver=builtin", "--publish=127.0.0.1:PORT:80/tcp"},
		"propagation":         {"--propagation=rslave"},
		"reaper":              {"--pidns", "--reaper=false"},
		"evacuate-cgroup2":    {"--pidns", "--cgroupns", "--evacuate-cgroup2=evac"},
		"subid-source":        {"--subid-source=static"},
	}
	// Flags that run no command: checked by TestRootlessKitVersionAndHelp.
	noCommand := []string{"help", "version", "print-semver"}
	for _, f := range flags {
		if slices.Contains(noCommand, f.name) {
			continue
		}
		args, ok := samples[f.name]
		if !ok && f.value {
			t.Errorf("RootlessKit's --%s takes a value and this test has no sample for it: add one (and the flag to rkexec, or a refusal that says what to use instead)", f.name)
			continue
		}
		if !ok {
			args = []string{"--" + f.name}
		}
		tries := [][]string{args}
		if f.short != "" {
			short := slices.Clone(args)
			last := short[len(short)-1]
			if _, v, ok := strings.Cut(last, "="); ok {
				short = append(short[:len(short)-1], "-"+f.short, v)
			} else {
				short[len(short)-1] = "-" + f.short
			}
			tries = append(tries, short)
		}
		for _, args := range tries {
			t.Run(strings.Join(args, " "), func(t *testing.T) {
				t.Parallel()
				args := slices.Clone(args)
				for i := range args {
					args[i] = strings.ReplaceAll(args[i], "PORT", strconv.Itoa(freeHostPort(t)))
				}
				res := rkexecOpts(t, runOpts{Program: rk}, append(args, "sh", "-c", "echo ran")...)
				if res.ExitCode == 0 && res.Stdout == "ran\n" {
					return
				}
				// --evacuate-cgroup2 needs a cgroup v2 host with a delegated cgroup
				// (evacuate_cgroup2_test.go tests it there): elsewhere one line says so.
				if f.name == "evacuate-cgroup2" && res.ExitCode == 1 {
					if lines := nonEmptyLines(res.Stderr); len(lines) == 1 && strings.Contains(lines[0], "--evacuate-cgroup2") {
						return
					}
				}
				t.Errorf("rootlesskit %s sh -c 'echo ran': exit %d, stdout %q, stderr:\n%s", strings.Join(args, " "), res.ExitCode, res.Stdout, res.Stderr)
			})
		}
	}
}

// TestRootlessKitVersionAndHelp: --version/-v, --print-semver and --help/-h as the real RootlessKit
// answers them, and --help lists every flag RootlessKit's lists (containerd-rootless.sh greps it for
// --detach-netns).
func TestRootlessKitVersionAndHelp(t *testing.T) {
	t.Parallel()
	ref := referenceRootlessKit(t)
	rk := asName(t, "rootlesskit")
	refRun := func(args ...string) *Result {
		return rkexecOpts(t, runOpts{Program: ref}, args...)
	}
	for _, c := range []string{"major", "minor", "patch"} {
		want, got := refRun("--print-semver", c), rkexecOpts(t, runOpts{Program: rk}, "--print-semver", c)
		if got.ExitCode != 0 || got.Stdout != want.Stdout || got.Stderr != "" {
			t.Errorf("--print-semver %s: exit %d, stdout %q, stderr %q; RootlessKit prints %q", c, got.ExitCode, got.Stdout, got.Stderr, want.Stdout)
		}
	}
	if res := rkexecOpts(t, runOpts{Program: rk}, "--print-semver", "micro"); res.ExitCode != 1 {
		t.Errorf("--print-semver micro: exit %d, want 1 (RootlessKit's)", res.ExitCode)
	} else {
		oneErrorLine(t, res, "--print-semver", "major, minor or patch")
	}
	want := refRun("--version").Stdout
	for _, v := range []string{"--version", "-v"} {
		got := rkexecOpts(t, runOpts{Program: rk}, v)
		if got.ExitCode != 0 || !strings.HasPrefix(got.Stdout, strings.TrimSuffix(want, "\n")) || len(nonEmptyLines(got.Stdout)) != 1 {
			t.Errorf("%s: exit %d, stdout %q; want one line starting with RootlessKit's %q", v, got.ExitCode, got.Stdout, want)
		}
	}
	refHelp := refRun("--help")
	for _, h := range []string{"--help", "-h"} {
		got := rkexecOpts(t, runOpts{Program: rk}, h)
		wantExit(t, got, 0)
		for _, f := range rootlessKitHelpFlags(t, refHelp.Stdout) {
			if !regexp.MustCompile(`(?m)^\s+(-\w, )?--` + regexp.QuoteMeta(f.name) + `\b`).MatchString(got.Stdout) {
				t.Errorf("rootlesskit %s does not list --%s", h, f.name)
			}
		}
	}
}

// TestRootlessKitFailedCommand: how the command ended, as the real RootlessKit reports it, byte for
// byte on stderr, and its exit codes: the status, 255 for a signal, 1 for a command not found.
func TestRootlessKitFailedCommand(t *testing.T) {
	t.Parallel()
	requireSubids(t)
	ref := referenceRootlessKit(t)
	rk := asName(t, "rootlesskit")
	for _, tc := range [][]string{
		{"sh", "-c", "exit 3"},
		{"sh", "-c", "kill -TERM $$"},
		{"sh", "-c", "kill -KILL $$"},
		{"sh", "-c", "kill -USR1 $$"},
		{"sh", "-c", "exit 137"},
		{"--pidns", "sh", "-c", "kill -TERM $$"},
		{"--pidns", "sh", "-c", "exit 130"},
		{"true"},
	} {
		t.Run(strings.Join(tc, " "), func(t *testing.T) {
			t.Parallel()
			want := rkexecOpts(t, runOpts{Program: ref}, tc...)
			got := rkexecOpts(t, runOpts{Program: rk}, tc...)
			if got.ExitCode != want.ExitCode || got.Stderr != want.Stderr || got.Stdout != want.Stdout {
				t.Errorf("exit %d, stderr:\n%s\nRootlessKit: exit %d, stderr:\n%s", got.ExitCode, got.Stderr, want.ExitCode, want.Stderr)
			}
		})
	}
	t.Run("not found", func(t *testing.T) {
		t.Parallel()
		want := rkexecOpts(t, runOpts{Program: ref}, "rkexec-no-such-command")
		got := rkexecOpts(t, runOpts{Program: rk}, "rkexec-no-such-command")
		if got.ExitCode != want.ExitCode {
			t.Errorf("exit %d, RootlessKit's %d", got.ExitCode, want.ExitCode)
		}
		oneErrorLine(t, got, "rkexec-no-such-command", "not found")
	})
}

// TestRootlessKitCommandLine: no subcommands (rootlesskit ps runs ps), flags then the command without
// --, the command's own flags after it, single-dash long flags as RootlessKit's flag parser takes them.
func TestRootlessKitCommandLine(t *testing.T) {
	t.Parallel()
	requireSubids(t)
	rk := asName(t, "rootlesskit")
	run := func(args ...string) *Result { return rkexecOpts(t, runOpts{Program: rk}, args...) }
	if res := run("ps", "-o", "comm="); res.ExitCode != 0 || !slices.Contains(nonEmptyLines(res.Stdout), "ps") {
		t.Errorf("rootlesskit ps -o comm=: exit %d, stdout %q, stderr %q; want ps's own output", res.ExitCode, res.Stdout, res.Stderr)
	}
	for _, name := range []string{"exec", "info", "port", "help"} {
		res := run(name)
		if res.ExitCode != 1 {
			t.Errorf("rootlesskit %s: exit %d, want 1 (no such command, as RootlessKit)", name, res.ExitCode)
		}
		oneErrorLine(t, res, name, "not found")
	}
	if res := run("--pidns", "--reaper=false", "sh", "-c", "echo $$ $1", "sh", "--pidns"); res.ExitCode != 0 || res.Stdout != "1 --pidns\n" {
		t.Errorf("rootlesskit --pidns sh -c ... --pidns: exit %d, stdout %q, stderr %q", res.ExitCode, res.Stdout, res.Stderr)
	}
	if res := run("-pidns", "-reaper=false", "-net=none", "-copy-up", "/etc", "sh", "-c", "echo $$; cat /sys/class/net/lo/operstate >/dev/null && touch /etc/rk-test && echo ok"); res.ExitCode != 0 || res.Stdout != "1\nok\n" {
		t.Errorf("rootlesskit -pidns -net=none -copy-up /etc: exit %d, stdout %q, stderr %q", res.ExitCode, res.Stdout, res.Stderr)
	}
	if res := run("--", "echo", "ok"); res.ExitCode != 0 || res.Stdout != "ok\n" {
		t.Errorf("rootlesskit -- echo ok: exit %d, stdout %q, stderr %q", res.ExitCode, res.Stdout, res.Stderr)
	}
	res := run()
	if res.ExitCode != 1 {
		t.Errorf("rootlesskit without a command: exit %d, want 1", res.ExitCode)
	}
	oneErrorLine(t, res, "no command")
	// A copy named rootlesskit is RootlessKit's command line too.
	// Copied by cp, not in this process: a write fd of ours, inherited by a parallel test's fork,
	// would make the exec fail with ETXTBSY.
	cp := filepath.Join(t.TempDir(), "rootlesskit")
	if out, err := exec.Command("cp", rkexecBin(t), cp).CombinedOutput(); err != nil {
		t.Fatalf("cp: %v: %s", err, out)
	}
	if res := rkexecOpts(t, runOpts{Program: cp}, "--pidns", "ps", "-o", "pid="); res.ExitCode != 0 || len(nonEmptyLines(res.Stdout)) != 2 {
		t.Errorf("a copy: rootlesskit --pidns ps -o pid=: exit %d, stdout %q, stderr %q; want the init's and ps's pids", res.ExitCode, res.Stdout, res.Stderr)
	}
	// Under its own name rkexec keeps its subcommands, and --print-semver is the same.
	if res := rkexec(t, "ps"); res.ExitCode != 0 || !strings.Contains(res.Stdout, "NAME") {
		t.Errorf("rkexec ps: exit %d, stdout %q, stderr %q", res.ExitCode, res.Stdout, res.Stderr)
	}
	if res, want := rkexec(t, "--print-semver", "major"), run("--print-semver", "major"); res.ExitCode != 0 || res.Stdout != want.Stdout {
		t.Errorf("rkexec --print-semver major: exit %d, stdout %q; rootlesskit's %q", res.ExitCode, res.Stdout, want.Stdout)
	}
}

// TestRootlessKitSlirpFlagsWithEveryNet: dockerd-rootless.sh's command line passes slirp4netns's
// flags whatever the network: they are accepted, as by RootlessKit, with a warning for --mtu.
func TestRootlessKitSlirpFlagsWithEveryNet(t *testing.T) {
	t.Parallel()
	requireSubids(t)
	rk := asName(t, "rootlesskit")
	for _, network := range []string{"none", "host"} {
		portDriver := "--port-driver=builtin"
		if network == "host" {
			portDriver = "--port-driver=none"
		}
		res := rkexecOpts(t, runOpts{Program: rk}, "--state-dir="+filepath.Join(t.TempDir(), "s"), "--net="+network, "--mtu=65520",
			"--slirp4netns-sandbox=auto", "--slirp4netns-seccomp=auto", "--disable-host-loopback", portDriver,
			"--copy-up=/etc", "--copy-up=/run", "--propagation=rslave", "sh", "-c", "echo ran")
		if res.ExitCode != 0 || res.Stdout != "ran\n" {
			t.Errorf("--net=%s: exit %d, stdout %q, stderr:\n%s", network, res.ExitCode, res.Stdout, res.Stderr)
		}
		if lines := nonEmptyLines(res.Stderr); len(lines) != 1 || !strings.Contains(lines[0], "--mtu") {
			t.Errorf("--net=%s: stderr %q, want one warning about --mtu", network, res.Stderr)
		}
	}
}

// ---- rootlesskit-docker-proxy ----

// The test binary is also a stub docker-proxy when called by that name: it listens where -host-ip and
// -host-port say, tells dockerd's pipe (fd 3) "0\n", and answers every connection with one line naming
// its flags, until a signal ends it.
func init() {
	if filepath.Base(os.Args[0]) == "docker-proxy" {
		os.Exit(stubDockerProxy(os.Args[1:]))
	}
}

func stubDockerProxy(args []string) int {
	fl := flag.NewFlagSet("docker-proxy", flag.ContinueOnError)
	cip := fl.String("container-ip", "", "")
	cport := fl.Int("container-port", -1, "")
	hip := fl.String("host-ip", "", "")
	hport := fl.Int("host-port", -1, "")
	proto := fl.String("proto", "tcp", "")
	ready := os.NewFile(3, "ready")
	if os.Getenv("STUB_FAIL") != "" {
		fmt.Fprint(ready, "1\nstub docker-proxy told to fail")
		return 1
	}
	if err := fl.Parse(args); err != nil {
		fmt.Fprintf(ready, "1\n%v", err)
		return 1
	}
	l, err := net.Listen(*proto, net.JoinHostPort(*hip, strconv.Itoa(*hport)))
	if err != nil {
		fmt.Fprintf(ready, "1\n%v", err)
		return 1
	}
	ready.WriteString("0\n")
	ready.Close()
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGINT, syscall.SIGTERM)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			fmt.Fprintf(c, "stub docker-proxy on %s for %s:%d\n", l.Addr(), *cip, *cport)
			c.Close()
		}
	}()
	<-stop
	return 0
}

// stubDir is a directory holding the stub docker-proxy.
func stubDir(t testing.TB) string {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.Symlink(self, filepath.Join(dir, "docker-proxy")); err != nil {
		t.Fatal(err)
	}
	return dir
}

// startDockerProxy runs rootlesskit-docker-proxy in the sandbox as dockerd does, with the stub
// docker-proxy on PATH and a pipe on fd 3, and returns it and what it wrote on the pipe.
func startDockerProxy(t testing.TB, s *sandbox, env []string, args ...string) (*exec.Cmd, string) {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	proxy := asName(t, "rootlesskit-docker-proxy")
	// env -u: rkexec exec's command gets the sandbox's ROOTLESSKIT_STATE_DIR otherwise.
	argv := append([]string{"exec", "--preserve-fds=1", s.name, "--", "env", "-u", "ROOTLESSKIT_STATE_DIR", "PATH=" + stubDir(t) + ":/usr/bin:/bin"}, env...)
	cmd := startRkexecOpts(t, runOpts{RuntimeDir: s.runtimeDir, ExtraFiles: []*os.File{w}}, append(append(argv, proxy), args...)...)
	w.Close()
	// "0\n", or "1\n" and the error; EOF once every holder closed the pipe.
	r.SetReadDeadline(time.Now().Add(20 * time.Second))
	got, _ := io.ReadAll(bufio.NewReader(io.LimitReader(r, 2)))
	if string(got) == "1\n" {
		rest, _ := io.ReadAll(r)
		got = append(got, rest...)
	}
	return cmd, string(got)
}

// TestRootlessKitDockerProxy: rkexec called rootlesskit-docker-proxy, run inside the sandbox as
// dockerd runs it, publishes the host port through the sandbox's API, runs docker-proxy for the
// container's side on the loopback address the port driver delivers to, hands it dockerd's ready
// pipe, and removes the port when dockerd stops it (SIGINT).
func TestRootlessKitDockerProxy(t *testing.T) {
	t.Parallel()
	requireSubids(t)
	for _, stopSig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM} {
		t.Run(stopSig.String(), func(t *testing.T) {
			t.Parallel()
			name := "dproxy-" + strconv.Itoa(int(stopSig))
			// The container's address marks this proxy's processes.
			cip := "172.17.0." + strconv.Itoa(100+int(stopSig))
			s := startSandbox(t, name, "--net=slirp4netns", "--port-driver=builtin")
			hp := freeHostPort(t)
			addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(hp))
			cmd, ready := startDockerProxy(t, s, []string{"ROOTLESSKIT_STATE_DIR=" + s.stateDir},
				"-container-ip", cip, "-container-port", "80", "-host-ip", "127.0.0.1", "-host-port", strconv.Itoa(hp), "-proto", "tcp")
			if ready != "0\n" {
				_, errOut := outputOf(cmd)
				t.Fatalf("ready pipe: %q, want \"0\\n\"; stderr: %s", ready, errOut)
			}
			// The host's port reaches the stub, listening inside on 127.0.0.1 and the same port.
			want := fmt.Sprintf("stub docker-proxy on 127.0.0.1:%d for %s:80", hp, cip)
			if got := firstLineFrom(t, "", addr); got != want {
				t.Errorf("through %s: %q, want %q", addr, got, want)
			}
			res := rkexec(t, "port", "ls", name)
			if !strings.Contains(res.Stdout, addr) {
				t.Errorf("port ls does not show %s: %q", addr, res.Stdout)
			}
			// dockerd stops it with SIGINT (its parent-death signal is SIGTERM).
			if err := cmd.Process.Signal(stopSig); err != nil {
				t.Fatal(err)
			}
			if res := waitExit(t, cmd, 20*time.Second); res.ExitCode != 0 {
				t.Errorf("after %v: exit %d, stderr: %s", stopSig, res.ExitCode, res.Stderr)
			}
			if err := refused(t, addr); err != nil {
				t.Error(err)
			}
			if res := rkexec(t, "port", "ls", name); strings.Contains(res.Stdout, addr) {
				t.Errorf("port ls still shows %s after the proxy ended: %q", addr, res.Stdout)
			}
			if procs := processesWith(t, cip); len(procs) > 0 {
				t.Errorf("left running: %v", procs)
			}
		})
	}
}

// TestRootlessKitDockerProxyFailures: dockerd hears the failure on its pipe ("1\n" and why), and the
// port is not left published; without a port driver docker-proxy itself takes over, with the flags
// as given.
func TestRootlessKitDockerProxyFailures(t *testing.T) {
	t.Parallel()
	requireSubids(t)
	s := startSandbox(t, "dproxy-fail", "--net=slirp4netns", "--port-driver=builtin")
	hp := strconv.Itoa(freeHostPort(t))
	flags := []string{"-container-ip", "172.17.0.2", "-container-port", "80", "-host-ip", "127.0.0.1", "-host-port", hp}
	for _, tc := range []struct {
		name string
		env  []string
		args []string
		want string
	}{
		{"no state dir", nil, flags, "ROOTLESSKIT_STATE_DIR"},
		{"no API", []string{"ROOTLESSKIT_STATE_DIR=/nonexistent"}, flags, "API socket"},
		{"bad host ip", []string{"ROOTLESSKIT_STATE_DIR=" + s.stateDir}, []string{"-host-ip", "x", "-host-port", hp}, "-host-ip"},
		{"bad flag", []string{"ROOTLESSKIT_STATE_DIR=" + s.stateDir}, []string{"-bogus"}, "bogus"},
		{"docker-proxy fails", []string{"ROOTLESSKIT_STATE_DIR=" + s.stateDir, "STUB_FAIL=1"}, flags, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cmd, ready := startDockerProxy(t, s, tc.env, tc.args...)
			res := waitExit(t, cmd, 20*time.Second)
			if res.ExitCode == 0 || !strings.HasPrefix(ready, "1\n") {
				t.Errorf("exit %d, ready pipe %q; want a failure, and \"1\\n\" on the pipe; stderr: %s", res.ExitCode, ready, res.Stderr)
			}
			if tc.want != "" && !strings.Contains(res.Stderr, tc.want) {
				t.Errorf("stderr does not mention %q: %s", tc.want, res.Stderr)
			}
			if res := rkexec(t, "port", "ls", s.name); strings.Contains(res.Stdout, ":"+hp) {
				t.Errorf("port ls shows the port after a failure: %q", res.Stdout)
			}
		})
	}
	t.Run("no port driver", func(t *testing.T) {
		n := startSandbox(t, "dproxy-none", "--net=none")
		cmd, ready := startDockerProxy(t, n, []string{"ROOTLESSKIT_STATE_DIR=" + n.stateDir},
			"-container-ip", "172.17.0.2", "-container-port", "80", "-host-ip", "127.0.0.1", "-host-port", hp, "-proto", "tcp")
		if ready != "0\n" {
			t.Fatalf("ready pipe %q", ready)
		}
		// docker-proxy itself, exec'd with dockerd's flags, listens inside: reach it from there.
		res := n.exec(t, n.name, "--", "busybox", "nc", "127.0.0.1", hp)
		if !strings.Contains(res.Stdout, "stub docker-proxy on 127.0.0.1:"+hp) {
			t.Errorf("inside, 127.0.0.1:%s: %q, stderr %q", hp, res.Stdout, res.Stderr)
		}
		if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
			t.Fatal(err)
		}
		waitExit(t, cmd, 20*time.Second)
	})
}
