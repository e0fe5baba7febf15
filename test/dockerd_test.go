package test

// Real dockerd, rootless, on rkexec: Debian's docker.io runs its own, unmodified dockerd-rootless.sh
// with rkexec installed as rootlesskit (and as rootlesskit-docker-proxy) first in PATH. Nothing is
// pulled: the image is a busybox tree made here and loaded with docker import; every connection is to
// the host's loopback.

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rootless-containers/rootlesskit/v2/pkg/api/client"

	"github.com/rkexec/rkexec/pkg/net/unixsock"
)

const (
	// dockerdRootless is the wrapper Debian's docker.io ships (not on PATH).
	dockerdRootless = "/usr/share/docker.io/contrib/dockerd-rootless.sh"
	// dockerClient is docker.io's client, which speaks dockerd 20.10's API (a newer CLI elsewhere on
	// PATH may not).
	dockerClient = "/usr/bin/docker"
	// busyboxStatic is busybox-static's binary, the whole userland of the test image.
	busyboxStatic = "/bin/busybox"
	// dockerdStartTimeout bounds dockerd's start-up and shutdown; dockerCmdTimeout one docker command.
	dockerdStartTimeout = 90 * time.Second
	dockerCmdTimeout    = 60 * time.Second
)

// rootlessDocker is a dockerd-rootless.sh run on rkexec, started by startRootlessDocker.
type rootlessDocker struct {
	cmd        *exec.Cmd // dockerd-rootless.sh, which became rkexec (as rootlesskit)
	base       string    // data-root, exec-root, HOME and the docker client's config, all below it
	runtimeDir string    // XDG_RUNTIME_DIR: docker.sock, docker.pid, rkexec/NAME (the state dir)
	log        string    // the file with the run's stdout and stderr (the script's trace, dockerd's log)
	env        []string  // the docker client's environment
}

// requireRootlessDocker needs what the dockerd test runs (scripts/setup-test-env.sh installs it).
func requireRootlessDocker(t testing.TB) {
	t.Helper()
	requireSubids(t)
	for _, f := range []string{dockerdRootless, dockerClient, busyboxStatic} {
		if _, err := os.Stat(f); err != nil {
			skipOrFail(t, "%s (apt-get install docker.io busybox-static): %v", f, err)
		}
	}
	for _, c := range []string{"dockerd", "containerd", "runc", "docker-proxy", "slirp4netns", "iptables", "curl", "nsenter"} {
		if _, err := exec.LookPath(c); err != nil {
			if _, err := os.Stat(filepath.Join("/usr/sbin", c)); err != nil {
				skipOrFail(t, "%s in PATH or /usr/sbin (apt-get install docker.io slirp4netns curl)", c)
			}
		}
	}
}

// startRootlessDocker runs `dockerd-rootless.sh DOCKERD-FLAGS` as the test's user with rkexec first in
// PATH under RootlessKit's names, private XDG_RUNTIME_DIR, HOME, data-root and exec-root and the vfs
// storage driver, and waits until its socket answers docker info. Clean-up ends it and removes its
// directories.
func startRootlessDocker(t *testing.T) *rootlessDocker {
	t.Helper()
	d := &rootlessDocker{base: shortTempDir(t, "dk"), runtimeDir: runtimeDirOf(t), log: filepath.Join(t.TempDir(), "dockerd.log")}
	bin := filepath.Join(d.base, "bin")
	home := filepath.Join(d.base, "home")
	for _, dir := range []string{bin, home, filepath.Join(d.base, "docker-config")} {
		if err := os.Mkdir(dir, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	for _, name := range []string{"rootlesskit", "rootlesskit-docker-proxy"} {
		if err := os.Symlink(rkexecBin(t), filepath.Join(bin, name)); err != nil {
			t.Fatal(err)
		}
	}
	// dockerd, containerd and iptables live in /usr/sbin, which a user's PATH may lack.
	path := bin + ":" + os.Getenv("PATH")
	for _, dir := range []string{"/usr/sbin", "/sbin", "/usr/bin", "/bin"} {
		if !slices.Contains(filepath.SplitList(path), dir) {
			path += ":" + dir
		}
	}
	out, err := os.Create(d.log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { out.Close() })
	d.env = []string{"PATH=" + path, "HOME=" + home, "DOCKER_HOST=unix://" + filepath.Join(d.runtimeDir, "docker.sock"),
		"DOCKER_CONFIG=" + filepath.Join(d.base, "docker-config")}
	d.cmd = startRkexecOpts(t, runOpts{
		Program: dockerdRootless, RuntimeDir: d.runtimeDir, Output: out, Dir: home,
		Env: []string{"PATH=" + path, "HOME=" + home},
	},
		"--storage-driver=vfs", "--data-root="+filepath.Join(d.base, "data"), "--exec-root="+filepath.Join(d.base, "exec"))
	// Before startRkexecOpts's clean-up SIGKILLs the process group, a test that failed midway stops
	// the daemon the ordinary way, so that its containers go too.
	t.Cleanup(func() {
		if d.cmd.ProcessState == nil {
			_ = d.cmd.Process.Signal(syscall.SIGTERM)
			done := make(chan struct{})
			go func() { _ = d.cmd.Wait(); close(done) }()
			select {
			case <-done:
			case <-time.After(dockerdStartTimeout):
				_ = syscall.Kill(-d.cmd.Process.Pid, syscall.SIGKILL)
				<-done
			}
		}
	})

	// The ready signal: the socket answers docker info.
	var info string
	err = waitUntil(dockerdStartTimeout, 100*time.Millisecond, func() error {
		if exitedUnreaped(d.cmd.Process.Pid) {
			_ = d.cmd.Wait()
			t.Fatalf("dockerd-rootless.sh exited (%v) before its socket answered\n%s", d.cmd.ProcessState, d.logTail(t))
		}
		var err error
		info, err = d.dockerErr(t, nil, "info", "--format", "{{json .SecurityOptions}}")
		return err
	})
	if err != nil {
		t.Fatalf("dockerd's socket does not answer docker info within %v: %v\n%s", dockerdStartTimeout, err, d.logTail(t))
	}
	var opts []string
	if err := json.Unmarshal([]byte(info), &opts); err != nil {
		t.Fatalf("docker info's SecurityOptions %q: %v", info, err)
	}
	if !slices.Contains(opts, "name=rootless") {
		t.Errorf("docker info's SecurityOptions %q have no name=rootless: dockerd does not run rootless", opts)
	}
	return d
}

// shortTempDir makes a directory for a tree that holds unix sockets (their paths are limited to 108
// bytes): under TMPDIR when that is short, else under /tmp. Clean-up removes it, with rkexec's help
// for files that belong to subordinate ids.
func shortTempDir(t testing.TB, prefix string) string {
	t.Helper()
	parent := os.TempDir()
	if len(parent) > 40 {
		parent = "/tmp"
	}
	dir, err := os.MkdirTemp(parent, prefix)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { removeAllMapped(t, dir) })
	return dir
}

// removeAllMapped removes dir; what the user cannot remove (owned by a subordinate id, or mode 0)
// is removed by root of a sandbox.
func removeAllMapped(t testing.TB, dir string) {
	t.Helper()
	if err := os.RemoveAll(dir); err == nil {
		return
	}
	if res := rkexecOpts(t, runOpts{Timeout: dockerCmdTimeout}, "--", "rm", "-rf", dir); res.ExitCode != 0 {
		t.Errorf("remove %s: rkexec -- rm -rf: exit code %d: %s", dir, res.ExitCode, res.Stderr)
	}
}

// docker runs the docker client with args (stdin from stdin, if not nil) and returns its stdout; it
// fails the test when the command fails.
func (d *rootlessDocker) docker(t testing.TB, stdin []byte, args ...string) string {
	t.Helper()
	out, err := d.dockerErr(t, stdin, args...)
	if err != nil {
		t.Fatalf("%v\n%s", err, d.logTail(t))
	}
	return out
}

// dockerErr runs the docker client with args and returns its trimmed stdout, or an error with its
// stderr.
func (d *rootlessDocker) dockerErr(t testing.TB, stdin []byte, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), dockerCmdTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, dockerClient, args...)
	cmd.Env = d.env
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("docker %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return strings.TrimSpace(stdout.String()), nil
}

// logTail returns the end of the run's log, for a failure message.
func (d *rootlessDocker) logTail(t testing.TB) string {
	t.Helper()
	data, err := os.ReadFile(d.log)
	if err != nil {
		return fmt.Sprintf("(no log: %v)", err)
	}
	var keep []string
	for line := range strings.Lines(string(data)) {
		// The gRPC client's connection chatter and containerd's plugin list.
		if !strings.Contains(line, "module=grpc") && !strings.Contains(line, "loading plugin") {
			keep = append(keep, line)
		}
	}
	return "dockerd-rootless.sh's output (end):\n" + strings.Join(keep[max(len(keep)-60, 0):], "")
}

// stateDir returns the rkexec state dir of the run (the only one in its XDG_RUNTIME_DIR).
func (d *rootlessDocker) stateDir(t testing.TB) string {
	t.Helper()
	dirs, err := filepath.Glob(filepath.Join(d.runtimeDir, "rkexec", "*", "child_pid"))
	if err != nil || len(dirs) != 1 {
		t.Fatalf("want one rkexec state dir with a child_pid in %s, found %v (%v)", d.runtimeDir, dirs, err)
	}
	return filepath.Dir(dirs[0])
}

// busyboxImage returns a tar of a root file system holding only busybox-static (as sh, echo, sleep,
// httpd) and www/index.html with page, every entry owned by 0:0.
func busyboxImage(t testing.TB, page string) []byte {
	t.Helper()
	bb, err := os.ReadFile(busyboxStatic)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	add := func(h *tar.Header, body []byte) {
		h.Size = int64(len(body))
		h.ModTime = time.Unix(0, 0)
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(body); err != nil {
			t.Fatal(err)
		}
	}
	add(&tar.Header{Name: "bin/", Typeflag: tar.TypeDir, Mode: 0o755}, nil)
	add(&tar.Header{Name: "www/", Typeflag: tar.TypeDir, Mode: 0o755}, nil)
	add(&tar.Header{Name: "tmp/", Typeflag: tar.TypeDir, Mode: 0o1777}, nil)
	add(&tar.Header{Name: "bin/busybox", Typeflag: tar.TypeReg, Mode: 0o755}, bb)
	for _, app := range []string{"sh", "echo", "sleep", "httpd", "id"} {
		add(&tar.Header{Name: "bin/" + app, Typeflag: tar.TypeSymlink, Linkname: "busybox", Mode: 0o777}, nil)
	}
	add(&tar.Header{Name: "www/index.html", Typeflag: tar.TypeReg, Mode: 0o644}, []byte(page))
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// procEntry is one process of a snapshot: its pid with its start time, so that a reused pid is not
// mistaken for it.
type procEntry struct {
	pid   int
	start string // /proc/PID/stat's starttime field
	comm  string
	args  string
}

func (p procEntry) String() string { return fmt.Sprintf("%d (%s): %s", p.pid, p.comm, p.args) }

// procStart returns /proc/PID/stat's comm, state and starttime fields.
func procStart(pid int) (comm, state, start string, ok bool) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return "", "", "", false
	}
	s := string(data)
	open, end := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
	if open < 0 || end < open {
		return "", "", "", false
	}
	f := strings.Fields(s[end+1:]) // field 3 (state) is f[0], field 22 (starttime) is f[19]
	if len(f) < 20 {
		return "", "", "", false
	}
	return s[open+1 : end], f[0], f[19], true
}

// descendants returns root and every live process below it (by parent pid), as one snapshot.
func descendants(t testing.TB, root int) []procEntry {
	t.Helper()
	children := map[int][]int{}
	for _, pid := range pids(t) {
		if st, ok := readProcStat(pid); ok {
			children[st.PPID] = append(children[st.PPID], pid)
		}
	}
	var found []procEntry
	queue := []int{root}
	for len(queue) > 0 {
		pid := queue[0]
		queue = queue[1:]
		queue = append(queue, children[pid]...)
		comm, state, start, ok := procStart(pid)
		if !ok || state == "Z" {
			continue
		}
		args, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		found = append(found, procEntry{pid: pid, start: start, comm: comm, args: string(bytes.ReplaceAll(args, []byte{0}, []byte{' '}))})
	}
	return found
}

// stillRunning returns the processes of snap that have not exited (zombies count as exited).
func stillRunning(snap []procEntry) []procEntry {
	var left []procEntry
	for _, p := range snap {
		if _, state, start, ok := procStart(p.pid); ok && start == p.start && state != "Z" {
			left = append(left, p)
		}
	}
	return left
}

// goneWithin fails the test when a process of snap still runs after timeout.
func goneWithin(t testing.TB, what string, snap []procEntry, timeout time.Duration) {
	t.Helper()
	err := waitUntil(timeout, 50*time.Millisecond, func() error {
		if left := stillRunning(snap); len(left) > 0 {
			return fmt.Errorf("%s: still running after %v:\n%s", what, timeout, joinProcs(left))
		}
		return nil
	})
	if err != nil {
		t.Error(err)
	}
}

func joinProcs(ps []procEntry) string {
	lines := make([]string, len(ps))
	for i, p := range ps {
		lines[i] = "  " + p.String()
	}
	return strings.Join(lines, "\n")
}

// wantComms fails the test unless snap has a process named by each of comms.
func wantComms(t testing.TB, snap []procEntry, comms ...string) {
	t.Helper()
	for _, c := range comms {
		if !slices.ContainsFunc(snap, func(p procEntry) bool { return p.comm == c }) {
			t.Fatalf("no %s among the processes of the run:\n%s", c, joinProcs(snap))
		}
	}
}

// httpGet fetches url with curl from the host and returns the body.
func httpGet(t testing.TB, url string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "curl", "--silent", "--show-error", "--fail", "--max-time", "10", "--noproxy", "*", url)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH")}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("curl %s: %w: %s", url, err, strings.TrimSpace(stderr.String()))
	}
	return string(out), nil
}

func TestDockerdRootless(t *testing.T) {
	t.Parallel()
	requireRootlessDocker(t)
	d := startRootlessDocker(t)
	stateDir := d.stateDir(t)
	marker := newMarker(t)

	// RootlessKit's contract: nsenter into child_pid lands in dockerd's namespaces. There dockerd is
	// root in a network namespace of its own, and set up its NAT chain with iptables.
	childPID, err := os.ReadFile(filepath.Join(stateDir, "child_pid"))
	if err != nil {
		t.Fatal(err)
	}
	iptables, err := exec.LookPath("iptables")
	if err != nil {
		iptables = "/usr/sbin/iptables"
	}
	nsenter := exec.Command("nsenter", "-U", "--preserve-credentials", "-m", "-n", "-t", strings.TrimSpace(string(childPID)),
		iptables, "-t", "nat", "-S", "DOCKER")
	if out, err := nsenter.CombinedOutput(); err != nil || !strings.Contains(string(out), "-N DOCKER") {
		t.Errorf("%q: %v, want dockerd's DOCKER chain in the nat table:\n%s", nsenter.Args, err, out)
	}

	// An image from a busybox tree, no registry involved; a container of it runs.
	d.docker(t, busyboxImage(t, marker+"\n"), "import", "-", "rkexec-e2e:busybox")
	if out := d.docker(t, nil, "run", "--rm", "rkexec-e2e:busybox", "echo", "ok"); out != "ok" {
		t.Fatalf("docker run --rm rkexec-e2e:busybox echo ok: %q, want ok", out)
	}

	// A published port: dockerd runs rootlesskit-docker-proxy, which asks rkexec's api.sock for it.
	hp := freeHostPort(t)
	url := fmt.Sprintf("http://127.0.0.1:%d/index.html", hp)
	var web string
	web, err = d.dockerErr(t, nil, "run", "-d", "--stop-timeout=1", "-p", fmt.Sprintf("127.0.0.1:%d:80", hp),
		"rkexec-e2e:busybox", "httpd", "-f", "-p", "80", "-h", "/www")
	if err != nil {
		t.Fatalf("%v\n(dockerd runs rootlesskit-docker-proxy from PATH, here rkexec)\n%s", err, d.logTail(t))
	}
	var page string
	// httpd listens a moment after docker run returns: nothing signals it.
	eventually(t, 30*time.Second, 100*time.Millisecond, func() error {
		var err error
		page, err = httpGet(t, url)
		return err
	})
	if page != marker+"\n" {
		t.Fatalf("%s: %q, want the image's page %q", url, page, marker+"\n")
	}
	sock := filepath.Join(stateDir, "api.sock")
	api := client.NewWithHTTPClient(&http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return unixsock.DialContext(ctx, sock)
	}}})
	ports, err := api.PortManager().ListPorts(context.Background())
	if err != nil || len(ports) != 1 || ports[0].Spec.ParentPort != hp {
		t.Errorf("rkexec's api.sock lists %+v (%v), want the one port %d", ports, err, hp)
	}
	withWeb := descendants(t, d.cmd.Process.Pid)
	wantComms(t, withWeb, "rootlesskit", "slirp4netns", "dockerd", "containerd", "docker-proxy", "httpd")
	var webProcs []procEntry // the container's processes and its port's proxies
	for _, p := range withWeb {
		if p.comm == "httpd" || p.comm == "docker-proxy" || strings.HasPrefix(p.comm, "rootlesskit-do") || strings.Contains(p.args, web) {
			webProcs = append(webProcs, p)
		}
	}

	// docker stop: the container, its shim and the proxies go; the port is unpublished.
	d.docker(t, nil, "stop", web)
	goneWithin(t, "after docker stop, the container's processes", webProcs, 20*time.Second)
	eventually(t, 10*time.Second, 50*time.Millisecond, func() error {
		if _, err := httpGet(t, url); err == nil {
			return fmt.Errorf("%s still answers after docker stop", url)
		}
		return nil
	})
	if ports, err := api.PortManager().ListPorts(context.Background()); err != nil || len(ports) != 0 {
		t.Errorf("after docker stop, rkexec's api.sock lists %+v (%v), want none", ports, err)
	}

	// The daemon's shutdown with a container still running: SIGTERM to dockerd-rootless.sh's process
	// (rkexec, which relays it to dockerd) ends everything.
	sleeper := sleepMarker(t)
	d.docker(t, nil, "run", "-d", "--stop-timeout=1", "rkexec-e2e:busybox", "sleep", sleeper)
	waitForProcesses(t, sleeper, 1, 30*time.Second)
	all := append(descendants(t, d.cmd.Process.Pid), withWeb...)
	if err := d.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	res := waitExit(t, d.cmd, dockerdStartTimeout)
	if res.status() != 0 {
		t.Errorf("dockerd-rootless.sh after SIGTERM: exit status %d, want 0 (dockerd's after a clean shutdown)\n%s", res.status(), d.logTail(t))
	}
	goneWithin(t, "after the daemon's shutdown, processes of the run", all, leftoverTimeout)
	noProcessesLeft(t, d.base)
	noProcessesLeft(t, sleeper)
	noStateDirWithin(t, stateDir, 5*time.Second)
	for _, f := range []string{"docker.sock", "docker.pid"} {
		if _, err := os.Lstat(filepath.Join(d.runtimeDir, f)); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s left in XDG_RUNTIME_DIR after the shutdown (%v)", f, err)
		}
	}
	if t.Failed() {
		t.Log(d.logTail(t))
	}
}
