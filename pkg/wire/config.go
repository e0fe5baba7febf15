package wire

import specs "github.com/opencontainers/runtime-spec/specs-go"

// The child's descriptors, at fixed numbers (the parent's ExtraFiles, in this order).
const (
	// ChildFromParentFD is the message pipe from the parent: ParentHello (with the ChildConfig) and
	// the parent's later messages. Only the parent holds its write end: EOF means the parent is gone.
	ChildFromParentFD = 3
	// ChildToParentFD is the message pipe to the parent.
	ChildToParentFD = 4
	// ChildLockFD is the state directory's lock, held while the child lives.
	ChildLockFD = 5
	// ChildStateDirFD is the state directory, opened by the parent outside the sandbox: the child
	// cleans up through it after a parent that was killed, whatever the sandbox mounted or renamed.
	ChildStateDirFD = 6
	// ChildListenFD is the first of ChildConfig.ListenFDs systemd activation sockets.
	ChildListenFD = 7
)

// ChildConfig is what the parent tells the child, in ParentHello.
type ChildConfig struct {
	// Target is the command and its arguments.
	Target []string `json:"target"`
	// Env is the target's whole environment.
	Env []string `json:"env"`
	// CopyUp lists directories to replace with a writable tmpfs of symlinks to the originals.
	CopyUp []string `json:"copy_up,omitempty"`
	// Namespaces are the CLONE_NEW* flags of namespaces to create for the target (pid, uts, ipc,
	// cgroup, time); 0 starts the target directly.
	Namespaces uintptr `json:"namespaces,omitempty"`
	// Hostname is set in the new UTS namespace.
	Hostname string `json:"hostname,omitempty"`
	// Reaper runs the target under a PID 1 that reaps orphans; only with a new pid namespace.
	Reaper bool `json:"reaper,omitempty"`
	// AllowTIOCSTI leaves ioctl TIOCSTI and TIOCLINUX to the target: without it, the child makes them
	// fail (package ttyguard) before it starts the target, so no process of the sandbox can push
	// input into the caller's terminal.
	AllowTIOCSTI bool `json:"allow_tiocsti,omitempty"`
	// ListenFDs is the number of systemd socket-activation fds, at ChildListenFD and up, to hand to
	// the target (as 3 and up).
	ListenFDs int `json:"listen_fds,omitempty"`
	// Propagation is the mount propagation of / ("rprivate", "rslave", ...).
	Propagation string `json:"propagation"`
	// StateDir is the sandbox's state directory (at ChildStateDirFD); StateDirCreated says whether it
	// is rkexec's, to be removed at the end.
	StateDir        string `json:"state_dir"`
	StateDirCreated bool   `json:"state_dir_created"`
	// Debug turns on debug logging.
	Debug bool `json:"debug,omitempty"`
	// DebugEpoch is the parent's start on CLOCK_MONOTONIC, in nanoseconds: debug lines of every role
	// carry their time since then, so one run's lines read as one timeline.
	DebugEpoch int64 `json:"debug_epoch,omitempty"`
	// SealedInit runs the init from a sealed in-memory copy of the binary, because the file on disk
	// could be rewritten from inside the sandbox (see package sealedexe); else from the file itself.
	SealedInit bool `json:"sealed_init,omitempty"`
	// NetNSFD is the fd of a socket on which the child sends its network namespace (package nsfd)
	// before its mounts, so that the parent starts the network driver on it meanwhile; 0 for the
	// host's network.
	NetNSFD int `json:"netns_fd,omitempty"`
	// Tap is the tap device the child creates (persistent) before it sends the network namespace,
	// for slirp4netns to attach to; empty for none.
	Tap string `json:"tap,omitempty"`
	// NetNSSent says nsexec's stage 2 has created the tap device and sent the network namespace on
	// NetNSFD already (nsenter.Config.NetHandoff), before the child's Go runtime started.
	NetNSSent bool `json:"netns_sent,omitempty"`
	// DetachNetNS (--detach-netns) makes the network namespace a detached one, bind-mounted on
	// <state-dir>/netns (package detachns), which the child sends on NetNSFD and configures; the
	// target stays in the child's network namespace, the host's.
	DetachNetNS bool `json:"detach_netns,omitempty"`
	// MountCgroup2 (--evacuate-cgroup2) mounts the cgroup v2 hierarchy of the child's own cgroup
	// namespace on /sys/fs/cgroup before the target starts.
	MountCgroup2 bool `json:"mount_cgroup2,omitempty"`
}

// InitConfigFD is where the init finds its config: a socket from the child carrying one frame (see
// ReadConfig); the init answers InitReady on it once its /proc is mounted. Without the reaper it
// then closes it; with the reaper it keeps it, above the target's fds, and sends InitExited on it
// once the target ended. Activation sockets follow it, from InitConfigFD+1; the init moves them to 3
// and up before the target starts.
const InitConfigFD = 3

// InitExited is what a reaping init sends when the target ended (the Go init on InitConfigFD, the C
// init of package nsenter on the pipe that is its fd 3), just before it
// exits with the target's exit code: the signal that killed it (0 when it exited) and whether it
// dumped core (1 or 0), a byte each. The init's own exit code (128+N) cannot tell a signal from an
// exit status.
type InitExited [2]byte

// InitReady is the byte the init sends back on InitConfigFD when its namespaces are what a command
// joining them should see (its /proc mounted); the child reports TargetStarted only after it, or EOF.
const InitReady = 'R'

// InitConfig is what the child tells the init (the process nsexec leaves in the namespaces it
// created inside the sandbox).
type InitConfig struct {
	// Target is the command to run.
	Target ExecSpec `json:"target"`
	// MountProc mounts a new /proc (the init is in new pid and mount namespaces).
	MountProc bool `json:"mount_proc,omitempty"`
	// Reaper keeps the init as PID 1, running the target as its child.
	Reaper bool `json:"reaper,omitempty"`
}

// ExecSpecFD is where the exec role finds its spec: a socket carrying one frame (see ReadConfig).
// With ExecSpec.ExecSync it stays open, close-on-exec, until the command's execve. The preserved fds
// follow it, from ExecSpecFD+1; the exec step moves them to 3 and up.
const ExecSpecFD = 3

// ExecSpec is a command to become and how: the exec step of package process, run by an init for a
// socket-activated target, and, as nsexec's exec message (process.ForNsexec), by `rkexec exec`'s
// last stage inside a sandbox.
type ExecSpec struct {
	// Process is the command: args (Args[0] is looked up in Env's PATH where it runs), env (the whole
	// environment), cwd (empty keeps the current one), user (a non-zero uid or gid, or groups, is
	// switched to; else root stays), capabilities (when set: the union of effective, permitted and
	// ambient is kept even as a non-root user; the bounding set see BoundingSet), noNewPrivileges,
	// terminal (stdin, a terminal, becomes the controlling terminal). Other fields are ignored.
	Process specs.Process `json:"process"`
	// BoundingSet says that Process.Capabilities.Bounding is the bounding set to keep, even when empty
	// (runtime-spec's JSON drops an empty list); without it the bounding set is left as it is.
	BoundingSet bool `json:"bounding_set,omitempty"`
	// PreserveFDs is how many fds after stderr (3, 4, ...) the command inherits.
	PreserveFDs int `json:"preserve_fds,omitempty"`
	// ListenPID sets LISTEN_PID to the command's pid, for systemd socket activation (the sockets are
	// the preserved fds and Env has LISTEN_FDS): sd_listen_fds() accepts them only in that process.
	ListenPID bool `json:"listen_pid,omitempty"`
	// ParentDeathSignal is the signal the command gets when its parent dies; 0 clears nsexec's.
	ParentDeathSignal int `json:"parent_death_signal,omitempty"`
	// Detach starts the command as a child, reports "started" on the exec socket and waits for an
	// "ack", so that once this process exits the command's parent is the sandbox's PID 1 (with a pid
	// namespace; without one, the caller's nearest subreaper). Needs ExecSync.
	Detach bool `json:"detach,omitempty"`
	// AllowTIOCSTI leaves ioctl TIOCSTI and TIOCLINUX to the command; without it the exec role blocks
	// them (package ttyguard) before it becomes the command.
	AllowTIOCSTI bool `json:"allow_tiocsti,omitempty"`
	// ExecSync keeps the spec's socket as the exec socket: closed by the command's execve, and before
	// that a failure is written on it as "exit N".
	ExecSync bool `json:"exec_sync,omitempty"`
}
