package main

// RootlessKit's command line: the names this binary answers to, the flags only RootlessKit has, its
// version, and how it reports the command's end.

import (
	"fmt"
	"io"
	"strings"
	"syscall"

	"github.com/spf13/pflag"
)

// The names this binary answers to, by the base name of argv[0] (a symlink or a copy). Any other name
// is rkexec's own interface.
const (
	nameRkexec      = "rkexec"
	nameRootlessKit = "rootlesskit"
	nameDockerProxy = "rootlesskit-docker-proxy"
)

// rootlessKitVersion is the RootlessKit release whose command line, REST API and docker proxy rkexec
// follows: the rootlesskit/v2 module it is built against (a unit test checks the two agree).
// --print-semver prints its components, under either name, since callers use it to test for
// RootlessKit's features.
const rootlessKitVersion = "2.3.6"

// rootlessKitFlags are the flags of RootlessKit that configure drivers rkexec does not have: they
// are accepted with RootlessKit's defaults and meaning (the path or bridge of that driver), and, as
// with RootlessKit, matter only with their --net, which rkexec refuses with what to use instead.
type rootlessKitFlags struct {
	printSemver      string
	pastaBinary      string
	vpnkitBinary     string
	lxcUserNicBinary string
	lxcUserNicBridge string
}

func addRootlessKitFlags(fl *pflag.FlagSet, f *rootlessKitFlags) {
	fl.StringVar(&f.printSemver, "print-semver", "", "print a component of the RootlessKit version rkexec follows ("+rootlessKitVersion+") as a decimal integer [major, minor, patch]")
	fl.StringVar(&f.pastaBinary, "pasta-binary", "pasta", "path of pasta binary for --net=pasta (not supported yet)")
	fl.StringVar(&f.vpnkitBinary, "vpnkit-binary", "vpnkit", "path of VPNKit binary for --net=vpnkit (not supported yet)")
	fl.StringVar(&f.lxcUserNicBinary, "lxc-user-nic-binary", "", "path of lxc-user-nic binary for --net=lxc-user-nic (not supported yet)")
	fl.StringVar(&f.lxcUserNicBridge, "lxc-user-nic-bridge", "lxcbr0", "lxc-user-nic bridge name (not supported yet)")
}

// printSemver prints one component of rootlessKitVersion, as RootlessKit's --print-semver does.
func printSemver(w io.Writer, component string) error {
	parts := strings.SplitN(rootlessKitVersion, ".", 3)
	i := map[string]int{"major": 0, "minor": 1, "patch": 2}
	n, ok := i[component]
	if !ok {
		return usageError{fmt.Errorf("invalid --print-semver %q: use major, minor or patch", component)}
	}
	_, err := fmt.Fprintln(w, parts[n])
	return err
}

// rootlessKitLongFlags rewrites RootlessKit's single-dash long flags (-net=none, -pidns: its flag
// parser takes both forms) to the double-dash form, up to the command. fl says which names are flags,
// and which of them take a value.
func rootlessKitLongFlags(fl *pflag.FlagSet, args []string) []string {
	out := make([]string, 0, len(args))
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" || a == "-" || !strings.HasPrefix(a, "-") {
			return append(out, args[i:]...)
		}
		name := strings.TrimLeft(a, "-")
		name, _, hasValue := strings.Cut(name, "=")
		var f *pflag.Flag
		if strings.HasPrefix(a, "--") || len(name) == 1 {
			f = fl.Lookup(name)
			if f == nil && len(name) == 1 {
				f = fl.ShorthandLookup(name)
			}
		} else if f = fl.Lookup(name); f != nil {
			a = "-" + a
		}
		out = append(out, a)
		// A flag's value in the next argument is not a flag, nor the command.
		if f != nil && !hasValue && f.NoOptDefVal == "" && i+1 < len(args) {
			i++
			out = append(out, args[i])
		}
	}
	return out
}

// exitReport is how the command ended, for the lines RootlessKit prints about it.
type exitReport struct {
	signal   syscall.Signal // 0 when it exited
	coreDump bool
}

// rootlessKitExit prints what RootlessKit prints when the command fails, byte for byte (its child
// and parent each report the error they got, the child with os/exec's wording), and returns
// RootlessKit's exit code: the command's status, or 255 for a command killed by a signal.
func rootlessKitExit(w io.Writer, target []string, code int, r exitReport) int {
	if code == 0 {
		return 0
	}
	how := fmt.Sprintf("exit status %d", code)
	if r.signal != 0 {
		how = "signal: " + r.signal.String()
		if r.coreDump {
			how += " (core dumped)"
		}
		code = 255
	}
	fmt.Fprintf(w, "[rootlesskit:child ] error: command %v exited: %s\n", target, how)
	fmt.Fprintf(w, "[rootlesskit:parent] error: child exited: exit status %d\n", code)
	return code
}

// rkexecSignalLine is the line rkexec prints under its own name when a signal killed the command
// (the exit code, 128+N, would not say it), in RootlessKit's wording, so that the same grep finds it;
// none for SIGINT and SIGPIPE, as shells print none.
func rkexecSignalLine(w io.Writer, target []string, r exitReport) {
	if r.signal == 0 || r.signal == syscall.SIGINT || r.signal == syscall.SIGPIPE {
		return
	}
	how := "signal: " + r.signal.String()
	if r.coreDump {
		how += " (core dumped)"
	}
	fmt.Fprintf(w, "rkexec: command %v exited: %s\n", target, how)
}
