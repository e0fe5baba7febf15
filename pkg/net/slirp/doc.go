// Package slirp starts, watches and stops slirp4netns, the user-mode network stack that gives a
// network namespace owned by an unprivileged user a tap device connected to the host (10.0.2.0/24,
// gateway and host loopback at 10.0.2.2, DNS forwarder at 10.0.2.3), and talks to its API socket
// (hostfwd entries).
//
// Start runs slirp4netns with a clean environment from a path resolved beforehand on the host
// (Resolve), with --configure, a ready fd it waits on with a deadline while watching for slirp4netns
// dying (its stderr goes into the error), and an exit fd: slirp4netns exits when the process that
// started it closes that fd or dies, and it also gets a parent-death signal. Close ends it (closing
// the exit fd, killing it if it lingers) and removes its API socket.
//
// It never passes --disable-dns. It does not create the namespace nor configure anything inside it
// beyond what slirp4netns --configure does (the tap device, its address, default route and MTU);
// lo and the rest are the job of the process inside (package netconf).
package slirp
