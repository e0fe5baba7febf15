// Package child is the rkexec process inside the new user and mount namespaces.
//
// The parent starts it through nsexec (package nsenter): the C stages create the user namespace, have
// the parent write its id maps, create the mount namespace and become uid 0 there, all before the Go
// runtime starts, so the child's Go code runs with every capability in the namespace and needs no
// re-exec to gain them. It reads its config (wire.ChildConfig) from the parent's hello, answers it,
// sets mount propagation and copies up directories, waits for the network and port driver, starts
// the target (directly, or through nsexec under the init of new namespaces: nsexec's in C, or for a
// socket-activated target the Go one, package sandboxinit, with a wire.InitConfig),
// and stays as the sandbox's anchor: a child subreaper that relays signals to the target, reaps
// orphans, and exits with the target's status (128+N for signal N). When the target exits, whatever
// it left running in the sandbox is killed. When the parent dies (the message pipe from it reaches
// EOF: only the parent holds its write end), the child kills every process of the sandbox and
// removes the state directory.
//
// It does not talk to the user (errors go to the parent as Error messages) and knows the parent and
// the init only through package wire.
package child
