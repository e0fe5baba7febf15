package main

import (
	"strings"
	"testing"

	"github.com/spf13/pflag"
)

// The network flags have RootlessKit v2.3's names and defaults.
func TestNetFlagsDefaults(t *testing.T) {
	fl := pflag.NewFlagSet("x", pflag.ContinueOnError)
	addNetFlags(fl, &netFlags{})
	for name, def := range map[string]string{
		"net": "host", "mtu": "0", "cidr": "", "ifname": "", "disable-host-loopback": "false", "ipv6": "false",
		"slirp4netns-binary": "slirp4netns", "slirp4netns-sandbox": "auto", "slirp4netns-seccomp": "auto",
		"port-driver": "none", "publish": "[]",
	} {
		f := fl.Lookup(name)
		if f == nil || f.DefValue != def {
			t.Errorf("--%s: %+v, want default %q", name, f, def)
		}
	}
	if fl.ShorthandLookup("p") == nil {
		t.Error("no -p")
	}
}

func TestCheckNet(t *testing.T) {
	parse := func(args ...string) (*netFlags, *pflag.FlagSet) {
		f := &netFlags{}
		fl := pflag.NewFlagSet("x", pflag.ContinueOnError)
		addNetFlags(fl, f)
		if err := fl.Parse(args); err != nil {
			t.Fatal(err)
		}
		return f, fl
	}
	if opt, err := checkNet(parse()); opt != nil || err != nil {
		t.Fatalf("default: %+v %v", opt, err)
	}
	opt, err := checkNet(parse("--net=none", "--port-driver=builtin", "-p", "127.0.0.1:8080:80/tcp", "-p", "[::1]:8080:80/tcp6"))
	if err != nil || opt.Driver != "none" || opt.PortDriver != "builtin" || len(opt.Publish) != 2 || opt.Publish[1].ParentIP != "::1" {
		t.Fatalf("none+builtin: %+v %v", opt, err)
	}
	// dockerd-rootless.sh passes slirp4netns's flags whatever the driver: accepted, as by RootlessKit.
	slirpFlags := []string{"--mtu=65520", "--disable-host-loopback", "--ipv6", "--slirp4netns-sandbox=auto",
		"--slirp4netns-seccomp=true", "--slirp4netns-binary=/nonexistent"}
	for _, network := range []string{"--net=host", "--net=none"} {
		f, fl := parse(append([]string{network}, slirpFlags...)...)
		if _, err := checkNet(f, fl); err != nil {
			t.Errorf("%s with slirp4netns's flags: %v", network, err)
		}
		if w := netWarnings(f); len(w) != 2 || !strings.Contains(w[0], "--mtu") || !strings.Contains(w[1], "--ipv6") {
			t.Errorf("%s: warnings %q, want --mtu's and --ipv6's", network, w)
		}
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--net=vpnkit"}, "not supported yet"},
		{[]string{"--net=x"}, "invalid --net"},
		{[]string{"--port-driver=x"}, "invalid --port-driver"},
		{[]string{"--port-driver=implicit"}, "pasta"},
		{[]string{"--port-driver=builtin"}, "--port-driver needs"},
		{[]string{"-p", "127.0.0.1:1:1/tcp"}, "-p needs"},
		{[]string{"--net=none", "--cidr=10.0.3.0/24"}, "--cidr needs --net=slirp4netns"},
		{[]string{"--net=host", "--ifname=eth0"}, "--ifname needs --net=slirp4netns"},
		{[]string{"--net=none", "--port-driver=slirp4netns"}, "--port-driver=slirp4netns needs"},
		{[]string{"--net=none", "-p", "127.0.0.1:1:1/tcp"}, "-p needs a port driver"},
		{[]string{"--net=none", "--port-driver=builtin", "-p", "1:1"}, "invalid -p"},
		{[]string{"--net=none", "--port-driver=builtin", "-p", "127.0.0.1:8080:80/tcp", "-p", "127.0.0.1:8080:81/tcp"}, "given twice"},
		{[]string{"--net=slirp4netns", "--slirp4netns-seccomp=on"}, "--slirp4netns-seccomp"},
		{[]string{"--net=slirp4netns", "--mtu=100"}, "--mtu"},
		{[]string{"--net=slirp4netns", "--cidr=fd00::/64"}, "--cidr"},
		{[]string{"--net=slirp4netns", "--slirp4netns-binary=/nonexistent"}, "apt-get install slirp4netns"},
	} {
		if _, err := checkNet(parse(tc.args...)); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: %v, want %q", tc.args, err, tc.want)
		}
	}
}
