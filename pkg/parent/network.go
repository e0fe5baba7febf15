package parent

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	rkapi "github.com/rootless-containers/rootlesskit/v2/pkg/api"
	"github.com/rootless-containers/rootlesskit/v2/pkg/port"

	"github.com/rkexec/rkexec/pkg/net/api"
	"github.com/rkexec/rkexec/pkg/net/builtin"
	"github.com/rkexec/rkexec/pkg/net/nsfd"
	"github.com/rkexec/rkexec/pkg/net/portspec"
	"github.com/rkexec/rkexec/pkg/net/slirp"
	"github.com/rkexec/rkexec/pkg/net/slirpport"
	"github.com/rkexec/rkexec/pkg/statedir"
	"github.com/rkexec/rkexec/pkg/wire"
)

// Network and port driver names, as RootlessKit spells them.
const (
	NetHost        = "host"
	NetNone        = "none"
	NetSlirp4netns = "slirp4netns"
	PortsNone      = "none"
	PortsBuiltin   = builtin.Name
	PortsSlirp     = slirpport.Name
)

// Names of the files the network puts in the state directory.
const (
	APISocket   = statedir.APISockFile
	SlirpSocket = statedir.SlirpSockFile
	ResolvConf  = statedir.ResolvConfFile
	Hosts       = statedir.HostsFile
)

// NetOpt configures the sandbox's own network namespace; nil in Opt keeps the host's.
type NetOpt struct {
	// Driver is NetNone or NetSlirp4netns.
	Driver string
	// Slirp configures slirp4netns: Binary, Features, MTU, CIDR, IfName, DisableHostLoopback, IPv6,
	// Sandbox, Seccomp (the target, API socket and log are filled in here).
	Slirp slirp.Options
	// PortDriver is PortsNone (or empty), PortsBuiltin or PortsSlirp.
	PortDriver string
	// Publish are the ports to publish before the command starts.
	Publish []port.Spec
	// Version is rkexec's version, reported by the API socket.
	Version string
}

// network is the parent's side of a sandbox's network: slirp4netns, the port driver, the API server.
type network struct {
	opt     *NetOpt
	dir     *statedir.Dir
	log     Logger
	slirp   *slirp.Process
	ports   api.PortDriver
	builtin *builtin.Parent
	// builtinChild is the child's end of the builtin driver's control socket until the child started.
	builtinChild *os.File
	builtinFD    int
	// netns receives the child's network namespace; netnsChild is the child's end until it started.
	netns, netnsChild *os.File
	netnsFD           int
	info              *rkapi.NetworkDriverInfo
	api               *api.Server
	// childPID is the sandbox's pid once known; writeState, set with it, records the state with the
	// ports as they are.
	childPID   atomic.Int64
	mu         sync.Mutex
	writeState func() error
}

// recorded makes the sandbox's pid known and writes the state, and again after every change of the
// ports from now on.
func (n *network) recorded(pid int, writeState func() error) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.childPID.Store(int64(pid))
	n.writeState = writeState
	return writeState()
}

// portsChanged writes the state again, one change at a time.
func (n *network) portsChanged() {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.writeState == nil {
		return // the first write, when the sandbox is ready, lists it
	}
	if err := n.writeState(); err != nil {
		n.log.Warnf("updating state.json: %v", err)
	}
}

// newNetwork prepares what the child must inherit (the builtin driver's socket, appended to files).
func newNetwork(opt *NetOpt, dir *statedir.Dir, log Logger, files []*os.File) (*network, []*os.File, error) {
	n := &network{opt: opt, dir: dir, log: log, info: &rkapi.NetworkDriverInfo{Driver: opt.Driver}}
	if opt.Driver == NetSlirp4netns {
		pf, cf, err := nsfd.SocketPair()
		if err != nil {
			return nil, nil, err
		}
		n.netns, n.netnsChild, n.netnsFD = pf, cf, 3+len(files)
		files = append(files, cf)
	}
	if opt.PortDriver == PortsBuiltin {
		pf, cf, err := builtin.SocketPair()
		if err != nil {
			return nil, nil, err
		}
		if n.builtin, err = builtin.NewParent(pf); err != nil {
			cf.Close()
			return nil, nil, err
		}
		n.ports = n.builtin
		n.builtinChild = cf
		n.builtinFD = 3 + len(files)
		files = append(files, cf)
	}
	return n, files, nil
}

// childStarted drops the parent's copy of what the child inherited.
func (n *network) childStarted() {
	if n.builtinChild != nil {
		n.builtinChild.Close()
		n.builtinChild = nil
	}
	if n.netnsChild != nil {
		n.netnsChild.Close()
		n.netnsChild = nil
	}
}

// tap is the tap device the child is to create for slirp4netns; empty for none.
func (n *network) tap() string {
	if n.opt.Driver != NetSlirp4netns {
		return ""
	}
	if n.opt.Slirp.IfName != "" {
		return n.opt.Slirp.IfName
	}
	return slirp.DefaultIfName
}

// start starts the network driver on the child's network namespace, which the child sends before
// its mounts, and user namespace, without waiting for it: configure does. A child that fails before
// sending its namespace makes this fail too, but the child's own report of the failure comes first.
func (n *network) start(userNS *os.File) error {
	if n.opt.Driver != NetSlirp4netns {
		return nil
	}
	netns, err := nsfd.Recv(n.netns, 30*time.Second)
	n.netns = nil // Recv closed it
	if err != nil {
		return err
	}
	defer netns.Close() // slirp4netns has its own
	o := n.opt.Slirp
	o.Target = slirp.Target{NetNSFile: netns, UserNSFile: userNS}
	o.APISocket = n.dir.Join(SlirpSocket)
	o.Log = logWriter{n.log}
	p, err := slirp.Spawn(o)
	if err != nil {
		return err
	}
	n.slirp = p
	n.log.Debugf("slirp4netns pid %d started", p.Pid())
	// What the network will be is known now: its files are written while slirp4netns comes up.
	return n.writeEtc(p.Network)
}

// configure waits for the network driver start started and says what the child is to set up inside.
func (n *network) configure() (*wire.Network, error) {
	w := &wire.Network{Opaque: map[string]string{wire.OpaqueDriver: n.opt.Driver}}
	if n.builtin != nil {
		w.Opaque[wire.OpaqueBuiltinFD] = strconv.Itoa(n.builtinFD)
	}
	if n.opt.Driver != NetSlirp4netns {
		return w, nil
	}
	p := n.slirp
	if p == nil {
		return nil, errors.New("slirp4netns was not started")
	}
	if err := p.Ready(); err != nil {
		n.slirp = nil // Ready stopped it
		return nil, err
	}
	nw := p.Network
	ones, _ := nw.CIDR.Mask.Size()
	w.Dev, w.IP, w.Netmask, w.Gateway, w.MTU = nw.IfName, nw.IP.String(), ones, nw.Gateway.String(), nw.MTU
	for _, d := range nw.DNS {
		w.DNS = append(w.DNS, d.String())
	}
	n.info.ChildIP, n.info.DNS = nw.IP, nw.DNS
	if nw.IPv6 {
		// slirp4netns's fixed IPv6 network; --configure leaves the address to router advertisements,
		// which come late: set it at once.
		w.Opaque[wire.OpaqueIPv6Addr], w.Opaque[wire.OpaqueIPv6Gateway] = "fd00::100/64", "fd00::2"
	}
	n.log.Debugf("slirp4netns pid %d: %s %s/%d via %s, mtu %d, sandbox %v, seccomp %v", p.Pid(), nw.IfName, nw.IP, ones, nw.Gateway, nw.MTU, nw.Sandbox, nw.Seccomp)
	w.Opaque[wire.OpaqueResolvConf] = n.dir.Join(ResolvConf)
	w.Opaque[wire.OpaqueHosts] = n.dir.Join(Hosts)
	return w, nil
}

// writeEtc writes resolv.conf and hosts for the namespace in the state directory.
func (n *network) writeEtc(nw slirp.Network) error {
	var rc strings.Builder
	for _, d := range nw.DNS {
		fmt.Fprintf(&rc, "nameserver %s\n", d)
	}
	hostname, _ := os.Hostname() // without one, only localhost is named
	hosts := "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"
	if hostname != "" {
		hosts += fmt.Sprintf("%s\t%s\n", nw.IP, hostname)
	}
	for name, body := range map[string]string{ResolvConf: rc.String(), Hosts: hosts} {
		if err := os.WriteFile(n.dir.Join(name), []byte(body), 0o644); err != nil {
			return fmt.Errorf("writing %s: %w", name, err)
		}
	}
	return nil
}

// publish starts the port driver and publishes opt.Publish; any failure fails the run.
func (n *network) publish() (map[string]string, error) {
	switch n.opt.PortDriver {
	case PortsSlirp:
		if n.slirp == nil {
			return nil, errors.New("--port-driver=slirp4netns needs --net=slirp4netns")
		}
		n.ports = slirpport.New(n.dir.Join(SlirpSocket))
	case PortsBuiltin, PortsNone, "":
	default:
		return nil, fmt.Errorf("unknown port driver %q", n.opt.PortDriver)
	}
	if n.ports == nil && len(n.opt.Publish) > 0 {
		return nil, errors.New("-p needs a port driver (--port-driver=builtin or slirp4netns)")
	}
	for _, sp := range n.opt.Publish {
		if _, err := n.ports.AddPort(context.Background(), sp); err != nil {
			return nil, fmt.Errorf("-p %s: %w", portspec.String(sp), err)
		}
	}
	if err := n.serveAPI(); err != nil {
		return nil, err
	}
	return map[string]string{"driver": n.opt.PortDriver}, nil
}

// serveAPI starts the API socket, before the command starts (a command inside may use it, as
// docker's port proxy does); /v1/info reports the sandbox's pid once ready has recorded it, and
// the state is written again after each port added or removed through it.
func (n *network) serveAPI() error {
	b := &api.Backend{StateDir: n.dir.Path, ChildPID: func() int { return int(n.childPID.Load()) }, Version: n.opt.Version, Network: netInfo{n.info}}
	if n.ports != nil {
		b.Ports = recording{n.ports, n.portsChanged}
	}
	s, err := api.Serve(n.dir.Join(APISocket), b)
	if err != nil {
		return err
	}
	n.api = s
	return nil
}

// portStrings lists the published ports for state.json.
func (n *network) portStrings() []string {
	if n.ports == nil {
		return nil
	}
	list, _ := n.ports.ListPorts(context.Background()) // both drivers list from memory, without error
	var out []string
	for _, st := range list {
		out = append(out, portspec.String(st.Spec))
	}
	return out
}

// close stops everything, in reverse order; it may be called more than once.
func (n *network) close() {
	n.childStarted()
	if n.netns != nil {
		n.netns.Close()
		n.netns = nil
	}
	if n.api != nil {
		if err := n.api.Close(); err != nil {
			n.log.Warnf("closing the API socket: %v", err)
		}
		n.api = nil
	}
	if n.builtin != nil {
		n.builtin.Close()
	}
	if n.slirp != nil {
		if err := n.slirp.Close(); err != nil {
			n.log.Warnf("stopping slirp4netns: %v", err)
		}
		n.log.Debugf("slirp4netns stopped")
		n.slirp = nil
	}
}

// recording calls changed after every successful change of the ports.
type recording struct {
	api.PortDriver
	changed func()
}

func (r recording) AddPort(ctx context.Context, sp port.Spec) (*port.Status, error) {
	st, err := r.PortDriver.AddPort(ctx, sp)
	if err == nil {
		r.changed()
	}
	return st, err
}

func (r recording) RemovePort(ctx context.Context, id int) error {
	err := r.PortDriver.RemovePort(ctx, id)
	if err == nil {
		r.changed()
	}
	return err
}

type netInfo struct{ info *rkapi.NetworkDriverInfo }

func (i netInfo) Info(context.Context) (*rkapi.NetworkDriverInfo, error) { return i.info, nil }

// logWriter sends slirp4netns's output to the debug log, a line at a time.
type logWriter struct{ log Logger }

func (w logWriter) Write(p []byte) (int, error) {
	for _, line := range strings.Split(strings.TrimRight(string(p), "\n"), "\n") {
		w.log.Debugf("slirp4netns: %s", line)
	}
	return len(p), nil
}
