package netconf

import (
	"net"
	"testing"

	"github.com/vishvananda/netlink"

	"github.com/rkexec/rkexec/internal/nettest"
)

func TestLoopbackUp(t *testing.T) {
	ns := nettest.New(t)
	var before, after *State
	if err := ns.Do(func() (err error) {
		if before, err = Inspect(); err != nil {
			return err
		}
		if err = LoopbackUp(); err != nil {
			return err
		}
		after, err = Inspect()
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if lo := before.Link("lo"); lo == nil || lo.Up {
		t.Fatalf("a new namespace should have lo down: %+v", before.Links)
	}
	lo := after.Link("lo")
	if lo == nil || !lo.Up || !hasAddr(lo, "127.0.0.1/8") {
		t.Fatalf("lo after LoopbackUp: %+v", lo)
	}
	if len(after.Links) != 1 {
		t.Errorf("a new namespace should have lo only: %+v", after.Links)
	}
	// Loopback traffic inside works now.
	l, err := ns.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	c, err := ns.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatalf("dialing lo inside: %v", err)
	}
	c.Close()
}

func TestApply(t *testing.T) {
	ns := nettest.New(t)
	_, addr, _ := net.ParseCIDR("10.0.2.100/24")
	addr.IP = net.ParseIP("10.0.2.100").To4()
	ifc := Interface{Name: "tap9", Addr: addr, Gateway: net.ParseIP("10.0.2.2"), MTU: 65520}
	var st *State
	if err := ns.Do(func() (err error) {
		if err := netlink.LinkAdd(&netlink.Tuntap{LinkAttrs: netlink.LinkAttrs{Name: "tap9"}, Mode: netlink.TUNTAP_MODE_TAP}); err != nil {
			return err
		}
		if err := Apply(ifc); err != nil {
			return err
		}
		if err := Apply(ifc); err != nil { // idempotent
			return err
		}
		st, err = Inspect()
		return err
	}); err != nil {
		t.Fatal(err)
	}
	l := st.Link("tap9")
	if l == nil || !l.Up || l.MTU != 65520 || !hasAddr(l, "10.0.2.100/24") {
		t.Fatalf("tap9 after Apply: %+v", l)
	}
	if !st.Gateway.Equal(net.ParseIP("10.0.2.2")) || st.GatewayDev != "tap9" {
		t.Fatalf("default route: %v dev %s", st.Gateway, st.GatewayDev)
	}
	if err := ns.Do(func() error { return Apply(Interface{Name: "nosuch0"}) }); err == nil {
		t.Fatal("Apply on a missing link succeeded")
	}
}

func hasAddr(l *Link, cidr string) bool {
	for _, a := range l.Addrs {
		if a.String() == cidr {
			return true
		}
	}
	return false
}

func TestCreateTapIsPersistent(t *testing.T) {
	ns := nettest.New(t)
	var st *State
	if err := ns.Do(func() (err error) {
		tun, err := OpenTun()
		if err != nil {
			return err
		}
		if err := CreateTap(tun, "tap7"); err != nil {
			return err
		}
		st, err = Inspect()
		return err
	}); err != nil {
		t.Fatal(err)
	}
	// CreateTap closed its fd: only a persistent device is still there.
	if st.Link("tap7") == nil {
		t.Fatalf("no tap7 after CreateTap: %+v", st.Links)
	}
	if err := ns.Do(func() error {
		tun, err := OpenTun()
		if err != nil {
			return err
		}
		return CreateTap(tun, "bad/name")
	}); err == nil {
		t.Fatal("CreateTap with a bad name succeeded")
	}
}
