package test

// An unusable /dev/net/tun: rkexec runs inside an outer rkexec whose mount namespace hides the
// device (a tmpfs over /dev/net), so the host's device is never touched.

import (
	"strings"
	"testing"
)

// TestUnusableTun: --net=slirp4netns without a usable /dev/net/tun fails before the command starts,
// with one line that names the device and the fix, and leaves nothing behind.
func TestUnusableTun(t *testing.T) {
	t.Parallel()
	bin := rkexecBin(t)
	for _, tc := range []struct{ name, hide string }{
		{"missing", `mount -t tmpfs tmpfs /dev/net`},
		{"not a device", `mount -t tmpfs tmpfs /dev/net && mkdir /dev/net/tun`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			marker := newMarker(t)
			// The outer sandbox's own failure would be exit 99; the inner rkexec's is passed on.
			script := tc.hide + ` || exit 99; exec "$0" --net=slirp4netns -- sh -c 'echo started' sh "$1"`
			res := rkexec(t, "--", "sh", "-c", script, bin, marker)
			wantExit(t, res, 125)
			oneErrorLine(t, res, "/dev/net/tun", "not usable", "modprobe tun", "chmod 0666 /dev/net/tun")
			if strings.Contains(res.Stdout, "started") {
				t.Errorf("the command ran")
			}
			noProcessesLeft(t, marker)
		})
	}
	assertNoStateDirs(t)
}
