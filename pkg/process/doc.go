// Package process is the exec step: it turns the current process into the command of a
// wire.ExecSpec (working directory, user and groups, capabilities, no_new_privs, controlling
// terminal, inherited fds), then execve, or starts it detached. It is the last step of
// `rkexec exec`, run in nsexec's final stage inside the sandbox's namespaces, and of an init that
// becomes its target.
//
// It does not join namespaces (package nsenter does), does not allocate terminals (the caller passes
// a pty slave as stdin/stdout/stderr) and does not read its spec (the role's entry does, from the
// wire). The helpers every role uses to start programs are in package command.
package process
