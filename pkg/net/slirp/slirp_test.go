package slirp

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/rkexec/rkexec/internal/nettest"
	"github.com/rkexec/rkexec/internal/testenv"
	"github.com/rkexec/rkexec/pkg/net/netconf"
)

// The test binary doubles as a process that starts slirp4netns and is then SIGKILLed
// (SLIRP_TEST_HELPER=start, with SLIRP_TEST_NETNS naming the namespace).
func TestMain(m *testing.M) {
	if os.Getenv("SLIRP_TEST_HELPER") == "start" {
		os.Exit(helperStart())
	}
	os.Exit(m.Run())
}

func helperStart() int {
	bin, err := Resolve("")
	if err != nil {
		fmt.Println("error:", err)
		return 1
	}
	f, err := Probe(bin)
	if err != nil {
		fmt.Println("error:", err)
		return 1
	}
	p, err := Start(Options{Binary: bin, Features: f, Target: Target{NetNS: os.Getenv("SLIRP_TEST_NETNS")},
		APISocket: os.Getenv("SLIRP_TEST_SOCKET")})
	if err != nil {
		fmt.Println("error:", err)
		return 1
	}
	fmt.Println(p.Pid())
	select {} // until killed
}

func slirpBinary(t *testing.T) (string, *Features) {
	t.Helper()
	bin, err := Resolve("")
	if err != nil {
		testenv.Missing(t, "%v", err)
	}
	f, err := Probe(bin)
	if err != nil {
		t.Fatal(err)
	}
	return bin, f
}

func start(t *testing.T, o Options) *Process {
	t.Helper()
	p, err := Start(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

// hostServer listens on the host's 127.0.0.1 and answers each connection with "hello\n".
func hostServer(t *testing.T) *net.TCPAddr {
	t.Helper()
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	nettest.Serve(t, l, func(c net.Conn) { io.WriteString(c, "hello\n") })
	return l.Addr().(*net.TCPAddr)
}

func readLine(c net.Conn) (string, error) {
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	return bufio.NewReader(c).ReadString('\n')
}

func TestStartConfiguresTheNamespaceAndReachesHostLoopback(t *testing.T) {
	bin, f := slirpBinary(t)
	ns := nettest.New(t)
	sock := filepath.Join(t.TempDir(), "slirp.sock")
	p := start(t, Options{Binary: bin, Features: f, Target: Target{NetNS: ns.Path}, APISocket: sock})
	if !p.Network.IP.Equal(net.ParseIP("10.0.2.100")) || !p.Network.Gateway.Equal(net.ParseIP("10.0.2.2")) ||
		len(p.Network.DNS) != 1 || !p.Network.DNS[0].Equal(net.ParseIP("10.0.2.3")) || p.Network.MTU != 65520 {
		t.Fatalf("network: %+v", p.Network)
	}
	var st *netconf.State
	if err := ns.Do(func() (err error) { st, err = netconf.Inspect(); return }); err != nil {
		t.Fatal(err)
	}
	tap := st.Link("tap0")
	if tap == nil || !tap.Up || tap.MTU != 65520 || len(tap.Addrs) == 0 || tap.Addrs[0].String() != "10.0.2.100/24" {
		t.Fatalf("tap0 inside: %+v", tap)
	}
	if !st.Gateway.Equal(net.ParseIP("10.0.2.2")) || st.GatewayDev != "tap0" {
		t.Fatalf("default route inside: via %v dev %s", st.Gateway, st.GatewayDev)
	}
	addr := hostServer(t)
	c, err := ns.Dial("tcp4", net.JoinHostPort("10.0.2.2", strconv.Itoa(addr.Port)))
	if err != nil {
		t.Fatalf("reaching the host's 127.0.0.1 through 10.0.2.2: %v", err)
	}
	if s, err := readLine(c); s != "hello\n" {
		t.Fatalf("through 10.0.2.2: %q, %v", s, err)
	}
	if _, err := os.Stat(sock); err != nil {
		t.Fatalf("API socket: %v", err)
	}

	// Closing the exit fd ends slirp4netns by itself (no kill: it exits 0), and its socket goes.
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if err := p.Err(); err != nil {
		t.Fatalf("slirp4netns did not exit cleanly on its exit fd: %v", err)
	}
	if _, err := os.Stat(sock); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("API socket left after Close: %v", err)
	}
	if err := unix.Kill(p.Pid(), 0); !errors.Is(err, unix.ESRCH) {
		t.Fatalf("slirp4netns pid %d still exists after Close: %v", p.Pid(), err)
	}
}

func TestDisableHostLoopback(t *testing.T) {
	bin, f := slirpBinary(t)
	ns := nettest.New(t)
	start(t, Options{Binary: bin, Features: f, Target: Target{NetNS: ns.Path}, DisableHostLoopback: true})
	addr := hostServer(t)
	var c net.Conn
	err := ns.Do(func() (err error) {
		c, err = net.DialTimeout("tcp4", net.JoinHostPort("10.0.2.2", strconv.Itoa(addr.Port)), 5*time.Second)
		return
	})
	if err == nil {
		s, rerr := readLine(c)
		if s != "" || rerr == nil {
			t.Fatalf("with --disable-host-loopback the host's 127.0.0.1 answered: %q", s)
		}
	}
}

func TestCIDRAndMTU(t *testing.T) {
	bin, f := slirpBinary(t)
	ns := nettest.New(t)
	_, cidr, _ := net.ParseCIDR("10.9.0.0/24")
	p := start(t, Options{Binary: bin, Features: f, Target: Target{NetNS: ns.Path}, CIDR: cidr, MTU: 1500, IfName: "eth7"})
	var st *netconf.State
	if err := ns.Do(func() (err error) { st, err = netconf.Inspect(); return }); err != nil {
		t.Fatal(err)
	}
	l := st.Link("eth7")
	if l == nil || l.MTU != 1500 || len(l.Addrs) == 0 || l.Addrs[0].String() != "10.9.0.100/24" ||
		!st.Gateway.Equal(net.ParseIP("10.9.0.2")) || !p.Network.DNS[0].Equal(net.ParseIP("10.9.0.3")) {
		t.Fatalf("eth7 inside: %+v, gateway %v, network %+v", l, st.Gateway, p.Network)
	}
}

func TestStartFailureCarriesStderr(t *testing.T) {
	bin, f := slirpBinary(t)
	_, err := Start(Options{Binary: bin, Features: f, Target: Target{NetNS: "/nonexistent/netns"}})
	if err == nil {
		t.Fatal("started on a missing namespace")
	}
	if !strings.Contains(err.Error(), "exited before the network was up") || !strings.Contains(err.Error(), "/nonexistent/netns") {
		t.Fatalf("error lacks the cause or slirp4netns's stderr: %v", err)
	}
}

func TestReadyTimeoutKills(t *testing.T) {
	// A stand-in that never reports ready, nor reacts to its exit fd.
	fake := filepath.Join(t.TempDir(), "slirp4netns")
	if err := os.WriteFile(fake, []byte("#!/bin/sh\necho stuck >&2\nexec sleep 1000\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	f := &Features{Configure: true, ReadyFD: true, ExitFD: true}
	begin := time.Now()
	_, err := Start(Options{Binary: fake, Features: f, Target: Target{PID: os.Getpid()}, ReadyTimeout: 500 * time.Millisecond})
	if err == nil || !strings.Contains(err.Error(), "within 500ms") || !strings.Contains(err.Error(), "stuck") {
		t.Fatalf("want a timeout error with the stderr: %v", err)
	}
	if d := time.Since(begin); d > 20*time.Second {
		t.Fatalf("the failed start took %s", d)
	}
}

func TestParentSIGKILLTakesSlirpDown(t *testing.T) {
	if _, err := Resolve(""); err != nil {
		testenv.Missing(t, "%v", err)
	}
	ns := nettest.New(t)
	sock := filepath.Join(t.TempDir(), "s.sock")
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "SLIRP_TEST_HELPER=start", "SLIRP_TEST_NETNS="+ns.Path, "SLIRP_TEST_SOCKET="+sock)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	pid, perr := strconv.Atoi(strings.TrimSpace(line))
	if err != nil || perr != nil {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("helper: %q %v", line, err)
	}
	pidfd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		t.Fatalf("pidfd of slirp4netns %d: %v", pid, err)
	}
	defer unix.Close(pidfd)
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	fds := []unix.PollFd{{Fd: int32(pidfd), Events: unix.POLLIN}}
	n, err := unix.Poll(fds, 15000)
	if err != nil || n != 1 {
		unix.Kill(pid, unix.SIGKILL)
		t.Fatalf("slirp4netns %d outlived its SIGKILLed parent (poll %d, %v)", pid, n, err)
	}
}

func TestArgs(t *testing.T) {
	all := &Features{Configure: true, ReadyFD: true, ExitFD: true, APISocket: true, CIDR: true,
		DisableHostLoopback: true, IPv6: true, Sandbox: true, Seccomp: true, KernelSeccomp: true}
	old := &Features{Configure: true, ReadyFD: true, ExitFD: true}
	_, cidr, _ := net.ParseCIDR("192.168.7.0/24")
	_, tiny, _ := net.ParseCIDR("10.0.0.0/28")
	_, v6, _ := net.ParseCIDR("fd00::/64")
	for _, tc := range []struct {
		name string
		o    Options
		want string // the joined args, or the error's substring after "!"
	}{
		{"defaults", Options{Features: all, Target: Target{PID: 42}},
			"--configure --mtu 65520 --ready-fd 3 --exit-fd 4 --enable-sandbox --enable-seccomp 42 tap0"},
		{"auto off when unsupported", Options{Features: old, Target: Target{PID: 42}},
			"--configure --mtu 65520 --ready-fd 3 --exit-fd 4 42 tap0"},
		{"all", Options{Features: all, Target: Target{NetNS: "/n", UserNS: "/u"}, IfName: "eth0", MTU: 1500, CIDR: cidr,
			DisableHostLoopback: true, IPv6: true, Sandbox: False, Seccomp: False, APISocket: "/s"},
			"--configure --mtu 1500 --ready-fd 3 --exit-fd 4 --cidr 192.168.7.0/24 --disable-host-loopback --api-socket s --enable-ipv6 --userns-path=/u --netns-type=path /n eth0"},
		{"sandbox true unsupported", Options{Features: old, Target: Target{PID: 1}, Sandbox: True}, "!--slirp4netns-sandbox"},
		{"seccomp true without kernel", Options{Features: &Features{Configure: true, Seccomp: true}, Target: Target{PID: 1}, Seccomp: True}, "!--slirp4netns-seccomp"},
		{"ipv6 unsupported", Options{Features: old, Target: Target{PID: 1}, IPv6: true}, "!--ipv6"},
		{"no target", Options{Features: all}, "!exactly one"},
		{"files", Options{Features: all, Target: Target{NetNSFile: os.Stdin, UserNSFile: os.Stdin}, Sandbox: False, Seccomp: False},
			"--configure --mtu 65520 --ready-fd 3 --exit-fd 4 --userns-path=/proc/self/fd/6 --netns-type=path /proc/self/fd/5 tap0"},
		{"files unprivileged: no sandbox", Options{Features: all, Target: Target{NetNSFile: os.Stdin}, euid: 1000},
			"--configure --mtu 65520 --ready-fd 3 --exit-fd 4 --enable-seccomp --netns-type=path /proc/self/fd/5 tap0"},
		{"files unprivileged: sandbox true", Options{Features: all, Target: Target{NetNSFile: os.Stdin}, euid: 1000, Sandbox: True}, "!--slirp4netns-sandbox=true"},
		{"files as root: sandbox", Options{Features: all, Target: Target{NetNSFile: os.Stdin}, Seccomp: False},
			"--configure --mtu 65520 --ready-fd 3 --exit-fd 4 --enable-sandbox --netns-type=path /proc/self/fd/5 tap0"},
		{"file and pid", Options{Features: all, Target: Target{PID: 1, NetNSFile: os.Stdin}}, "!exactly one"},
		{"two targets", Options{Features: all, Target: Target{PID: 1, NetNS: "/n"}}, "!exactly one"},
		{"mtu too big", Options{Features: all, Target: Target{PID: 1}, MTU: 70000}, "!--mtu"},
		{"mtu too small", Options{Features: all, Target: Target{PID: 1}, MTU: 100}, "!--mtu"},
		{"cidr too small", Options{Features: all, Target: Target{PID: 1}, CIDR: tiny}, "!/25"},
		{"cidr v6", Options{Features: all, Target: Target{PID: 1}, CIDR: v6}, "!IPv4"},
		{"ifname long", Options{Features: all, Target: Target{PID: 1}, IfName: "abcdefghijklmnop"}, "!--ifname"},
		{"ifname slash", Options{Features: all, Target: Target{PID: 1}, IfName: "a/b"}, "!--ifname"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.o.Binary = "/bin/slirp4netns"
			args, _, err := tc.o.args()
			if e, ok := strings.CutPrefix(tc.want, "!"); ok {
				if err == nil || !strings.Contains(err.Error(), e) {
					t.Fatalf("want an error with %q, got %v (%q)", e, err, args)
				}
				return
			}
			if err != nil || strings.Join(args, " ") != tc.want {
				t.Fatalf("args %q, %v\nwant %q", strings.Join(args, " "), err, tc.want)
			}
		})
	}
}

func TestParseToggle(t *testing.T) {
	for in, want := range map[string]Toggle{"": Auto, "auto": Auto, "true": True, "false": False} {
		if got, err := ParseToggle("--x", in); err != nil || got != want {
			t.Errorf("%q: %v %v", in, got, err)
		}
	}
	if _, err := ParseToggle("--slirp4netns-sandbox", "yes"); err == nil || !strings.Contains(err.Error(), "--slirp4netns-sandbox") {
		t.Errorf("yes: %v", err)
	}
}

func TestResolveMissing(t *testing.T) {
	_, err := Resolve("/nonexistent/slirp4netns")
	if err == nil || !strings.Contains(err.Error(), "apt-get install slirp4netns") {
		t.Fatalf("want an install hint: %v", err)
	}
}

// TestAttachesToAPersistentTap: slirp4netns configures a tap device that exists already (as the
// child creates it) and leaves it when it ends, so its exit does not wait for the device's removal;
// Spawn returns before the network is up, Ready waits; the features can be the Assumed ones.
func TestAttachesToAPersistentTap(t *testing.T) {
	bin, _ := slirpBinary(t)
	ns := nettest.New(t)
	if err := ns.Do(func() error {
		tun, err := netconf.OpenTun()
		if err != nil {
			return err
		}
		return netconf.CreateTap(tun, DefaultIfName)
	}); err != nil {
		t.Fatal(err)
	}
	p, err := Spawn(Options{Binary: bin, Features: Assumed(), Target: Target{NetNS: ns.Path}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	if err := p.Ready(); err != nil {
		t.Fatal(err)
	}
	inspect := func() *netconf.Link {
		var st *netconf.State
		if err := ns.Do(func() (err error) { st, err = netconf.Inspect(); return }); err != nil {
			t.Fatal(err)
		}
		return st.Link(DefaultIfName)
	}
	if l := inspect(); l == nil || !l.Up || len(l.Addrs) == 0 || l.Addrs[0].String() != "10.0.2.100/24" {
		t.Fatalf("%s inside: %+v", DefaultIfName, l)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if l := inspect(); l == nil {
		t.Fatalf("%s went with slirp4netns: it did not attach to the persistent device", DefaultIfName)
	}
}

// TestAssumedIsWhatSlirp4netnsSupports: the features Assumed gives without running slirp4netns are
// those its --help shows, for the slirp4netns installed here.
func TestAssumedIsWhatSlirp4netnsSupports(t *testing.T) {
	_, probed := slirpBinary(t)
	if got := Assumed(); *got != *probed {
		t.Errorf("Assumed() = %+v, but slirp4netns --help says %+v", *got, *probed)
	}
}

// TestReadyExplainsATooOldSlirp4netns: one that rejects the flags Assumed gives and exits is asked
// what it supports, and the error says it is too old.
func TestReadyExplainsATooOldSlirp4netns(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "slirp4netns")
	script := "#!/bin/sh\nif [ \"$1\" = --help ]; then echo 'Usage: slirp4netns [OPTION]... PID TAPNAME'; echo '  -c, --configure'; exit 0; fi\necho 'slirp4netns: unrecognized option' >&2\nexit 1\n"
	if err := os.WriteFile(bin, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	p, err := Spawn(Options{Binary: bin, Features: Assumed(), Target: Target{NetNS: "/proc/self/ns/net"}})
	if err != nil {
		t.Fatal(err)
	}
	err = p.Ready()
	if err == nil || !strings.Contains(err.Error(), "older than slirp4netns v0.4.0") {
		t.Errorf("Ready: %v, want the error to say the binary is older than v0.4.0", err)
	}
}
