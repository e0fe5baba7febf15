// Package process is the exec step: it turns the current process into the command of a
// wire.ExecSpec (working directory, user and groups, capabilities, no_new_privs, controlling
// terminal, inherited fds), then execve, or starts it detached. It is the last step of an init that
// becomes its target. For `rkexec exec`, ForNsexec takes the same decisions and hands them to
// nsexec's final stage, which applies them from C inside the sandbox's namespaces in the same order
// (pkg/nsenter/exec.c), so that no Go runtime starts there.
//
// It does not join namespaces (package nsenter does), does not allocate terminals (the caller passes
// a pty slave as stdin/stdout/stderr) and does not read its spec (the role's entry does, from the
// wire). The helpers every role uses to start programs are in package command.
package process
