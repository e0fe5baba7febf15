package child

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/rkexec/rkexec/pkg/message"
	"github.com/rkexec/rkexec/pkg/nsenter"
	"github.com/rkexec/rkexec/pkg/process"
	"github.com/rkexec/rkexec/pkg/proctree"
	"github.com/rkexec/rkexec/pkg/reaper"
	"github.com/rkexec/rkexec/pkg/sandboxinit"
	"github.com/rkexec/rkexec/pkg/statedir"
)

// Opt configures Run.
type Opt struct {
	// ConfigEnvKey names the environment variable that carries the JSON Config.
	ConfigEnvKey string
	// InitEnvKey names the variable that carries the init's config (see package sandboxinit).
	InitEnvKey string
	// NewLog makes the logger for debug and error lines, given the config's debug switch.
	NewLog func(debug bool) Logger
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

// Run is the child's whole life; it returns the process's exit code.
func Run(opt Opt) int {
	var cfg Config
	if err := json.Unmarshal([]byte(os.Getenv(opt.ConfigEnvKey)), &cfg); err != nil {
		opt.NewLog(false).Errorf("decoding %s: %v", opt.ConfigEnvKey, err)
		return 125
	}
	log := opt.NewLog(cfg.Debug)
	from := os.NewFile(uintptr(cfg.FDs.FromParent), "from-parent")
	to := os.NewFile(uintptr(cfg.FDs.ToParent), "to-parent")
	c := &child{cfg: cfg, opt: opt, log: log, from: from, to: to}
	return c.run()
}

type child struct {
	cfg      Config
	opt      Opt
	log      Logger
	from, to *os.File
	// proc is /proc as opened before the target started.
	proc *proctree.Proc
}

// fail reports err to the parent, which prints it; the child itself stays quiet unless the parent is gone.
func (c *child) fail(step string, err error) {
	code := 125
	var ee *exitError
	if errors.As(err, &ee) {
		code = ee.code
	}
	if sendErr := message.SendError(c.to, step, err, code); sendErr != nil {
		c.log.Errorf("%s: %v", step, err)
	}
}

// run is the child's life after nsexec: it already has every capability in its user namespace and
// every inherited fd is close-on-exec. It returns the exit code.
func (c *child) run() int {
	// The parent's death shows as EOF on the pipe from it, which only the parent holds: a
	// parent-death signal would fire when the parent's forking thread exits, possibly before the
	// others, and could not be told from a SIGTERM sent to the parent and relayed. So the caller
	// removed nsexec's SIGKILL one on the main thread, and the child watches the pipe instead.
	if _, err := message.Expect(c.from, message.ParentHello); err != nil {
		return c.lost("user namespace", err)
	}
	if err := message.Send(c.to, &message.Message{Name: message.ChildHello}); err != nil {
		return c.lost("user namespace", err)
	}
	if _, err := message.Expect(c.from, message.IDMapsWritten); err != nil {
		return c.lost("id maps", err)
	}
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		c.fail("user namespace", fmt.Errorf("becoming a child subreaper: %w", err))
		return 125
	}
	// Before anything in the sandbox can mount over /proc: the cleanup finds processes through it.
	proc, err := proctree.Open()
	if err != nil {
		c.fail("user namespace", err)
		return 125
	}
	defer proc.Close()
	c.proc = proc
	if err := setupMounts(c.cfg.Propagation, c.cfg.CopyUp); err != nil {
		c.fail("mounts", err)
		return 125
	}
	c.log.Debugf("mounts ready: propagation %s, copied up %v", c.cfg.Propagation, c.cfg.CopyUp)
	if err := message.Send(c.to, &message.Message{Name: message.UserNSReady}); err != nil {
		return c.lost("user namespace", err)
	}
	if _, err := message.Expect(c.from, message.NetworkConfigured); err != nil {
		return c.lost("network", err)
	}
	if _, err := message.Expect(c.from, message.PortDriverReady); err != nil {
		return c.lost("ports", err)
	}
	return c.runTarget()
}

// lost ends a handshake that failed at step: a parent that sent an Error cleans up itself; after a
// parent that vanished the child removes the state directory; anything else is reported. It returns
// the exit code.
func (c *child) lost(step string, err error) int {
	var re *message.RemoteError
	switch {
	case errors.As(err, &re):
	case errors.Is(err, message.ErrPeerGone):
		c.removeStateDir()
	default:
		c.fail(step, err)
	}
	return 125
}

// failUnlessRemote reports err unless it came from the parent, which already knows.
func (c *child) failUnlessRemote(step string, err error) {
	var re *message.RemoteError
	if !errors.As(err, &re) {
		c.fail(step, err)
	}
}

func (c *child) runTarget() int {
	// Watch for SIGCHLD before the target can exit.
	r := reaper.New()
	defer r.Stop()
	env := process.WithoutEnv(os.Environ(), c.opt.ConfigEnvKey)
	path, err := process.LookPath(c.cfg.Target[0], env)
	if err != nil {
		c.fail("starting the command", &exitError{code: process.CodeOf(err), err: err})
		return 125
	}
	var pid int
	// Socket activation needs LISTEN_PID set to the target's own pid, which only a process that then
	// becomes the target can do: the init.
	if c.cfg.Namespaces == 0 && c.cfg.ListenFDs == 0 {
		pid, err = c.startTarget(path, env)
	} else {
		pid, err = c.startInit(env)
	}
	if err != nil {
		c.fail("starting the command", err)
		return 125
	}
	c.log.Debugf("target started: pid %d (%v)", pid, c.cfg.Target)
	// The sandbox's namespaces are the init's when there is one: that pid is child_pid.
	if err := message.Send(c.to, &message.Message{Name: message.TargetStarted, TargetPID: pid}); err != nil {
		c.log.Debugf("telling the parent the target started: %v", err)
	}
	parentGone := make(chan struct{})
	go func() {
		// The parent sends nothing more: this returns when it exits, and closes its end.
		_, _ = io.Copy(io.Discard, c.from)
		close(parentGone)
	}()
	status, died := r.Wait(pid, nil, parentGone)
	c.log.Debugf("target exited: code %d; killing what is left in the sandbox", status)
	killSandbox(c.proc)
	if died {
		c.log.Debug("the parent died: killing the sandbox")
		c.removeStateDir()
		return 128 + int(unix.SIGKILL)
	}
	return status
}

// startTarget starts the target as the child's own child.
func (c *child) startTarget(path string, env []string) (int, error) {
	cmd := &exec.Cmd{
		Path:   path,
		Args:   c.cfg.Target,
		Env:    env,
		Stdin:  os.Stdin,
		Stdout: os.Stdout,
		Stderr: os.Stderr,
		// If the child dies without cleaning up, the target goes with it.
		SysProcAttr: &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL},
	}
	if err := cmd.Start(); err != nil {
		return 0, &exitError{code: process.CodeOf(err), err: err}
	}
	return cmd.Process.Pid, nil
}

// startInit starts the target in new namespaces through nsexec; the process nsexec leaves (the init)
// becomes the target, or runs it as PID 1 with a reaper.
func (c *child) startInit(env []string) (int, error) {
	pidns := c.cfg.Namespaces&unix.CLONE_NEWPID != 0
	initCfg := sandboxinit.Config{
		Target:    process.Spec{Args: c.cfg.Target, Env: env},
		MountProc: pidns,
		Reaper:    pidns && c.cfg.Reaper,
	}
	var listenFiles []*os.File
	if n := c.cfg.ListenFDs; n > 0 {
		initCfg.Target.PreserveFDs = n
		initCfg.Target.ListenPID = true
		initCfg.Target.Env = process.MergeEnv(env, "LISTEN_FDS="+strconv.Itoa(n))
		for fd := 3; fd < 3+n; fd++ {
			listenFiles = append(listenFiles, os.NewFile(uintptr(fd), "listen-fd-"+strconv.Itoa(fd)))
		}
	}
	b, err := json.Marshal(initCfg)
	if err != nil {
		return 0, fmt.Errorf("encoding the init config: %w", err)
	}
	unshare := c.cfg.Namespaces
	if pidns {
		unshare |= unix.CLONE_NEWNS // for the init's own /proc
	}
	cmd := &exec.Cmd{
		// The binary the child runs: a magic link to its file, not a path looked up in the sandbox.
		Path:   "/proc/self/exe",
		Args:   []string{os.Args[0]},
		Env:    append(env, c.opt.InitEnvKey+"="+string(b)),
		Stdin:  os.Stdin,
		Stdout: os.Stdout,
		Stderr: os.Stderr,
		// The activation sockets keep their numbers, 3 and up.
		ExtraFiles: listenFiles,
	}
	p, err := nsenter.Start(cmd, nsenter.Config{Unshare: unshare, Hostname: c.cfg.Hostname}, nil)
	if err != nil {
		return 0, err
	}
	_ = p.Release() // the reaper waits for it with wait4; Release only frees the handle
	return p.Stage2PID, nil
}

// removeStateDir cleans up after a parent that died without doing it.
func (c *child) removeStateDir() {
	_ = statedir.Remove(c.cfg.StateDir, c.cfg.StateDirCreated) // best effort: nobody is left to report to
}
