package child

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"

	"golang.org/x/sys/unix"

	"github.com/rkexec/rkexec/pkg/net/builtin"
	"github.com/rkexec/rkexec/pkg/net/netconf"
	"github.com/rkexec/rkexec/pkg/net/nsfd"
	"github.com/rkexec/rkexec/pkg/wire"
)

// shareNetNS, when the parent asked for the network namespace (on fd NetNSFD), sends it and
// prepares it: the tap device the parent named, created persistent (see netconf.CreateTap) before
// the namespace is sent so that slirp4netns attaches to it, and lo up. The slow parts run in the
// background, while the child does its mounts and the parent starts the driver; the function
// returned waits for them. The namespace and the device are opened first, before any mount.
//
// With --detach-netns the namespace is the detached one: the device is opened, and lo brought up, on
// its thread (a tun fd creates its device in the namespace it was opened in), and nothing is marked
// prepared, since the child's own /sys stays the host's.
func (c *child) shareNetNS() (wait func() error, err error) {
	fd := c.cfg.NetNSFD
	if fd <= 0 {
		return func() error { return nil }, nil
	}
	sock := os.NewFile(uintptr(fd), "netns-socket")
	if c.cfg.NetNSSent {
		// nsexec's stage 2 created the tap device and sent the namespace already.
		sock.Close()
		done := make(chan error, 1)
		go func() { done <- netconf.LoopbackUp() }()
		c.netPrepared = true
		return sync.OnceValue(func() error { return <-done }), nil
	}
	path, inNS := "/proc/self/ns/net", func(f func() error) error { return f() }
	if c.detached != nil {
		path, inNS = c.detached.Path(), c.detached.Do
	}
	netns, err := os.Open(path)
	if err != nil {
		sock.Close()
		return nil, fmt.Errorf("the sandbox's network namespace: %w", err)
	}
	var tun *os.File
	if c.cfg.Tap != "" {
		if err = inNS(func() (err error) { tun, err = netconf.OpenTun(); return err }); err != nil {
			sock.Close()
			netns.Close()
			return nil, err
		}
	}
	done := make(chan error, 1)
	go func() {
		defer sock.Close()
		defer netns.Close()
		if tun != nil {
			if err := netconf.CreateTap(tun, c.cfg.Tap); err != nil {
				done <- err
				return
			}
		}
		if err := nsfd.SendFile(sock, netns); err != nil {
			done <- err
			return
		}
		done <- inNS(netconf.LoopbackUp)
	}()
	c.netPrepared = c.detached == nil
	return sync.OnceValue(func() error { return <-done }), nil
}

// startPortDriver starts the builtin port driver's child half, when the parent asked for it, before
// the parent publishes the first port: the child half answers from its own goroutines.
func (c *child) startPortDriver() error {
	if c.network == nil || c.network.Opaque[wire.OpaqueBuiltinFD] == "" {
		return nil
	}
	fd, err := strconv.Atoi(c.network.Opaque[wire.OpaqueBuiltinFD])
	if err != nil || fd < 3 {
		return fmt.Errorf("bad builtin port driver fd %q", c.network.Opaque[wire.OpaqueBuiltinFD])
	}
	opt := builtin.ChildOptions{Log: logLines{c.log}}
	if c.detached != nil {
		// The targets are in the detached namespace, not this process's.
		opt.Dial, opt.Socket = c.detached.Dial, c.detached.Socket
	}
	d, err := builtin.NewChild(os.NewFile(uintptr(fd), "builtin-ports"), opt)
	if err != nil {
		return err
	}
	go func() {
		if err := d.Serve(); err != nil {
			c.log.Debugf("builtin port driver: %v", err)
		}
	}()
	return nil
}

// setUpNetwork configures the sandbox's own network namespace from NetworkConfigured: lo up, the
// interface as the driver described it (slirp4netns configured it already: this only checks and
// completes), resolv.conf and hosts, and a sysfs of this namespace on /sys.
//
// With --detach-netns only the interfaces are configured, in the detached namespace: the target stays
// in the host's network, and keeps its /etc/resolv.conf, /etc/hosts and /sys, as RootlessKit does.
func (c *child) setUpNetwork() error {
	n := c.network
	if c.detached != nil {
		if err := c.detached.Do(func() error { return configureInterfaces(n, true) }); err != nil {
			return err
		}
		c.log.Debugf("network ready in the detached namespace")
		return nil
	}
	if n == nil {
		return nil // the host's network
	}
	if err := configureInterfaces(n, !c.netPrepared); err != nil {
		return err
	}
	for src, dst := range map[string]string{n.Opaque[wire.OpaqueResolvConf]: "/etc/resolv.conf", n.Opaque[wire.OpaqueHosts]: "/etc/hosts"} {
		if src == "" {
			continue
		}
		if err := c.bindEtc(src, dst); err != nil {
			return err
		}
	}
	if !c.netPrepared { // else setUp did it
		if err := mountSysfs(); err != nil {
			return err
		}
	}
	c.log.Debugf("network ready inside: %s %s/%d via %s", n.Dev, n.IP, n.Netmask, n.Gateway)
	return nil
}

// configureInterfaces brings lo up (with loUp) and configures the interface NetworkConfigured
// describes (none when n is nil), in the calling thread's network namespace.
func configureInterfaces(n *wire.Network, loUp bool) error {
	if loUp {
		if err := netconf.LoopbackUp(); err != nil {
			return err
		}
	}
	if n != nil && n.Dev != "" {
		ip := net.ParseIP(n.IP)
		if ip == nil || n.Netmask <= 0 || n.Netmask > 32 {
			return fmt.Errorf("bad address %s/%d for %s", n.IP, n.Netmask, n.Dev)
		}
		ifc := netconf.Interface{Name: n.Dev, Addr: &net.IPNet{IP: ip, Mask: net.CIDRMask(n.Netmask, 32)}, Gateway: net.ParseIP(n.Gateway), MTU: n.MTU}
		if err := netconf.Apply(ifc); err != nil {
			return err
		}
		if a := n.Opaque[wire.OpaqueIPv6Addr]; a != "" {
			ip6, net6, err := net.ParseCIDR(a)
			if err != nil {
				return fmt.Errorf("bad IPv6 address %q: %w", a, err)
			}
			net6.IP = ip6
			if err := netconf.Apply(netconf.Interface{Name: n.Dev, Addr: net6, Gateway: net.ParseIP(n.Opaque[wire.OpaqueIPv6Gateway])}); err != nil {
				return err
			}
		}
	}
	return nil
}

// bindEtc bind-mounts src over dst. A copied-up /etc holds symlinks to the originals: the symlink is
// replaced by an empty file to mount on, so the original stays untouched. Without copy-up, the mount
// goes where dst leads, in this mount namespace only.
func (c *child) bindEtc(src, dst string) error {
	fi, err := os.Lstat(dst)
	switch {
	case err == nil && fi.Mode()&os.ModeSymlink != 0 && slices.Contains(c.cfg.CopyUp, filepath.Dir(dst)):
		if err := os.Remove(dst); err != nil {
			return fmt.Errorf("replacing the copied-up %s: %w", dst, err)
		}
		fallthrough
	case errors.Is(err, os.ErrNotExist):
		f, cerr := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY, 0o644)
		if cerr != nil {
			return fmt.Errorf("creating %s to mount on: %w (try --copy-up=%s)", dst, cerr, filepath.Dir(dst))
		}
		f.Close()
	case err != nil:
		return fmt.Errorf("%s: %w", dst, err)
	}
	if err := unix.Mount(src, dst, "", unix.MS_BIND, ""); err != nil {
		return fmt.Errorf("bind-mounting %s over %s: %w", src, dst, err)
	}
	return nil
}

// mountSysfs mounts a sysfs of the sandbox's network namespace on /sys, so /sys/class/net shows its
// interfaces. The cgroup file system under it is kept: detached first, then moved back on top.
func mountSysfs() error {
	cg, err := unix.OpenTree(unix.AT_FDCWD, "/sys/fs/cgroup", unix.OPEN_TREE_CLONE|unix.OPEN_TREE_CLOEXEC|unix.AT_RECURSIVE)
	if err != nil {
		cg = -1 // no cgroup file system mounted there, or a kernel without open_tree: nothing to keep
	} else {
		defer unix.Close(cg)
	}
	if err := unix.Mount("sysfs", "/sys", "sysfs", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, ""); err != nil {
		return fmt.Errorf("mounting a sysfs of the new network namespace on /sys: %w", err)
	}
	if cg >= 0 {
		if err := unix.MoveMount(cg, "", unix.AT_FDCWD, "/sys/fs/cgroup", unix.MOVE_MOUNT_F_EMPTY_PATH); err != nil {
			return fmt.Errorf("putting /sys/fs/cgroup back over the new /sys: %w", err)
		}
	}
	return nil
}

// logLines sends the port driver's lines to the debug log.
type logLines struct{ log Logger }

func (l logLines) Write(p []byte) (int, error) {
	l.log.Debugf("builtin port driver: %s", p)
	return len(p), nil
}
