package main

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"
	"unicode"
	"unicode/utf8"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"golang.org/x/sys/unix"

	"github.com/rkexec/rkexec/pkg/cgroup2"
	"github.com/rkexec/rkexec/pkg/child"
	"github.com/rkexec/rkexec/pkg/idmap"
	"github.com/rkexec/rkexec/pkg/net/slirp"
	"github.com/rkexec/rkexec/pkg/parent"
	"github.com/rkexec/rkexec/pkg/sigforward"
	"github.com/rkexec/rkexec/pkg/statedir"
)

// runFlags are the root command's flags, spelled and defaulted as RootlessKit v2 spells them.
type runFlags struct {
	debug       bool
	stateDir    string
	name        string
	copyUp      []string
	copyUpMode  string
	propagation string
	subidSource string
	pidns       bool
	utsns       bool
	ipcns       bool
	cgroupns    bool
	timens      bool
	reaper      string
	hostname    string
	// detachNetNS and evacuateCgroup2 are RootlessKit's --detach-netns and --evacuate-cgroup2.
	detachNetNS     bool
	evacuateCgroup2 string
	// allowTIOCSTI leaves ioctl TIOCSTI/TIOCLINUX to the command.
	allowTIOCSTI bool
	net          netFlags
	rk           rootlessKitFlags
	// cli is the name rkexec was called by: nameRkexec, or nameRootlessKit for RootlessKit's
	// command line (no subcommands; its exit codes and error lines).
	cli string
	// flags is the flag set, to tell a flag given from its default.
	flags *pflag.FlagSet
	// started is when main began (monotonicNow), the zero of the debug lines' times.
	started int64
}

// usageError is a command-line mistake; the message ends with where to find help.
type usageError struct{ error }

// execute runs the command line of cli (nameRkexec or nameRootlessKit) and returns the process exit
// code; started is when main began.
func execute(cli string, args []string, started int64) int {
	f := &runFlags{cli: cli, started: started}
	root := newRootCommand(f)
	if cli == nameRootlessKit {
		// RootlessKit has no subcommands: `rootlesskit ps` runs ps.
		args = rootlessKitLongFlags(root.Flags(), args)
	} else {
		root.AddCommand(newPsCommand(), newInfoCommand(), newExecCommand(), newPortCommand())
	}
	root.SetArgs(args)
	code := 0
	var report exitReport
	root.RunE = func(_ *cobra.Command, args []string) error {
		if f.rk.printSemver != "" {
			return printSemver(os.Stdout, f.rk.printSemver)
		}
		c, err := runMain(f, args, func(sig syscall.Signal, core bool) { report = exitReport{sig, core} })
		code = c
		if err == nil && cli == nameRootlessKit {
			code = rootlessKitExit(os.Stderr, args, code, report)
		} else if err == nil {
			rkexecSignalLine(os.Stderr, args, report)
		}
		return err
	}
	if err := root.Execute(); err != nil {
		var pe *parent.Error
		var ec exitCode
		switch {
		case errors.As(err, &ec):
			return int(ec)
		case errors.As(err, &pe):
			fmt.Fprintf(os.Stderr, "rkexec: %s\n", oneLine(pe.Error()))
			code = pe.Code
		default:
			fmt.Fprintf(os.Stderr, "rkexec: %s\n", oneLine(err.Error()))
			code = 125
		}
		if cli == nameRootlessKit {
			// RootlessKit exits 1 for every failure of its own, and for a command it cannot run.
			return 1
		}
	}
	return code
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

func newRootCommand(f *runFlags) *cobra.Command {
	use, ver := "rkexec [flags] [--] COMMAND [ARG...]", version()
	if f.cli == nameRootlessKit {
		use, ver = "rootlesskit [flags] COMMAND [ARG...]", rootlessKitVersion+" (rkexec "+version()+")"
	}
	root := &cobra.Command{
		Use:   use,
		Short: "Run a command as root in new user namespaces, with no setuid code of its own",
		Long: `rkexec runs COMMAND as "root" inside a new user and mount namespace, mapping root to you and
the rest of the namespace's ids to your subordinate ids from /etc/subuid and /etc/subgid.
It accepts RootlessKit's flags, state directory and environment variables.

Exit status: COMMAND's, or 128+N when it was killed by signal N; 125 when rkexec itself
failed, 126 when COMMAND cannot be executed, 127 when it is not found.`,
		Example: `  rkexec -- sh -c 'id -u; cat /proc/self/uid_map'
  rkexec --copy-up=/etc -- sh -c 'echo 127.0.0.2 myhost >>/etc/hosts'`,
		Version:           ver,
		Args:              cobra.ArbitraryArgs,
		SilenceErrors:     true,
		SilenceUsage:      true,
		DisableAutoGenTag: true,
		CompletionOptions: cobra.CompletionOptions{DisableDefaultCmd: true},
	}
	fl0 := root.Flags()
	fl0.BoolVar(&f.pidns, "pidns", false, "create a PID namespace (with a fresh /proc)")
	fl0.BoolVar(&f.utsns, "utsns", false, "create a UTS namespace")
	fl0.BoolVar(&f.ipcns, "ipcns", false, "create an IPC namespace")
	fl0.BoolVar(&f.cgroupns, "cgroupns", false, "create a cgroup namespace")
	fl0.BoolVar(&f.timens, "timens", false, "create a time namespace")
	fl0.StringVar(&f.reaper, "reaper", "auto", "run the command under a PID 1 that reaps orphans; requires --pidns [auto, true, false]")
	fl0.StringVar(&f.hostname, "hostname", "", "hostname in the new UTS namespace; requires --utsns")
	fl0.BoolVar(&f.detachNetNS, "detach-netns", false, "keep the sandbox's network namespace at <state-dir>/netns and run the command in the host's (enter it with nsenter --net=$ROOTLESSKIT_STATE_DIR/netns from inside)")
	fl0.StringVar(&f.evacuateCgroup2, "evacuate-cgroup2", "", "move the processes of rkexec's cgroup into this sub-group of it, so the sandbox can enable controllers; cgroup v2 only; requires --pidns and --cgroupns")
	root.SetOut(os.Stdout)
	root.SetErr(os.Stderr)
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return usageError{fmt.Errorf("%w (see %s --help)", err, c.CommandPath())}
	})
	fl := root.Flags()
	// Flags after COMMAND belong to COMMAND.
	fl.SetInterspersed(false)
	fl.BoolVar(&f.debug, "debug", false, "debug logging, every line prefixed with the role that wrote it")
	fl.StringVar(&f.stateDir, "state-dir", "", "state directory (default $XDG_RUNTIME_DIR/rkexec/NAME)")
	fl.StringVar(&f.name, "name", "", "sandbox name, for rkexec exec/ps (default: generated)")
	fl.StringSliceVar(&f.copyUp, "copy-up", nil, "mount a writable tmpfs on this directory, its entries symlinked to the originals (repeatable), e.g. --copy-up=/etc")
	fl.StringVar(&f.copyUpMode, "copy-up-mode", "tmpfs+symlink", "copy-up mode [tmpfs+symlink]")
	fl.StringVar(&f.propagation, "propagation", "rprivate", "mount propagation of / [rprivate, private, rslave, slave, rshared, shared]")
	fl.BoolVar(&f.allowTIOCSTI, "allow-tiocsti", false, "let the command push input into its terminal with ioctl TIOCSTI/TIOCLINUX (blocked by default: a sandboxed process could type commands into your shell)")
	addNetFlags(fl, &f.net)
	f.flags = fl
	fl.StringVar(&f.subidSource, "subid-source", "auto", "source of subordinate ids: dynamic runs getsubids, static reads /etc/subuid and /etc/subgid [auto, dynamic, static]")
	addRootlessKitFlags(fl, &f.rk)
	return root
}

func version() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "dev"
}

// runMain validates the flags, then runs the sandbox; signaled is called when a signal killed the
// command.
func runMain(f *runFlags, args []string, signaled func(syscall.Signal, bool)) (int, error) {
	// The signals to relay are caught by plain handlers (sigforward.StartLean): os/signal takes a
	// round trip between threads for each, 1-3 ms in all. Failing that, os/signal does it while the
	// flags are checked, and the parent waits for it before it creates anything.
	signals, err := sigforward.StartLean()
	if err != nil {
		signals = sigforward.StartAsync()
	}
	// First, before any helper runs: the activation fds become close-on-exec, and so does every other
	// inherited fd, which no program rkexec starts may get.
	listenFDCount := listenFDs()
	if err := closeOnExecFrom(3 + listenFDCount); err != nil {
		return 125, err
	}
	if len(args) == 0 {
		return 125, usageError{fmt.Errorf("no command given: %s [flags] -- COMMAND [ARG...]", f.cli)}
	}
	var epoch int64
	if f.debug {
		epoch = f.started
	}
	log := newLogger("parent", f.debug, epoch)
	if f.copyUpMode != "tmpfs+symlink" {
		return 125, usageError{fmt.Errorf("invalid --copy-up-mode %q: the only mode is tmpfs+symlink", f.copyUpMode)}
	}
	if _, ok := child.PropagationFlags(f.propagation); !ok {
		return 125, usageError{fmt.Errorf("invalid --propagation %q: use rprivate, private, rslave, slave, rshared or shared", f.propagation)}
	}
	source, err := idmap.ParseSource(f.subidSource)
	if err != nil {
		return 125, usageError{err}
	}
	copyUp, err := checkCopyUp(f.copyUp)
	if err != nil {
		return 125, usageError{err}
	}
	namespaces, reaper, err := checkNamespaces(f)
	if err != nil {
		return 125, usageError{err}
	}
	netOpt, err := checkNet(&f.net, f.flags)
	if err != nil {
		return 125, usageError{err}
	}
	if err := checkDetachNetNS(f, netOpt); err != nil {
		return 125, usageError{err}
	}
	if err := checkEvacuateCgroup2(f); err != nil {
		return 125, usageError{err}
	}
	for _, w := range netWarnings(&f.net) {
		log.Warnf("%s", w)
	}
	name, stateDir, err := resolveStateDir(f)
	if err != nil {
		return 125, usageError{err}
	}
	plan, err := idmap.MakePlan(idmap.CurrentCaller(), source, idmap.HostLookup())
	if err != nil {
		return 125, &parent.Error{Code: 125, Step: "id maps", Err: err}
	}
	return parent.Run(parent.Opt{
		ListenFDs: listenFDCount,
		Name:      name,
		StateDir:  stateDir,
		// Under the default state root the directory is rkexec's, whoever made it.
		StateDirOwned: f.stateDir == "",
		Target:        args,
		CopyUp:        copyUp,
		Propagation:   f.propagation,
		Namespaces:    namespaces,
		Hostname:      f.hostname,
		Reaper:        reaper,
		IDMaps:        plan,
		Debug:         f.debug,
		DebugEpoch:    epoch,
		ChildRoleEnv:  roleEnv(roleChild),
		TargetEnv: []string{
			envStateDir + "=" + stateDir,
			envParentEUID + "=" + strconv.Itoa(os.Geteuid()),
			envParentEGID + "=" + strconv.Itoa(os.Getegid()),
			envRkexecStateDir + "=" + stateDir,
			envRkexecName + "=" + name,
		},
		AllowTIOCSTI: f.allowTIOCSTI,
		Log:          log,
		Stderr:       os.Stderr,
		Net:          netOpt,
		Signals:      signals,
		DetachNetNS:  f.detachNetNS,
		// Checked: cgroup v2, with --pidns and --cgroupns.
		EvacuateCgroup2: f.evacuateCgroup2,
		Signaled:        signaled,
	})
}

// checkDetachNetNS applies RootlessKit's rules to --detach-netns: slirp4netns cannot sandbox itself
// in a namespace given by path (slirp4netns issue 317), so auto means off and true is refused.
func checkDetachNetNS(f *runFlags, netOpt *parent.NetOpt) error {
	if !f.detachNetNS || netOpt == nil || netOpt.Driver != parent.NetSlirp4netns {
		return nil
	}
	switch netOpt.Slirp.Sandbox {
	case slirp.True:
		return errors.New("--slirp4netns-sandbox=true conflicts with --detach-netns (slirp4netns cannot sandbox itself in a detached namespace): use auto or false")
	case slirp.Auto:
		netOpt.Slirp.Sandbox = slirp.False
	}
	return nil
}

// checkEvacuateCgroup2 checks --evacuate-cgroup2 as RootlessKit does (--cgroupns, then --pidns, a
// sub-group name), and that the host is cgroup v2, where RootlessKit warns and goes on without it.
func checkEvacuateCgroup2(f *runFlags) error {
	if f.evacuateCgroup2 == "" { // as RootlessKit: empty is unset
		return nil
	}
	if !f.cgroupns {
		return errors.New("--evacuate-cgroup2 needs --cgroupns (and --pidns): the sandbox sees its cgroup through a cgroup namespace of its own")
	}
	if !f.pidns {
		return errors.New("--evacuate-cgroup2 needs --pidns")
	}
	if err := cgroup2.CheckName(f.evacuateCgroup2); err != nil {
		return err
	}
	return cgroup2.Check(cgroup2.Mountpoint)
}

// listenFDs is the number of systemd socket-activation fds passed to this process (LISTEN_PID is ours).
// They were inherited across exec, so they are not close-on-exec; an fd that is, or is not open, is
// one of this process's own (the fds were not really passed), and activation is ignored.
// The variables are for this process only: they are removed (the command gets its own), and the fds
// become close-on-exec, so that no helper rkexec runs inherits them (the child gets them explicitly).
func listenFDs() int {
	if os.Getenv(envListenPID) != strconv.Itoa(os.Getpid()) {
		return 0
	}
	n, err := strconv.Atoi(os.Getenv(envListenFDs))
	os.Unsetenv(envListenPID)
	os.Unsetenv(envListenFDs)
	if err != nil || n <= 0 {
		return 0
	}
	for fd := 3; fd < 3+n; fd++ {
		flags, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0)
		if err != nil || flags&unix.FD_CLOEXEC != 0 {
			fmt.Fprintf(os.Stderr, "rkexec: warning: %s=%d but fd %d was not passed: ignoring socket activation\n", envListenFDs, n, fd)
			return 0
		}
	}
	for fd := 3; fd < 3+n; fd++ {
		unix.CloseOnExec(fd)
	}
	return n
}

// checkNamespaces turns the namespace flags into CLONE_NEW* flags and resolves --reaper.
func checkNamespaces(f *runFlags) (uintptr, bool, error) {
	var flags uintptr
	for _, ns := range []struct {
		on   bool
		flag uintptr
	}{
		{f.pidns, unix.CLONE_NEWPID}, {f.utsns, unix.CLONE_NEWUTS}, {f.ipcns, unix.CLONE_NEWIPC},
		{f.cgroupns, unix.CLONE_NEWCGROUP}, {f.timens, unix.CLONE_NEWTIME},
	} {
		if ns.on {
			flags |= ns.flag
		}
	}
	if f.hostname != "" {
		if !f.utsns {
			return 0, false, errors.New("--hostname needs --utsns (a UTS namespace of its own)")
		}
		if err := checkHostname(f.hostname); err != nil {
			return 0, false, err
		}
	}
	switch f.reaper {
	case "auto":
		return flags, f.pidns, nil
	case "true":
		if !f.pidns {
			return 0, false, errors.New("--reaper=true needs --pidns")
		}
		return flags, true, nil
	case "false":
		return flags, false, nil
	}
	return 0, false, fmt.Errorf("invalid --reaper %q: use auto, true or false", f.reaper)
}

// checkHostname checks a --hostname: at most 64 bytes (the kernel's limit), printable, no spaces or
// slashes. The hostname reaches prompts, logs and terminals, where a control character would act.
func checkHostname(h string) error {
	if len(h) > 64 {
		return fmt.Errorf("invalid --hostname %q: at most 64 bytes", h)
	}
	if !utf8.ValidString(h) {
		return fmt.Errorf("invalid --hostname %q: not UTF-8", h)
	}
	for _, r := range h {
		if unicode.IsControl(r) {
			return fmt.Errorf("invalid --hostname %q: control characters are not allowed", h)
		}
		if r == ' ' || r == '/' || unicode.IsSpace(r) {
			return fmt.Errorf("invalid --hostname %q: no spaces or slashes", h)
		}
	}
	return nil
}

// checkCopyUp cleans the --copy-up directories and checks each exists and can be copied up.
func checkCopyUp(dirs []string) ([]string, error) {
	var out []string
	seen := map[string]bool{}
	for _, d := range dirs {
		if !filepath.IsAbs(d) {
			return nil, fmt.Errorf("invalid --copy-up %q: give an absolute path", d)
		}
		d = filepath.Clean(d)
		if d == "/" || d == os.TempDir() {
			return nil, fmt.Errorf("invalid --copy-up %q: / and %s cannot be copied up", d, os.TempDir())
		}
		fi, err := os.Stat(d)
		if err != nil {
			return nil, fmt.Errorf("invalid --copy-up %q: %w", d, errors.Unwrap(err))
		}
		if !fi.IsDir() {
			return nil, fmt.Errorf("invalid --copy-up %q: not a directory", d)
		}
		if !seen[d] {
			seen[d] = true
			out = append(out, d)
		}
	}
	return out, nil
}

// resolveStateDir picks the sandbox's name and state directory.
func resolveStateDir(f *runFlags) (name, dir string, err error) {
	name = f.name
	if name != "" {
		if err := statedir.CheckName(name); err != nil {
			return "", "", err
		}
	}
	if f.stateDir != "" {
		dir, err = filepath.Abs(f.stateDir)
		if err != nil {
			return "", "", fmt.Errorf("invalid --state-dir %q: %w", f.stateDir, err)
		}
		if name == "" {
			name = filepath.Base(dir)
		}
		return name, dir, nil
	}
	if name == "" {
		var b [4]byte
		_, _ = io.ReadFull(rand.Reader, b[:]) // crypto/rand does not fail on Linux
		name = hex.EncodeToString(b[:])
	}
	root := statedir.Root(os.Getenv(envXDGRuntimeDir), os.Geteuid())
	if _, err := statedir.CheckRoot(root, true); err != nil {
		return "", "", err
	}
	return name, filepath.Join(root, name), nil
}

// argsUsage checks the number of positional arguments, with a message that shows the usage.
func argsUsage(minArgs, maxArgs int) cobra.PositionalArgs {
	return func(c *cobra.Command, args []string) error {
		if len(args) < minArgs || (maxArgs >= 0 && len(args) > maxArgs) {
			return usageError{fmt.Errorf("usage: %s (see %s --help)", c.UseLine(), c.CommandPath())}
		}
		return nil
	}
}
