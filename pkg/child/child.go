package child

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/rkexec/rkexec/pkg/command"
	"github.com/rkexec/rkexec/pkg/exitcode"
	"github.com/rkexec/rkexec/pkg/net/detachns"
	"github.com/rkexec/rkexec/pkg/nsenter"
	"github.com/rkexec/rkexec/pkg/proctree"
	"github.com/rkexec/rkexec/pkg/reaper"
	"github.com/rkexec/rkexec/pkg/sealedexe"
	"github.com/rkexec/rkexec/pkg/statedir"
	"github.com/rkexec/rkexec/pkg/ttyguard"
	"github.com/rkexec/rkexec/pkg/wire"
)

// Opt configures Run.
type Opt struct {
	// InitRoleEnv is the KEY=VALUE that makes this binary the init (cmd/rkexec's role table).
	InitRoleEnv string
	// NewLog makes the logger for debug and error lines, given the config's debug switch and the
	// zero of its debug lines' times (wire.ChildConfig.DebugEpoch).
	NewLog func(debug bool, epoch int64) Logger
}

// Logger is what the child logs with; cmd/rkexec passes its logrus logger.
type Logger interface {
	Debugf(format string, args ...any)
	Debug(args ...any)
	Errorf(format string, args ...any)
}

// exitError carries the exit code the child should end with.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

// Run is the child's whole life, from the parent's hello (which carries its config) on the pipes of
// wire.ChildFromParentFD and wire.ChildToParentFD; it returns the process's exit code.
func Run(opt Opt) int {
	from := os.NewFile(wire.ChildFromParentFD, "from-parent")
	to := os.NewFile(wire.ChildToParentFD, "to-parent")
	// The relayed signals are caught from here on, by plain handlers (reaper.NewLean: os/signal takes
	// a round trip between threads for each, 1-3 ms in all; failing that, it does so while the
	// handshake runs); one that comes before the target is held for it.
	r, err := reaper.NewLean()
	if err != nil {
		r = reaper.NewAsync()
	}
	c := &child{opt: opt, log: opt.NewLog(false, 0), from: from, to: to, reaper: r}
	// Opened by the parent outside the sandbox: a path would be resolved in the sandbox's mount
	// namespace, where its root can mount or rename anything over it.
	stateDir := os.NewFile(wire.ChildStateDirFD, "state-dir")
	defer stateDir.Close()
	c.stateDir = stateDir
	// best effort: nobody is left to report to
	c.removeStateDir = func() {
		if c.detached != nil {
			// Mounted on in this mount namespace, netns cannot be removed from it otherwise.
			_ = c.detached.Unmount()
		}
		_ = statedir.RemoveOwnFiles(stateDir, c.cfg.StateDir, c.cfg.StateDirCreated)
	}
	c.parentExit = watchParent()
	hello, err := wire.Expect(from, wire.ParentHello)
	if err == nil && hello.Child == nil {
		err = errors.New("ParentHello without the child's config")
	}
	if err != nil {
		return c.lost("user namespace", err)
	}
	// The parent sends ParentHello once nsenter.Start returned, with the id maps written: until
	// now this process had no uid in its namespace (nsenter.Config.RootInGo, which let its Go
	// runtime start while they were written).
	// On the main thread, where the binary's init locked this goroutine for it.
	err = nsenter.BecomeRoot()
	runtime.UnlockOSThread()
	if err != nil {
		return c.lost("user namespace", err)
	}
	c.cfg = *hello.Child
	c.log = opt.NewLog(c.cfg.Debug, c.cfg.DebugEpoch)
	return c.run()
}

type child struct {
	cfg  wire.ChildConfig
	opt  Opt
	log  Logger
	from io.Reader // the message pipe from the parent
	to   io.Writer // the message pipe to the parent
	// proc is /proc as opened before the target started.
	proc *proctree.Proc
	// removeStateDir cleans up after a parent that died without doing it.
	removeStateDir func()
	// parentExit is closed when the parent has exited (nil when that cannot be watched).
	parentExit <-chan struct{}
	// network is what NetworkConfigured said; nil for the host's network.
	network *wire.Network
	// reaper waits for the target; made at the start, so its signals are caught by then.
	reaper *reaper.Reaper
	// netPrepared: lo is up and /sys a sysfs of the new network namespace before NetworkConfigured
	// (see shareNetNS).
	netPrepared bool
	// stateDir is the state directory, opened by the parent (wire.ChildStateDirFD).
	stateDir *os.File
	// detached is the --detach-netns network namespace; nil without it.
	detached *detachns.NS
	// initExited is where a reaping init sends wire.InitExited: the Go init's config socket, or the
	// C init's status pipe.
	initExited *os.File
}

// watchParent returns a channel closed when the parent exits, from a pidfd of it taken before the
// sandbox runs anything: besides EOF on the pipe from the parent, which a process that got hold of
// the pipe's write end could hold off. nil when the kernel has no pidfds (Linux < 5.3), or when the
// parent is gone already (then EOF on the pipe tells).
func watchParent() <-chan struct{} {
	ppid := unix.Getppid()
	pidfd, err := unix.PidfdOpen(ppid, 0)
	if err != nil {
		return nil
	}
	if unix.Getppid() != ppid {
		// The parent died before the pidfd was taken: it may name another process.
		unix.Close(pidfd)
		return nil
	}
	exited := make(chan struct{})
	go func() {
		defer unix.Close(pidfd)
		fds := []unix.PollFd{{Fd: int32(pidfd), Events: unix.POLLIN}}
		for {
			_, err := unix.Poll(fds, -1)
			if err == nil {
				close(exited)
				return
			}
			if !errors.Is(err, unix.EINTR) {
				return // cannot watch: the pipe still tells
			}
		}
	}()
	return exited
}

// fail reports err to the parent, which prints it; the child itself stays quiet unless the parent is gone.
func (c *child) fail(step string, err error) {
	code := 125
	var ee *exitError
	if errors.As(err, &ee) {
		code = ee.code
	}
	if sendErr := wire.SendError(c.to, step, err, code); sendErr != nil {
		c.log.Errorf("%s: %v", step, err)
	}
}

// run is the child's life after nsexec: it already has every capability in its user namespace and
// every inherited fd is close-on-exec. It returns the exit code.
func (c *child) run() int {
	defer func() {
		if c.proc != nil {
			c.proc.Close()
		}
	}()
	if code, ok := c.handshake(c.setUp); !ok {
		return code
	}
	if c.detached != nil {
		defer c.detached.Close()
	}
	if err := c.setUpNetwork(); err != nil {
		c.fail("network", err)
		return 125
	}
	if c.cfg.MountCgroup2 {
		if err := mountCgroup2(); err != nil {
			c.fail("--evacuate-cgroup2", err)
			return 125
		}
	}
	return c.runTarget()
}

// handshake answers the parent from ChildHello to PortDriverReady; setUp runs once the id maps are
// written and names the step that failed. false ends the run, with the exit code.
func (c *child) handshake(setUp func() (step string, err error)) (int, bool) {
	// The parent's death shows as EOF on the pipe from it, which only the parent holds: nsexec
	// cleared its parent-death signal, at the parent's request.
	if err := wire.Send(c.to, &wire.Message{Name: wire.ChildHello}); err != nil {
		return c.lost("user namespace", err), false
	}
	if _, err := wire.Expect(c.from, wire.IDMapsWritten); err != nil {
		return c.lost("id maps", err), false
	}
	if step, err := setUp(); err != nil {
		c.fail(step, err)
		return 125, false
	}
	if err := wire.Send(c.to, &wire.Message{Name: wire.UserNSReady}); err != nil {
		return c.lost("user namespace", err), false
	}
	nm, err := wire.Expect(c.from, wire.NetworkConfigured)
	if err != nil {
		return c.lost("network", err), false
	}
	c.network = nm.Network
	if err := c.startPortDriver(); err != nil {
		c.fail("ports", err)
		return 125, false
	}
	if _, err := wire.Expect(c.from, wire.PortDriverReady); err != nil {
		return c.lost("ports", err), false
	}
	return 0, true
}

// setUp prepares the sandbox before the network: subreaper, /proc, mounts.
func (c *child) setUp() (string, error) {
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		return "user namespace", fmt.Errorf("becoming a child subreaper: %w", err)
	}
	// Before anything in the sandbox can mount over /proc: the cleanup finds processes through it.
	proc, err := proctree.Open()
	if err != nil {
		return "user namespace", err
	}
	c.proc = proc
	if c.cfg.DetachNetNS {
		// Before shareNetNS, which sends it and prepares it on its thread.
		if c.detached, err = detachns.New(); err != nil {
			return "network", err
		}
	}
	netReady, err := c.shareNetNS()
	if err != nil {
		return "network", err
	}
	if err := setupMounts(c.cfg.Propagation, c.cfg.CopyUp); err != nil {
		netReady()
		return "mounts", err
	}
	c.log.Debugf("mounts ready: propagation %s, copied up %v", c.cfg.Propagation, c.cfg.CopyUp)
	if c.detached != nil {
		// After the copy-up, so that the one mount is where the path leads in this namespace.
		if err := c.detached.MountOn(c.stateDir, c.cfg.StateDir, statedir.NetNSFile); err != nil {
			netReady()
			return "network", err
		}
		c.log.Debugf("detached network namespace on %s/%s", c.cfg.StateDir, statedir.NetNSFile)
	}
	if err := netReady(); err != nil {
		return "network", err
	}
	if c.netPrepared {
		if err := mountSysfs(); err != nil {
			return "network", err
		}
	}
	return "", nil
}

// lost ends a handshake that failed at step: a parent that sent an Error cleans up itself; after a
// parent that vanished the child removes the state directory; anything else is reported. It returns
// the exit code.
func (c *child) lost(step string, err error) int {
	var re *wire.RemoteError
	switch {
	case errors.As(err, &re):
	case errors.Is(err, wire.ErrPeerGone):
		c.removeStateDir()
	default:
		c.fail(step, err)
	}
	return 125
}

// failUnlessRemote reports err unless it came from the parent, which already knows.
func (c *child) failUnlessRemote(step string, err error) {
	var re *wire.RemoteError
	if !errors.As(err, &re) {
		c.fail(step, err)
	}
}

func (c *child) runTarget() int {
	// The child has every capability in the user namespace, so the filter needs no no_new_privs; it
	// holds for the child itself, the init and everything the target starts.
	if !c.cfg.AllowTIOCSTI {
		if err := ttyguard.Install(); err != nil {
			c.fail("starting the command", fmt.Errorf("%w; --allow-tiocsti runs without it", err))
			return 125
		}
	}
	// SIGCHLD is watched, and the relayed signals caught, before the target can exit.
	r := c.reaper
	r.Ready()
	defer r.Stop()
	env := c.cfg.Env
	path, err := command.LookPath(c.cfg.Target[0], env)
	if err != nil {
		c.fail("starting the command", &exitError{code: command.CodeOf(err), err: err})
		return 125
	}
	var pid int
	// Socket activation needs LISTEN_PID set to the target's own pid, which only a process that then
	// becomes the target can do: the init.
	switch {
	case c.cfg.Namespaces == 0 && c.cfg.ListenFDs == 0:
		pid, err = c.startTarget(path, env)
	case c.cfg.ListenFDs == 0:
		pid, err = c.startCInit(path, env)
	default:
		pid, err = c.startInit(env)
	}
	if err != nil {
		c.fail("starting the command", err)
		return 125
	}
	c.log.Debugf("target started: pid %d (%v)", pid, c.cfg.Target)
	// The sandbox's namespaces are the init's when there is one: that pid is child_pid.
	if err := wire.Send(c.to, &wire.Message{Name: wire.TargetStarted, TargetPID: pid}); err != nil {
		c.log.Debugf("telling the parent the target started: %v", err)
	}
	parentGone := make(chan struct{})
	var gone sync.Once
	go func() {
		// The parent sends nothing more: this returns when it exits, and closes its end.
		_, _ = io.Copy(io.Discard, c.from)
		gone.Do(func() { close(parentGone) })
	}()
	if c.parentExit != nil {
		go func() {
			<-c.parentExit
			gone.Do(func() { close(parentGone) })
		}()
	}
	ws, died := r.WaitStatus(pid, nil, parentGone)
	c.log.Debugf("target exited: code %d; killing what is left in the sandbox", exitcode.FromWaitStatus(ws))
	killSandbox(c.proc)
	c.log.Debugf("sandbox swept")
	if died {
		c.log.Debug("the parent died: killing the sandbox")
		c.removeStateDir()
		return exitcode.Signaled(unix.SIGKILL)
	}
	// The parent reads it once this process has exited: the pipe holds it.
	exited := &wire.Message{Name: wire.TargetExited}
	if ws.Signaled() {
		exited.Signal, exited.CoreDump = int(ws.Signal()), ws.CoreDump()
	} else if c.initExited != nil {
		exited.Signal, exited.CoreDump = c.readInitExited()
	}
	if err := wire.Send(c.to, exited); err != nil {
		c.log.Debugf("telling the parent the target exited: %v", err)
	}
	return exitcode.FromWaitStatus(ws)
}

// readInitExited reads the reaping init's wire.InitExited: it has exited, so it is there or never
// comes (the deadline covers a process that got the socket against every rule).
func (c *child) readInitExited() (sig int, coreDump bool) {
	defer c.initExited.Close()
	_ = c.initExited.SetReadDeadline(time.Now().Add(time.Second)) // without it, EOF comes anyway
	var msg wire.InitExited
	if _, err := io.ReadFull(c.initExited, msg[:]); err != nil {
		c.log.Debugf("how the target ended, from the init: %v", err)
		return 0, false
	}
	return int(msg[0]), msg[1] == 1
}

// startTarget starts the target as the child's own child.
// startTarget starts the target as the child's own child, which the reaper waits for by pid: with
// syscall.ForkExec rather than os/exec, which first checks, once per process, that pidfds work (a
// clone of a child that exits, 0.15-0.35 ms here) before the target can start.
func (c *child) startTarget(path string, env []string) (int, error) {
	pid, err := syscall.ForkExec(path, c.cfg.Target, &syscall.ProcAttr{
		Env: env,
		// Fd puts each in blocking mode, as os/exec did.
		Files: []uintptr{os.Stdin.Fd(), os.Stdout.Fd(), os.Stderr.Fd()},
		// If the child dies without cleaning up, the target goes with it.
		Sys: &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL},
	})
	if err != nil {
		err = command.ExecFailed(c.cfg.Target[0], err)
		return 0, &exitError{code: command.CodeOf(err), err: err}
	}
	return pid, nil
}

// initExe is the binary the init is executed from: it belongs to the sandbox's user namespace, whose
// root may open its /proc/PID/exe, so when the file on disk could be rewritten from there it is a
// sealed copy (package sealedexe) placed above lowFD, else the running binary through a magic link.
// release closes the copy once the init runs.
func (c *child) initExe(lowFD int) (path string, release func(), err error) {
	if !c.cfg.SealedInit {
		return "/proc/self/exe", func() {}, nil
	}
	exe, err := sealedexe.New(lowFD)
	if err != nil {
		return "", nil, err
	}
	return exe.Path(), func() { exe.Close() }, nil
}

// startCInit starts the target in new namespaces under nsexec's init in C (package nsenter, Init):
// no Go runtime starts in the sandbox. With a pid namespace the init mounts its /proc before Start
// returns, so whoever joins the sandbox once it is reported ready sees it; with the reaper it is PID
// 1 and runs the target as its child, else it becomes the target. The target's path, arguments and
// environment are the init's own arguments and environment: what the target's execve takes.
func (c *child) startCInit(path string, env []string) (int, error) {
	pidns := c.cfg.Namespaces&unix.CLONE_NEWPID != 0
	unshare := c.cfg.Namespaces
	if pidns {
		unshare |= unix.CLONE_NEWNS // for the init's own /proc
	}
	mode := nsenter.InitExec
	if pidns && c.cfg.Reaper {
		mode = nsenter.InitReap
	}
	exe, release, err := c.initExe(3 + 8) // above the fds the fork places
	if err != nil {
		return 0, err
	}
	defer release()
	cmd := &exec.Cmd{
		Path:   exe,
		Args:   append([]string{os.Args[0], path}, c.cfg.Target...),
		Env:    append([]string{}, env...), // not nil: nil would be this process's environment
		Stdin:  os.Stdin,
		Stdout: os.Stdout,
		Stderr: os.Stderr,
	}
	// A reaping init says on a pipe how the target ended (nsenter.InitReap), as wire.InitExited.
	var exitedR *os.File
	if mode == nsenter.InitReap {
		r, w, err := os.Pipe()
		if err != nil {
			return 0, fmt.Errorf("creating the init's status pipe: %w", err)
		}
		defer w.Close()
		exitedR, cmd.ExtraFiles = r, []*os.File{w}
	}
	nsCfg := nsenter.Config{Unshare: unshare, Hostname: c.cfg.Hostname, Name: "rkexec:init", Init: mode, MountProc: pidns}
	if c.cfg.Debug {
		nsCfg.Debug = func(msg string) { c.log.Debugf("%s", msg) }
	}
	p, err := nsenter.Start(cmd, nsCfg, nil)
	if err != nil && exitedR != nil {
		exitedR.Close()
	} else {
		c.initExited = exitedR
	}
	if errors.Is(err, unix.E2BIG) {
		// The init's execve carries the command's arguments and environment: over the kernel's
		// limit, it is the command's execve that could not be, and the error says so.
		err = command.ExecFailed(c.cfg.Target[0], unix.E2BIG)
		return 0, &exitError{code: command.CodeOf(err), err: err}
	}
	if err != nil {
		return 0, err
	}
	_ = p.Release() // the reaper waits for it with wait4; Release only frees the handle
	return p.Stage2PID, nil
}

// startInit starts the target in new namespaces through nsexec, for a socket-activated target (which
// needs LISTEN_PID set to its own pid, so it is started in the exec role); the process nsexec leaves
// (the init, in Go) becomes the target, or runs it as PID 1 with a reaper.
func (c *child) startInit(env []string) (int, error) {
	pidns := c.cfg.Namespaces&unix.CLONE_NEWPID != 0
	initCfg := wire.InitConfig{
		MountProc: pidns,
		Reaper:    pidns && c.cfg.Reaper,
	}
	initCfg.Target.Process.Args = c.cfg.Target
	// The target already has the child's filter; a socket-activated one, which the init starts in the
	// exec role, must not get it when the child went without.
	initCfg.Target.AllowTIOCSTI = c.cfg.AllowTIOCSTI
	initCfg.Target.Process.Env = env
	// A socket pair: the config goes one way, and the init's "ready" (its /proc mounted, so a command
	// that joins its namespaces sees the sandbox's processes) comes back before TargetStarted.
	pair, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return 0, fmt.Errorf("creating the init's config socket: %w", os.NewSyscallError("socketpair", err))
	}
	cfgR, cfgW := os.NewFile(uintptr(pair[0]), "init-config"), os.NewFile(uintptr(pair[1]), "init-config")
	keep := false
	defer func() {
		if !keep {
			cfgW.Close()
		}
	}()
	// The config socket is the init's fd 3 (wire.InitConfigFD); the activation sockets follow it.
	files := []*os.File{cfgR}
	if n := c.cfg.ListenFDs; n > 0 {
		initCfg.Target.PreserveFDs = n
		initCfg.Target.ListenPID = true
		initCfg.Target.Process.Env = command.MergeEnv(env, "LISTEN_FDS="+strconv.Itoa(n))
		for fd := wire.ChildListenFD; fd < wire.ChildListenFD+n; fd++ {
			files = append(files, os.NewFile(uintptr(fd), "listen-fd-"+strconv.Itoa(fd)))
		}
	}
	unshare := c.cfg.Namespaces
	if pidns {
		unshare |= unix.CLONE_NEWNS // for the init's own /proc
	}
	// Above the fds the fork places.
	path, release, err := c.initExe(3 + len(files) + 8)
	if err != nil {
		cfgR.Close()
		return 0, err
	}
	defer release()
	cmd := &exec.Cmd{
		Path: path,
		Args: []string{os.Args[0]},
		// The role only: the target's environment is in the config.
		Env:        []string{c.opt.InitRoleEnv},
		Stdin:      os.Stdin,
		Stdout:     os.Stdout,
		Stderr:     os.Stderr,
		ExtraFiles: files,
	}
	nsCfg := nsenter.Config{Unshare: unshare, Hostname: c.cfg.Hostname, Name: "rkexec:init"}
	if c.cfg.Debug {
		nsCfg.Debug = func(msg string) { c.log.Debugf("%s", msg) }
	}
	p, err := nsenter.Start(cmd, nsCfg, nil)
	cfgR.Close()
	if err != nil {
		return 0, err
	}
	_ = p.Release() // the reaper waits for it with wait4; Release only frees the handle
	// The init reads it at once; if it died instead, the write fails and the reaper sees its status.
	if err := wire.WriteConfig(cfgW, initCfg); err != nil {
		c.log.Debugf("sending the init its config: %v", err)
		return p.Stage2PID, nil
	}
	// Its ready byte, or EOF when it failed or exec'd first: either way its /proc is what it will be.
	var ready [1]byte
	if _, err := cfgW.Read(ready[:]); err != nil && !errors.Is(err, io.EOF) {
		c.log.Debugf("waiting for the init: %v", err)
	}
	if initCfg.Reaper {
		keep, c.initExited = true, cfgW // for wire.InitExited
	}
	return p.Stage2PID, nil
}
