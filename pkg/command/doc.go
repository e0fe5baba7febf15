// Package command holds what every role needs to start a program: the environment it gets
// (MergeEnv, WithoutEnv), its path looked up as it will see it (LookPath), and the exit code that a
// failure to start it means (CodeOf: 125 for rkexec's own failure, 126 when the program cannot be
// executed, 127 when it is not found, the podman and docker convention).
//
// It does not start anything itself: package process becomes a command, and the child and the init
// start theirs with os/exec.
package command
