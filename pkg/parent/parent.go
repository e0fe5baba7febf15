package parent

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/rkexec/rkexec/pkg/cgroup2"
	"github.com/rkexec/rkexec/pkg/command"
	"github.com/rkexec/rkexec/pkg/exitcode"
	"github.com/rkexec/rkexec/pkg/idmap"
	"github.com/rkexec/rkexec/pkg/nsenter"
	"github.com/rkexec/rkexec/pkg/proctree"
	"github.com/rkexec/rkexec/pkg/sealedexe"
	"github.com/rkexec/rkexec/pkg/sigforward"
	"github.com/rkexec/rkexec/pkg/statedir"
	"github.com/rkexec/rkexec/pkg/sweep"
	"github.com/rkexec/rkexec/pkg/wire"
)

// Opt configures Run. cmd/rkexec validates every field first.
type Opt struct {
	// Name is the sandbox's name.
	Name string
	// StateDir is the state directory, created if missing.
	StateDir string
	// StateDirOwned says the state directory is rkexec's (under the default state root): removed at
	// the end even when a killed run left it.
	StateDirOwned bool
	// Target is the command to run and its arguments.
	Target []string
	// CopyUp lists directories to copy up (tmpfs+symlink).
	CopyUp []string
	// Propagation is the mount propagation of / inside.
	Propagation string
	// ListenFDs is the number of systemd socket-activation fds (3 and up) to hand to the target.
	ListenFDs int
	// Namespaces are the CLONE_NEW* flags of extra namespaces for the target (pid, uts, ipc, cgroup, time).
	Namespaces uintptr
	// Hostname is set in the new UTS namespace; needs CLONE_NEWUTS.
	Hostname string
	// Reaper puts a reaping PID 1 in the new pid namespace.
	Reaper bool
	// AllowTIOCSTI leaves ioctl TIOCSTI and TIOCLINUX to the target (the child blocks them otherwise).
	AllowTIOCSTI bool
	// IDMaps are the planned uid/gid maps.
	IDMaps idmap.Plan
	// Debug turns on debug logging in the child too.
	Debug bool
	// DebugEpoch is the zero of the debug lines' times, on CLOCK_MONOTONIC in nanoseconds (see
	// wire.ChildConfig.DebugEpoch).
	DebugEpoch int64
	// ChildRoleEnv is the KEY=VALUE that makes this binary the child (cmd/rkexec's role table).
	ChildRoleEnv string
	// TargetEnv is added to the target's environment (ROOTLESSKIT_STATE_DIR and the like).
	TargetEnv []string
	// Log is where rkexec's own lines go (the command line's logger).
	Log Logger
	// Stderr receives the one-line warning about a degraded id map.
	Stderr io.Writer
	// Signals, when not nil, is the forwarder the caller started ahead (sigforward.StartAsync, whose
	// catching takes 1-3 ms), so that it overlaps with the flags' checks; Run waits until it caught
	// them before anything exists. nil: Run starts one.
	Signals *sigforward.Forwarder
	// Net is the sandbox's own network; nil for the host's (see network.go).
	Net *NetOpt
	// DetachNetNS (--detach-netns) keeps the sandbox's network namespace on <state-dir>/netns and
	// the target in the host's network namespace; with a nil Net the namespace has only lo.
	DetachNetNS bool
	// EvacuateCgroup2 (--evacuate-cgroup2) is the sub-group into which the processes of rkexec's
	// cgroup move once the child has its own cgroup namespace (package cgroup2); empty for none.
	// cmd/rkexec checks the host is cgroup v2 and Namespaces has CLONE_NEWCGROUP and CLONE_NEWPID.
	EvacuateCgroup2 string
	// Signaled, when not nil, is called before Run returns when a signal killed the target (the
	// exit code, 128+N, cannot tell that from an exit status).
	Signaled func(sig syscall.Signal, coreDump bool)
}

// Logger is what the parent logs with; cmd/rkexec passes its logrus logger.
type Logger interface {
	Debugf(format string, args ...any)
	Warnf(format string, args ...any)
}

// Error is a failure of rkexec itself, with the exit code to use and the step that failed.
type Error struct {
	Code int
	Step string
	Err  error
}

func (e *Error) Error() string { return e.Step + ": " + e.Err.Error() }
func (e *Error) Unwrap() error { return e.Err }

func stepError(step string, err error) *Error {
	var re *wire.RemoteError
	if errors.As(err, &re) {
		code := re.ExitCode
		if code == 0 {
			code = 125
		}
		return &Error{Code: code, Step: re.Step, Err: errors.New(re.Msg)}
	}
	return &Error{Code: 125, Step: step, Err: err}
}

// Run runs the sandbox and returns the target's exit code, or an *Error when rkexec itself failed.
func Run(opt Opt) (int, error) {
	// Catch signals before anything exists, so that none kills the parent before it cleans up; they
	// reach the child once it exists (a SIGTERM during the handshake ends the child, and the
	// handshake with it). Deferred first, so Stop runs after the state dir is released.
	fwd := opt.Signals
	if fwd == nil {
		fwd = sigforward.StartAsync()
	}
	fwd.Caught()
	defer fwd.Stop()
	dir, err := statedir.Acquire(opt.StateDir, opt.StateDirOwned)
	if err != nil {
		return 125, &Error{Code: 125, Step: "state dir", Err: err}
	}
	defer func() {
		if err := dir.Release(); err != nil {
			opt.Log.Warnf("cleaning up: %v", err)
		}
	}()
	s, err := start(opt, dir)
	if err != nil {
		var pe *Error
		if errors.As(err, &pe) {
			return pe.Code, pe
		}
		return 125, stepError("starting the child", err)
	}
	fwd.SetTarget(s.child.Stage2PID, nil)
	s.fwd = fwd
	defer s.net.close()
	code, err := s.run()
	if s.target != nil {
		s.target.Close()
	}
	s.sweep()
	return code, err
}

// sandbox is one running child and the parent's ends of its pipes.
type sandbox struct {
	opt   Opt
	dir   *statedir.Dir
	fwd   *sigforward.Forwarder
	child *nsenter.Process
	// hs is the handshake with the child.
	hs handshake
	// proc is the caller's /proc, and userNS the sandbox's user namespace, opened by writeMaps while
	// it was new: the sweep after the child finds every process of the sandbox through them.
	proc   *proctree.Proc
	userNS *os.File
	// childEnd is how the child ended; nil when it could not be waited for.
	childEnd *os.ProcessState
	// target is a pidfd of the process child_pid names, held while the sandbox runs: rkexec exec and
	// info take the sandbox's process from it (its fdinfo), not from state.json, which the sandbox
	// can rewrite.
	target *os.File
	// net is the sandbox's network (a no-op for the host's).
	net *network
}

// handshake is the parent's side of the conversation of package wire, over the message pipes.
type handshake struct {
	// cfg is the child's config, sent in ParentHello.
	cfg *wire.ChildConfig
	// toChild and fromChild are the parent's ends of the message pipes.
	toChild   io.WriteCloser
	fromChild io.ReadCloser
	// extraNS says the target has namespaces of its own: the process the child reports is the init.
	extraNS bool
	// warning is the degraded id map's warning, printed on stderr once the maps are known good.
	warning string
	stderr  io.Writer
	// ready records the ready sandbox (state.json, child_pid) with the pid that holds its namespaces.
	ready func(pid int) error
	// evacuate moves the processes of rkexec's cgroup into the --evacuate-cgroup2 sub-group; nil
	// without it.
	evacuate func() error
	// networkStart starts the network driver while the child does its mounts, network waits for it
	// (both nil for the host network); ports starts the port driver.
	networkStart func() error
	network      func() (*wire.Network, error)
	ports        func() (map[string]string, error)
}

// start creates the child through nsexec, in a new user and mount namespace whose id maps are written
// (by Start's callback) before any Go code runs in it, so the child starts with every capability there.
func start(opt Opt, dir *statedir.Dir) (*sandbox, error) {
	sealedInit := false
	if opt.Namespaces != 0 || opt.ListenFDs > 0 {
		// The child will start an init, inside the sandbox's user namespace (package sealedexe).
		var err error
		if sealedInit, err = sealedexe.Needed(opt.IDMaps.MapsOutsideUID); err != nil {
			return nil, err
		}
	}
	childR, parentW, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("creating the message pipe: %w", err)
	}
	defer childR.Close()
	parentR, childW, err := os.Pipe()
	if err != nil {
		parentW.Close()
		return nil, fmt.Errorf("creating the message pipe: %w", err)
	}
	defer childW.Close()

	// ExtraFiles start at fd 3, in the order of wire.ChildFromParentFD and the rest; the activation
	// sockets (3 and up here) follow.
	files := []*os.File{childR, childW, dir.LockFile(), dir.DirFile()}
	for fd := 3; fd < 3+opt.ListenFDs; fd++ {
		files = append(files, os.NewFile(uintptr(fd), "listen-fd-"+strconv.Itoa(fd)))
	}
	cfg := &wire.ChildConfig{
		Target:          opt.Target,
		Env:             command.MergeEnv(os.Environ(), opt.TargetEnv...),
		CopyUp:          opt.CopyUp,
		Propagation:     opt.Propagation,
		Namespaces:      opt.Namespaces,
		Hostname:        opt.Hostname,
		Reaper:          opt.Reaper,
		AllowTIOCSTI:    opt.AllowTIOCSTI,
		StateDir:        dir.Path,
		StateDirCreated: dir.Created,
		Debug:           opt.Debug,
		DebugEpoch:      opt.DebugEpoch,
		ListenFDs:       opt.ListenFDs,
	}
	cfg.SealedInit = sealedInit
	cfg.DetachNetNS = opt.DetachNetNS
	cmd := &exec.Cmd{
		// The running binary, through a magic link: no path lookup.
		Path: "/proc/self/exe",
		Args: []string{os.Args[0]},
		// The role, and nothing of the caller's: the config comes over the pipe.
		Env:        []string{opt.ChildRoleEnv},
		Stdin:      os.Stdin,
		Stdout:     os.Stdout,
		Stderr:     os.Stderr,
		ExtraFiles: files,
	}
	proc, err := proctree.Open()
	if err != nil {
		parentW.Close()
		parentR.Close()
		return nil, err
	}
	var mapsErr error
	var userNS *os.File
	writeMaps := func(pid int) error {
		// Stage 1 has just created the user namespace, where nothing of the sandbox runs yet (stage
		// 2, the child, waits for ParentHello): pin it now, by fd.
		fd, err := proc.OpenNamespace(pid, "user")
		if err != nil {
			mapsErr = fmt.Errorf("opening the new user namespace of process %d: %w", pid, err)
			return mapsErr
		}
		userNS = os.NewFile(uintptr(fd), "sandbox user namespace")
		mapsErr = idmap.Write(pid, opt.IDMaps)
		return mapsErr
	}
	// The child watches the pipe from the parent instead of a parent-death signal: that would fire
	// when the parent's forking thread exits, possibly before the others, and could not be told
	// from a SIGTERM sent to the parent and relayed.
	nscfg := nsenter.Config{Unshare: unix.CLONE_NEWUSER | unix.CLONE_NEWNS, Name: "rkexec:child", ClearParentDeathSignal: true}
	if opt.EvacuateCgroup2 != "" {
		// The child's own cgroup namespace, rooted where rkexec starts, before the evacuation moves
		// everything one level down (as RootlessKit's child): the init shares it.
		nscfg.Unshare |= unix.CLONE_NEWCGROUP
		cfg.Namespaces &^= unix.CLONE_NEWCGROUP
		cfg.MountCgroup2 = true
	}
	if opt.Debug {
		nscfg.Debug = func(msg string) { opt.Log.Debugf("%s", msg) }
	}
	nw := &network{opt: &NetOpt{Driver: NetHost}, dir: dir, log: opt.Log}
	if opt.Net != nil {
		if nw, cmd.ExtraFiles, err = newNetwork(opt.Net, dir, opt.Log, cmd.ExtraFiles); err != nil {
			parentW.Close()
			parentR.Close()
			proc.Close()
			return nil, &Error{Code: 125, Step: "network", Err: err}
		}
		cfg.NetNSFD = nw.netnsFD
		cfg.Tap = nw.tap()
		if !opt.DetachNetNS {
			nscfg.Unshare |= unix.CLONE_NEWNET
			if cfg.Tap != "" {
				// nsexec's stage 2 creates the tap device and sends the namespace before the
				// child's Go runtime starts: slirp4netns starts meanwhile (below).
				nscfg.NetHandoff = &nsenter.NetHandoff{FD: cfg.NetNSFD, Tap: cfg.Tap}
				cfg.NetNSSent = true
			}
		}
	}
	// The child's Go runtime starts while the maps are written, and it takes uid 0 on ParentHello,
	// sent after Start returned; not with a network namespace of its own (see RootInGo).
	nscfg.RootInGo = nscfg.Unshare&unix.CLONE_NEWNET == 0
	p, err := nsenter.Start(cmd, nscfg, writeMaps)
	nw.childStarted()
	if err == nil && userNS == nil {
		err = errors.New("nsexec did not ask for the id maps of the new user namespace")
		_ = p.Kill() // then reaped: nothing of it may be left
		_, _ = p.Wait()
	}
	if err != nil {
		nw.close()
		parentW.Close()
		parentR.Close()
		proc.Close()
		if userNS != nil {
			userNS.Close()
		}
		// A stage's own error first: one that failed while the maps were written (its unshare
		// refused) makes them fail too, as stage 0 then kills stage 1, whose maps they are.
		var stageErr *nsenter.StageError
		if mapsErr != nil && !errors.As(err, &stageErr) {
			return nil, &Error{Code: 125, Step: "id maps", Err: mapsErr}
		}
		return nil, diagnoseCloneError(err, readSysctl)
	}
	opt.Log.Debugf("child started: pid %d, id maps written with %s", p.Stage2PID, opt.IDMaps.Method)
	networkStart := func() error { return nw.start(userNS) }
	if nscfg.NetHandoff != nil {
		// The namespace is on the socket already: the network driver starts now, while the
		// child's Go runtime does; the handshake reports how that went where it always did.
		err := nw.start(userNS)
		networkStart = func() error { return err }
	}
	s := &sandbox{opt: opt, dir: dir, child: p, proc: proc, userNS: userNS, net: nw}
	s.hs = handshake{
		cfg: cfg, toChild: parentW, fromChild: parentR,
		extraNS: opt.Namespaces != 0, warning: opt.IDMaps.Warning, stderr: opt.Stderr,
		ready: s.ready,
	}
	if opt.EvacuateCgroup2 != "" {
		s.hs.evacuate = func() error { return evacuateCgroup2(opt.EvacuateCgroup2, opt.Log) }
	}
	if opt.Net != nil {
		s.hs.networkStart = networkStart
		s.hs.network = nw.configure
		s.hs.ports = nw.publish
	}
	return s, nil
}

// evacuateCgroup2 moves the processes of rkexec's own cgroup into its sub-group evac.
func evacuateCgroup2(evac string, log Logger) error {
	group, err := cgroup2.Own("self")
	if err != nil {
		return err
	}
	if err := cgroup2.Evacuate(cgroup2.Mountpoint, group, evac, log.Warnf); err != nil {
		return err
	}
	log.Debugf("cgroup %s evacuated into %s", group, evac)
	return nil
}

// sweep kills whatever is left in the sandbox's user namespace once the child is gone: the child
// does it before it exits, but a child killed from inside the sandbox (or by the OOM killer), or one
// whose Go runtime crashed, cannot, and daemons that left its process tree would outlive rkexec.
func (s *sandbox) sweep() {
	defer s.proc.Close()
	defer s.userNS.Close()
	if !childDiedUnswept(s.childEnd) {
		return
	}
	n, err := sweep.UserNamespace(s.proc, s.userNS, sweep.Timeout)
	if err != nil {
		s.opt.Log.Warnf("%v", err)
	}
	if n > 0 {
		s.opt.Log.Debugf("the child left %d processes in the sandbox: killed them", n)
	}
}

// childDiedUnswept says whether the child may have died without killing what was left in the
// sandbox: it exits by itself only after doing so (or before the target started), so only a death by
// a signal, an exit status 2 (the Go runtime's own for a crash, also a target's, whose cost is one
// needless look), or a status nobody could read, leaves the sweep to the parent. A look through /proc
// costs about a millisecond per couple of hundred processes: not paid on every run.
func childDiedUnswept(end *os.ProcessState) bool {
	if end == nil {
		return true
	}
	ws, ok := end.Sys().(syscall.WaitStatus)
	return !ok || ws.Signaled() || (ws.Exited() && ws.ExitStatus() == 2)
}

// run drives the handshake, then waits for the child.
func (s *sandbox) run() (int, error) {
	defer s.hs.toChild.Close()
	defer s.hs.fromChild.Close()
	if err := s.hs.run(); err != nil {
		// The child may be waiting for a message: tell it, then make sure it is gone.
		_ = wire.SendError(s.hs.toChild, err.Step, err.Err, err.Code) // the child may be dead already
		st := s.kill()
		s.childEnd = st
		// A signal sent to rkexec during the handshake, and relayed, ended the child: that is how
		// the run ended, like a target killed by it.
		if st != nil {
			if ws := st.Sys().(syscall.WaitStatus); ws.Signaled() && s.fwd.Relayed(ws.Signal()) {
				return exitcode.FromProcessState(st), nil
			}
		}
		return err.Code, err
	}
	return s.wait()
}

// run is the handshake, from ParentHello to the recorded sandbox.
func (h *handshake) run() *Error {
	if err := wire.Send(h.toChild, &wire.Message{Name: wire.ParentHello, Child: h.cfg}); err != nil {
		return stepError("user namespace", err)
	}
	if _, err := wire.Expect(h.fromChild, wire.ChildHello); err != nil {
		return stepError("user namespace", err)
	}
	// nsexec had the maps written before the child's first instruction; say so, and what they lack.
	if h.warning != "" {
		fmt.Fprintf(h.stderr, "rkexec: warning: %s\n", h.warning)
	}
	if err := wire.Send(h.toChild, &wire.Message{Name: wire.IDMapsWritten}); err != nil {
		return stepError("id maps", err)
	}
	// The network driver comes up while the child does its mounts.
	var startErr error
	if h.networkStart != nil {
		startErr = h.networkStart()
	}
	if _, err := wire.Expect(h.fromChild, wire.UserNSReady); err != nil {
		return stepError("user namespace", err)
	}
	if startErr != nil {
		return stepError("network", startErr)
	}
	if h.evacuate != nil {
		if err := h.evacuate(); err != nil {
			return stepError("--evacuate-cgroup2", err)
		}
	}
	var network *wire.Network
	if h.network != nil {
		var err error
		if network, err = h.network(); err != nil {
			return stepError("network", err)
		}
	}
	if err := wire.Send(h.toChild, &wire.Message{Name: wire.NetworkConfigured, Network: network}); err != nil {
		return stepError("network", err)
	}
	var ports map[string]string
	if h.ports != nil {
		var err error
		if ports, err = h.ports(); err != nil {
			return stepError("ports", err)
		}
	}
	if err := wire.Send(h.toChild, &wire.Message{Name: wire.PortDriverReady, PortDriver: ports}); err != nil {
		return stepError("ports", err)
	}
	started, err := wire.Expect(h.fromChild, wire.TargetStarted)
	if err != nil {
		return stepError("starting the target", err)
	}
	// child_pid names a process that holds every namespace of the sandbox and that the caller can
	// join (rkexec exec, nsenter -t): the init with extra namespaces, else the target. Not the child:
	// it is non-dumpable, so that the sandbox's root cannot reach its fds, memory or binary, which
	// closes its /proc/PID/ns to the caller too.
	if started.TargetPID <= 0 {
		what := "target's"
		if h.extraNS {
			what = "init's"
		}
		return stepError("starting the target", fmt.Errorf("the child reported the %s pid as %d", what, started.TargetPID))
	}
	if err := h.ready(started.TargetPID); err != nil {
		return stepError("state dir", err)
	}
	return nil
}

// ready records the ready sandbox, whose namespaces pid holds: state.json, then child_pid, for
// which tools poll.
func (s *sandbox) ready(pid int) error {
	// The child's own child, which it reaps: its pid is not reused before the child has seen it exit,
	// and the check after opening makes sure it is still that process. A target that exited already
	// gets none: rkexec exec then finds nothing to join, which is true.
	if pidfd, err := unix.PidfdOpen(pid, unix.PIDFD_NONBLOCK); err == nil {
		if st, err := s.proc.Stat(pid); err == nil && st.PPID == s.child.Stage2PID && !st.Exited() {
			s.target = os.NewFile(uintptr(pidfd), "sandbox process")
		} else {
			unix.Close(pidfd)
		}
	}
	state := statedir.State{
		Name:      s.opt.Name,
		StateDir:  s.dir.Path,
		ParentPID: os.Getpid(),
		ChildPID:  pid,
		Command:   s.opt.Target,
		Network:   s.net.opt.Driver,
		Started:   time.Now().UTC(),
	}
	// state.json, with the ports, and again as they change through the API.
	if err := s.net.recorded(pid, func() error {
		st := state
		st.Ports = s.net.portStrings()
		return s.dir.WriteState(st)
	}); err != nil {
		return err
	}
	if err := s.dir.WriteChildPID(pid); err != nil {
		return err
	}
	s.opt.Log.Debugf("sandbox ready: child_pid %d written to %s", pid, s.dir.Path)
	return nil
}

// wait returns the child's exit code, which is the target's.
func (s *sandbox) wait() (int, error) {
	st, err := s.child.Wait()
	s.childEnd = st
	if err != nil {
		return 125, &Error{Code: 125, Step: "waiting for the child", Err: err}
	}
	s.opt.Log.Debugf("child exited: %v", st)
	if s.opt.Signaled != nil {
		if m := s.targetExited(); m != nil && m.Signal > 0 {
			s.opt.Signaled(syscall.Signal(m.Signal), m.CoreDump)
		}
	}
	return exitcode.FromProcessState(st), nil
}

// targetExited reads the child's last message, which it sent before it exited; nil without one.
func (s *sandbox) targetExited() *wire.Message {
	// Only the child wrote to the pipe, and it has exited: the message is there or never comes. The
	// deadline covers a process that inherited the write end against every rule.
	if f, ok := s.hs.fromChild.(interface{ SetReadDeadline(time.Time) error }); ok {
		_ = f.SetReadDeadline(time.Now().Add(time.Second)) // without it, EOF comes anyway
	}
	m, err := wire.Expect(s.hs.fromChild, wire.TargetExited)
	if err != nil {
		s.opt.Log.Debugf("the child's last message: %v", err)
		return nil
	}
	return m
}

// kill ends a child that failed its handshake, reaps it and returns its status: closing the pipe to
// it lets it tear the sandbox down (the target may be running already); a child that does not exit
// in time is killed.
func (s *sandbox) kill() *os.ProcessState {
	s.hs.toChild.Close()
	exited := make(chan *os.ProcessState, 1)
	go func() {
		st, _ := s.child.Wait() // a failed wait leaves st nil, handled by the caller
		exited <- st
	}()
	select {
	case st := <-exited:
		return st
	case <-time.After(10 * time.Second):
		_ = s.child.Kill() // it may have exited meanwhile
		return <-exited
	}
}

// diagnoseCloneError turns a failure to create the user namespace into advice, reading the sysctls
// that can forbid it with readSysctl (a path under /proc/sys; false when it cannot be read).
func diagnoseCloneError(err error, readSysctl func(path string) (int, bool)) error {
	if !errors.Is(err, unix.EPERM) && !errors.Is(err, unix.ENOSPC) && !errors.Is(err, unix.EACCES) && !errors.Is(err, unix.EINVAL) {
		return fmt.Errorf("creating the user namespace: %w", err)
	}
	if v, ok := readSysctl("/proc/sys/user/max_user_namespaces"); ok && v == 0 {
		return fmt.Errorf("creating the user namespace: %w: user namespaces are disabled (sysctl user.max_user_namespaces is 0); enable them with: sudo sysctl -w user.max_user_namespaces=28633", err)
	}
	if v, ok := readSysctl("/proc/sys/kernel/unprivileged_userns_clone"); ok && v == 0 {
		return fmt.Errorf("creating the user namespace: %w: unprivileged user namespaces are disabled (sysctl kernel.unprivileged_userns_clone is 0); enable them with: sudo sysctl -w kernel.unprivileged_userns_clone=1", err)
	}
	if v, ok := readSysctl("/proc/sys/kernel/apparmor_restrict_unprivileged_userns"); ok && v == 1 {
		return fmt.Errorf("creating the user namespace: %w: AppArmor restricts unprivileged user namespaces (sysctl kernel.apparmor_restrict_unprivileged_userns is 1); allow rkexec with an AppArmor profile granting \"userns,\" or set the sysctl to 0", err)
	}
	if errors.Is(err, unix.ENOSPC) {
		return fmt.Errorf("creating the user namespace: %w: the limit of user namespaces (sysctl user.max_user_namespaces) is reached", err)
	}
	return fmt.Errorf("creating the user namespace: %w", err)
}

// readSysctl reads a number from a file under /proc/sys.
func readSysctl(path string) (int, bool) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, false
	}
	v, err := strconv.Atoi(string(trimNewline(b)))
	return v, err == nil
}

func trimNewline(b []byte) []byte {
	for len(b) > 0 && (b[len(b)-1] == '\n' || b[len(b)-1] == ' ') {
		b = b[:len(b)-1]
	}
	return b
}
