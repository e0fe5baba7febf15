// Package nsenter starts a process of this binary inside namespaces that it
// joins or creates, through nsexec: C code that a cgo constructor runs before
// the Go runtime starts, while the process still has a single thread, which
// setns(2) into a user namespace and unshare(CLONE_NEWUSER) require.
//
// It is for `rkexec exec` (join a sandbox's namespaces) and for the run path
// (create pid, uts, ipc, cgroup and time namespaces inside the sandbox). It
// is not for the parent's network or mount work: Go code that changes the
// namespace of one thread does that with a locked OS thread, and nothing in
// Go calls setns on a user namespace.
//
// # Stages
//
// The constructor returns at once unless EnvInitPipe is set, so ordinary runs
// of the binary pay one getenv. Start sets it, and the process it starts is
// stage 0. Stages 1 and 2 are cloned with CLONE_PARENT, so all three are
// children of the Go caller: the final process (stage 2) is one too, and
// Process.Wait gets its exit status.
//
//	Go caller (Start)        stage 0 [0:PRNT]      stage 1 [1:CHLD]        stage 2 [2:INIT]
//	  |-- bootstrap -------->|
//	  |                      |-- clone ------------>|
//	  |                      |                      | open all ns files, then
//	  |                      |                      | setns user (alone), setns the rest
//	  |                      |                      | unshare(CLONE_NEWUSER)
//	  |                      |<-- write my maps ----|
//	  |<- {"usermap_pid":N} -|                      |
//	  | writeMaps(N)         |                      |
//	  |-- maps done -------->|-- maps done -------->|
//	  |                      |                      | setresuid/gid 0, unshare the rest,
//	  |                      |                      | sethostname
//	  |                      |                      |-- clone ---------------->|
//	  |                      |<-- stage-2 pid, done-| exit 0                   | setsid, root in the ns,
//	  |                      |<----------------------------------- ready ------| fds close-on-exec,
//	  |<-{"stage1_pid":N,"stage2_pid":M}                                       | log closed
//	  |                      |------------------------------------ go -------->|
//	  |                      | exit 0                                          | env rewritten,
//	  | reap stage 0 and 1                                                     | Go runtime starts,
//	  | Process.Wait() ........................................................| main sees IsStage2()
//
// Stage 2 waits for "go" so that it never runs the caller's code unless the
// caller knows its pid: if stage 0 dies first, stage 2 exits.
//
// With Config.RootInGo (the run path's child), the id maps are written while
// stage 2's Go runtime starts rather than before stage 2 exists: stage 1 does
// not wait for "maps done" after asking, but unshares the rest (a new user
// namespace gives its capabilities at once, maps or not) and spawns stage 2,
// then waits, still dumpable, so that the caller can write its maps; stage 2
// makes itself non-dumpable first, skips "root in the ns", and gets "go" as
// soon as stage 0 has reported the pids. Stage 0 then waits for the caller's
// "maps done", passes it to stage 1 and exits after it. The caller reads the
// pids after writeMaps, so Start still returns with the maps written, and the
// Go code of stage 2 calls BecomeRoot when the caller tells it so. This takes
// the start of the second Go runtime (about 2 ms) off the critical path.
//
// The init pipe is a socketpair; the log pipe carries one JSON line per
// failure, {"level":"error","msg":"nsexec stage-1: setns net /proc/1/ns/net:
// Operation not permitted","errno":1}, which Start returns as a *StageError.
// With Config.Debug set, the bootstrap's debug attribute makes every stage
// log its steps on the same pipe as {"level":"debug","msg":"nsexec stage-1:
// unshared mnt"}, and Start hands each line to Config.Debug (rkexec --debug
// prints them through the logger of the role that called Start).
// After a failure stage 0 kills the stages it spawned and still reports their
// pids, so Start reaps them all: no zombie is left.
//
// # Bootstrap message
//
// Netlink-style: a header (u32 total length, u16 type 0x524b, u16 version 1),
// then attributes (u16 length, u16 type, payload, zero padding to 4 bytes) in
// native byte order, 1 MiB at most. protocol.go defines the numbers and
// nsexec.h mirrors them. The parser rejects unknown or repeated attributes,
// bad lengths, non-zero padding, booleans other than one byte 0 or 1, and
// conflicting options (a type both joined and unshared, a hostname without
// CLONE_NEWUTS). Namespaces to join are one attribute each, "type:/path".
//
// # Environment
//
// EnvInitPipe and EnvLogPipe name the two fds. Stage 2 cannot use setenv:
// the Go runtime reads the environment from the process stack, not from
// libc. So it rewrites the strings in place: EnvInitPipe=N becomes
// EnvStage=2 and EnvLogPipe=N becomes an empty string, which Go ignores.
// IsStage2 reads EnvStage; stage-2 code unsets it before it starts programs.
//
// # Stage 2
//
// Stage 2 is pid 1 of a new pid namespace when CLONE_NEWPID was asked. It
// calls setsid when Config.Setsid is set, and when a user namespace was
// joined or created it calls setgroups(0) and becomes uid and gid 0 in it.
// setgroups is always tried: EPERM, the kernel's answer in a namespace whose
// setgroups is "deny" (fixed by its creator before its gid map), leaves the
// groups as they are, as for every process in such a namespace; any other
// error fails Start. Every fd above 2 is close-on-exec, so the caller's
// ExtraFiles are still open in Go until it execs.
//
// Every stage is non-dumpable, and so is the Go code of stage 2 until it
// execs: the root of a sandbox is the caller's uid, and a dumpable stage
// would let it ptrace the stage, read its fds, environment and memory, and
// open /proc/PID/exe, a handle to the binary on disk. For a binary executed
// outside the sandbox (its memory owned by the caller's user namespace),
// that closes all of it to the sandbox. The one exception is stage 1 while
// the caller writes the id maps of the user namespace stage 1 just created
// (the caller must open its /proc files), when nothing of the sandbox runs in
// that namespace (with Config.RootInGo stage 2 does: our own Go code, made
// non-dumpable first, waiting for its word). A side effect: the caller cannot open /proc/<stage 2>/ns either,
// so it joins a sandbox through another of its processes.
//
// pidfd_open and close_range may be missing (old kernels) or refused by a
// seccomp profile with any errno: stage 0 then watches the caller with
// getppid() and lists fds through the caller's /proc, and goes on.
//
// # No path after a join
//
// A joined mount namespace is the sandbox's: its root may mount anything,
// a fake /proc included. So once stage 1 has joined (or unshared) a mount
// namespace, no stage opens or stats a path. The namespace files, and
// /proc/self/ns to skip a namespace that is already ours, are opened before
// the first setns. Close-on-exec uses close_range(CLOSE_RANGE_CLOEXEC)
// (Linux 5.11); where it fails, stage 0 opens the caller's /proc (it must
// be a procfs, or Start fails) and stage 2 lists self/fd through that fd.
// Go code in stage 2 runs in the joined namespaces and is on its own.
//
// # Stage 2 in C (Config.Exec)
//
// With the bootstrap's exec attribute (Config.Exec, for `rkexec exec`), stage
// 2 does not return to Go after "go": rkx_exec_stage2 (exec.c) reads an exec
// message (EncodeExec, execmsg.go; parsed as strictly as the bootstrap by
// execmsg.c, which is fuzzed) on ExecFD, installs the seccomp program it
// carries, moves the fds, sets the parent-death signal, controlling terminal,
// cwd, bounding set, groups, gid and uid, capability sets and no_new_privs,
// looks the command up in its PATH and execs it; failures are "rkexec exec:
// ..." on stderr and "exit N" on the exec socket, as package process reports
// them. Capabilities are read with capget and PR_CAPBSET_READ, not from the
// sandbox's /proc. Since nothing of the binary runs in Go after the fork,
// stage 0 is started with syscall.ForkExec, without os/exec's pidfd check.
//
// Stage 2 is named Config.Name for ps (PR_SET_NAME on the thread that
// becomes the Go runtime's main thread, which names the process), and with
// Config.ClearParentDeathSignal it clears its parent-death signal as its
// very last step, after "go", for Go code that watches its parent another
// way (an init function could not do either reliably: main may run on any
// thread).
//
// Stages 1 and 2 are clone(2) children that glibc never saw being created:
// its cached thread id is stage 0's, so no stage calls raise, abort, assert
// or pthread functions (nsexec.c says so at the top).
//
// Each stage has a parent-death signal (SIGKILL) tied to the thread that
// called Start, re-armed after every credential change, which clears it;
// after arming, a stage checks that the caller still lives, with a pidfd or,
// before Linux 5.3, getppid(). A stage 2 in a pid namespace below the
// caller's sees getppid() 0 either way; stage 0 (which does see the caller)
// then checks again after stage 2's "ready", before it sends "go".
//
// # The init in C
//
// With Config.Init, stage 2 never returns to Go: init.c runs the program
// named by the process's own arguments (argv[1] its path, argv[2..] its
// argv; glibc hands a constructor argc and argv) with the process's
// environment minus nsexec's variables. InitExec executes it; InitReap runs
// it as a child and is its PID 1: relays it the signals package sigforward
// relays (the list is mirrored in init.c), reaps every child and exits with
// its exit code, after writing how it ended (the signal, if one killed it) on
// cmd.ExtraFiles[0] when the caller gave one. That spares the sandbox a Go runtime start and a Go heap.
// With Config.MountProc, stage 2 mounts a procfs of its pid namespace on
// /proc before "ready": the one path stage 2 uses, in the mount namespace
// stage 1 just copied from the caller's, where nothing else runs yet.
package nsenter
