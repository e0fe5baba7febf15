package main

import (
	"errors"
	"fmt"
	"net"
	"os"

	"github.com/rootless-containers/rootlesskit/v2/pkg/port"
	"github.com/spf13/pflag"

	"github.com/rkexec/rkexec/pkg/net/portspec"
	"github.com/rkexec/rkexec/pkg/net/slirp"
	"github.com/rkexec/rkexec/pkg/parent"
)

// netFlags are the network flags, with RootlessKit v2.3's names and defaults.
type netFlags struct {
	net                 string
	mtu                 int
	cidr                string
	ifname              string
	disableHostLoopback bool
	ipv6                bool
	slirpBinary         string
	slirpSandbox        string
	slirpSeccomp        string
	portDriver          string
	publish             []string
}

func addNetFlags(fl *pflag.FlagSet, f *netFlags) {
	fl.StringVar(&f.net, "net", parent.NetHost, "network driver [host, none, slirp4netns]")
	fl.IntVar(&f.mtu, "mtu", 0, "MTU of the sandbox's interface (default 65520 for slirp4netns)")
	fl.StringVar(&f.cidr, "cidr", "", "network of the slirp4netns interface (default 10.0.2.0/24)")
	fl.StringVar(&f.ifname, "ifname", "", "name of the slirp4netns interface (default tap0)")
	fl.BoolVar(&f.disableHostLoopback, "disable-host-loopback", false, "forbid the sandbox to reach the host's 127.0.0.1 through the gateway address (10.0.2.2)")
	fl.BoolVar(&f.ipv6, "ipv6", false, "enable slirp4netns's IPv6 routing (experimental; unrelated to published ports)")
	fl.StringVar(&f.slirpBinary, "slirp4netns-binary", slirp.DefaultBinary, "slirp4netns binary")
	fl.StringVar(&f.slirpSandbox, "slirp4netns-sandbox", "auto", "run slirp4netns in its own mount namespace [auto, true, false]")
	fl.StringVar(&f.slirpSeccomp, "slirp4netns-seccomp", "auto", "run slirp4netns with a seccomp filter [auto, true, false]")
	fl.StringVar(&f.portDriver, "port-driver", parent.PortsNone, "port driver for a non-host network [none, builtin, slirp4netns]")
	fl.StringSliceVarP(&f.publish, "publish", "p", nil, "publish a port, e.g. 127.0.0.1:8080:80/tcp (repeatable; [::1]:8080:80/tcp6 for IPv6)")
}

// checkNet validates the network flags and returns the network to set up; nil for the host's.
func checkNet(f *netFlags, fl *pflag.FlagSet) (*parent.NetOpt, error) {
	switch f.net {
	case parent.NetHost, parent.NetNone, parent.NetSlirp4netns:
	case "pasta", "vpnkit", "lxc-user-nic", "gvisor-tap-vsock":
		return nil, fmt.Errorf("--net=%s is not supported yet: use slirp4netns, none or host", f.net)
	default:
		return nil, fmt.Errorf("invalid --net %q: use host, none or slirp4netns", f.net)
	}
	switch f.portDriver {
	case parent.PortsNone, parent.PortsBuiltin, parent.PortsSlirp:
	case "implicit":
		return nil, errors.New("--port-driver=implicit is for --net=pasta, which is not supported yet")
	default:
		return nil, fmt.Errorf("invalid --port-driver %q: use none, builtin or slirp4netns", f.portDriver)
	}
	if f.net != parent.NetSlirp4netns {
		// As RootlessKit: the rest of slirp4netns's flags are accepted with every network, and
		// configure slirp4netns only (dockerd-rootless.sh passes them whatever the driver); see
		// netWarnings for --mtu and --ipv6.
		for _, name := range []string{"cidr", "ifname"} {
			if fl.Changed(name) {
				return nil, fmt.Errorf("--%s needs --net=slirp4netns", name)
			}
		}
	}
	if f.net == parent.NetHost {
		if f.portDriver != parent.PortsNone {
			return nil, errors.New("--port-driver needs a network of the sandbox's own (--net=slirp4netns or none): with --net=host the host's ports are the sandbox's")
		}
		if len(f.publish) > 0 {
			return nil, errors.New("-p needs --net=slirp4netns (or none) and a --port-driver: with --net=host the host's ports are the sandbox's")
		}
		return nil, nil
	}
	if f.portDriver == parent.PortsSlirp && f.net != parent.NetSlirp4netns {
		return nil, errors.New("--port-driver=slirp4netns needs --net=slirp4netns (or use --port-driver=builtin)")
	}
	if len(f.publish) > 0 && f.portDriver == parent.PortsNone {
		return nil, errors.New("-p needs a port driver: add --port-driver=builtin (or slirp4netns)")
	}
	var specs []port.Spec
	for _, s := range f.publish {
		sp, err := portspec.Parse(s)
		if err != nil {
			return nil, fmt.Errorf("invalid -p: %w", err)
		}
		if err := portspec.Conflict(sp, statuses(specs)); err != nil {
			return nil, fmt.Errorf("invalid -p %s: given twice", s)
		}
		specs = append(specs, sp)
	}
	opt := &parent.NetOpt{Driver: f.net, PortDriver: f.portDriver, Publish: specs, Version: version()}
	if f.net != parent.NetSlirp4netns {
		return opt, nil
	}
	o := &opt.Slirp
	var err error
	if o.Sandbox, err = slirp.ParseToggle("--slirp4netns-sandbox", f.slirpSandbox); err != nil {
		return nil, err
	}
	if o.Seccomp, err = slirp.ParseToggle("--slirp4netns-seccomp", f.slirpSeccomp); err != nil {
		return nil, err
	}
	if f.mtu < 0 || (f.mtu > 0 && (f.mtu < 1280 || f.mtu > slirp.MaxMTU)) {
		return nil, fmt.Errorf("invalid --mtu %d: use 1280 to %d", f.mtu, slirp.MaxMTU)
	}
	o.MTU, o.IfName, o.DisableHostLoopback, o.IPv6 = f.mtu, f.ifname, f.disableHostLoopback, f.ipv6
	if f.cidr != "" {
		ip, cidr, err := net.ParseCIDR(f.cidr)
		if err != nil || ip.To4() == nil {
			return nil, fmt.Errorf("invalid --cidr %q: give an IPv4 network, e.g. 10.0.2.0/24", f.cidr)
		}
		o.CIDR = cidr
	}
	// The binary is found on the host now, before any namespace exists.
	if o.Binary, err = slirp.Resolve(f.slirpBinary); err != nil {
		return nil, err
	}
	// What every slirp4netns since v0.4.0 supports; one that exits at once is asked why.
	o.Features = slirp.Assumed()
	if err := checkTun(); err != nil {
		return nil, err
	}
	return opt, nil
}

// netWarnings are the warnings about network flags that have no effect with this network, as
// RootlessKit gives them.
func netWarnings(f *netFlags) []string {
	var w []string
	if f.net == parent.NetSlirp4netns {
		return nil
	}
	if f.mtu != 0 {
		w = append(w, fmt.Sprintf("--mtu=%d has no effect with --net=%s", f.mtu, f.net))
	}
	if f.ipv6 {
		w = append(w, fmt.Sprintf("--ipv6 is discarded for --net=%s", f.net))
	}
	return w
}

// checkTun checks that slirp4netns will be able to create its tap device.
func checkTun() error {
	f, err := os.OpenFile("/dev/net/tun", os.O_RDWR, 0)
	if err != nil {
		return fmt.Errorf("/dev/net/tun is not usable (%w): slirp4netns needs it; load the tun module (modprobe tun) and let users open it (chmod 0666 /dev/net/tun)", errors.Unwrap(err))
	}
	return f.Close()
}

func statuses(specs []port.Spec) []port.Status {
	out := make([]port.Status, len(specs))
	for i, sp := range specs {
		out[i] = port.Status{ID: i + 1, Spec: sp}
	}
	return out
}
