package slirp

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/rkexec/rkexec/pkg/net/unixsock"
)

// HostFwd is one port forwarding of slirp4netns's API (add_hostfwd, list_hostfwd).
type HostFwd struct {
	ID int `json:"id,omitempty"`
	// Proto is "tcp" or "udp".
	Proto string `json:"proto"`
	// HostAddr is the IPv4 address slirp4netns listens on in the host ("" or 0.0.0.0 for all).
	HostAddr string `json:"host_addr,omitempty"`
	HostPort int    `json:"host_port"`
	// GuestAddr is the namespace's IPv4 address to forward to ("" for slirp4netns's guest address).
	GuestAddr string `json:"guest_addr,omitempty"`
	GuestPort int    `json:"guest_port"`
}

// API talks to slirp4netns's API socket. Every request is validated before it is sent: slirp4netns
// trusts its input (an add_hostfwd without proto crashes v1.2).
type API struct {
	// Socket is the path given to --api-socket.
	Socket string
	// Timeout bounds one request; 0 for 10 seconds.
	Timeout time.Duration
}

// maxReply bounds what is read from slirp4netns.
const maxReply = 1 << 20

type request struct {
	Execute   string `json:"execute"`
	Arguments any    `json:"arguments,omitempty"`
}

type reply struct {
	Return json.RawMessage `json:"return"`
	Error  *struct {
		Desc string `json:"desc"`
	} `json:"error"`
}

// ValidateHostFwd checks a forwarding before it is sent to slirp4netns.
func ValidateHostFwd(h HostFwd) error {
	if h.Proto != "tcp" && h.Proto != "udp" {
		return fmt.Errorf("hostfwd: proto %q is not tcp or udp", h.Proto)
	}
	if h.HostAddr != "" {
		if ip := net.ParseIP(h.HostAddr); ip == nil || ip.To4() == nil {
			return fmt.Errorf("hostfwd: host address %q is not an IPv4 address", h.HostAddr)
		}
	}
	if h.GuestAddr != "" {
		if ip := net.ParseIP(h.GuestAddr); ip == nil || ip.To4() == nil {
			return fmt.Errorf("hostfwd: guest address %q is not an IPv4 address", h.GuestAddr)
		}
	}
	if h.HostPort < 1 || h.HostPort > 65535 {
		return fmt.Errorf("hostfwd: host port %d is not in 1-65535", h.HostPort)
	}
	if h.GuestPort < 1 || h.GuestPort > 65535 {
		return fmt.Errorf("hostfwd: guest port %d is not in 1-65535", h.GuestPort)
	}
	return nil
}

// AddHostFwd adds a forwarding and returns its id.
func (a *API) AddHostFwd(h HostFwd) (int, error) {
	if err := ValidateHostFwd(h); err != nil {
		return 0, err
	}
	h.ID = 0
	var ret struct {
		ID *int `json:"id"`
	}
	if err := a.call(request{Execute: "add_hostfwd", Arguments: h}, &ret); err != nil {
		return 0, err
	}
	if ret.ID == nil || *ret.ID <= 0 {
		return 0, errors.New("slirp4netns add_hostfwd: reply without an id")
	}
	return *ret.ID, nil
}

// ListHostFwd lists the forwardings.
func (a *API) ListHostFwd() ([]HostFwd, error) {
	var ret struct {
		Entries []HostFwd `json:"entries"`
	}
	if err := a.call(request{Execute: "list_hostfwd"}, &ret); err != nil {
		return nil, err
	}
	return ret.Entries, nil
}

// RemoveHostFwd removes forwarding id.
func (a *API) RemoveHostFwd(id int) error {
	if id <= 0 {
		return fmt.Errorf("hostfwd: bad id %d", id)
	}
	return a.call(request{Execute: "remove_hostfwd", Arguments: struct {
		ID int `json:"id"`
	}{id}}, nil)
}

func (a *API) call(req request, ret any) error {
	timeout := a.Timeout
	if timeout == 0 {
		timeout = 10 * time.Second
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	c, err := unixsock.DialContext(ctx, a.Socket)
	if err != nil {
		return fmt.Errorf("slirp4netns %s: %w", req.Execute, err)
	}
	defer c.Close()
	uc := c.(*net.UnixConn)
	if err := uc.SetDeadline(time.Now().Add(timeout)); err != nil {
		return fmt.Errorf("slirp4netns %s: %w", req.Execute, err)
	}
	if err := json.NewEncoder(uc).Encode(req); err != nil {
		return fmt.Errorf("slirp4netns %s: sending: %w", req.Execute, err)
	}
	if err := uc.CloseWrite(); err != nil {
		return fmt.Errorf("slirp4netns %s: %w", req.Execute, err)
	}
	b, err := io.ReadAll(io.LimitReader(uc, maxReply))
	if err != nil {
		return fmt.Errorf("slirp4netns %s: reading the reply: %w", req.Execute, err)
	}
	var rep reply
	if err := json.Unmarshal(b, &rep); err != nil {
		return fmt.Errorf("slirp4netns %s: bad reply %q: %w", req.Execute, b, err)
	}
	if rep.Error != nil {
		return fmt.Errorf("slirp4netns %s: %s", req.Execute, rep.Error.Desc)
	}
	if ret != nil {
		body := rep.Return
		if len(body) == 0 {
			body = b // list_hostfwd answers {"entries": [...]}, without "return"
		}
		if err := json.Unmarshal(body, ret); err != nil {
			return fmt.Errorf("slirp4netns %s: bad reply %q: %w", req.Execute, b, err)
		}
	}
	return nil
}
