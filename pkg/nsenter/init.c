/*
 * init.c: the sandbox's init in C, run by stage 2 of nsexec.c when the
 * bootstrap has RKX_ATTR_INIT: no Go runtime starts in it, so it costs one
 * clone and a few pages, where a Go init costs a runtime start and a heap.
 *
 * The program is the process's own arguments: argv[1] is its path (looked
 * up by the caller), argv[2..] its argv; its environment is this process's,
 * without nsexec's variables. Stage 2 has made every fd above 2
 * close-on-exec; the init closes them.
 *
 * Without RKX_ATTR_INIT_REAP the init executes the program (it becomes the
 * program, keeping the parent-death signal stage 2 armed). With it, the init
 * (PID 1 of a new pid namespace, in the sandbox) runs the program as its
 * child and until the program exits:
 *   - relays to it every signal package sigforward relays (pkg/sigforward:
 *     Relayed, the list below mirrors it), except SIGINT, SIGQUIT and
 *     SIGWINCH while the init is in its terminal's foreground process group
 *     (the terminal sent them to the program too); signals that came before
 *     the program existed are relayed regardless;
 *   - reaps every child (as PID 1 it gets every orphan of its namespace);
 *   - then tells the caller on fd 3, when the caller gave an extra fd, the
 *     signal that killed the program (report_end), and exits with the
 *     program's exit code, 128+N when signal N killed it: the kernel then
 *     kills whatever is left in the namespace.
 * A program that cannot be executed ends its process with 126 (127 when it
 * is missing) and one line on stderr, which the init then exits with.
 *
 * Like the stages, this code runs in a clone child with glibc's stale thread
 * id (see the top of nsexec.c): no raise, abort, assert, pthread_* or fork()
 * (glibc's fork runs atfork handlers and takes locks); the program's process
 * is made with the clone system call and only execs or exits.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include "nsexec.h"
#include "init.h"

#ifndef SYS_close_range
#define SYS_close_range 436
#endif

extern char **environ;

static int init_argc;
static char **init_argv;

void rkx_init_args(int argc, char **argv)
{
	init_argc = argc;
	init_argv = argv;
}

const char *rkx_mount_proc(void)
{
	/* Private first, so the new /proc does not propagate back into the
	 * mount namespace this one was copied from. */
	if (mount("none", "/proc", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		return "make /proc private";
	if (mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0)
		return "mount /proc for the new pid namespace";
	return NULL;
}

/* fatal writes one line on stderr and exits with code. */
__attribute__((noreturn, format(printf, 2, 3)))
static void fatal(int code, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (n > 0) {
		if ((size_t)n >= sizeof(msg))
			n = sizeof(msg) - 1;
		msg[n++] = '\n';
		(void)!write(STDERR_FILENO, msg, n);
	}
	_exit(code);
}

/* program_env is environ without nsexec's variables. */
static char **program_env(void)
{
	static const char *const ours[] = { RKX_ENV_INITPIPE "=", RKX_ENV_LOGPIPE "=", RKX_ENV_STAGE "=" };
	size_t n = 0, k = 0;
	char **out;

	while (environ[n] != NULL)
		n++;
	out = calloc(n + 1, sizeof(*out));
	if (out == NULL)
		fatal(125, "rkexec: init: allocating the environment: %s", strerror(errno));
	for (size_t i = 0; i < n; i++) {
		int skip = 0;
		for (size_t j = 0; j < sizeof(ours) / sizeof(ours[0]); j++)
			if (strncmp(environ[i], ours[j], strlen(ours[j])) == 0)
				skip = 1;
		if (!skip)
			out[k++] = environ[i];
	}
	return out;
}

/* exec_program executes the program; on failure it exits as the Go exec
 * step does (package command: 127 for a missing file, 126 otherwise). */
__attribute__((noreturn))
static void exec_program(const char *path, char **argv, char **envp)
{
	int err;

	execve(path, argv, envp);
	err = errno;
	fatal(err == ENOENT || err == ENOTDIR ? 127 : 126, "rkexec: starting the command: exec %s: %s", argv[0],
	      strerror(err));
}

/* relayed fills s with the signals the init relays: sigforward.Relayed. */
static void relayed(sigset_t *s)
{
	sigemptyset(s);
	for (int sig = 1; sig <= 64; sig++) {
		switch (sig) {
		case SIGKILL: case SIGSTOP: case SIGCHLD: case SIGURG: case SIGPIPE:
		case SIGSEGV: case SIGBUS: case SIGFPE: case SIGILL: case SIGTRAP: case SIGSYS:
		case SIGTSTP: case SIGTTIN: case SIGTTOU:
		case 32: case 33:	/* glibc's own; sigaddset refuses them */
			continue;
		}
		sigaddset(s, sig);
	}
}

int rkx_init_relays(int sig)
{
	sigset_t s;

	relayed(&s);
	return sigismember(&s, sig) == 1;
}

/* from_terminal says whether the terminal (tty, opened at the start; -1:
 * none) sent sig to the whole foreground process group, this one: then the
 * program got it already (sigforward.FromTerminal). */
static int from_terminal(int tty, int sig)
{
	pid_t fg;

	if (sig != SIGINT && sig != SIGQUIT && sig != SIGWINCH)
		return 0;
	if (tty < 0 || ioctl(tty, TIOCGPGRP, &fg) < 0)
		return 0;
	return fg == getpgrp();
}

/* status_fd is where a reaping init tells its caller how the program ended
 * (the exit code, 128+N, cannot tell a signal from an exit status): the
 * caller's first extra fd, 3, when it gave one (the init pipe is then above
 * it); -1 without. */
static int status_fd = -1;

static void keep_status_fd(void)
{
	const char *initpipe = getenv(RKX_ENV_INITPIPE);

	if (initpipe != NULL && atoi(initpipe) > 3)
		status_fd = 3;
}

/* report_end writes two bytes on status_fd: the signal that killed the
 * program (0 when it exited), and 1 when it dumped core (else 0). */
static void report_end(int status)
{
	unsigned char msg[2] = { 0, 0 };

	if (status_fd < 0)
		return;
	if (WIFSIGNALED(status)) {
		msg[0] = (unsigned char)WTERMSIG(status);
		msg[1] = WCOREDUMP(status) ? 1 : 0;
	}
	(void)!write(status_fd, msg, sizeof(msg));
}

/* exit_code is the shell's convention, as package exitcode writes it. */
static int exit_code(int status)
{
	if (WIFSIGNALED(status))
		return 128 + WTERMSIG(status);
	return WEXITSTATUS(status);
}

__attribute__((noreturn))
static void reap(const char *path, char **argv, char **envp)
{
	sigset_t relay, wait_for, early, none;
	siginfo_t info;
	pid_t self = getpid(), pid;
	int tty;

	struct sigaction dfl = {.sa_handler = SIG_DFL };

	/* An inherited SIG_IGN would have the kernel reap the program unseen. */
	if (sigaction(SIGCHLD, &dfl, NULL) < 0)
		fatal(125, "rkexec: init: SIGCHLD: %s", strerror(errno));
	relayed(&relay);
	wait_for = relay;
	sigaddset(&wait_for, SIGCHLD);
	/* Blocked before the program exists: nothing is lost, and a SIGCHLD
	 * of a program that exits at once waits in the pending set. */
	if (sigprocmask(SIG_BLOCK, &wait_for, NULL) < 0)
		fatal(125, "rkexec: init: blocking signals: %s", strerror(errno));
	/* Opened now, before anything of the sandbox runs in this mount
	 * namespace: a /dev/tty put there later could block an open. */
	tty = open("/dev/tty", O_RDONLY | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);

	pid = (pid_t)syscall(SYS_clone, SIGCHLD, NULL, NULL, NULL, NULL);
	if (pid < 0)
		fatal(125, "rkexec: starting the command: clone: %s", strerror(errno));
	if (pid == 0) {
		/* The program: dies with the init, starts with no signal blocked. */
		if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0)
			fatal(125, "rkexec: starting the command: setting the parent-death signal: %s",
			      strerror(errno));
		if (getppid() != self)
			_exit(125);	/* the init died before the signal was armed */
		sigemptyset(&none);
		if (sigprocmask(SIG_SETMASK, &none, NULL) < 0)
			fatal(125, "rkexec: starting the command: unblocking signals: %s", strerror(errno));
		exec_program(path, argv, envp);
	}

	/* What arrived before the program existed, the terminal could not
	 * have sent it: relayed without asking. */
	if (sigpending(&early) < 0)
		sigemptyset(&early);
	for (;;) {
		int sig = sigwaitinfo(&wait_for, &info);

		if (sig < 0) {
			if (errno == EINTR)
				continue;
			fatal(125, "rkexec: init: waiting for signals: %s", strerror(errno));
		}
		if (sig == SIGCHLD) {
			int status;
			pid_t w;

			while ((w = waitpid(-1, &status, WNOHANG)) > 0 || (w < 0 && errno == EINTR))
				if (w == pid) {
					report_end(status);
					_exit(exit_code(status));
				}
			continue;
		}
		if (sigismember(&early, sig))
			sigdelset(&early, sig);
		else if (from_terminal(tty, sig))
			continue;
		/* The program is not reaped yet, so its pid is still its own;
		 * ESRCH cannot happen, anything else changes nothing. */
		(void)kill(pid, sig);
	}
}

void rkx_init_run(int reap_it)
{
	char **envp;

	if (init_argc < 3 || init_argv == NULL)
		fatal(125, "rkexec: init: no command given");
	envp = program_env();
	/* Every fd above 2 is close-on-exec already; none is the init's but
	 * the status fd of a reaping init. */
	if (reap_it)
		keep_status_fd();
	(void)syscall(SYS_close_range, status_fd < 0 ? 3 : 4, ~0U, 0);
	if (!reap_it)
		exec_program(init_argv[1], init_argv + 2, envp);
	reap(init_argv[1], init_argv + 2, envp);
}
