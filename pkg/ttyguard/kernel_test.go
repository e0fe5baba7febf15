package ttyguard

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"

	"github.com/rkexec/rkexec/internal/testenv"
)

// These tests load the filter into the kernel, in testdata/ttyprobe, a helper built for the test's
// architecture and, on amd64, for 386 (a 32-bit program on the 64-bit kernel). The probe runs in a new
// session whose controlling terminal is a new pseudo-terminal, and tries the ioctls there.

// buildProbe builds testdata/ttyprobe for goarch into a temporary directory.
func buildProbe(t *testing.T, goarch string) string {
	t.Helper()
	goTool, err := exec.LookPath("go")
	if err != nil {
		goTool = filepath.Join(runtime.GOROOT(), "bin", "go")
		if _, err := os.Stat(goTool); err != nil {
			testenv.Missing(t, "the go command, to build the probe: %v", err)
		}
	}
	out := filepath.Join(t.TempDir(), "ttyprobe-"+goarch)
	cmd := exec.Command(goTool, "build", "-buildvcs=false", "-o", out, "./testdata/ttyprobe")
	cmd.Env = append(os.Environ(), "GOARCH="+goarch, "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build ./testdata/ttyprobe for %s: %v\n%s", goarch, err, b)
	}
	return out
}

// probe runs the probe with args on a new controlling terminal and returns its NAME=RESULT lines.
func probe(t *testing.T, bin string, args ...string) map[string]string {
	t.Helper()
	_, slave := testenv.OpenPty(t)
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(bin, args...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = slave, &stdout, &stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %q: %v\n%s", filepath.Base(bin), args, err, stderr.Bytes())
	}
	res := map[string]string{}
	for _, line := range strings.Fields(stdout.String()) {
		k, v, _ := strings.Cut(line, "=")
		res[k] = v
	}
	return res
}

// expect compares the probe's results with want.
func expect(t *testing.T, what string, got, want map[string]string) {
	t.Helper()
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: %s=%s, want %s (all: %v)", what, k, got[k], v, got)
		}
	}
}

// requireInjection needs a kernel where the probe, unfiltered, can push input into its own terminal:
// otherwise EPERM under the filter would prove nothing.
func requireInjection(t *testing.T, unfiltered map[string]string) {
	t.Helper()
	if unfiltered["sti"] != "OK" {
		testenv.Missing(t, "a kernel that lets a process push input into its terminal (TIOCSTI gave %s; as non-root that needs sysctl dev.tty.legacy_tiocsti=1)", unfiltered["sti"])
	}
}

// TestFilterInKernel: unfiltered, the probe injects a byte into its terminal (also with garbage in
// the request's high bits, which the kernel ignores); under the filter, on every thread, TIOCSTI and
// TIOCLINUX fail with EPERM, however they are spelled, and other ioctls work.
func TestFilterInKernel(t *testing.T) {
	bin := buildProbe(t, runtime.GOARCH)
	before := probe(t, bin)
	requireInjection(t, before)
	if v, ok := before["sti-high"]; ok && v != "OK" {
		t.Errorf("unfiltered TIOCSTI with high bits set: %s, want OK (the kernel reads 32 bits)", v)
	}
	if before["linux"] == "EPERM" {
		t.Fatalf("unfiltered TIOCLINUX on a pty gave EPERM already: the test cannot tell (all: %v)", before)
	}
	after := probe(t, bin, "-install")
	want := map[string]string{"sti": "EPERM", "linux": "EPERM", "winsz": "OK"}
	if runtime.GOARCH == "amd64" {
		// Even where x32 is compiled out (ENOSYS unfiltered), the filter sees the call first.
		want["sti-x32"] = "EPERM"
	}
	if _, ok := before["sti-high"]; ok {
		want["sti-high"] = "EPERM"
	}
	expect(t, "filtered", after, want)
	if n, m, ok := strings.Cut(after["threads"], "/"); !ok || n != m {
		t.Errorf("filtered: %s threads run under the filter, want all (TSYNC)", after["threads"])
	}
}

// TestFilterInherited: a program executed under the filter has it, a 32-bit one too (it enters the
// kernel through the compat entry point, with another arch and other system-call numbers).
func TestFilterInherited(t *testing.T) {
	bin := buildProbe(t, runtime.GOARCH)
	requireInjection(t, probe(t, bin))
	expect(t, "executed under the filter", probe(t, bin, "-install", bin),
		map[string]string{"sti": "EPERM", "linux": "EPERM", "winsz": "OK"})
	if runtime.GOARCH != "amd64" {
		return
	}
	bin386 := buildProbe(t, "386")
	before := probe(t, bin386)
	if before["sti"] != "OK" {
		testenv.Missing(t, "a kernel that runs i386 programs (CONFIG_IA32_EMULATION) and lets them use TIOCSTI: got %v", before)
	}
	expect(t, "i386 under an x86_64 filter", probe(t, bin, "-install", bin386),
		map[string]string{"sti": "EPERM", "linux": "EPERM", "winsz": "OK"})
}
