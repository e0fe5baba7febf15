// Package parent is the rkexec process in the caller's namespaces. It locks the state directory,
// starts the child in a new user and mount namespace, writes the child's id maps, drives the
// handshake of package wire (the child's config travels in its first message), records the ready
// sandbox (child_pid, state.json), relays signals, and returns the target's exit code. It removes
// what it created on every exit path it survives; the child cleans up after a parent that was killed.
//
// It does not parse flags (cmd/rkexec does), does not set up anything inside the namespaces (the
// child does) and knows the child only through package wire.
package parent
