// Package slirpport is the slirp4netns port driver (--port-driver=slirp4netns): published ports are
// slirp4netns hostfwd entries, added and removed through its API socket. slirp4netns listens on the
// host and forwards to the namespace's tap address, so the server inside sees connections from the
// gateway address (10.0.2.2) and must listen on the tap address or on all addresses. IPv6 is not
// forwarded, as in RootlessKit.
package slirpport

import (
	"context"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync"

	rkapi "github.com/rootless-containers/rootlesskit/v2/pkg/api"
	"github.com/rootless-containers/rootlesskit/v2/pkg/port"

	"github.com/rkexec/rkexec/pkg/net/portspec"
	"github.com/rkexec/rkexec/pkg/net/slirp"
)

// Name is the driver's name (--port-driver=slirp4netns).
const Name = "slirp4netns"

// Protos are what slirp4netns forwards.
var Protos = []string{"tcp", "tcp4", "udp", "udp4"}

// Driver is a port.Manager (and the API's PortDriver) over slirp4netns's API.
type Driver struct {
	api   *slirp.API
	mu    sync.Mutex
	ports []port.Status
}

// New returns a driver for the slirp4netns whose API socket is at socket.
func New(socket string) *Driver {
	return &Driver{api: &slirp.API{Socket: socket}}
}

// Info describes the driver for GET /v1/info.
func (d *Driver) Info(context.Context) (*rkapi.PortDriverInfo, error) {
	return &rkapi.PortDriverInfo{Driver: Name, Protos: slices.Clone(Protos), DisallowLoopbackChildIP: true}, nil
}

// AddPort adds a hostfwd entry.
func (d *Driver) AddPort(_ context.Context, sp port.Spec) (*port.Status, error) {
	if err := portspec.Validate(sp); err != nil {
		return nil, err
	}
	if !slices.Contains(Protos, sp.Proto) {
		return nil, fmt.Errorf("%w: the slirp4netns port driver forwards %s, not %s (use --port-driver=builtin)", portspec.ErrInvalid, strings.Join(Protos, ", "), sp.Proto)
	}
	hostAddr := "0.0.0.0"
	if sp.ParentIP != "" {
		ip := net.ParseIP(sp.ParentIP).To4()
		if ip == nil {
			return nil, fmt.Errorf("%w: the slirp4netns port driver cannot listen on the IPv6 address %s (use --port-driver=builtin)", portspec.ErrInvalid, sp.ParentIP)
		}
		hostAddr = ip.String()
	}
	guestAddr := ""
	if sp.ChildIP != "" {
		ip := net.ParseIP(sp.ChildIP).To4()
		if ip == nil || ip.IsLoopback() {
			return nil, fmt.Errorf("%w: the slirp4netns port driver forwards to the namespace's IPv4 tap address, not %s", portspec.ErrInvalid, sp.ChildIP)
		}
		guestAddr = ip.String()
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := portspec.Conflict(sp, d.ports); err != nil {
		return nil, err
	}
	proto := strings.TrimSuffix(sp.Proto, "4")
	if err := probe(proto, hostAddr, sp); err != nil {
		return nil, err
	}
	id, err := d.api.AddHostFwd(slirp.HostFwd{Proto: proto, HostAddr: hostAddr, HostPort: sp.ParentPort, GuestAddr: guestAddr, GuestPort: sp.ChildPort})
	if err != nil {
		return nil, fmt.Errorf("publishing %s: %w", portspec.String(sp), err)
	}
	st := port.Status{ID: id, Spec: sp}
	d.ports = append(d.ports, st)
	return &st, nil
}

// ListPorts lists the published ports.
func (d *Driver) ListPorts(context.Context) ([]port.Status, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return slices.Clone(d.ports), nil
}

// RemovePort removes hostfwd id.
func (d *Driver) RemovePort(_ context.Context, id int) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	i, err := portspec.Index(d.ports, id)
	if err != nil {
		return err
	}
	if err := d.api.RemoveHostFwd(id); err != nil {
		return fmt.Errorf("removing port %d: %w", id, err)
	}
	d.ports = slices.Delete(d.ports, i, i+1)
	return nil
}

// probe binds the host address briefly, because slirp4netns's own error does not say why a port
// cannot be bound.
func probe(proto, hostAddr string, sp port.Spec) error {
	addr := net.JoinHostPort(hostAddr, fmt.Sprint(sp.ParentPort))
	var err error
	if proto == "tcp" {
		var l net.Listener
		if l, err = net.Listen("tcp4", addr); err == nil {
			return l.Close()
		}
	} else {
		var c net.PacketConn
		if c, err = net.ListenPacket("udp4", addr); err == nil {
			return c.Close()
		}
	}
	return portspec.BindError(sp, addr, err)
}
