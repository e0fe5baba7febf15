// Package builtin is rkexec's own port driver, built for connection rate: no per-connection round
// trip between the two halves.
//
// The parent half (Parent), in the host's network namespace with the user's own rights, binds each
// published port exactly where its spec says and hands the bound socket once, over a SOCK_SEQPACKET
// control socket with SCM_RIGHTS, to the child half (Child). The child half runs in the sandbox's
// network namespace but holds sockets of both: it accepts (TCP) or receives (UDP) on the host socket
// and dials the target inside, relaying in-process. TCP goes through one epoll loop per port
// (non-blocking accept and connect, splice through a pipe per direction, half-closes passed on):
// a goroutine per connection with io.Copy costs twice the context switches and syscalls, which
// for short connections is most of their cost.
// Removing a port asks the child to close its listener; the parent keeps no copy, so when the
// sandbox ends its listeners go with it.
//
// Source addresses: the child dials from the client's own address when that address exists inside
// too, which is the case for loopback clients (127.0.0.0/8, ::1): a client on 127.0.0.2 is seen by
// the server inside as 127.0.0.2, for TCP and UDP. Other clients (from another host) are seen as
// coming from the namespace's own address, because the server's replies to a foreign address would
// be routed out through slirp4netns rather than back to the relay.
//
// The control protocol is private to the two halves of one rkexec binary (one JSON request per
// packet, at most one fd, a JSON reply).
package builtin

// Name is the driver's name (--port-driver=builtin).
const Name = "builtin"
