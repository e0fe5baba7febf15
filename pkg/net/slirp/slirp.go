package slirp

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// Defaults of RootlessKit v2's slirp4netns network driver.
const (
	DefaultMTU    = 65520
	DefaultIfName = "tap0"
	DefaultCIDR   = "10.0.2.0/24"
	// MaxMTU is slirp4netns's limit.
	MaxMTU = 65521
	// DefaultReadyTimeout bounds the wait for the ready fd.
	DefaultReadyTimeout = 30 * time.Second
)

// Target names the network namespace slirp4netns joins: exactly one of PID, NetNS and NetNSFile.
type Target struct {
	// PID of a process in the namespace; slirp4netns joins its user and network namespaces (it
	// must be allowed to open /proc/PID/ns/*, which a non-dumpable process forbids).
	PID int
	// NetNS is a path to a network namespace file (e.g. /proc/PID/task/TID/ns/net).
	NetNS string
	// UserNS is the user namespace to join with NetNS; empty to join none.
	UserNS string
	// NetNSFile and UserNSFile are the namespaces as open files (UserNSFile may be nil): slirp4netns
	// inherits them and opens them as /proc/self/fd/N.
	NetNSFile, UserNSFile *os.File
}

// Where slirp4netns finds Target's files.
const (
	netnsFD  = 5
	usernsFD = 6
)

// Options configure one slirp4netns.
type Options struct {
	// Binary is slirp4netns's absolute path (from Resolve).
	Binary string
	// Features of Binary (from Probe, or Assumed).
	Features *Features
	// Target is the namespace to serve.
	Target Target
	// IfName is the tap device's name; empty for DefaultIfName.
	IfName string
	// MTU of the tap device; 0 for DefaultMTU.
	MTU int
	// CIDR of the network; nil for DefaultCIDR.
	CIDR *net.IPNet
	// DisableHostLoopback forbids connecting to the host's 127.0.0.1 through the gateway address.
	DisableHostLoopback bool
	// IPv6 enables slirp4netns's IPv6 (experimental).
	IPv6 bool
	// Sandbox and Seccomp: --enable-sandbox and --enable-seccomp (auto: when supported).
	Sandbox, Seccomp Toggle
	// APISocket is where slirp4netns creates its API socket; empty for none.
	APISocket string
	// ReadyTimeout bounds the wait for the network to come up; 0 for DefaultReadyTimeout.
	ReadyTimeout time.Duration
	// Log receives slirp4netns's stdout and stderr; nil discards them (stderr still goes into errors).
	Log io.Writer

	euid int // os.Geteuid(), or a test's
}

// Network is the configuration slirp4netns gave the namespace.
type Network struct {
	IfName  string
	MTU     int
	CIDR    *net.IPNet
	IP      net.IP // the namespace's address (network + 100)
	Gateway net.IP // the host, and the host's loopback unless DisableHostLoopback (network + 2)
	DNS     []net.IP
	IPv6    bool
	// Sandbox and Seccomp tell whether slirp4netns runs with them.
	Sandbox, Seccomp bool
}

// Process is a running slirp4netns.
type Process struct {
	// Network is what slirp4netns configured.
	Network Network
	// Args are the arguments slirp4netns was started with (for logs and errors).
	Args []string

	cmd       *exec.Cmd
	exitW     *os.File
	readyR    *os.File // until Ready
	binary    string
	timeout   time.Duration
	apiSocket string
	done      chan struct{}
	waitErr   error
	stderr    *tail
	closeOnce sync.Once
}

// Args computes slirp4netns's arguments and the network it will set up.
func (o *Options) args() ([]string, Network, error) {
	var n Network
	if o.Binary == "" || o.Features == nil {
		return nil, n, errors.New("slirp4netns: no binary or no features (Resolve it, then Probe or Assumed)")
	}
	f := o.Features
	n.IfName = o.IfName
	if n.IfName == "" {
		n.IfName = DefaultIfName
	}
	if err := validIfName(n.IfName); err != nil {
		return nil, n, err
	}
	n.MTU = o.MTU
	if n.MTU == 0 {
		n.MTU = DefaultMTU
	}
	if n.MTU < 1280 || n.MTU > MaxMTU {
		return nil, n, fmt.Errorf("--mtu %d: slirp4netns takes 1280 to %d", n.MTU, MaxMTU)
	}
	n.CIDR = o.CIDR
	if n.CIDR == nil {
		_, n.CIDR, _ = net.ParseCIDR(DefaultCIDR)
	}
	var err error
	if n.IP, n.Gateway, n.DNS, err = addresses(n.CIDR); err != nil {
		return nil, n, err
	}
	if o.IPv6 {
		if !f.IPv6 {
			return nil, n, fmt.Errorf("--ipv6: %s does not support --enable-ipv6", o.Binary)
		}
		n.IPv6 = true
		n.DNS = append(n.DNS, net.ParseIP("fd00::3"))
	}
	// An unprivileged slirp4netns sandboxes itself in the user namespace of its target pid only: given
	// a namespace by path it fails (slirp4netns issue 317), so then it runs without.
	sandboxable := f.Sandbox && (o.Target.PID > 0 || o.euid == 0)
	if o.Sandbox == True && f.Sandbox && !sandboxable {
		return nil, n, errors.New("--slirp4netns-sandbox=true: slirp4netns cannot sandbox itself when given the namespace as a file, which rkexec must do (its processes in the sandbox are non-dumpable): use auto or false")
	}
	if n.Sandbox, err = o.Sandbox.resolve("--slirp4netns-sandbox", sandboxable); err != nil {
		return nil, n, err
	}
	if n.Seccomp, err = o.Seccomp.resolve("--slirp4netns-seccomp", f.Seccomp && f.KernelSeccomp); err != nil {
		return nil, n, err
	}
	args := []string{"--configure", "--mtu", strconv.Itoa(n.MTU), "--ready-fd", "3", "--exit-fd", "4"}
	if o.CIDR != nil {
		if !f.CIDR {
			return nil, n, fmt.Errorf("--cidr: %s does not support it", o.Binary)
		}
		args = append(args, "--cidr", n.CIDR.String())
	}
	if o.DisableHostLoopback {
		if !f.DisableHostLoopback {
			return nil, n, fmt.Errorf("--disable-host-loopback: %s does not support it", o.Binary)
		}
		args = append(args, "--disable-host-loopback")
	}
	if o.APISocket != "" {
		if !f.APISocket {
			return nil, n, fmt.Errorf("%s does not support --api-socket", o.Binary)
		}
		// Relative to its working directory, the socket's: a socket address holds 107 bytes, and
		// a state directory's path may be longer.
		args = append(args, "--api-socket", filepath.Base(o.APISocket))
	}
	if n.Sandbox {
		args = append(args, "--enable-sandbox")
	}
	if n.Seccomp {
		args = append(args, "--enable-seccomp")
	}
	if n.IPv6 {
		args = append(args, "--enable-ipv6")
	}
	t := o.Target
	switch {
	case t.PID > 0 && t.NetNS == "" && t.NetNSFile == nil:
		args = append(args, strconv.Itoa(t.PID))
	case t.PID == 0 && t.NetNS != "" && t.NetNSFile == nil:
		if t.UserNS != "" {
			args = append(args, "--userns-path="+t.UserNS)
		}
		args = append(args, "--netns-type=path", t.NetNS)
	case t.PID == 0 && t.NetNS == "" && t.NetNSFile != nil:
		if t.UserNSFile != nil {
			args = append(args, fmt.Sprintf("--userns-path=/proc/self/fd/%d", usernsFD))
		}
		args = append(args, "--netns-type=path", fmt.Sprintf("/proc/self/fd/%d", netnsFD))
	default:
		return nil, n, errors.New("slirp4netns: the target needs exactly one of a pid, a netns path and a netns file")
	}
	return append(args, n.IfName), n, nil
}

// addresses are slirp4netns's fixed offsets in the network: the guest .100, the host .2, DNS .3.
func addresses(cidr *net.IPNet) (ip, gw net.IP, dns []net.IP, err error) {
	base := cidr.IP.To4()
	ones, bits := cidr.Mask.Size()
	if base == nil || bits != 32 {
		return nil, nil, nil, fmt.Errorf("--cidr %s: slirp4netns needs an IPv4 network", cidr)
	}
	if ones > 25 || ones < 1 {
		return nil, nil, nil, fmt.Errorf("--cidr %s: the prefix must be /1 to /25 (the namespace gets network+100)", cidr)
	}
	add := func(n byte) net.IP {
		x := make(net.IP, 4)
		copy(x, base.Mask(cidr.Mask))
		x[3] += n
		return x
	}
	return add(100), add(2), []net.IP{add(3)}, nil
}

func validIfName(s string) error {
	if len(s) == 0 || len(s) >= 16 {
		return fmt.Errorf("--ifname %q: an interface name has 1 to 15 characters", s)
	}
	for _, c := range s {
		if c <= ' ' || c == '/' || c == ':' || c > '~' {
			return fmt.Errorf("--ifname %q: no spaces, '/' or ':' allowed", s)
		}
	}
	return nil
}

// Start runs slirp4netns and waits until it reports the network configured, it dies, or the
// deadline passes (Spawn, then Ready). On error nothing is left running.
//
// slirp4netns gets a parent-death signal, which Linux ties to the calling thread: do not call Start
// or Spawn from a goroutine locked to a thread that will exit.
func Start(o Options) (*Process, error) {
	p, err := Spawn(o)
	if err != nil {
		return nil, err
	}
	if err := p.Ready(); err != nil {
		return nil, err
	}
	return p, nil
}

// Spawn starts slirp4netns and returns at once, so that the caller can do other work while it
// comes up; Ready waits for it. On error nothing is left running.
func Spawn(o Options) (*Process, error) {
	o.euid = os.Geteuid()
	args, network, err := o.args()
	if err != nil {
		return nil, err
	}
	readyR, readyW, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("slirp4netns ready pipe: %w", err)
	}
	exitR, exitW, err := os.Pipe()
	if err != nil {
		readyR.Close()
		readyW.Close()
		return nil, fmt.Errorf("slirp4netns exit pipe: %w", err)
	}
	p := &Process{Network: network, Args: args, apiSocket: o.APISocket, exitW: exitW, readyR: readyR,
		done: make(chan struct{}), stderr: &tail{max: 4096}, binary: o.Binary, timeout: o.ReadyTimeout}
	if p.timeout == 0 {
		p.timeout = DefaultReadyTimeout
	}
	log := o.Log
	if log == nil {
		log = io.Discard
	}
	cmd := exec.Command(o.Binary, args...)
	cmd.Env = []string{}
	cmd.Dir = "/"
	if o.APISocket != "" {
		cmd.Dir = filepath.Dir(o.APISocket)
	}
	cmd.Stdout = log
	cmd.Stderr = io.MultiWriter(log, p.stderr)
	cmd.ExtraFiles = []*os.File{readyW, exitR} // 3 and 4, as in args
	if f := o.Target.NetNSFile; f != nil {
		cmd.ExtraFiles = append(cmd.ExtraFiles, f) // netnsFD
		if u := o.Target.UserNSFile; u != nil {
			cmd.ExtraFiles = append(cmd.ExtraFiles, u) // usernsFD
		}
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	cmd.WaitDelay = 2 * time.Second
	p.cmd = cmd
	err = cmd.Start()
	readyW.Close()
	exitR.Close()
	if err != nil {
		readyR.Close()
		exitW.Close()
		return nil, fmt.Errorf("starting %s: %w", o.Binary, err)
	}
	go func() {
		p.waitErr = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

// Ready waits until the slirp4netns from Spawn reports the network configured, it dies, or the
// deadline passes. On error it has closed p: nothing is left running.
func (p *Process) Ready() error {
	readyR := p.readyR
	if readyR == nil {
		return errors.New("slirp4netns: Ready called twice")
	}
	p.readyR = nil
	defer readyR.Close()
	ready := make(chan error, 1)
	go func() {
		var b [1]byte
		_, err := readyR.Read(b[:]) // slirp4netns writes "1"; EOF when it died first
		ready <- err
	}()
	timer := time.NewTimer(p.timeout)
	defer timer.Stop()
	var err error
	select {
	case err = <-ready:
		if err == nil {
			return nil
		}
		<-p.done // the ready pipe closes when slirp4netns exits
		err = fmt.Errorf("slirp4netns exited before the network was up (%v)", p.waitErr)
	case <-p.done:
		err = fmt.Errorf("slirp4netns exited before the network was up (%v)", p.waitErr)
	case <-timer.C:
		err = fmt.Errorf("slirp4netns did not report the network up within %s", p.timeout)
	}
	p.Close()
	if _, perr := Probe(p.binary); perr != nil {
		// Too old for the flags it was given (Assumed), or not a slirp4netns at all: that says more.
		return fmt.Errorf("%w (%v)", perr, err)
	}
	return fmt.Errorf("%w: %s %v: %s", err, p.binary, p.Args, p.stderr.String())
}

// Pid is slirp4netns's process id.
func (p *Process) Pid() int { return p.cmd.Process.Pid }

// Done is closed when slirp4netns has exited.
func (p *Process) Done() <-chan struct{} { return p.done }

// Err is how slirp4netns ended, once Done is closed, with the end of its stderr.
func (p *Process) Err() error {
	<-p.done
	if p.waitErr == nil {
		return nil
	}
	return fmt.Errorf("slirp4netns: %w: %s", p.waitErr, p.stderr.String())
}

// Close ends slirp4netns: it closes the exit fd, kills slirp4netns if it has not gone after a grace
// period, reaps it, and removes its API socket. It may be called more than once.
func (p *Process) Close() error {
	var err error
	p.closeOnce.Do(func() {
		if p.readyR != nil {
			p.readyR.Close()
		}
		p.exitW.Close()
		select {
		case <-p.done:
		case <-time.After(3 * time.Second):
			// Deliberately ignored: it may have exited between the timeout and the kill.
			_ = p.cmd.Process.Kill()
			<-p.done
		}
		if p.apiSocket != "" {
			if e := os.Remove(p.apiSocket); e != nil && !errors.Is(e, os.ErrNotExist) {
				err = fmt.Errorf("removing slirp4netns's socket: %w", e)
			}
		}
	})
	return err
}

// tail keeps the last max bytes written to it.
type tail struct {
	mu  sync.Mutex
	max int
	b   []byte
}

func (t *tail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if len(t.b) > t.max {
		t.b = t.b[len(t.b)-t.max:]
	}
	return len(p), nil
}

func (t *tail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := string(bytes.TrimSpace(t.b))
	if s == "" {
		return "(no output)"
	}
	return s
}
