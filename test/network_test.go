package test

// The network: --net=none|slirp4netns, what the sandbox sees inside, published ports through both
// port drivers, the API socket, and that nothing (slirp4netns, a listener, a socket) outlives a run.
// Every connection is to the host's loopback or to addresses inside the sandbox's own namespace.

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rootless-containers/rootlesskit/v2/pkg/api/client"
	"github.com/rootless-containers/rootlesskit/v2/pkg/port"

	"github.com/rkexec/rkexec/pkg/net/unixsock"
)

// perlServer is a command for inside the sandbox: TCP and UDP servers on ports $1 and $2 of 0.0.0.0
// and [::] that answer with the peer address they see ("PEER\n" for TCP, "PEER DATAGRAM" for UDP);
// "ready" on stdout once they listen.
const perlServer = `use strict; use IO::Socket::IP; use IO::Select; use Socket; $| = 1;
my ($tp, $up) = @ARGV; my @l;
for my $a ("0.0.0.0", "::") {
  push @l, IO::Socket::IP->new(LocalHost => $a, LocalPort => $tp, Listen => 64, ReuseAddr => 1, V6Only => 1, Proto => "tcp") or die "tcp $a: $@";
  push @l, IO::Socket::IP->new(LocalHost => $a, LocalPort => $up, V6Only => 1, Proto => "udp") or die "udp $a: $@";
}
my $sel = IO::Select->new(@l);
print "ready\n";
while (my @r = $sel->can_read) {
  for my $s (@r) {
    if ($s->socktype == SOCK_STREAM) { my $c = $s->accept or next; print $c $c->peerhost, "\n"; close $c; next }
    my $from = $s->recv(my $buf, 2048); defined $from or next;
    $s->send($s->peerhost . " " . $buf, 0, $from);
  }
}`

// freeHostPort returns a port free on the host's 127.0.0.1 for TCP and UDP at the time of the call.
func freeHostPort(t testing.TB) int {
	t.Helper()
	for range 20 {
		l, err := net.Listen("tcp4", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		p := l.Addr().(*net.TCPAddr).Port
		u, err := net.ListenPacket("udp4", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
		l.Close()
		if err == nil {
			u.Close()
			return p
		}
	}
	t.Fatal("no free port")
	return 0
}

// startServerSandbox runs perlServer in a sandbox named name (inside ports 80 and 53) and waits
// until it listens.
func startServerSandbox(t *testing.T, name string, flags ...string) *serverBox {
	t.Helper()
	args := append(append([]string{"--name", name}, flags...), "--", "perl", "-e", perlServer, "80", "53", name)
	cmd := startRkexec(t, args...)
	eventually(t, 20*time.Second, 10*time.Millisecond, func() error {
		out, errOut := outputOf(cmd)
		if strings.Contains(out, "ready\n") {
			return nil
		}
		if strings.Contains(errOut, "rkexec:") {
			t.Fatalf("the sandbox failed: %s", errOut)
		}
		return fmt.Errorf("not listening yet; stderr: %s", errOut)
	})
	return &serverBox{name: name, stateDir: filepath.Join(runtimeDirOf(t), "rkexec", name)}
}

// serverBox is a running startServerSandbox; the test's clean-up ends it.
type serverBox struct {
	name     string
	stateDir string
}

// firstLineFrom connects from src (empty: any) to addr and returns the first line the server answers
// (the network tests' servers answer the peer address they saw; the docker-proxy stub, its name).
func firstLineFrom(t testing.TB, src, addr string) string {
	t.Helper()
	d := net.Dialer{Timeout: 10 * time.Second}
	if src != "" {
		d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(src)}
	}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatalf("connect to %s: %v", addr, err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		t.Fatalf("through %s: %v", addr, err)
	}
	return strings.TrimSpace(line)
}

// udpPeerSeen sends a datagram from src to addr and returns the address the server inside saw.
func udpPeerSeen(t testing.TB, src, addr string) string {
	t.Helper()
	var laddr *net.UDPAddr
	if src != "" {
		laddr = &net.UDPAddr{IP: net.ParseIP(src)}
	}
	raddr, err := net.ResolveUDPAddr("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	c, err := net.DialUDP("udp", laddr, raddr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	buf := make([]byte, 2048)
	for range 10 { // UDP: a lost datagram is retried
		c.Write([]byte("ping"))
		c.SetReadDeadline(time.Now().Add(time.Second))
		if n, err := c.Read(buf); err == nil {
			peer, msg, _ := strings.Cut(string(buf[:n]), " ")
			if msg != "ping" {
				t.Fatalf("udp through %s: %q", addr, buf[:n])
			}
			return peer
		}
	}
	t.Fatalf("no UDP answer through %s", addr)
	return ""
}

// refused returns nil when nothing listens on addr (the connection is refused).
func refused(t testing.TB, addr string) error {
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if errors.Is(err, syscall.ECONNREFUSED) {
		return nil
	}
	if err == nil {
		c.Close()
	}
	return fmt.Errorf("%s still listens (%v)", addr, err)
}

func hostHasIPv6Loopback() bool {
	l, err := net.Listen("tcp6", "[::1]:0")
	if err == nil {
		l.Close()
	}
	return err == nil
}

func TestNetNoneHasLoopbackOnly(t *testing.T) {
	t.Parallel()
	res := rkexec(t, "--net=none", "--", "sh", "-c", "ls /sys/class/net; cat /sys/class/net/lo/flags; readlink /proc/self/ns/net")
	wantExit(t, res, 0)
	lines := nonEmptyLines(res.Stdout)
	if len(lines) != 3 || lines[0] != "lo" || lines[1] != "0x9" {
		t.Fatalf("--net=none: want lo only, up (flags 0x9), in /sys/class/net; got %q", lines)
	}
	host, _ := os.Readlink("/proc/self/ns/net")
	if lines[2] == host {
		t.Fatalf("--net=none runs in the host's network namespace %s", host)
	}
}

func TestSlirp4netnsInside(t *testing.T) {
	t.Parallel()
	script := `cat /sys/class/net/$1/mtu; ip -4 -o addr show dev $1 | awk '{print $4}'; ip -4 route show default; ls /sys/class/net | tr '\n' ' '; echo; cat /sys/class/net/lo/flags`
	for _, tc := range []struct {
		name               string
		flags              []string
		dev, mtu, addr, gw string
	}{
		{"defaults", nil, "tap0", "65520", "10.0.2.100/24", "10.0.2.2"},
		{"mtu cidr ifname", []string{"--mtu=1500", "--cidr=10.9.0.0/24", "--ifname=eth7"}, "eth7", "1500", "10.9.0.100/24", "10.9.0.2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			args := append(append([]string{"--net=slirp4netns"}, tc.flags...), "--", "sh", "-c", script, "sh", tc.dev)
			res := rkexec(t, args...)
			wantExit(t, res, 0)
			lines := nonEmptyLines(res.Stdout)
			want := []string{tc.mtu, tc.addr, "default via " + tc.gw + " dev " + tc.dev, "", "0x9"}
			if len(lines) != 5 || lines[0] != want[0] || lines[1] != want[1] || !strings.HasPrefix(lines[2], want[2]) ||
				!strings.Contains(lines[3], tc.dev) || !strings.Contains(lines[3], "lo") || lines[4] != want[4] {
				t.Fatalf("inside: %q\nwant mtu %s, %s, %s..., lo and %s in /sys/class/net, lo up", lines, tc.mtu, tc.addr, want[2], tc.dev)
			}
		})
	}
}

func TestSandboxReachesHostLoopbackThroughGateway(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			io.WriteString(c, "hello from the host\n")
			c.Close()
		}
	}()
	p := strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
	dial := `exec 3<>/dev/tcp/10.0.2.2/$1 && cat <&3`
	res := rkexec(t, "--net=slirp4netns", "--", "timeout", "20", "bash", "-c", dial, "bash", p)
	wantExit(t, res, 0)
	if res.Stdout != "hello from the host\n" {
		t.Fatalf("through 10.0.2.2: %q, stderr %s", res.Stdout, res.Stderr)
	}
	res = rkexec(t, "--net=slirp4netns", "--disable-host-loopback", "--", "timeout", "20", "bash", "-c", dial, "bash", p)
	if res.ExitCode == 0 || strings.Contains(res.Stdout, "hello") {
		t.Fatalf("with --disable-host-loopback the host's 127.0.0.1 answered: %q (exit %d)", res.Stdout, res.ExitCode)
	}
}

func TestIPv6(t *testing.T) {
	t.Parallel()
	script := `ip -6 -o addr show dev tap0 scope global | awk '{print $4}'; ip -6 route show default; grep fd00 /etc/resolv.conf`
	res := rkexec(t, "--net=slirp4netns", "--ipv6", "--", "sh", "-c", script)
	wantExit(t, res, 0)
	lines := nonEmptyLines(res.Stdout)
	if len(lines) != 3 || lines[0] != "fd00::100/64" || !strings.HasPrefix(lines[1], "default via fd00::2 dev tap0") || lines[2] != "nameserver fd00::3" {
		t.Fatalf("--ipv6 inside: %q", lines)
	}
	if !hostHasIPv6Loopback() {
		return // a host property: nothing to reach
	}
	l, err := net.Listen("tcp6", "[::1]:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		if c, err := l.Accept(); err == nil {
			io.WriteString(c, "hello over IPv6\n")
			c.Close()
		}
	}()
	p := strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
	res = rkexec(t, "--net=slirp4netns", "--ipv6", "--", "timeout", "20", "bash", "-c", `exec 3<>/dev/tcp/fd00::2/$1 && cat <&3`, "bash", p)
	wantExit(t, res, 0)
	if res.Stdout != "hello over IPv6\n" {
		t.Fatalf("the host's ::1 through fd00::2: %q", res.Stdout)
	}
}

func TestResolvConfAndHosts(t *testing.T) {
	t.Parallel()
	hostResolv, _ := os.ReadFile("/etc/resolv.conf")
	for _, flags := range [][]string{nil, {"--copy-up=/etc"}} {
		t.Run(strings.Join(append([]string{"net"}, flags...), " "), func(t *testing.T) {
			t.Parallel()
			args := append(append([]string{"--net=slirp4netns"}, flags...), "--", "sh", "-c", "cat /etc/resolv.conf; echo ---; cat /etc/hosts")
			res := rkexec(t, args...)
			wantExit(t, res, 0)
			resolv, hosts, _ := strings.Cut(res.Stdout, "---\n")
			if resolv != "nameserver 10.0.2.3\n" {
				t.Errorf("resolv.conf inside: %q", resolv)
			}
			if !strings.Contains(hosts, "127.0.0.1\tlocalhost\n") || !strings.Contains(hosts, "10.0.2.100\t") {
				t.Errorf("hosts inside: %q", hosts)
			}
		})
	}
	if after, _ := os.ReadFile("/etc/resolv.conf"); string(after) != string(hostResolv) {
		t.Errorf("the host's /etc/resolv.conf changed")
	}
}

func TestPublishedPorts(t *testing.T) {
	t.Parallel()
	v6 := hostHasIPv6Loopback()
	for _, tc := range []struct{ net, driver string }{{"slirp4netns", "builtin"}, {"slirp4netns", "slirp4netns"}, {"none", "builtin"}} {
		driver := tc.driver
		t.Run(tc.net+"-"+driver, func(t *testing.T) {
			t.Parallel()
			tp, up := freeHostPort(t), freeHostPort(t)
			flags := []string{"--net=" + tc.net, "--port-driver=" + driver,
				fmt.Sprintf("-p=127.0.0.1:%d:80/tcp", tp), fmt.Sprintf("-p=127.0.0.1:%d:53/udp", up)}
			var t6, t64 int
			if driver == "builtin" && v6 {
				t6, t64 = freeHostPort(t), freeHostPort(t)
				flags = append(flags, fmt.Sprintf("-p=[::1]:%d:80/tcp6", t6), fmt.Sprintf("-p=[::1]:%d:127.0.0.1:80/tcp", t64))
			}
			startServerSandbox(t, "pub-"+tc.net+"-"+driver, flags...)
			tcpAddr := net.JoinHostPort("127.0.0.1", strconv.Itoa(tp))
			udpAddr := net.JoinHostPort("127.0.0.1", strconv.Itoa(up))
			if driver == "builtin" {
				// The server inside sees the client's own address, for TCP and UDP.
				if peer := firstLineFrom(t, "127.0.0.2", tcpAddr); peer != "127.0.0.2" {
					t.Errorf("TCP from 127.0.0.2 seen inside as %s", peer)
				}
				if peer := udpPeerSeen(t, "127.0.0.2", udpAddr); peer != "127.0.0.2" {
					t.Errorf("UDP from 127.0.0.2 seen inside as %s", peer)
				}
				if v6 {
					if peer := firstLineFrom(t, "", net.JoinHostPort("::1", strconv.Itoa(t6))); peer != "::1" {
						t.Errorf("tcp6 from ::1 seen inside as %s", peer)
					}
					if peer := firstLineFrom(t, "", net.JoinHostPort("::1", strconv.Itoa(t64))); peer != "127.0.0.1" {
						t.Errorf("[::1] outside to 127.0.0.1 inside: seen as %s", peer)
					}
				}
			} else {
				// slirp4netns forwards to the tap address from its gateway.
				if peer := firstLineFrom(t, "", tcpAddr); peer != "10.0.2.2" {
					t.Errorf("TCP through slirp4netns seen inside as %s", peer)
				}
				if peer := udpPeerSeen(t, "", udpAddr); peer != "10.0.2.2" {
					t.Errorf("UDP through slirp4netns seen inside as %s", peer)
				}
			}
		})
	}
}

func TestPortCommandAndAPISocket(t *testing.T) {
	t.Parallel()
	for _, driver := range []string{"builtin", "slirp4netns"} {
		t.Run(driver, func(t *testing.T) {
			t.Parallel()
			name := "api-" + driver
			s := startServerSandbox(t, name, "--net=slirp4netns", "--port-driver="+driver)
			sock := filepath.Join(s.stateDir, "api.sock")
			if fi, err := os.Stat(sock); err != nil || fi.Mode().Perm() != 0o600 {
				t.Fatalf("api.sock: %v %v", fi, err)
			}
			hp := freeHostPort(t)
			addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(hp))
			res := rkexec(t, "port", "add", name, fmt.Sprintf("127.0.0.1:%d:80/tcp", hp))
			wantExit(t, res, 0)
			id := strings.TrimSpace(res.Stdout)
			firstLineFrom(t, "", addr)
			// ps and info show the network and the port added at run time.
			spec := fmt.Sprintf("127.0.0.1:%d:80/tcp", hp)
			res = rkexec(t, "ps")
			wantExit(t, res, 0)
			if !strings.Contains(res.Stdout, "slirp4netns") || !strings.Contains(res.Stdout, spec) {
				t.Errorf("ps does not show the network and %s:\n%s", spec, res.Stdout)
			}
			res = rkexec(t, "info", name)
			wantExit(t, res, 0)
			if !strings.Contains(res.Stdout, `"network": "slirp4netns"`) || !strings.Contains(res.Stdout, spec) {
				t.Errorf("info does not show the network and %s:\n%s", spec, res.Stdout)
			}
			res = rkexec(t, "port", "ls", name)
			wantExit(t, res, 0)
			if !strings.Contains(res.Stdout, id+" ") || !strings.Contains(res.Stdout, addr) {
				t.Fatalf("port ls: %q", res.Stdout)
			}
			// The same port twice: a clear error, nothing added.
			res = rkexec(t, "port", "add", name, fmt.Sprintf("127.0.0.1:%d:80/tcp", hp))
			wantExit(t, res, 125)
			oneErrorLine(t, res, "already published")
			wantExit(t, rkexec(t, "port", "rm", name, id), 0)
			eventually(t, 5*time.Second, 20*time.Millisecond, func() error { return refused(t, addr) })
			res = rkexec(t, "port", "rm", name, "99")
			wantExit(t, res, 125)
			oneErrorLine(t, res, "no such port")

			// RootlessKit's own client.
			// The harness's XDG_RUNTIME_DIR may be longer than a socket address: dial through a short alias.
			c := client.NewWithHTTPClient(&http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
				return unixsock.DialContext(ctx, sock)
			}}})
			ctx := context.Background()
			info, err := c.Info(ctx)
			if err != nil || info.PortDriver == nil || info.PortDriver.Driver != driver || info.NetworkDriver == nil ||
				info.NetworkDriver.Driver != "slirp4netns" || !info.NetworkDriver.ChildIP.Equal(net.ParseIP("10.0.2.100")) || info.StateDir != s.stateDir {
				t.Fatalf("info: %+v %v", info, err)
			}
			st, err := c.PortManager().AddPort(ctx, port.Spec{Proto: "tcp", ParentIP: "127.0.0.1", ParentPort: hp, ChildPort: 80})
			if err != nil {
				t.Fatal(err)
			}
			firstLineFrom(t, "", addr)
			if list, err := c.PortManager().ListPorts(ctx); err != nil || len(list) != 1 || list[0].ID != st.ID {
				t.Fatalf("list: %+v %v", list, err)
			}
			if err := c.PortManager().RemovePort(ctx, st.ID); err != nil {
				t.Fatal(err)
			}
			eventually(t, 5*time.Second, 20*time.Millisecond, func() error { return refused(t, addr) })

			// Bad requests get a clear 4xx; the socket serves on.
			hc := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
				return unixsock.DialContext(ctx, sock)
			}}}
			for _, bad := range []struct {
				body string
				code int
			}{
				{`{"proto":`, 400},
				{`{"proto":"tcp","parentPort":1,"childPort":1,"bogus":1}`, 400},
				{`{"proto":"tcp","parentIP":"127.0.0.1","parentPort":` + strconv.Itoa(hp) + `,"childPort":80}{}`, 400},
				{`{"proto":"` + strings.Repeat("x", 1<<20) + `"}`, 413},
			} {
				resp, err := hc.Post("http://rkexec/v1/ports", "application/json", strings.NewReader(bad.body))
				if err != nil {
					t.Fatalf("POST: %v", err)
				}
				resp.Body.Close()
				if resp.StatusCode != bad.code {
					t.Errorf("POST %.40q: %d, want %d", bad.body, resp.StatusCode, bad.code)
				}
			}
			if list, err := c.PortManager().ListPorts(ctx); err != nil || len(list) != 0 {
				t.Fatalf("after bad requests: %+v %v", list, err)
			}
		})
	}
}

func TestNetworkBadInput(t *testing.T) {
	t.Parallel()
	busy, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { busy.Close() }) // after the parallel subtests
	bp := busy.Addr().(*net.TCPAddr).Port
	for _, tc := range []struct {
		name  string
		args  []string
		words []string
	}{
		{"unknown net", []string{"--net=bogus"}, []string{"--net", "bogus"}},
		{"unsupported net", []string{"--net=pasta"}, []string{"pasta", "not supported yet"}},
		{"slirp4netns missing", []string{"--net=slirp4netns", "--slirp4netns-binary=/nonexistent/slirp4netns"}, []string{"slirp4netns", "apt-get install slirp4netns"}},
		{"malformed -p", []string{"--net=slirp4netns", "--port-driver=builtin", "-p=8080"}, []string{"-p", "8080"}},
		{"bad proto", []string{"--net=slirp4netns", "--port-driver=builtin", "-p=127.0.0.1:8080:80/sctp"}, []string{"-p", "sctp"}},
		{"port in use builtin", []string{"--net=slirp4netns", "--port-driver=builtin", fmt.Sprintf("-p=127.0.0.1:%d:80/tcp", bp)}, []string{"in use"}},
		{"port in use slirp4netns", []string{"--net=slirp4netns", "--port-driver=slirp4netns", fmt.Sprintf("-p=127.0.0.1:%d:80/tcp", bp)}, []string{"in use"}},
		{"privileged port", []string{"--net=slirp4netns", "--port-driver=builtin", "-p=127.0.0.1:80:80/tcp"}, []string{"privileged", "ip_unprivileged_port_start"}},
		{"port driver with host", []string{"--port-driver=builtin"}, []string{"--port-driver", "--net"}},
		{"-p with host", []string{"-p=127.0.0.1:8080:80/tcp"}, []string{"-p", "--net"}},
		{"-p without port driver", []string{"--net=slirp4netns", "-p=127.0.0.1:8080:80/tcp"}, []string{"-p", "--port-driver"}},
		{"slirp4netns ports without slirp4netns", []string{"--net=none", "--port-driver=slirp4netns"}, []string{"--port-driver=slirp4netns", "--net=slirp4netns"}},
		{"cidr with host", []string{"--cidr=10.0.3.0/24"}, []string{"--cidr", "--net=slirp4netns"}},
		{"bad mtu", []string{"--net=slirp4netns", "--mtu=70000"}, []string{"--mtu"}},
		{"bad cidr", []string{"--net=slirp4netns", "--cidr=10.0.2.0"}, []string{"--cidr"}},
		{"bad sandbox", []string{"--net=slirp4netns", "--slirp4netns-sandbox=maybe"}, []string{"--slirp4netns-sandbox"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			marker := newMarker(t)
			res := rkexec(t, append(tc.args, "--", "sh", "-c", "echo started", marker)...)
			wantExit(t, res, 125)
			oneErrorLine(t, res, tc.words...)
			if strings.Contains(res.Stdout, "started") {
				t.Errorf("the command ran")
			}
		})
	}
	assertNoStateDirs(t)
}

// TestNothingOutlivesTheNetwork: after a normal exit, a crashed command and a SIGKILLed rkexec, no
// slirp4netns (its command line names the state dir), no listener and no state dir remain.
func TestNothingOutlivesTheNetwork(t *testing.T) {
	t.Parallel()
	for _, how := range []string{"exit", "crash", "sigkill"} {
		t.Run(how, func(t *testing.T) {
			t.Parallel()
			name := "left-" + how + "-" + strconv.Itoa(os.Getpid())
			stateDir := filepath.Join(runtimeDirOf(t), "rkexec", name)
			hp := freeHostPort(t)
			addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(hp))
			stop := filepath.Join(t.TempDir(), "stop")
			script := `echo ready; while [ ! -e "$1" ]; do sleep 0.02; done; [ "$2" = crash ] && kill -SEGV $$; exit 0`
			cmd := startRkexec(t, "--name", name, "--net=slirp4netns", "--port-driver=builtin", fmt.Sprintf("-p=127.0.0.1:%d:80/tcp", hp),
				"--", "sh", "-c", script, "sh", stop, how)
			eventually(t, 20*time.Second, 10*time.Millisecond, func() error {
				if out, _ := outputOf(cmd); !strings.Contains(out, "ready") {
					return fmt.Errorf("not started")
				}
				return nil
			})
			slirps := childrenNamed(t, cmd.Process.Pid, "slirp4netns")
			if len(slirps) != 1 {
				t.Fatalf("rkexec has %d slirp4netns children while the sandbox runs, want 1", len(slirps))
			}
			// Nothing listens on port 80 inside: the relay resets the connection, but it is accepted.
			if err := refused(t, addr); err == nil {
				t.Fatalf("the published port %s does not listen", addr)
			}
			switch how {
			case "sigkill":
				cmd.Process.Signal(syscall.SIGKILL)
				waitExit(t, cmd, 10*time.Second)
			default:
				os.WriteFile(stop, nil, 0o644)
				res := waitExit(t, cmd, 20*time.Second)
				want := 0
				if how == "crash" {
					want = 128 + int(syscall.SIGSEGV)
				}
				if res.status() != want {
					t.Errorf("exit status %d, want %d; stderr %s", res.status(), want, res.Stderr)
				}
			}
			eventually(t, 10*time.Second, 20*time.Millisecond, func() error {
				if comm, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", slirps[0])); err == nil && strings.TrimSpace(string(comm)) == "slirp4netns" {
					if st, ok := readProcStat(slirps[0]); !ok || st.State != "Z" {
						return fmt.Errorf("slirp4netns %d is still running", slirps[0])
					}
				}
				return nil
			})
			noProcessesLeft(t, name)
			eventually(t, 10*time.Second, 20*time.Millisecond, func() error { return refused(t, addr) })
			noStateDirWithin(t, stateDir, 10*time.Second)
		})
	}
}

// TestGivenStateDirIsLeftEmpty: in a --state-dir that existed before, the network's files (api.sock,
// slirp4netns.sock, resolv.conf, hosts) go with the rest.
func TestGivenStateDirIsLeftEmpty(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "given")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	res := rkexec(t, "--state-dir", dir, "--net=slirp4netns", "--port-driver=builtin", fmt.Sprintf("-p=127.0.0.1:%d:80/tcp", freeHostPort(t)),
		"--", "sh", "-c", `ls "$ROOTLESSKIT_STATE_DIR"`)
	wantExit(t, res, 0)
	for _, f := range []string{"api.sock", "slirp4netns.sock", "resolv.conf", "hosts"} {
		if !strings.Contains(res.Stdout, f) {
			t.Errorf("no %s in the state dir while the command ran: %q", f, res.Stdout)
		}
	}
	if left := dirEntries(t, dir); len(left) != 0 {
		t.Fatalf("left in the given state dir: %q", left)
	}
}

// TestShortRunsWithPublishedPorts: short runs with a published port never fail (RootlessKit's
// builtin driver fails some on a start-up race). RKEXEC_LONG_TESTS=1 makes it 1,000 runs.
func TestShortRunsWithPublishedPorts(t *testing.T) {
	t.Parallel()
	n := 20
	if os.Getenv("RKEXEC_LONG_TESTS") == "1" {
		n = 1000
	}
	hp := freeHostPort(t)
	for i := 0; i < n; i++ {
		res := rkexec(t, "--net=slirp4netns", "--port-driver=builtin", fmt.Sprintf("-p=127.0.0.1:%d:80/tcp", hp), "--", "true")
		if res.status() != 0 {
			t.Fatalf("run %d of %d: exit %d: %s", i+1, n, res.status(), res.Stderr)
		}
	}
}
