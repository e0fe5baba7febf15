package test

// --detach-netns, as RootlessKit does it and its wrappers use it: the command stays in the host's
// network namespace; the sandbox's is at <state-dir>/netns, entered with nsenter --net from inside
// the sandbox's user and mount namespaces (dockerd-rootless.sh from inside, containerd-rootless.sh
// and nerdctl from outside through child_pid); published ports reach servers in it; nothing is left.

import (
	"encoding/base64"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// hostInterfaces are the names of the host's network interfaces, sorted.
func hostInterfaces(t testing.TB) []string {
	t.Helper()
	ifs, err := net.Interfaces()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, i := range ifs {
		names = append(names, i.Name)
	}
	slices.Sort(names)
	return names
}

func TestDetachNetNS(t *testing.T) {
	t.Parallel()
	hostNS, err := os.Readlink("/proc/self/ns/net")
	if err != nil {
		t.Fatal(err)
	}
	hostResolv, _ := os.ReadFile("/etc/resolv.conf")
	hostIfs := strings.Join(hostInterfaces(t), " ")
	// The command's network namespace, interfaces and resolv.conf, then the detached namespace's.
	script := `readlink /proc/self/ns/net; ip -o link | awk -F': ' '{print $2}' | sed 's/@.*//' | sort | tr '\n' ' '; echo
base64 -w0 /etc/resolv.conf; echo
nsenter --net="$ROOTLESSKIT_STATE_DIR/netns" sh -c 'readlink /proc/self/ns/net; ip -4 -o addr show | awk "{print \$2, \$4}" | sort | tr "\n" " "; echo; ip -4 route show default'`
	for _, tc := range []struct {
		net   string
		addrs string // ip -4 addr of the detached namespace
		route string // its default route
	}{
		{"slirp4netns", "lo 127.0.0.1/8 tap0 10.0.2.100/24", "default via 10.0.2.2 dev tap0"},
		{"none", "lo 127.0.0.1/8", ""},
		// As RootlessKit: the namespace is made with the host's network too (with lo up, here).
		{"host", "lo 127.0.0.1/8", ""},
	} {
		t.Run(tc.net, func(t *testing.T) {
			t.Parallel()
			res := rkexec(t, "--net="+tc.net, "--detach-netns", "--", "sh", "-c", script)
			wantExit(t, res, 0)
			lines := strings.Split(strings.TrimSuffix(res.Stdout, "\n"), "\n")
			if len(lines) < 4 {
				t.Fatalf("output: %q", res.Stdout)
			}
			if lines[0] != hostNS {
				t.Errorf("the command runs in network namespace %s, want the host's %s", lines[0], hostNS)
			}
			if got := strings.TrimSpace(lines[1]); got != hostIfs {
				t.Errorf("the command sees interfaces %q, want the host's %q", got, hostIfs)
			}
			if got, _ := base64.StdEncoding.DecodeString(lines[2]); string(got) != string(hostResolv) {
				t.Errorf("the command's /etc/resolv.conf is not the host's: %q, want %q", got, hostResolv)
			}
			if lines[3] == hostNS {
				t.Errorf("nsenter --net=<state-dir>/netns stays in the host's namespace %s", hostNS)
			}
			if got := strings.TrimSpace(lines[4]); got != tc.addrs {
				t.Errorf("the detached namespace has %q, want %q", got, tc.addrs)
			}
			route := ""
			if len(lines) > 5 {
				route = strings.TrimSpace(lines[5])
			}
			if !strings.HasPrefix(route, tc.route) || (tc.route == "" && route != "") {
				t.Errorf("the detached namespace's default route is %q, want %q", route, tc.route)
			}
		})
	}
}

// TestDetachNetNSEnteredFromOutside: as containerd-rootless.sh and nerdctl enter it, with the flags
// dockerd-rootless.sh passes: nsenter into child_pid's user and mount namespaces, then --net.
func TestDetachNetNSEnteredFromOutside(t *testing.T) {
	t.Parallel()
	s := startSandbox(t, "detach-outside", "--net=slirp4netns", "--detach-netns", "--copy-up=/etc", "--copy-up=/run", "--propagation=rslave",
		"--disable-host-loopback", "--port-driver=builtin")
	netns := filepath.Join(s.stateDir, "netns")
	out, err := exec.Command("nsenter", "-U", "--preserve-credentials", "-m", "-t", strconv.Itoa(s.childPID),
		"nsenter", "--net="+netns, "ip", "-4", "-o", "addr", "show", "dev", "tap0").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "inet 10.0.2.100/24") {
		t.Fatalf("nsenter -U -m -t child_pid nsenter --net=%s: %v\n%s", netns, err, out)
	}
	// Outside the sandbox's mount namespace the file is only a file: no namespace to enter.
	if out, err := exec.Command("nsenter", "--net="+netns, "true").CombinedOutput(); err == nil {
		t.Errorf("nsenter --net=%s from outside the sandbox worked: %s", netns, out)
	}
	if fi, err := os.Lstat(netns); err != nil || !fi.Mode().IsRegular() {
		t.Errorf("%s outside: %v %v, want a regular file", netns, fi, err)
	}
}

// startDetachedServer runs perlServer (ports 80 and 53) in the detached network namespace of a
// sandbox named name, and waits until it listens.
func startDetachedServer(t *testing.T, name string, flags ...string) {
	t.Helper()
	netns := filepath.Join(runtimeDirOf(t), "rkexec", name, "netns")
	args := append(append([]string{"--name", name, "--detach-netns"}, flags...),
		"--", "nsenter", "--net="+netns, "perl", "-e", perlServer, "80", "53", name)
	cmd := startRkexec(t, args...)
	eventually(t, 20*time.Second, 10*time.Millisecond, func() error {
		out, errOut := outputOf(cmd)
		if strings.Contains(out, "ready\n") {
			return nil
		}
		if strings.Contains(errOut, "rkexec:") || strings.Contains(errOut, "nsenter:") {
			t.Fatalf("the sandbox failed: %s", errOut)
		}
		return fmt.Errorf("not listening yet; stderr: %s", errOut)
	})
}

// TestDetachNetNSPublishedPorts: ports published through both drivers reach a server in the
// detached namespace (the builtin driver dials from a socket made in it).
func TestDetachNetNSPublishedPorts(t *testing.T) {
	t.Parallel()
	for _, driver := range []string{"builtin", "slirp4netns"} {
		t.Run(driver, func(t *testing.T) {
			t.Parallel()
			tp, up := freeHostPort(t), freeHostPort(t)
			startDetachedServer(t, "detach-pub-"+driver, "--net=slirp4netns", "--port-driver="+driver,
				fmt.Sprintf("-p=127.0.0.1:%d:80/tcp", tp), fmt.Sprintf("-p=127.0.0.1:%d:53/udp", up))
			tcpAddr := net.JoinHostPort("127.0.0.1", strconv.Itoa(tp))
			udpAddr := net.JoinHostPort("127.0.0.1", strconv.Itoa(up))
			// The builtin driver keeps a loopback client's address; slirp4netns forwards from its gateway.
			src, want := "127.0.0.2", "127.0.0.2"
			if driver == "slirp4netns" {
				src, want = "", "10.0.2.2"
			}
			for range 3 { // several connections: each is dialled anew inside
				if peer := firstLineFrom(t, src, tcpAddr); peer != want {
					t.Errorf("TCP through %s seen inside as %s, want %s", driver, peer, want)
				}
			}
			if peer := udpPeerSeen(t, src, udpAddr); peer != want {
				t.Errorf("UDP through %s seen inside as %s, want %s", driver, peer, want)
			}
		})
	}
}

// TestDetachNetNSLeavesNothing: after a normal exit and after SIGKILL of rkexec, no slirp4netns, no
// process of the sandbox, no listener and no state dir (a given one: empty, netns included) remain.
func TestDetachNetNSLeavesNothing(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		how   string
		given bool
	}{{"exit", false}, {"sigkill", false}, {"exit", true}, {"sigkill", true}} {
		t.Run(fmt.Sprintf("%s given=%v", tc.how, tc.given), func(t *testing.T) {
			t.Parallel()
			name := fmt.Sprintf("detach-left-%s-%v-%d", tc.how, tc.given, os.Getpid())
			stateDir := filepath.Join(runtimeDirOf(t), "rkexec", name)
			dirArgs := []string{"--name", name}
			if tc.given {
				stateDir = filepath.Join(t.TempDir(), "given")
				if err := os.Mkdir(stateDir, 0o700); err != nil {
					t.Fatal(err)
				}
				dirArgs = []string{"--state-dir", stateDir}
			}
			hp := freeHostPort(t)
			addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(hp))
			stop := filepath.Join(t.TempDir(), "stop")
			script := `echo ready; while [ ! -e "$1" ]; do sleep 0.02; done`
			args := append(dirArgs, "--net=slirp4netns", "--detach-netns", "--port-driver=builtin", fmt.Sprintf("-p=127.0.0.1:%d:80/tcp", hp),
				"--", "sh", "-c", script, "sh", stop, name)
			cmd := startRkexec(t, args...)
			eventually(t, 20*time.Second, 10*time.Millisecond, func() error {
				if out, errOut := outputOf(cmd); !strings.Contains(out, "ready") {
					if exitedUnreaped(cmd.Process.Pid) {
						t.Fatalf("rkexec exited before the command started: %s", errOut)
					}
					return fmt.Errorf("not started")
				}
				return nil
			})
			if !slices.Contains(dirEntries(t, stateDir), "netns") {
				t.Errorf("no netns in the state dir while the sandbox runs: %q", dirEntries(t, stateDir))
			}
			slirps := childrenNamed(t, cmd.Process.Pid, "slirp4netns")
			if len(slirps) != 1 {
				t.Fatalf("rkexec has %d slirp4netns children while the sandbox runs, want 1", len(slirps))
			}
			if tc.how == "sigkill" {
				cmd.Process.Signal(syscall.SIGKILL)
				waitExit(t, cmd, 10*time.Second)
			} else {
				os.WriteFile(stop, nil, 0o644)
				if res := waitExit(t, cmd, 20*time.Second); res.status() != 0 {
					t.Errorf("exit status %d, want 0; stderr %s", res.status(), res.Stderr)
				}
			}
			eventually(t, 10*time.Second, 20*time.Millisecond, func() error {
				if st, ok := readProcStat(slirps[0]); ok && st.State != "Z" {
					if comm, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", slirps[0])); strings.TrimSpace(string(comm)) == "slirp4netns" {
						return fmt.Errorf("slirp4netns %d is still running", slirps[0])
					}
				}
				return nil
			})
			noProcessesLeft(t, name)
			eventually(t, 10*time.Second, 20*time.Millisecond, func() error { return refused(t, addr) })
			if tc.given {
				eventually(t, 10*time.Second, 20*time.Millisecond, func() error {
					if left := dirEntries(t, stateDir); len(left) != 0 {
						return fmt.Errorf("left in the given state dir: %q", left)
					}
					return nil
				})
			} else {
				noStateDirWithin(t, stateDir, 10*time.Second)
			}
		})
	}
}

// TestDetachNetNSFlags: the flag is in --help as containerd-rootless.sh looks for it (grep -w), and
// RootlessKit's conflict with a sandboxed slirp4netns is refused before anything starts.
func TestDetachNetNSFlags(t *testing.T) {
	t.Parallel()
	res := rkexec(t, "--help")
	wantExit(t, res, 0)
	if !regexp.MustCompile(`(^|[^[:alnum:]_])--detach-netns([^[:alnum:]_]|$)`).MatchString(res.Stdout) {
		t.Errorf("--help does not list --detach-netns:\n%s", res.Stdout)
	}
	marker := newMarker(t)
	res = rkexec(t, "--net=slirp4netns", "--detach-netns", "--slirp4netns-sandbox=true", "--", "sh", "-c", "echo started", marker)
	wantExit(t, res, 125)
	oneErrorLine(t, res, "--slirp4netns-sandbox", "--detach-netns")
	if strings.Contains(res.Stdout, "started") {
		t.Errorf("the command ran")
	}
	noProcessesLeft(t, marker)
	assertNoStateDirs(t)
}

// TestDetachNetNSAsDockerdRootless runs what moby's dockerd-rootless.sh runs inside, with its flags:
// IP forwarding on in the detached namespace, through nsenter -n"$ROOTLESSKIT_STATE_DIR/netns"; the
// host's setting stays as it was.
func TestDetachNetNSAsDockerdRootless(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("sysctl"); err != nil {
		skipOrFail(t, "sysctl in PATH (apt-get install procps)")
	}
	before, err := os.ReadFile("/proc/sys/net/ipv4/ip_forward")
	if err != nil {
		t.Fatal(err)
	}
	script := `netns="$ROOTLESSKIT_STATE_DIR/netns"
nsenter -n"$netns" sysctl -w net.ipv4.ip_forward=1 >/dev/null && nsenter -n"$netns" cat /proc/sys/net/ipv4/ip_forward`
	res := rkexec(t, "--net=slirp4netns", "--mtu=65520", "--slirp4netns-sandbox=auto", "--slirp4netns-seccomp=auto", "--disable-host-loopback",
		"--port-driver=builtin", "--copy-up=/etc", "--copy-up=/run", "--propagation=rslave", "--detach-netns", "--", "sh", "-c", script)
	wantExit(t, res, 0)
	if res.Stdout != "1\n" {
		t.Errorf("ip_forward in the detached namespace: %q, want 1", res.Stdout)
	}
	if after, _ := os.ReadFile("/proc/sys/net/ipv4/ip_forward"); string(after) != string(before) {
		t.Errorf("the host's ip_forward changed from %q to %q", before, after)
	}
}
