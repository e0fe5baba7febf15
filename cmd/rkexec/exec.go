package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"

	"github.com/rkexec/rkexec/pkg/command"
	"github.com/rkexec/rkexec/pkg/enter"
	"github.com/rkexec/rkexec/pkg/process"
	"github.com/rkexec/rkexec/pkg/wire"
)

// execFlags are `rkexec exec`'s flags, spelled as runc exec spells them.
type execFlags struct {
	tty            bool
	detach         bool
	pidFile        string
	cwd            string
	env            []string
	user           string
	additionalGids []string
	preserveFDs    int
	noNewPrivs     bool
	caps           []string
	consoleSocket  string
	processFile    string
	allowTIOCSTI   bool
}

func newExecCommand() *cobra.Command {
	f := &execFlags{}
	cmd := &cobra.Command{
		Use:   "exec [flags] NAME|STATE_DIR [--] COMMAND [ARG...]",
		Short: "Run a command inside a running sandbox",
		Long: `Run COMMAND inside the namespaces of a running sandbox (user, mount, network, pid, uts, ipc,
cgroup, time), as root of the sandbox unless --user says otherwise. The command's exit status is
rkexec exec's; signals sent to rkexec exec are relayed to it.`,
		Example: `  rkexec exec dev -- sh -c 'hostname; ps'
  rkexec exec -t dev -- sh
  rkexec exec -d --pid-file /tmp/p dev -- sleep 100
  rkexec exec --cwd /tmp -e FOO=bar --user 1000:1000 dev -- id`,
		Args: argsUsage(1, -1),
		RunE: func(_ *cobra.Command, args []string) error {
			code, err := runExec(f, args)
			if err == nil && code != 0 {
				return exitCode(code)
			}
			return err
		},
	}
	fl := cmd.Flags()
	fl.SetInterspersed(false)
	fl.BoolVarP(&f.tty, "tty", "t", false, "give the command a new pseudo-terminal")
	fl.BoolVarP(&f.detach, "detach", "d", false, "start the command and return without waiting")
	fl.StringVar(&f.pidFile, "pid-file", "", "write the command's pid to this file (atomically)")
	fl.StringVar(&f.cwd, "cwd", "", "working directory inside the sandbox")
	fl.StringArrayVarP(&f.env, "env", "e", nil, "set an environment variable, KEY=VALUE (repeatable)")
	fl.StringVarP(&f.user, "user", "u", "", "numeric UID[:GID] to run as inside the sandbox (GID defaults to 0)")
	fl.StringSliceVarP(&f.additionalGids, "additional-gids", "g", nil, "additional numeric group ids (repeatable)")
	fl.IntVar(&f.preserveFDs, "preserve-fds", 0, "pass N more fds after stderr (3 to 3+N-1) to the command")
	fl.BoolVar(&f.noNewPrivs, "no-new-privs", false, "set no_new_privs for the command")
	fl.StringArrayVarP(&f.caps, "cap", "c", nil, "keep this capability, even as a non-root --user (repeatable), e.g. CAP_NET_ADMIN")
	fl.StringVar(&f.consoleSocket, "console-socket", "", "with --tty: send the terminal's master to this unix socket (runc's protocol) instead of proxying")
	fl.BoolVar(&f.allowTIOCSTI, "allow-tiocsti", false, "let the command push input into its terminal with ioctl TIOCSTI/TIOCLINUX (blocked by default)")
	fl.StringVarP(&f.processFile, "process", "p", "", "an OCI runtime-spec process JSON (args, env, cwd, user, terminal, capabilities, noNewPrivileges)")
	return cmd
}

// exitCode ends the program with a status that is the command's, printing nothing.
type exitCode int

func (e exitCode) Error() string { return "exit status " + strconv.Itoa(int(e)) }

func runExec(f *execFlags, args []string) (int, error) {
	// First: no inherited fd but those --preserve-fds names may reach the sandbox (see closeOnExecFrom).
	if err := closeOnExecFrom(3 + max(f.preserveFDs, 0)); err != nil {
		return 125, err
	}
	signals := enter.CatchSignals()
	name, argv := args[0], args[1:]
	if len(argv) > 0 && argv[0] == "--" {
		argv = argv[1:]
	}
	spec, err := execSpec(f, argv)
	if err != nil {
		return 125, usageError{err}
	}
	if f.detach && f.tty && f.consoleSocket == "" {
		return 125, usageError{errors.New("--detach with --tty needs --console-socket: nobody would be left to proxy the terminal")}
	}
	if f.consoleSocket != "" && !f.tty {
		return 125, usageError{errors.New("--console-socket needs --tty")}
	}
	box, sandbox, err := openSandbox(name)
	if err != nil {
		return 125, err
	}
	defer box.Close()
	defer sandbox.Close()
	// The environment (the caller's, or --process's), then the sandbox's variables, then -e: each key
	// once, the last value winning.
	p := &spec.Process
	p.Env = command.MergeEnv(p.Env, envStateDir+"="+box.Path, envRkexecStateDir+"="+box.Path,
		envRkexecName+"="+box.Name, envParentEUID+"="+strconv.Itoa(os.Geteuid()), envParentEGID+"="+strconv.Itoa(os.Getegid()))
	p.Env = command.MergeEnv(p.Env, f.env...)
	code, err := enter.Run(enter.Opt{
		Sandbox:       sandbox,
		Spec:          spec,
		TTY:           f.tty,
		ConsoleSocket: f.consoleSocket,
		Detach:        f.detach,
		PIDFile:       f.pidFile,
		Signals:       signals,
	})
	if err != nil {
		return 125, fmt.Errorf("exec in sandbox %s: %w", box.Name, err)
	}
	return code, nil
}

// execSpec builds the process spec from the flags, or from --process.
func execSpec(f *execFlags, argv []string) (wire.ExecSpec, error) {
	var spec wire.ExecSpec
	p := &spec.Process
	if f.processFile != "" {
		if len(argv) > 0 {
			return spec, errors.New("--process and a COMMAND exclude each other: put the command in the file's \"args\"")
		}
		s, err := readProcessFile(f.processFile)
		if err != nil {
			return spec, err
		}
		spec = s
		f.tty = f.tty || p.Terminal
	} else {
		if len(argv) == 0 {
			return spec, errors.New("no command given: rkexec exec [flags] NAME -- COMMAND [ARG...]")
		}
		p.Args = argv
		p.Env = os.Environ()
		p.Cwd = f.cwd
		p.NoNewPrivileges = f.noNewPrivs
	}
	// -e applies after the sandbox's variables (runExec).
	for _, kv := range f.env {
		if !strings.Contains(kv, "=") || strings.HasPrefix(kv, "=") {
			return spec, fmt.Errorf("invalid --env %q: use KEY=VALUE", kv)
		}
	}
	if f.user != "" {
		u, err := parseUser(f.user)
		if err != nil {
			return spec, err
		}
		p.User.UID, p.User.GID = u.UID, u.GID
	}
	for _, g := range f.additionalGids {
		gid, err := strconv.ParseUint(g, 10, 32)
		if err != nil {
			return spec, fmt.Errorf("invalid --additional-gids %q: give a numeric group id, 0 to 4294967295", g)
		}
		p.User.AdditionalGids = append(p.User.AdditionalGids, uint32(gid))
	}
	if len(f.caps) > 0 && p.Capabilities == nil {
		p.Capabilities = &specs.LinuxCapabilities{}
	}
	for _, c := range f.caps {
		name, err := process.ParseCap(c)
		if err != nil {
			return spec, fmt.Errorf("invalid --cap: %w", err)
		}
		// Kept in every set that makes a capability usable by a non-root user.
		caps := p.Capabilities
		caps.Effective = append(caps.Effective, name)
		caps.Permitted = append(caps.Permitted, name)
		caps.Ambient = append(caps.Ambient, name)
	}
	if f.preserveFDs < 0 {
		return spec, fmt.Errorf("invalid --preserve-fds %d: give a count of fds, 0 or more", f.preserveFDs)
	}
	for fd := 3; fd < 3+f.preserveFDs; fd++ {
		if _, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0); err != nil {
			return spec, fmt.Errorf("invalid --preserve-fds %d: fd %d is not open", f.preserveFDs, fd)
		}
	}
	spec.PreserveFDs = f.preserveFDs
	spec.AllowTIOCSTI = f.allowTIOCSTI
	return spec, nil
}

// parseUser reads a numeric UID[:GID].
func parseUser(s string) (specs.User, error) {
	uidStr, gidStr, hasGid := strings.Cut(s, ":")
	uid, err := strconv.ParseUint(uidStr, 10, 32)
	if err != nil {
		return specs.User{}, fmt.Errorf("invalid --user %q: give a numeric UID[:GID] (names are not looked up in the sandbox)", s)
	}
	var gid uint64
	if hasGid {
		gid, err = strconv.ParseUint(gidStr, 10, 32)
		if err != nil {
			return specs.User{}, fmt.Errorf("invalid --user %q: give a numeric UID[:GID] (names are not looked up in the sandbox)", s)
		}
	}
	return specs.User{UID: uint32(uid), GID: uint32(gid)}, nil
}

// readProcessFile reads an OCI runtime-spec process JSON. Capability names are checked and made
// canonical here, so that a bad one is a usage error.
func readProcessFile(path string) (wire.ExecSpec, error) {
	var spec wire.ExecSpec
	b, err := os.ReadFile(path)
	if err != nil {
		return spec, fmt.Errorf("--process: %w", err)
	}
	p := &spec.Process
	if err := json.Unmarshal(b, p); err != nil {
		return spec, fmt.Errorf("--process %s: invalid JSON: %w", path, err)
	}
	if len(p.Args) == 0 {
		return spec, fmt.Errorf("--process %s: \"args\" is empty", path)
	}
	if c := p.Capabilities; c != nil {
		for _, set := range []*[]string{&c.Bounding, &c.Effective, &c.Inheritable, &c.Permitted, &c.Ambient} {
			for i, name := range *set {
				n, err := process.ParseCap(name)
				if err != nil {
					return spec, fmt.Errorf("--process %s: %w", path, err)
				}
				(*set)[i] = n
			}
		}
		spec.BoundingSet = c.Bounding != nil
	}
	return spec, nil
}
