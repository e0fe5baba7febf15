// Package process turns the current process into a configured command: working directory, user and
// groups, capabilities, no_new_privs, controlling terminal, inherited fds, then execve. It is the last
// step of `rkexec exec`, run in nsexec's final stage, already inside the sandbox's namespaces.
//
// It does not join namespaces (package nsenter does) and does not allocate terminals (the caller
// passes a pty slave as stdin/stdout/stderr).
package process
