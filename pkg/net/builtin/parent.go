package builtin

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"slices"
	"strings"
	"sync"

	rkapi "github.com/rootless-containers/rootlesskit/v2/pkg/api"
	"github.com/rootless-containers/rootlesskit/v2/pkg/port"

	"github.com/rkexec/rkexec/pkg/net/portspec"
)

// Parent is the host-side half: a port.Manager (and the API's PortDriver).
type Parent struct {
	mu    sync.Mutex // serialises requests on ctl and guards the rest
	ctl   *net.UnixConn
	next  int
	ports []port.Status
	dead  error // set once the child half is unreachable
}

// NewParent takes the parent's end of SocketPair.
func NewParent(ctl *os.File) (*Parent, error) {
	c, err := unixConn(ctl)
	if err != nil {
		return nil, err
	}
	return &Parent{ctl: c}, nil
}

// Info describes the driver for GET /v1/info.
func (p *Parent) Info(context.Context) (*rkapi.PortDriverInfo, error) {
	return &rkapi.PortDriverInfo{Driver: Name, Protos: slices.Clone(portspec.Protos)}, nil
}

// AddPort binds the host side of sp and hands it to the child half.
func (p *Parent) AddPort(_ context.Context, sp port.Spec) (*port.Status, error) {
	if err := portspec.Validate(sp); err != nil {
		return nil, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.dead != nil {
		return nil, p.dead
	}
	if err := portspec.Conflict(sp, p.ports); err != nil {
		return nil, err
	}
	f, err := bind(sp)
	if err != nil {
		return nil, err
	}
	// The parent keeps no copy once the child has it: the listener lives as long as the sandbox.
	defer f.Close()
	id := p.next + 1
	req := request{Op: "add", ID: id, Proto: sp.Proto, ChildIP: childIP(sp), ChildPort: sp.ChildPort}
	if err := p.call(req, int(f.Fd())); err != nil {
		return nil, fmt.Errorf("publishing %s: %w", portspec.String(sp), err)
	}
	p.next = id
	st := port.Status{ID: id, Spec: sp}
	p.ports = append(p.ports, st)
	return &st, nil
}

// ListPorts lists the published ports.
func (p *Parent) ListPorts(context.Context) ([]port.Status, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.ports), nil
}

// RemovePort closes port id's listener (connections already relayed go on).
func (p *Parent) RemovePort(_ context.Context, id int) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	i, err := portspec.Index(p.ports, id)
	if err != nil {
		return err
	}
	if p.dead != nil {
		return p.dead
	}
	if err := p.call(request{Op: "remove", ID: id}, -1); err != nil {
		return fmt.Errorf("removing port %d: %w", id, err)
	}
	p.ports = slices.Delete(p.ports, i, i+1)
	return nil
}

// Close closes the control socket; the child half then closes every listener and returns.
func (p *Parent) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.dead == nil {
		p.dead = errors.New("port driver closed")
	}
	return p.ctl.Close()
}

// call sends one request and waits for its reply; p.mu is held.
func (p *Parent) call(req request, fd int) error {
	if err := send(p.ctl, req, fd); err != nil {
		p.dead = fmt.Errorf("the sandbox's port driver is gone: %w", err)
		return p.dead
	}
	var rep reply
	if _, err := recv(p.ctl, &rep); err != nil {
		p.dead = fmt.Errorf("the sandbox's port driver is gone: %w", err)
		return p.dead
	}
	if rep.Error != "" {
		return errors.New(rep.Error)
	}
	return nil
}

// childIP is the address dialled inside: the spec's child address; else the parent address when it
// is a loopback one (127.0.0.2 stays 127.0.0.2, ::1 stays ::1); else 127.0.0.1 (as RootlessKit).
func childIP(sp port.Spec) string {
	if sp.ChildIP != "" {
		return sp.ChildIP
	}
	if ip := net.ParseIP(sp.ParentIP); ip != nil && ip.IsLoopback() {
		return ip.String()
	}
	return "127.0.0.1"
}

// bind creates the host socket of sp where the spec says and returns it as a file.
func bind(sp port.Spec) (*os.File, error) {
	addr := portspec.HostAddr(sp)
	var lc net.ListenConfig
	if strings.HasPrefix(sp.Proto, "tcp") {
		l, err := lc.Listen(context.Background(), sp.Proto, addr)
		if err != nil {
			return nil, portspec.BindError(sp, addr, err)
		}
		defer l.Close()
		f, err := l.(*net.TCPListener).File()
		if err != nil {
			return nil, fmt.Errorf("listener %s: %w", addr, err)
		}
		return f, nil
	}
	c, err := lc.ListenPacket(context.Background(), sp.Proto, addr)
	if err != nil {
		return nil, portspec.BindError(sp, addr, err)
	}
	defer c.Close()
	f, err := c.(*net.UDPConn).File()
	if err != nil {
		return nil, fmt.Errorf("socket %s: %w", addr, err)
	}
	return f, nil
}
