//go:build linux

package nsenter

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"unicode"

	"golang.org/x/sys/unix"
)

// Config says which namespaces the final process joins and which it creates.
type Config struct {
	Join     []Namespace // existing namespaces to join, any order (joined user first)
	Unshare  uintptr     // CLONE_NEW* flags of new namespaces; CLONE_NEWUSER needs writeMaps
	Hostname string      // set after unsharing UTS; needs CLONE_NEWUTS in Unshare
	Setsid   bool        // stage 2 calls setsid(2), losing the caller's controlling terminal
	// ClearParentDeathSignal: stage 2 clears its parent-death signal (SIGKILL when the thread that
	// called Start exits) as its last step, for a process that watches its parent another way.
	ClearParentDeathSignal bool
	// Name is stage 2's process name (PR_SET_NAME, at most 15 bytes) for the Go code it runs, set on
	// its main thread before the runtime starts; empty keeps "rkexec:[2:INIT]".
	Name string
	// Init, unless InitNone, has stage 2 never start the Go runtime: C code (init.c) runs the
	// program cmd.Args[1] (a path, not looked up) with the arguments cmd.Args[2:] (its argv[0]
	// first) and the environment cmd.Env, and cmd.ExtraFiles are closed first. See InitMode.
	Init InitMode
	// MountProc: stage 2 mounts a fresh /proc (of its pid namespace) over /proc before Start returns;
	// Unshare must have CLONE_NEWNS, so that the mount stays in stage 2's mount namespace.
	MountProc bool
	// Exec: stage 2 does not return to Go; it reads an exec message (EncodeExec) on ExecFD, which the
	// caller writes once Start returns, and becomes its command from C (see Exec).
	Exec bool
	// RootInGo (with CLONE_NEWUSER in Unshare; not with Init, MountProc or Exec) has stage 2 start
	// its Go runtime while writeMaps runs, instead of after: its first Go code is not yet uid 0,
	// and must call BecomeRoot once it knows the maps are written, which it does when the caller
	// tells it after Start returned (Start returns after writeMaps). Until then it may only wait:
	// it has every capability of its user namespace, but no uid or gid in it.
	//
	// The other namespaces are then created before the maps are written, so not a network
	// namespace (CLONE_NEWNET is refused): its loopback device, made with it, would get the
	// unmapped owner in sysfs, where root of the namespace could not write its attributes.
	RootInGo bool
	// NetHandoff (with CLONE_NEWNET in Unshare) has stage 2 create a tap device in its new network
	// namespace and send the namespace to the caller before it returns to Go, so that the caller
	// can start what serves the device (slirp4netns) while stage 2's Go code starts.
	NetHandoff *NetHandoff
	// Debug, when not nil, has the stages log each step; it gets each line ("nsexec stage-1:
	// unshared mnt"), from another goroutine, before Start returns.
	Debug func(msg string)
}

// NetHandoff names the tap device stage 2 creates (persistent, IFF_TAP|IFF_NO_PI, as package
// netconf's CreateTap) and the socket in cmd.ExtraFiles (FD, 3 and up) on which it sends its network
// namespace: one message, the path it opened ("/proc/self/ns/net") with the fd (SCM_RIGHTS), as
// package nsfd's Recv reads it. Stage 2 sends it before it reports ready: once Start has returned,
// the namespace is there to be read.
type NetHandoff struct {
	FD  int
	Tap string
}

// InitMode is what stage 2 does with the program of Config.Init.
type InitMode int

// The modes.
const (
	InitNone InitMode = iota // stage 2 returns to Go, which runs cmd's binary from main
	// InitExec: stage 2 executes the program: it is that process, with a parent-death signal
	// (SIGKILL) tied to the thread that called Start.
	InitExec
	// InitReap: stage 2 starts the program as its child (parent-death signal SIGKILL), relays it
	// the signals package sigforward relays, reaps every child it gets (as PID 1, every orphan of
	// its pid namespace) and exits with the program's exit code, 128+N when signal N killed it. A
	// program that cannot be executed makes it exit 126 (127 when not found), with a line on
	// stderr. cmd.ExtraFiles[0], when given, stays open in it (and only it): just before it exits
	// it writes two bytes there, the signal that killed the program (0 when it exited) and 1 when
	// it dumped core (else 0).
	InitReap
)

// Namespace is an existing namespace to join.
type Namespace struct {
	Type string // "user", "mnt", "net", "pid", "uts", "ipc", "cgroup" or "time"
	Path string // absolute, e.g. /proc/123/ns/net
}

// Process is the final process (stage 2), a direct child of the caller of
// Start. Stage 0 and stage 1 are already reaped when Start returns.
type Process struct {
	Stage1PID int // pid of stage 1, which has exited
	Stage2PID int // pid of stage 2 in the caller's pid namespace

	proc *os.Process
}

// Wait waits for stage 2 to exit and returns its status.
func (p *Process) Wait() (*os.ProcessState, error) { return p.handle().Wait() }

// Signal sends sig to stage 2.
func (p *Process) Signal(sig os.Signal) error { return p.handle().Signal(sig) }

// Kill sends SIGKILL to stage 2.
func (p *Process) Kill() error { return p.handle().Kill() }

// Release frees the pidfd held for stage 2, for a caller that waits for
// Stage2PID by itself (wait4); Wait, Signal and Kill then fail.
func (p *Process) Release() error {
	if p.proc == nil {
		return nil // never taken
	}
	return p.proc.Release()
}

// handle is the os.Process of stage 2, taken now if Start did not (Config.Exec): stage 2 is our
// child, so its pid cannot be reused before we reap it.
func (p *Process) handle() *os.Process {
	if p.proc == nil {
		p.proc, _ = os.FindProcess(p.Stage2PID) // never fails on Linux
	}
	return p.proc
}

// StageError is a failure that a stage of nsexec.c reported. Msg is its
// one-line message ("nsexec stage-1: setns net /proc/123/ns/net: Operation
// not permitted"); errors.Is(err, syscall.EPERM) matches its errno.
type StageError struct {
	Msg   string
	Errno syscall.Errno // 0 when the failure had no errno
}

func (e *StageError) Error() string { return e.Msg }

func (e *StageError) Unwrap() error {
	if e.Errno == 0 {
		return nil
	}
	return e.Errno
}

// IsStage2 reports whether this process is the stage 2 of a Start, the only
// stage that runs Go code. The main function branches on it before anything
// else; it should os.Unsetenv(EnvStage) before it starts other programs.
func IsStage2() bool { return os.Getenv(EnvStage) == "2" }

// Start starts cmd through nsexec and returns the final process (stage 2),
// which runs cmd's binary from main with cmd's Args, Env and ExtraFiles
// inside the namespaces of cfg, and with every fd above 2 close-on-exec.
//
// cmd.Path must be a binary that links this package (usually this one).
// cmd.Stdin, Stdout and Stderr must be nil or *os.File: stage 2 is not the
// process exec.Cmd waits for, so its copying goroutines would never end.
// cmd.SysProcAttr must not create namespaces. Start appends two ExtraFiles
// and two environment variables to cmd; stage 0 is started without
// os/exec, so cmd.Process and cmd.ProcessState stay nil (it has exited and
// been reaped when Start returns). Wait for the final process with
// Process.Wait, or for its pid with wait4.
//
// writeMaps is called with the pid of stage 1 when cfg.Unshare has
// CLONE_NEWUSER, to write its /proc/<pid>/{setgroups,uid_map,gid_map}
// (directly or with newuidmap/newgidmap); it must be nil otherwise.
//
// Stages 1 and 2 die with SIGKILL when the thread that called Start exits:
// do not call Start from a goroutine locked to a thread that will end.
// On failure Start kills and reaps every process it started.
func Start(cmd *exec.Cmd, cfg Config, writeMaps func(pid int) error) (*Process, error) {
	msg, err := cfg.encode(writeMaps != nil)
	if err != nil {
		return nil, err
	}
	if cfg.Init != InitNone && len(cmd.Args) < 3 {
		return nil, errors.New("nsenter: Init needs cmd.Args with the program's path and its argv")
	}
	return startWithBootstrap(cmd, msg, writeMaps, cfg.Debug)
}

// forkExecStage0 starts stage 0 with syscall.ForkExec rather than os.StartProcess, which would first
// check, once per process, that pidfds work by cloning a child that exits at once, then wait through
// a pidfd. cmd.Process stays nil; wait reaps stage 0.
func forkExecStage0(cmd *exec.Cmd) (wait func() error, err error) {
	files := make([]uintptr, 0, 3+len(cmd.ExtraFiles))
	var null *os.File // for the nil ones, as os/exec: read and written
	for _, std := range []any{cmd.Stdin, cmd.Stdout, cmd.Stderr} {
		f, _ := std.(*os.File) // checkCmd allows nil or an *os.File
		if f == nil {
			if null == nil {
				var err error
				if null, err = os.OpenFile(os.DevNull, os.O_RDWR, 0); err != nil {
					return nil, err
				}
				defer null.Close()
			}
			f = null
		}
		files = append(files, f.Fd())
	}
	for _, f := range cmd.ExtraFiles {
		files = append(files, f.Fd())
	}
	pid, err := syscall.ForkExec(cmd.Path, cmd.Args, &syscall.ProcAttr{Dir: cmd.Dir, Env: cmd.Env, Files: files, Sys: cmd.SysProcAttr})
	runtime.KeepAlive(cmd)
	if err != nil {
		return nil, err
	}
	return func() error { return reap(pid) }, nil
}

// startWithBootstrap is Start with an encoded bootstrap message; debug gets the stages' debug lines.
// Stage 0 is started by forkExecStage0, and the returned Process takes its handle of stage 2 when
// first used: os.FindProcess, like os.StartProcess, first checks once per process that pidfds work
// by cloning a child (0.15-0.35 ms here), which a start need not wait for, and a caller that only
// waits for the pid with wait4 need not pay for at all.
func startWithBootstrap(cmd *exec.Cmd, msg []byte, writeMaps func(pid int) error, debug func(string)) (*Process, error) {
	if err := checkCmd(cmd); err != nil {
		return nil, err
	}

	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("nsenter: %w", os.NewSyscallError("socketpair", err))
	}
	initPipe := os.NewFile(uintptr(fds[0]), "nsexec-init")
	initChild := os.NewFile(uintptr(fds[1]), "nsexec-init-child")
	defer initPipe.Close()
	logR, logW, err := os.Pipe()
	if err != nil {
		initChild.Close()
		return nil, fmt.Errorf("nsenter: log pipe: %w", err)
	}

	fd := 3 + len(cmd.ExtraFiles)
	cmd.ExtraFiles = append(cmd.ExtraFiles, initChild, logW)
	env := cmd.Env
	if env == nil {
		env = os.Environ()
	}
	cmd.Env = append(withoutNsexecEnv(env),
		EnvInitPipe+"="+strconv.Itoa(fd),
		EnvLogPipe+"="+strconv.Itoa(fd+1))
	wait, startErr := forkExecStage0(cmd)
	initChild.Close()
	logW.Close()
	if startErr != nil {
		logR.Close()
		return nil, fmt.Errorf("nsenter: start %s: %w", cmd.Path, startErr)
	}

	logs := make(chan []*StageError, 1)
	go func() {
		logs <- readLog(logR, debug)
		logR.Close()
	}()
	res := serveStage0(initPipe, msg, writeMaps)
	waitErr := wait()

	if res.err == nil && res.mapsErr == nil && waitErr == nil && res.stage1 > 0 && res.stage2 > 0 {
		stage1 := res.stage1
		if err := reap(stage1); err != nil {
			res.err = fmt.Errorf("nsexec stage-1: %w", err)
		} else {
			res.stage1 = 0 // reaped
			// Empty: every stage closed the log without an error.
			<-logs
			return &Process{Stage1PID: stage1, Stage2PID: res.stage2}, nil
		}
	}

	// Failure: stage 0 has exited and has already killed what it spawned,
	// unless it died itself; kill again and reap, so nothing is left over.
	for _, pid := range []int{res.stage2, res.stage1} {
		if pid > 0 {
			_ = unix.Kill(pid, unix.SIGKILL) // ESRCH only: it is a zombie we reap next
			_ = reap(pid)                    // the exit status of a killed stage says nothing
		}
	}
	stageErrs := <-logs
	// A stage's own error first: with RootInGo, a stage that failed while the maps were written
	// makes them fail too (stage 0 kills stage 1, whose maps they are).
	switch {
	case len(stageErrs) > 0:
		return nil, stageErrs[0]
	case res.mapsErr != nil:
		return nil, res.mapsErr
	case res.err != nil:
		return nil, res.err
	case waitErr != nil:
		return nil, fmt.Errorf("nsexec stage-0: %w", waitErr)
	default:
		return nil, errors.New("nsexec stage-0: exited without reporting the pids of stages 1 and 2")
	}
}

// encode turns cfg into a bootstrap message, checking it first.
func (cfg Config) encode(haveWriteMaps bool) ([]byte, error) {
	if uint64(cfg.Unshare) > uint64(^uint32(0)) || uint32(cfg.Unshare)&^allNSFlags() != 0 {
		return nil, fmt.Errorf("nsenter: Unshare %#x has flags other than CLONE_NEW*", cfg.Unshare)
	}
	newUser := cfg.Unshare&unix.CLONE_NEWUSER != 0
	if newUser && !haveWriteMaps {
		return nil, errors.New("nsenter: Unshare has CLONE_NEWUSER but no writeMaps function was given")
	}
	if !newUser && haveWriteMaps {
		return nil, errors.New("nsenter: a writeMaps function was given but Unshare has no CLONE_NEWUSER")
	}
	if cfg.Hostname != "" && cfg.Unshare&unix.CLONE_NEWUTS == 0 {
		return nil, errors.New("nsenter: Hostname needs CLONE_NEWUTS in Unshare")
	}
	if cfg.MountProc && cfg.Unshare&unix.CLONE_NEWNS == 0 {
		return nil, errors.New("nsenter: MountProc needs CLONE_NEWNS in Unshare")
	}
	if cfg.Init < InitNone || cfg.Init > InitReap {
		return nil, fmt.Errorf("nsenter: unknown Init mode %d", cfg.Init)
	}
	if cfg.RootInGo && (!newUser || cfg.Unshare&unix.CLONE_NEWNET != 0 || cfg.Init != InitNone || cfg.MountProc || cfg.Exec) {
		return nil, errors.New("nsenter: RootInGo needs CLONE_NEWUSER in Unshare and no CLONE_NEWNET, and neither Init, MountProc nor Exec")
	}
	b := bootstrap{
		CloneFlags: uint32(cfg.Unshare),
		Join:       append([]Namespace(nil), cfg.Join...),
		MapsByGo:   newUser,
		Hostname:   cfg.Hostname,
		Setsid:     cfg.Setsid,

		ClearPdeathsig: cfg.ClearParentDeathSignal,
		Stage2Name:     cfg.Name,
		Debug:          cfg.Debug != nil,
		Init:           cfg.Init != InitNone,
		InitReap:       cfg.Init == InitReap,
		MountProc:      cfg.MountProc,
		Exec:           cfg.Exec,
		RootInGo:       cfg.RootInGo,
	}
	if h := cfg.NetHandoff; h != nil {
		if cfg.Unshare&unix.CLONE_NEWNET == 0 || h.FD < 3 {
			return nil, errors.New("nsenter: NetHandoff needs CLONE_NEWNET in Unshare and an FD from 3 up")
		}
		b.HandoffFD, b.HandoffTap = h.FD, h.Tap
	}
	msg, err := b.encode()
	if err != nil {
		return nil, fmt.Errorf("nsenter: %w", err)
	}
	return msg, nil
}

func checkCmd(cmd *exec.Cmd) error {
	if cmd.Process != nil {
		return errors.New("nsenter: cmd already started")
	}
	if a := cmd.SysProcAttr; a != nil && (a.Cloneflags != 0 || a.Unshareflags != 0) {
		return errors.New("nsenter: cmd.SysProcAttr creates namespaces; use Config instead")
	}
	for name, v := range map[string]any{"Stdin": cmd.Stdin, "Stdout": cmd.Stdout, "Stderr": cmd.Stderr} {
		if _, ok := v.(*os.File); v != nil && !ok {
			return fmt.Errorf("nsenter: cmd.%s must be nil or an *os.File, not %T", name, v)
		}
	}
	return nil
}

func withoutNsexecEnv(env []string) []string {
	out := make([]string, 0, len(env)+2)
	for _, kv := range env {
		name, _, _ := strings.Cut(kv, "=")
		if name != EnvInitPipe && name != EnvLogPipe && name != EnvStage {
			out = append(out, kv)
		}
	}
	return out
}

// stage0Msg is one JSON line stage 0 writes on the init pipe: an id-map
// request, or the pids of stages 1 and 2 (always, even after a failure).
type stage0Msg struct {
	UsermapPID *int `json:"usermap_pid"`
	Stage1PID  *int `json:"stage1_pid"`
	Stage2PID  *int `json:"stage2_pid"`
}

type stage0Result struct {
	stage1, stage2 int
	mapsErr        error // writeMaps failed: this is the cause of the failure
	err            error // the conversation with stage 0 failed
}

const maxLine = 4096

// serveStage0 writes the bootstrap and answers stage 0 until it closes the
// init pipe, which it does by exiting.
func serveStage0(f *os.File, msg []byte, writeMaps func(pid int) error) (res stage0Result) {
	setErr := func(err error) {
		if res.err == nil {
			res.err = err
		}
	}
	if _, err := f.Write(msg); err != nil {
		setErr(fmt.Errorf("nsenter: write bootstrap: %w", err))
	}
	if writeMaps == nil {
		// Nothing else will be written: a stage 0 that wants more
		// (a truncated message) then sees EOF instead of waiting forever.
		if err := shutdownWrite(f); err != nil {
			setErr(fmt.Errorf("nsenter: shutdown init pipe: %w", err))
		}
	}
	r := bufio.NewReaderSize(f, maxLine)
	for {
		line, err := r.ReadSlice('\n')
		if err == io.EOF && len(line) == 0 {
			return res
		}
		if err != nil {
			setErr(fmt.Errorf("nsenter: read from stage-0: %w", err))
			return res
		}
		var m stage0Msg
		dec := json.NewDecoder(bytes.NewReader(line))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&m); err != nil {
			setErr(fmt.Errorf("nsenter: bad message %q from stage-0: %w", line, err))
			continue
		}
		switch {
		case m.UsermapPID != nil && m.Stage1PID == nil && m.Stage2PID == nil:
			reply := byte(syncMapsDone)
			switch {
			case writeMaps == nil:
				setErr(errors.New("nsenter: stage-0 asked for id maps, but no writeMaps function was given"))
				reply = syncMapsFailed
			default:
				if err := writeMaps(*m.UsermapPID); err != nil {
					res.mapsErr = fmt.Errorf("nsenter: write id maps of stage-1 (pid %d): %w", *m.UsermapPID, err)
					reply = syncMapsFailed
				}
			}
			if _, err := f.Write([]byte{reply}); err != nil {
				setErr(fmt.Errorf("nsenter: write id-map reply: %w", err))
			}
		case m.UsermapPID == nil && m.Stage1PID != nil && m.Stage2PID != nil:
			res.stage1, res.stage2 = *m.Stage1PID, *m.Stage2PID
		default:
			setErr(fmt.Errorf("nsenter: unexpected message %q from stage-0", line))
		}
	}
}

// readLog collects the error lines of the stages until every stage has
// closed the log pipe, and hands each debug line to debug (when not nil).
func readLog(r io.Reader, debug func(string)) []*StageError {
	var errs []*StageError
	br := bufio.NewReaderSize(r, maxLine)
	for {
		line, err := br.ReadSlice('\n')
		if err == bufio.ErrBufferFull {
			// Longer than any line nsexec.c writes: keep its start, drop the rest.
			line = bytes.Clone(line)
			for err == bufio.ErrBufferFull {
				_, err = br.ReadSlice('\n')
			}
		}
		if len(bytes.TrimSpace(line)) > 0 {
			var e struct {
				Level string `json:"level"`
				Msg   string `json:"msg"`
				Errno int    `json:"errno"`
			}
			switch {
			case json.Unmarshal(line, &e) != nil:
				errs = append(errs, &StageError{Msg: "nsexec: " + oneLine(string(bytes.TrimSpace(line)))})
			case e.Level == "error":
				errs = append(errs, &StageError{Msg: oneLine(e.Msg), Errno: syscall.Errno(e.Errno)})
			case e.Level == "debug" && debug != nil:
				debug(oneLine(e.Msg))
			}
		}
		if err != nil {
			return errs
		}
	}
}

// oneLine escapes control characters (a path may hold a newline), so an
// error stays one line.
func oneLine(s string) string {
	if !strings.ContainsFunc(s, unicode.IsControl) {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		if unicode.IsControl(r) {
			q := strconv.QuoteRune(r)
			b.WriteString(q[1 : len(q)-1])
		} else {
			b.WriteRune(r)
		}
	}
	return b.String()
}

// reap waits for one of our children and returns an error unless it
// exited with status 0.
func reap(pid int) error {
	var ws unix.WaitStatus
	for {
		_, err := unix.Wait4(pid, &ws, 0, nil)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return os.NewSyscallError("wait4", err)
		}
		break
	}
	switch {
	case ws.Exited() && ws.ExitStatus() == 0:
		return nil
	case ws.Exited():
		return fmt.Errorf("exit status %d", ws.ExitStatus())
	case ws.Signaled():
		return fmt.Errorf("signal: %v", ws.Signal())
	default:
		return fmt.Errorf("wait status %#x", uint32(ws))
	}
}

func shutdownWrite(f *os.File) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := rc.Control(func(fd uintptr) { serr = unix.Shutdown(int(fd), unix.SHUT_WR) }); err != nil {
		return err
	}
	return os.NewSyscallError("shutdown", serr)
}
