// Package portspec parses and checks published-port specs (-p/--publish, `rkexec port add`, the API's
// POST /v1/ports) with RootlessKit's syntax and types (rootlesskit/v2 pkg/port), and holds the errors
// port drivers return so that callers (the API server) can tell a conflict or a missing id apart.
//
// The syntax is <parent IP>:<parent port>[:<child IP>]:<child port>/<proto>, proto one of tcp, tcp4,
// tcp6, udp, udp4, udp6, IPv6 addresses in brackets: 127.0.0.1:8080:80/tcp, [::1]:8080:80/tcp6,
// [::1]:8080:127.0.0.1:80/tcp (v6 outside, v4 inside).
package portspec

import (
	"errors"
	"fmt"
	"net"
	"os"
	"slices"
	"strings"
	"syscall"

	"github.com/rootless-containers/rootlesskit/v2/pkg/port"
	"github.com/rootless-containers/rootlesskit/v2/pkg/port/portutil"
)

// Errors port drivers wrap, for callers to branch on with errors.Is.
var (
	// ErrConflict: the same proto, parent address and port are published already.
	ErrConflict = errors.New("port already published")
	// ErrNotFound: no published port has that id.
	ErrNotFound = errors.New("no such port")
	// ErrInvalid: the spec is malformed.
	ErrInvalid = errors.New("invalid port spec")
)

// Protos are the protocols rkexec's port drivers forward.
var Protos = []string{"tcp", "tcp4", "tcp6", "udp", "udp4", "udp6"}

// Parse parses one spec and checks it.
func Parse(s string) (port.Spec, error) {
	sp, err := portutil.ParsePortSpec(s)
	if err != nil {
		return port.Spec{}, fmt.Errorf("%w %q: %v (want e.g. 127.0.0.1:8080:80/tcp)", ErrInvalid, s, err)
	}
	if err := Validate(*sp); err != nil {
		return port.Spec{}, fmt.Errorf("%q: %w", s, err)
	}
	return *sp, nil
}

// Validate checks a spec: a known proto, ports in 1-65535, addresses that parse and match the proto's
// family (tcp4 with an IPv4 parent address, tcp6 with an IPv6 one; the child address may be of either
// family, for the v6↔v4 forms).
func Validate(sp port.Spec) error {
	if !isProto(sp.Proto) {
		return fmt.Errorf("%w: proto %q is not one of %s", ErrInvalid, sp.Proto, strings.Join(Protos, ", "))
	}
	if err := portutil.ValidatePortSpec(sp, nil); err != nil {
		return fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	if sp.ParentIP != "" {
		ip := net.ParseIP(sp.ParentIP)
		is4 := ip.To4() != nil
		switch {
		case strings.HasSuffix(sp.Proto, "4") && !is4:
			return fmt.Errorf("%w: %s with the IPv6 parent address %s", ErrInvalid, sp.Proto, sp.ParentIP)
		case strings.HasSuffix(sp.Proto, "6") && is4:
			return fmt.Errorf("%w: %s with the IPv4 parent address %s", ErrInvalid, sp.Proto, sp.ParentIP)
		}
	}
	return nil
}

// Conflict returns an ErrConflict error when sp publishes what one of existing does.
func Conflict(sp port.Spec, existing []port.Status) error {
	for _, st := range existing {
		if st.Spec.Proto == sp.Proto && st.Spec.ParentPort == sp.ParentPort && sameIP(st.Spec.ParentIP, sp.ParentIP) {
			return fmt.Errorf("%w: %s %s as id %d", ErrConflict, sp.Proto, HostAddr(sp), st.ID)
		}
	}
	return nil
}

// HostAddr is the host address and port a spec listens on, e.g. "127.0.0.1:8080" or "[::1]:8080".
func HostAddr(sp port.Spec) string {
	return net.JoinHostPort(sp.ParentIP, fmt.Sprint(sp.ParentPort))
}

// String formats a spec in the syntax Parse reads.
func String(sp port.Spec) string {
	b := func(ip string) string {
		if strings.Contains(ip, ":") {
			return "[" + ip + "]"
		}
		return ip
	}
	s := fmt.Sprintf("%s:%d:", b(sp.ParentIP), sp.ParentPort)
	if sp.ChildIP != "" {
		s += b(sp.ChildIP) + ":"
	}
	return fmt.Sprintf("%s%d/%s", s, sp.ChildPort, sp.Proto)
}

func sameIP(a, b string) bool {
	if a == b {
		return true
	}
	x, y := net.ParseIP(a), net.ParseIP(b)
	return x != nil && y != nil && x.Equal(y)
}

func isProto(p string) bool {
	for _, q := range Protos {
		if p == q {
			return true
		}
	}
	return false
}

// BindError says why the host address addr of sp cannot be bound, and what to do about it.
func BindError(sp port.Spec, addr string, err error) error {
	switch {
	case errors.Is(err, syscall.EADDRINUSE):
		return fmt.Errorf("host port %s/%s is in use: pick another port or stop what holds it", addr, sp.Proto)
	case errors.Is(err, syscall.EACCES):
		start := "1024"
		if b, rerr := os.ReadFile("/proc/sys/net/ipv4/ip_unprivileged_port_start"); rerr == nil {
			start = strings.TrimSpace(string(b))
		}
		return fmt.Errorf("host port %s/%s is privileged (below net.ipv4.ip_unprivileged_port_start=%s): use a port from %s up, or lower it with sysctl -w net.ipv4.ip_unprivileged_port_start=%d", addr, sp.Proto, start, start, sp.ParentPort)
	case errors.Is(err, syscall.EADDRNOTAVAIL):
		return fmt.Errorf("host address %s is not on this host: %w", addr, err)
	}
	return fmt.Errorf("binding host port %s/%s: %w", addr, sp.Proto, err)
}

// Index returns the position of the port with id among ports, or an error wrapping ErrNotFound: the
// one lookup of a driver's table of published ports.
func Index(ports []port.Status, id int) (int, error) {
	i := slices.IndexFunc(ports, func(st port.Status) bool { return st.ID == id })
	if i < 0 {
		return -1, fmt.Errorf("%w: id %d", ErrNotFound, id)
	}
	return i, nil
}
