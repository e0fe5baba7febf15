/*
 * init.h: the sandbox's init in C (init.c), which stage 2 of nsexec.c runs
 * instead of returning to Go when the bootstrap has RKX_ATTR_INIT.
 */
#ifndef RKX_INIT_H
#define RKX_INIT_H

/* rkx_init_args remembers the process's arguments (the constructor's): the
 * program to run is argv[1], its argv argv[2..]. */
void rkx_init_args(int argc, char **argv);

/* rkx_mount_proc makes /proc private and mounts a procfs of this process's
 * pid namespace on it. On failure it returns the step that failed, with
 * errno set; NULL on success. */
const char *rkx_mount_proc(void);

/* rkx_init_run runs the program: executes it (reap 0) or runs it as a child,
 * reaping and relaying signals, and exits with its exit code (reap 1). It
 * never returns. */
__attribute__((noreturn)) void rkx_init_run(int reap);

/* rkx_init_relays says whether the init relays sig (the test that holds
 * this list to sigforward.Relayed calls it). */
int rkx_init_relays(int sig);

#endif
