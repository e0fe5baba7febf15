package slirpport

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rootless-containers/rootlesskit/v2/pkg/port"

	"github.com/rkexec/rkexec/internal/nettest"
	"github.com/rkexec/rkexec/internal/testenv"
	"github.com/rkexec/rkexec/pkg/net/portspec"
	"github.com/rkexec/rkexec/pkg/net/slirp"
)

func setup(t *testing.T) (*nettest.NetNS, *Driver) {
	t.Helper()
	bin, err := slirp.Resolve("")
	if err != nil {
		testenv.Missing(t, "%v", err)
	}
	f, err := slirp.Probe(bin)
	if err != nil {
		t.Fatal(err)
	}
	ns := nettest.New(t)
	sock := filepath.Join(t.TempDir(), "slirp.sock")
	p, err := slirp.Start(slirp.Options{Binary: bin, Features: f, Target: slirp.Target{NetNS: ns.Path}, APISocket: sock})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return ns, New(sock)
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	c, err := net.ListenPacket("udp4", l.Addr().String()) // free for udp too
	if err != nil {
		return freePort(t)
	}
	c.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func TestTCPAndUDP(t *testing.T) {
	ns, d := setup(t)
	ctx := context.Background()
	l, err := ns.Listen("tcp4", "0.0.0.0:0")
	if err != nil {
		t.Fatal(err)
	}
	nettest.Serve(t, l, func(c net.Conn) { fmt.Fprintf(c, "%s\n", c.RemoteAddr().(*net.TCPAddr).IP) })
	u, err := ns.ListenPacket("udp4", "0.0.0.0:0")
	if err != nil {
		t.Fatal(err)
	}
	defer u.Close()
	go func() {
		buf := make([]byte, 100)
		for {
			n, from, err := u.ReadFrom(buf)
			if err != nil {
				return
			}
			u.WriteTo(buf[:n], from)
		}
	}()
	hp := freePort(t)
	tcp, err := d.AddPort(ctx, port.Spec{Proto: "tcp", ParentIP: "127.0.0.1", ParentPort: hp, ChildPort: l.Addr().(*net.TCPAddr).Port})
	if err != nil {
		t.Fatal(err)
	}
	c, err := net.DialTimeout("tcp4", net.JoinHostPort("127.0.0.1", strconv.Itoa(hp)), 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(10 * time.Second))
	peer, err := bufio.NewReader(c).ReadString('\n')
	c.Close()
	if err != nil || strings.TrimSpace(peer) != "10.0.2.2" {
		t.Fatalf("through slirp4netns: %q %v (the server should see the gateway)", peer, err)
	}
	udp, err := d.AddPort(ctx, port.Spec{Proto: "udp4", ParentIP: "127.0.0.1", ParentPort: hp, ChildPort: u.LocalAddr().(*net.UDPAddr).Port})
	if err != nil {
		t.Fatal(err)
	}
	uc, err := net.Dial("udp4", net.JoinHostPort("127.0.0.1", strconv.Itoa(hp)))
	if err != nil {
		t.Fatal(err)
	}
	defer uc.Close()
	got := false
	for try := 0; try < 5 && !got; try++ {
		uc.Write([]byte("ping"))
		uc.SetReadDeadline(time.Now().Add(2 * time.Second))
		buf := make([]byte, 10)
		n, err := uc.Read(buf)
		got = err == nil && string(buf[:n]) == "ping"
	}
	if !got {
		t.Fatal("no udp answer through slirp4netns")
	}
	if list, _ := d.ListPorts(ctx); len(list) != 2 {
		t.Fatalf("list: %v", list)
	}
	if _, err := d.AddPort(ctx, port.Spec{Proto: "tcp", ParentIP: "127.0.0.1", ParentPort: hp, ChildPort: 1}); !errors.Is(err, portspec.ErrConflict) {
		t.Fatalf("duplicate: %v", err)
	}
	for _, st := range []*port.Status{tcp, udp} {
		if err := d.RemovePort(ctx, st.ID); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := net.Dial("tcp4", net.JoinHostPort("127.0.0.1", strconv.Itoa(hp))); err == nil {
		t.Fatal("the port still listens after RemovePort")
	}
	if err := d.RemovePort(ctx, tcp.ID); !errors.Is(err, portspec.ErrNotFound) {
		t.Fatalf("removing twice: %v", err)
	}
}

func TestRefusals(t *testing.T) {
	_, d := setup(t)
	ctx := context.Background()
	busy, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	for name, tc := range map[string]struct {
		sp   port.Spec
		want string
	}{
		"tcp6":          {port.Spec{Proto: "tcp6", ParentIP: "::1", ParentPort: 8080, ChildPort: 80}, "builtin"},
		"v6 parent":     {port.Spec{Proto: "tcp", ParentIP: "::1", ParentPort: 8080, ChildPort: 80}, "IPv6"},
		"loopback dest": {port.Spec{Proto: "tcp", ParentIP: "127.0.0.1", ParentPort: 8080, ChildIP: "127.0.0.1", ChildPort: 80}, "tap address"},
		"in use":        {port.Spec{Proto: "tcp", ParentIP: "127.0.0.1", ParentPort: busy.Addr().(*net.TCPAddr).Port, ChildPort: 80}, "in use"},
		"no proto":      {port.Spec{ParentPort: 8080, ChildPort: 80}, "proto"},
	} {
		if _, err := d.AddPort(ctx, tc.sp); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", name, err, tc.want)
		}
	}
	if list, _ := d.ListPorts(ctx); len(list) != 0 {
		t.Fatalf("refused adds left ports: %v", list)
	}
}
