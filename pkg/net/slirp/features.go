package slirp

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// DefaultBinary is the name looked up on $PATH when no binary is given.
const DefaultBinary = "slirp4netns"

// Resolve turns name (a path, or a command name looked up on $PATH) into an absolute path, so that
// the binary is found on the host before any namespace change.
func Resolve(name string) (string, error) {
	if name == "" {
		name = DefaultBinary
	}
	p, err := exec.LookPath(name)
	if err != nil {
		return "", fmt.Errorf("slirp4netns binary %q not found (install the slirp4netns package, e.g. apt-get install slirp4netns, or name it with --slirp4netns-binary): %w", name, err)
	}
	abs, err := filepath.Abs(p)
	if err != nil {
		return "", fmt.Errorf("slirp4netns binary %q: %w", p, err)
	}
	return abs, nil
}

// Features is what a slirp4netns binary (and the kernel, for seccomp) supports.
type Features struct {
	// Flags supported, from `--help`.
	Configure, ReadyFD, ExitFD, APISocket, CIDR, DisableHostLoopback, IPv6, Sandbox, Seccomp bool
	// KernelSeccomp reports whether the kernel has seccomp filters (needed by --enable-seccomp).
	KernelSeccomp bool
}

// Probe runs `binary --help` (with a clean environment) and reports what the binary supports. It fails when the binary lacks what Start always uses (--configure, --ready-fd,
// --exit-fd, --netns-type, which slirp4netns has since v0.4.0).
func Probe(binary string) (*Features, error) {
	help, err := run(binary, "--help")
	if err != nil {
		return nil, err
	}
	f := &Features{
		Configure:           strings.Contains(help, "--configure"),
		ReadyFD:             strings.Contains(help, "--ready-fd"),
		ExitFD:              strings.Contains(help, "--exit-fd"),
		APISocket:           strings.Contains(help, "--api-socket"),
		CIDR:                strings.Contains(help, "--cidr"),
		DisableHostLoopback: strings.Contains(help, "--disable-host-loopback"),
		IPv6:                strings.Contains(help, "--enable-ipv6"),
		Sandbox:             strings.Contains(help, "--enable-sandbox"),
		Seccomp:             strings.Contains(help, "--enable-seccomp"),
		KernelSeccomp:       kernelHasSeccompFilter(),
	}
	if !f.Configure || !f.ReadyFD || !f.ExitFD || !strings.Contains(help, "--netns-type") {
		return nil, fmt.Errorf("%s is older than slirp4netns v0.4.0 (no --netns-type/--ready-fd/--exit-fd in its --help): install a newer slirp4netns", binary)
	}
	return f, nil
}

// Assumed is what every slirp4netns since v0.4.0, the oldest rkexec can use, supports: every flag
// Features names (v0.4.0 added --netns-type, --enable-sandbox and --enable-seccomp; the others are
// older), and whether the kernel has seccomp filters, which it looks up. It runs no process: asking
// `slirp4netns --help` at every start took a process of 2-6 ms (a dynamically linked program with
// glib) and the CPU it needs beside the sandbox's start, for an answer that is the same for every
// slirp4netns of the last years. A slirp4netns that exits before its network is up is asked then,
// to say whether it is too old (Process.Ready).
func Assumed() *Features {
	return &Features{
		Configure: true, ReadyFD: true, ExitFD: true, APISocket: true, CIDR: true,
		DisableHostLoopback: true, IPv6: true, Sandbox: true, Seccomp: true,
		KernelSeccomp: kernelHasSeccompFilter(),
	}
}

func run(binary string, arg string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, arg)
	cmd.Env = []string{}
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &out
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("%s %s: %w: %s", binary, arg, err, strings.TrimSpace(out.String()))
	}
	return out.String(), nil
}

// kernelHasSeccompFilter reports whether prctl knows SECCOMP_MODE_FILTER: with a NULL filter the
// kernel answers EFAULT when it does and EINVAL when it does not; nothing is installed either way.
func kernelHasSeccompFilter() bool {
	if err := unix.Prctl(unix.PR_GET_SECCOMP, 0, 0, 0, 0); errors.Is(err, unix.EINVAL) {
		return false
	}
	err := unix.Prctl(unix.PR_SET_SECCOMP, unix.SECCOMP_MODE_FILTER, 0, 0, 0)
	return !errors.Is(err, unix.EINVAL)
}

// Toggle is a three-way setting: auto, true or false (--slirp4netns-sandbox, --slirp4netns-seccomp).
type Toggle string

// The values of a Toggle.
const (
	Auto  Toggle = "auto"
	True  Toggle = "true"
	False Toggle = "false"
)

// ParseToggle checks a flag's value.
func ParseToggle(flag, s string) (Toggle, error) {
	switch t := Toggle(s); t {
	case Auto, True, False:
		return t, nil
	case "":
		return Auto, nil
	}
	return "", fmt.Errorf("%s: %q is not one of auto, true, false", flag, s)
}

// resolve decides a Toggle: auto is on when supported; true when unsupported is an error.
func (t Toggle) resolve(what string, supported bool) (bool, error) {
	switch t {
	case "", Auto:
		return supported, nil
	case True:
		if !supported {
			return false, fmt.Errorf("%s was asked for but is not supported here", what)
		}
		return true, nil
	case False:
		return false, nil
	}
	return false, fmt.Errorf("%s: bad setting %q (auto, true or false)", what, string(t))
}
