/*
 * exec.c: the last step of `rkexec exec` in C. With the bootstrap's exec
 * attribute, stage 2 does not return to Go: rkx_exec_stage2() reads the
 * exec message (execmsg.go) on the exec socket, applies it as package
 * process applies a wire.ExecSpec (same order, same messages, same exit
 * codes), and executes the command, so no Go runtime starts inside the
 * sandbox.
 *
 * Order: seccomp filter (as root of the namespace, no no_new_privs), exec
 * socket moved above the preserved fds and the preserved fds down to 3,
 * parent-death signal, controlling terminal, cwd, bounding set, groups, gid,
 * uid, parent-death signal again, capability sets, no_new_privs, the
 * preserved fds inheritable, the command's path, then execve (or, detached,
 * a child that execs, reported on the exec socket).
 *
 * No path is opened but the cwd and the command's, which belong to the
 * sandbox anyway: capabilities are read with capget and PR_CAPBSET_READ,
 * not from /proc. Like nsexec.c, this runs in a clone child with a stale
 * glibc thread id: credentials change through raw system calls (glibc's
 * set*id wrappers may broadcast to threads), and no raise, abort, assert
 * or pthread call appears here; the detached child is a raw clone.
 *
 * Failures: "rkexec exec: MESSAGE" on stderr, "exit N" on the exec socket,
 * exit status N (125 for a bad setting, 126 not executable, 127 not found).
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include "exec.h"

#ifndef PR_CAP_AMBIENT
#define PR_CAP_AMBIENT 47
#define PR_CAP_AMBIENT_RAISE 2
#define PR_CAP_AMBIENT_CLEAR_ALL 4
#endif
#ifndef SECCOMP_FILTER_FLAG_TSYNC
#define SECCOMP_FILTER_FLAG_TSYNC 1
#endif

static int syncfd = -1;

/* go_strerror is strerror as Go's syscall package spells it: lower case. */
static const char *go_strerror(int errnum, char *buf, size_t cap)
{
	snprintf(buf, cap, "%s", strerror(errnum));
	buf[0] = (char)tolower((unsigned char)buf[0]);
	return buf;
}

static void write_all(int fd, const char *s, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, s, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return;
		s += w;
		n -= w;
	}
}

/* report_exit tells the caller the code on the exec socket (best effort:
 * it learns it from the exit status anyway). */
static void report_exit(int code)
{
	char line[32];
	int n;

	if (syncfd <= 2)
		return;
	n = snprintf(line, sizeof(line), "exit %d\n", code);
	write_all(syncfd, line, n);
}

__attribute__((noreturn, format(printf, 2, 3)))
static void die(int code, const char *fmt, ...)
{
	char line[4096];
	va_list ap;
	int n = snprintf(line, sizeof(line), "rkexec exec: ");

	va_start(ap, fmt);
	vsnprintf(line + n, sizeof(line) - n - 1, fmt, ap);
	va_end(ap);
	n = strlen(line);
	line[n++] = '\n';
	write_all(STDERR_FILENO, line, n);
	report_exit(code);
	_exit(code);
}

/* die_errno is die with ": <errno text>" appended to the message. */
#define die_errno(code, errnum, fmt, ...) do { \
	char e_[128]; \
	die(code, fmt ": %s", ##__VA_ARGS__, go_strerror(errnum, e_, sizeof(e_))); \
} while (0)

static void read_message(uint8_t **buf, size_t *len)
{
	uint8_t hdr[RKX_EXEC_HDR_LEN];
	uint32_t n;
	size_t done = 0;
	char e[128];

	while (done < sizeof(hdr)) {
		ssize_t r = read(RKX_EXEC_FD, hdr + done, sizeof(hdr) - done);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			die(125, "reading the exec message: %s", go_strerror(errno, e, sizeof(e)));
		if (r == 0)
			die(125, "reading the exec message: EOF");
		done += r;
	}
	memcpy(&n, hdr, sizeof(n));
	if (n < sizeof(hdr) || n > RKX_EXEC_MAX_LEN)
		die(125, "reading the exec message: length %u out of range", n);
	*buf = malloc(n);
	if (*buf == NULL)
		die(125, "reading the exec message: out of memory for %u bytes", n);
	memcpy(*buf, hdr, sizeof(hdr));
	while (done < n) {
		ssize_t r = read(RKX_EXEC_FD, *buf + done, n - done);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			die(125, "reading the exec message: %s", go_strerror(errno, e, sizeof(e)));
		if (r == 0)
			die(125, "reading the exec message: EOF after %zu of %u bytes", done, n);
		done += r;
	}
	*len = n;
}

static void install_filter(const struct rkx_exec *x)
{
	struct sock_filter *f = malloc(x->nfilter * sizeof(*f));
	struct sock_fprog prog;
	char err[128];
	long r;
	int e;

	if (f == NULL)
		die(125, "installing the seccomp filter against TIOCSTI: out of memory; --allow-tiocsti runs without it");
	memcpy(f, x->filter, x->nfilter * sizeof(*f));
	prog.len = (unsigned short)x->nfilter;
	prog.filter = f;
	r = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_TSYNC, &prog);
	e = errno;
	free(f);
	if (r == 0)
		return;
	if (r > 0)
		die(125, "installing the seccomp filter against TIOCSTI: thread %ld cannot be synchronised; --allow-tiocsti runs without it", r);
	go_strerror(e, err, sizeof(err));
	if (e == EACCES)
		die(125, "installing the seccomp filter against TIOCSTI: %s (needs CAP_SYS_ADMIN in the user namespace, or no_new_privs); --allow-tiocsti runs without it", err);
	if (e == EINVAL)
		die(125, "installing the seccomp filter against TIOCSTI: %s (is the kernel built without CONFIG_SECCOMP_FILTER?); --allow-tiocsti runs without it", err);
	die(125, "installing the seccomp filter against TIOCSTI: %s; --allow-tiocsti runs without it", err);
}

/* move_fds puts the exec socket above the preserved fds (close-on-exec)
 * and the preserved fds, which follow it, at 3, 4, ... */
static void move_fds(uint32_t n)
{
	int fd = fcntl(RKX_EXEC_FD, F_DUPFD_CLOEXEC, RKX_EXEC_FD + 1 + (int)n);

	if (fd < 0)
		die_errno(125, errno, "moving the exec socket");
	syncfd = fd;
	close(RKX_EXEC_FD);
	if (n == 0)
		return;
	for (uint32_t i = 0; i < n; i++)
		if (dup3(RKX_EXEC_FD + 1 + i, 3 + i, 0) < 0)
			die_errno(125, errno, "moving fd %u to %u", RKX_EXEC_FD + 1 + i, 3 + i);
	/* The sources below 3+n now hold copies; the one above is closed. */
	if (close(RKX_EXEC_FD + n) < 0)
		die_errno(125, errno, "closing fd %u", RKX_EXEC_FD + n);
}

static void set_pdeathsig(uint32_t sig)
{
	if (prctl(PR_SET_PDEATHSIG, (unsigned long)sig, 0, 0, 0) < 0)
		die_errno(125, errno, "setting the parent-death signal");
}

struct caps {
	struct __user_cap_data_struct d[2];
};

static void capget_self(struct caps *c)
{
	struct __user_cap_header_struct h = {.version = _LINUX_CAPABILITY_VERSION_3,.pid = 0 };

	if (syscall(SYS_capget, &h, c->d) < 0)
		die_errno(125, errno, "reading the capabilities");
}

static int has(const uint32_t set[2], int c)
{
	return (set[c / 32] >> (c % 32)) & 1;
}

/* last_cap is the highest capability the kernel knows: PR_CAPBSET_READ is
 * EINVAL past it (no /proc/sys read in the sandbox's mount namespace). */
static int last_cap(void)
{
	int c = 0;

	while (c < 63 && prctl(PR_CAPBSET_READ, (unsigned long)(c + 1), 0, 0, 0) >= 0)
		c++;
	return c;
}

static uint64_t read_bounding(int last)
{
	uint64_t b = 0;

	for (int c = 0; c <= last; c++)
		if (prctl(PR_CAPBSET_READ, (unsigned long)c, 0, 0, 0) > 0)
			b |= UINT64_C(1) << c;
	return b;
}

static void drop_bounding(const struct caps *cur, uint64_t keep, int last)
{
	uint32_t eff[2] = { cur->d[0].effective, cur->d[1].effective };

	if (!has(eff, CAP_SETPCAP))
		die(125, "dropping capabilities from the bounding set: CAP_SETPCAP is not in the effective set");
	for (int c = 0; c <= last; c++) {
		if (keep & (UINT64_C(1) << c))
			continue;
		if (prctl(PR_CAPBSET_DROP, (unsigned long)c, 0, 0, 0) < 0 && errno != EINVAL)
			die_errno(125, errno, "dropping capabilities from the bounding set");
	}
}

static void set_user(const struct rkx_exec *x)
{
	gid_t *groups = NULL;

	if (x->ngroups > 0) {
		groups = malloc(x->ngroups * sizeof(gid_t));
		if (groups == NULL)
			die(125, "--additional-gids: out of memory");
		for (size_t i = 0; i < x->ngroups; i++) {
			uint32_t g;
			memcpy(&g, x->groups + 4 * i, sizeof(g));
			groups[i] = g;
		}
	}
	if (syscall(SYS_setgroups, x->ngroups, groups) < 0) {
		/* With a single mapping setgroups is denied; that only matters
		 * when groups were asked for. */
		if (x->ngroups > 0 || errno != EPERM)
			die_errno(125, errno, "--additional-gids: setgroups%s", "");
	}
	free(groups);
	if (syscall(SYS_setresgid, x->gid, x->gid, x->gid) < 0) {
		int e = errno;
		char s[128];
		die(125, "--user: setting gid %u: %s (is it mapped in the sandbox?)", x->gid, go_strerror(e, s, sizeof(s)));
	}
	if (x->keep_set && prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0)
		die_errno(125, errno, "keeping capabilities across the uid change");
	if (syscall(SYS_setresuid, x->uid, x->uid, x->uid) < 0) {
		int e = errno;
		char s[128];
		die(125, "--user: setting uid %u: %s (is it mapped in the sandbox?)", x->uid, go_strerror(e, s, sizeof(s)));
	}
}

static void set_caps(const struct rkx_exec *x, const struct caps *cur, uint64_t bounding, int last)
{
	uint32_t prm[2] = { cur->d[0].permitted, cur->d[1].permitted };
	struct __user_cap_header_struct h = {.version = _LINUX_CAPABILITY_VERSION_3,.pid = 0 };
	struct __user_cap_data_struct d[2];
	uint64_t set = x->keep;

	if (!x->switch_user)
		for (int c = 0; c <= last; c++)
			if (has(prm, c) && (bounding & (UINT64_C(1) << c)))
				set |= UINT64_C(1) << c;
	for (int c = 0; c < 64; c++)
		if ((x->keep & (UINT64_C(1) << c)) && !(bounding & (UINT64_C(1) << c)))
			die(125, "keeping %s: it is not in the bounding set", x->cap_name[c]);
	for (int i = 0; i < 2; i++) {
		d[i].effective = d[i].permitted = d[i].inheritable = (uint32_t)(set >> (32 * i));
	}
	if (syscall(SYS_capset, &h, d) < 0)
		die_errno(125, errno, "setting the capabilities");
	/* EINVAL: no ambient capabilities before Linux 4.3. */
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL)
		die_errno(125, errno, "setting the capabilities");
	for (int c = 0; c <= last; c++)
		if ((set & (UINT64_C(1) << c)) &&
		    prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, (unsigned long)c, 0, 0) < 0 && errno != EINVAL)
			die_errno(125, errno, "setting the capabilities");
}

/* executable reports whether path is a file that may be executed (as
 * command.LookPath checks it); *errnum is stat's error, or 0. */
static int executable(const char *path, int *errnum)
{
	struct stat s;

	*errnum = 0;
	if (stat(path, &s) < 0) {
		*errnum = errno;
		return 0;
	}
	return !S_ISDIR(s.st_mode) && (s.st_mode & 0111) != 0;
}

/* look_path resolves argv[0] as package command's LookPath does: with PATH
 * from the command's environment (the last one), else a default PATH. */
static char *look_path(const struct rkx_exec *x)
{
	const char *name = x->argv[0];
	const char *path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
	size_t nlen = strlen(name);
	int e;

	if (strchr(name, '/') != NULL) {
		char s[128];
		if (executable(name, &e))
			return (char *)name;
		if (e != 0)
			die(127, "%s: %s", name, go_strerror(e, s, sizeof(s)));
		die(126, "%s: permission denied", name);
	}
	for (size_t i = 0; i < x->envc; i++)
		if (strncmp(x->envp[i], "PATH=", 5) == 0)
			path = x->envp[i] + 5;
	for (const char *dir = path;;) {
		const char *end = strchr(dir, ':');
		size_t dlen = end != NULL ? (size_t)(end - dir) : strlen(dir);
		char *p = malloc(dlen + nlen + 3);

		if (p == NULL)
			die(125, "%s: out of memory", name);
		if (dlen == 0)
			snprintf(p, dlen + nlen + 3, "./%s", name);
		else
			snprintf(p, dlen + nlen + 3, "%.*s/%s", (int)dlen, dir, name);
		if (executable(p, &e))
			return p;
		free(p);
		if (end == NULL)
			break;
		dir = end + 1;
	}
	die(127, "%s: executable file not found in $PATH", name);
}

/* exec_code is command.CodeOf for an execve error. */
static int exec_code(int e)
{
	switch (e) {
	case ENOENT:
		return 127;
	case EACCES:
	case EPERM:
	case ENOEXEC:
	case EISDIR:
	case E2BIG:
		return 126;
	}
	return 125;
}

__attribute__((noreturn))
static void exec_failed(const char *name, int e)
{
	char s[128];

	go_strerror(e, s, sizeof(s));
	if (e == E2BIG)
		die(126, "exec %s: %s (the command line and environment are over the kernel's limit, ARG_MAX, at most 3/4 of the stack limit, ulimit -s)", name, s);
	die(exec_code(e), "exec %s: %s", name, s);
}

/* start_detached forks the command (a raw clone: see the top), reports
 * "started" and waits for the caller's "ack", then exits 0. The child's
 * execve error comes back on a close-on-exec pipe. */
__attribute__((noreturn))
static void start_detached(const struct rkx_exec *x, const char *path)
{
	int p[2], e = 0;
	long pid;
	char ack[4];
	ssize_t r;

	if (pipe2(p, O_CLOEXEC) < 0)
		die_errno(125, errno, "starting the detached command");
	pid = syscall(SYS_clone, SIGCHLD, NULL, NULL, NULL, NULL);
	if (pid < 0)
		die_errno(125, errno, "starting the detached command");
	if (pid == 0) {
		close(p[0]);
		/* With a terminal the command leads a new session of its own,
		 * with the terminal as its controlling terminal. */
		if (x->terminal && (setsid() < 0 || ioctl(0, TIOCSCTTY, 0) < 0))
			e = errno;
		if (e == 0) {
			execve(path, x->argv, x->envp);
			e = errno;
		}
		write_all(p[1], (const char *)&e, sizeof(e));
		_exit(127);
	}
	close(p[1]);
	while ((r = read(p[0], &e, sizeof(e))) < 0 && errno == EINTR) ;
	close(p[0]);
	if (r == sizeof(e)) {
		while (waitpid((pid_t)pid, NULL, 0) < 0 && errno == EINTR) ;
		exec_failed(x->argv[0], e);
	}
	/* The caller finds the command as our child, from its own /proc, while
	 * we wait for its "ack". */
	write_all(syncfd, "started\n", 8);
	while ((r = read(syncfd, ack, sizeof(ack))) < 0 && errno == EINTR) ;
	if (r < 0)
		die_errno(125, errno, "waiting for the caller to see the detached command");
	_exit(0);
}

void rkx_exec_stage2(void)
{
	struct rkx_exec x;
	struct caps cur;
	uint8_t *buf;
	size_t len;
	char err[512];
	uint64_t bounding = 0;
	int last = 0, need_caps;
	char *path;

	read_message(&buf, &len);
	if (rkx_parse_exec(buf, len, &x, err, sizeof(err)) < 0)
		die(125, "%s", err);
	/* Root of the sandbox's user namespace here, before any user or
	 * capability change: no no_new_privs needed, and the command and all
	 * it starts inherit the filter. */
	if (x.filter != NULL)
		install_filter(&x);
	move_fds(x.preserve_fds);
	set_pdeathsig(x.pdeathsig);
	/* A detached command takes the terminal in its own new session. */
	if (x.terminal && !x.detach && ioctl(0, TIOCSCTTY, 0) < 0)
		die_errno(125, errno, "making the terminal the controlling terminal");
	if (x.cwd != NULL && chdir(x.cwd) < 0) {
		char s[128];
		die(125, "--cwd %s: %s inside the sandbox", x.cwd, go_strerror(errno, s, sizeof(s)));
	}
	need_caps = x.keep_set || x.bounding_set;
	if (need_caps) {
		capget_self(&cur);
		last = last_cap();
		bounding = read_bounding(last);
	}
	if (x.bounding_set) {
		drop_bounding(&cur, x.bounding, last);
		bounding = x.bounding;
	}
	if (x.switch_user) {
		set_user(&x);
		if (x.pdeathsig != 0)
			set_pdeathsig(x.pdeathsig);	/* the uid change cleared it */
	}
	if (x.keep_set)
		set_caps(&x, &cur, bounding, last);
	if (x.no_new_privs && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		die_errno(125, errno, "setting no_new_privs");
	for (uint32_t fd = 3; fd < 3 + x.preserve_fds; fd++)
		if (fcntl((int)fd, F_SETFD, 0) < 0)
			die_errno(125, errno, "--preserve-fds: fd %u", fd);
	path = look_path(&x);
	if (x.detach)
		start_detached(&x, path);
	execve(path, x.argv, x.envp);
	exec_failed(x.argv[0], errno);
}
