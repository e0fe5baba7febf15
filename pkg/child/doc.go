// Package child is the rkexec process inside the new user and mount namespaces.
//
// The parent starts it with CLONE_NEWUSER|CLONE_NEWNS before its id maps exist, so the exec that
// started it left it without capabilities. It answers the parent's hello, waits for the maps, and
// re-executes itself from the binary's file descriptor (opened by the parent on the host, never looked
// up by path in the sandbox); the new image runs as uid 0 of the namespace with full capabilities.
// It then sets mount propagation and copies up directories, waits for the network and port driver,
// starts the target, and stays as the sandbox's anchor: a child subreaper that relays signals to the
// target, reaps orphans, and exits with the target's status (128+N for signal N). When the target
// exits, whatever it left running in the sandbox is killed. When the parent dies (its death signal is
// SIGTERM, caught), the child kills every process of the sandbox and removes the state directory.
//
// It does not talk to the user: errors go to the parent as Error messages.
package child
