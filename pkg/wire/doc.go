// Package wire is everything that crosses a process boundary between rkexec's roles: the parent, the
// child, the init and the exec step meet only here and never import each other. It holds the named
// messages of the parent⇄child handshake, the configs the child and the init are started with
// (ChildConfig, InitConfig), the exec spec (ExecSpec: runtime-spec's Process and the few fields
// only rkexec has), and the descriptor numbers each role finds them at.
//
// Every message and config is a frame: JSON with a 4-byte little-endian length prefix, at most
// MaxSize bytes. Configs travel as frames on a pipe, not in environment variables, so a command line
// or an environment of any size the kernel accepts reaches the target (an environment variable is
// limited to 128 KiB); the limit is then the kernel's, at the target's own execve.
//
// It is not a general RPC layer: each side sends the next message of the handshake and waits for the
// one it expects; anything else, including a message of kind Error, ends the run.
//
// # Who sends what to whom
//
//	parent ──(nsexec: new user+mount ns)──> child     fds 3 (from parent), 4 (to parent), 5 (lock),
//	                                                   6.. (activation sockets); ChildConfig in ParentHello
//	child  ──(nsexec: pid/uts/... ns)─────> init      fd 3: InitConfig (one frame), InitReady back; 4.. activation sockets
//	init   ──(plain re-exec)──────────────> exec      fd 3: ExecSpec (one frame), for a socket-activated
//	                                                   target under a reaping PID 1; 4.. the sockets
//	rkexec exec ──(nsexec: joins the sandbox)> C      fd 3: the ExecSpec as nsexec's exec message (package
//	                                                   nsenter), then the exec socket; 4.. --preserve-fds
//
// The role of each process is named by one environment variable that cmd/rkexec sets and reads.
//
// # The handshake
//
//	parent                                  child (new user+mount ns, started through nsexec,
//	  |                                        |  whose maps the parent wrote during the start)
//	  |---------- ParentHello ---------------->|  (carries the ChildConfig)
//	  |<--------- ChildHello ------------------|
//	  |---------- IDMapsWritten -------------->|  (the single-mapping warning, if any, is printed)
//	  |                                        |  mounts: propagation, copy-up; the detached netns
//	  |<--------- UserNSReady -----------------|
//	  |  cgroup evacuated (--evacuate-cgroup2) |
//	  |  network driver                        |
//	  |---------- NetworkConfigured ---------->|  (empty for the host network)
//	  |  port driver                           |
//	  |---------- PortDriverReady ------------>|
//	  |                                        |  network config inside, target started
//	  |<--------- TargetStarted ---------------|
//	  |  child_pid written, state.json         |
//	  |                                        |  the target ends
//	  |<--------- TargetExited ----------------|  (the signal that killed it, if one did), then exit
//
// Either side may send Error instead of its next message; the other side reports it and exits non-zero.
package wire
