// Package netconf configures the network namespace it runs in, through netlink: lo up, and the
// addresses, default route and MTU of an interface when slirp4netns did not set them. It also reads
// back what a namespace has (Inspect), for tests and `rkexec info`.
//
// Every function works on the network namespace of the calling thread: the sandbox's processes are
// wholly inside theirs; a caller that switched only one thread must hold runtime.LockOSThread.
// It never execs ip(8).
package netconf

import (
	"errors"
	"fmt"
	"net"
	"os"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// Interface describes what should be on one interface.
type Interface struct {
	// Name of the link, e.g. tap0.
	Name string
	// Addr is the address with its prefix, e.g. 10.0.2.100/24; nil for none.
	Addr *net.IPNet
	// Gateway for the default route; nil for none.
	Gateway net.IP
	// MTU; 0 to leave it.
	MTU int
}

// LoopbackUp brings lo up (which gives it 127.0.0.1/8 and ::1).
func LoopbackUp() error {
	h, err := netlink.NewHandle()
	if err != nil {
		return fmt.Errorf("netlink: %w", err)
	}
	defer h.Close()
	lo, err := h.LinkByName("lo")
	if err != nil {
		return fmt.Errorf("finding lo: %w", err)
	}
	if err := h.LinkSetUp(lo); err != nil {
		return fmt.Errorf("bringing lo up: %w", err)
	}
	return nil
}

// Apply makes ifc so: the MTU, the address, the link up and the default route, each only when it is
// not there already.
func Apply(ifc Interface) error {
	h, err := netlink.NewHandle()
	if err != nil {
		return fmt.Errorf("netlink: %w", err)
	}
	defer h.Close()
	link, err := h.LinkByName(ifc.Name)
	if err != nil {
		return fmt.Errorf("finding %s: %w", ifc.Name, err)
	}
	if ifc.MTU > 0 && link.Attrs().MTU != ifc.MTU {
		if err := h.LinkSetMTU(link, ifc.MTU); err != nil {
			return fmt.Errorf("setting %s's MTU to %d: %w", ifc.Name, ifc.MTU, err)
		}
	}
	if ifc.Addr != nil {
		addr := &netlink.Addr{IPNet: ifc.Addr}
		if ifc.Addr.IP.To4() == nil {
			addr.Flags = unix.IFA_F_NODAD // usable at once, not tentative for a second
		}
		if err := h.AddrAdd(link, addr); err != nil && !errors.Is(err, unix.EEXIST) {
			return fmt.Errorf("adding %s to %s: %w", ifc.Addr, ifc.Name, err)
		}
	}
	if link.Attrs().Flags&net.FlagUp == 0 {
		if err := h.LinkSetUp(link); err != nil {
			return fmt.Errorf("bringing %s up: %w", ifc.Name, err)
		}
	}
	if ifc.Gateway != nil {
		r := &netlink.Route{LinkIndex: link.Attrs().Index, Gw: ifc.Gateway}
		if err := h.RouteAdd(r); err != nil && !errors.Is(err, unix.EEXIST) {
			return fmt.Errorf("adding the default route via %s on %s: %w", ifc.Gateway, ifc.Name, err)
		}
	}
	return nil
}

// Link is what Inspect reports about one interface.
type Link struct {
	Name  string
	Up    bool
	MTU   int
	Addrs []*net.IPNet
}

// State is what Inspect reports about a namespace.
type State struct {
	Links []Link
	// Gateway is the IPv4 default route's gateway, nil without one.
	Gateway net.IP
	// GatewayDev is the interface of that route.
	GatewayDev string
}

// Link returns the link named name, or nil.
func (s *State) Link(name string) *Link {
	for i := range s.Links {
		if s.Links[i].Name == name {
			return &s.Links[i]
		}
	}
	return nil
}

// Inspect reads the links, their addresses and the IPv4 default route.
func Inspect() (*State, error) {
	h, err := netlink.NewHandle()
	if err != nil {
		return nil, fmt.Errorf("netlink: %w", err)
	}
	defer h.Close()
	links, err := h.LinkList()
	if err != nil {
		return nil, fmt.Errorf("listing links: %w", err)
	}
	s := &State{}
	names := map[int]string{}
	for _, l := range links {
		a := l.Attrs()
		names[a.Index] = a.Name
		out := Link{Name: a.Name, Up: a.Flags&net.FlagUp != 0, MTU: a.MTU}
		addrs, err := h.AddrList(l, netlink.FAMILY_ALL)
		if err != nil {
			return nil, fmt.Errorf("listing %s's addresses: %w", a.Name, err)
		}
		for _, ad := range addrs {
			out.Addrs = append(out.Addrs, ad.IPNet)
		}
		s.Links = append(s.Links, out)
	}
	routes, err := h.RouteList(nil, netlink.FAMILY_V4)
	if err != nil {
		return nil, fmt.Errorf("listing routes: %w", err)
	}
	for _, r := range routes {
		if (r.Dst == nil || r.Dst.IP.IsUnspecified()) && r.Gw != nil {
			s.Gateway, s.GatewayDev = r.Gw, names[r.LinkIndex]
			break
		}
	}
	return s, nil
}

// OpenTun opens /dev/net/tun, for CreateTap.
func OpenTun() (*os.File, error) {
	f, err := os.OpenFile("/dev/net/tun", os.O_RDWR, 0)
	if err != nil {
		return nil, fmt.Errorf("/dev/net/tun is not usable inside (%w): slirp4netns needs it; load the tun module (modprobe tun) and let users open it (chmod 0666 /dev/net/tun)", errors.Unwrap(err))
	}
	return f, nil
}

// CreateTap creates the tap device name (no packet information) on tun (from OpenTun, which it
// closes) as a persistent device, for slirp4netns to attach to. A tap device slirp4netns creates
// itself is unregistered when it closes it, which makes its exit wait for the kernel (10-25 ms
// here); a persistent one is unregistered with the network namespace, by the kernel in the
// background, once nothing holds the namespace.
func CreateTap(tun *os.File, name string) error {
	defer tun.Close()
	ifr, err := unix.NewIfreq(name)
	if err != nil {
		return fmt.Errorf("tap device %q: %w", name, err)
	}
	ifr.SetUint16(unix.IFF_TAP | unix.IFF_NO_PI)
	rc, err := tun.SyscallConn()
	if err != nil {
		return fmt.Errorf("tap device %s: %w", name, err)
	}
	var ierr error
	err = rc.Control(func(fd uintptr) {
		if ierr = unix.IoctlIfreq(int(fd), unix.TUNSETIFF, ifr); ierr != nil {
			ierr = fmt.Errorf("creating tap device %s: %w", name, ierr)
			return
		}
		if ierr = unix.IoctlSetInt(int(fd), unix.TUNSETPERSIST, 1); ierr != nil {
			ierr = fmt.Errorf("making tap device %s persistent: %w", name, ierr)
		}
	})
	if err != nil {
		return fmt.Errorf("tap device %s: %w", name, err)
	}
	return ierr
}
