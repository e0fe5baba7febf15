package slirp

import (
	"net"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/rkexec/rkexec/internal/nettest"
)

func TestHostFwd(t *testing.T) {
	bin, f := slirpBinary(t)
	ns := nettest.New(t)
	sock := filepath.Join(t.TempDir(), "slirp.sock")
	start(t, Options{Binary: bin, Features: f, Target: Target{NetNS: ns.Path}, APISocket: sock})
	api := &API{Socket: sock}

	inside, err := ns.Listen("tcp4", "0.0.0.0:0")
	if err != nil {
		t.Fatal(err)
	}
	nettest.Serve(t, inside, func(c net.Conn) { c.Write([]byte("inside\n")) })
	hostPort := freePort(t)
	guestPort := inside.Addr().(*net.TCPAddr).Port
	id, err := api.AddHostFwd(HostFwd{Proto: "tcp", HostAddr: "127.0.0.1", HostPort: hostPort, GuestPort: guestPort})
	if err != nil {
		t.Fatal(err)
	}
	list, err := api.ListHostFwd()
	if err != nil || len(list) != 1 || list[0].ID != id || list[0].HostPort != hostPort || list[0].GuestPort != guestPort || list[0].GuestAddr != "10.0.2.100" {
		t.Fatalf("list: %+v %v", list, err)
	}
	c, err := net.Dial("tcp4", net.JoinHostPort("127.0.0.1", strconv.Itoa(hostPort)))
	if err != nil {
		t.Fatal(err)
	}
	if s, err := readLine(c); s != "inside\n" {
		t.Fatalf("through the forwarding: %q %v", s, err)
	}
	// The same host port twice: slirp4netns refuses, and keeps running.
	if _, err := api.AddHostFwd(HostFwd{Proto: "tcp", HostAddr: "127.0.0.1", HostPort: hostPort, GuestPort: guestPort}); err == nil {
		t.Fatal("a second forwarding of the same host port was accepted")
	}
	if err := api.RemoveHostFwd(id); err != nil {
		t.Fatal(err)
	}
	if list, err := api.ListHostFwd(); err != nil || len(list) != 0 {
		t.Fatalf("after remove: %+v %v", list, err)
	}
	if _, err := net.Dial("tcp4", net.JoinHostPort("127.0.0.1", strconv.Itoa(hostPort))); err == nil {
		t.Fatal("the host port still listens after remove")
	}
	if err := api.RemoveHostFwd(id); err == nil {
		t.Fatal("removing a removed forwarding succeeded")
	}
	// Invalid requests never reach slirp4netns; it still answers afterwards.
	if _, err := api.AddHostFwd(HostFwd{HostPort: hostPort, GuestPort: guestPort}); err == nil || !strings.Contains(err.Error(), "proto") {
		t.Fatalf("no proto: %v", err)
	}
	if _, err := api.ListHostFwd(); err != nil {
		t.Fatalf("slirp4netns no longer answers: %v", err)
	}
}

func TestValidateHostFwd(t *testing.T) {
	ok := HostFwd{Proto: "tcp", HostPort: 8080, GuestPort: 80}
	if err := ValidateHostFwd(ok); err != nil {
		t.Fatal(err)
	}
	for name, h := range map[string]HostFwd{
		"no proto":      {HostPort: 1, GuestPort: 1},
		"sctp":          {Proto: "sctp", HostPort: 1, GuestPort: 1},
		"tcp4":          {Proto: "tcp4", HostPort: 1, GuestPort: 1},
		"host port 0":   {Proto: "tcp", GuestPort: 1},
		"guest port 0":  {Proto: "tcp", HostPort: 1},
		"host port big": {Proto: "udp", HostPort: 65536, GuestPort: 1},
		"host v6":       {Proto: "tcp", HostAddr: "::1", HostPort: 1, GuestPort: 1},
		"host garbage":  {Proto: "tcp", HostAddr: "localhost", HostPort: 1, GuestPort: 1},
		"guest garbage": {Proto: "tcp", GuestAddr: "x", HostPort: 1, GuestPort: 1},
	} {
		if err := ValidateHostFwd(h); err == nil {
			t.Errorf("%s: accepted %+v", name, h)
		}
	}
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
