/*
 * nsexec.c: join and create namespaces before the Go runtime starts.
 *
 * A constructor runs rkx_nsexec() in every process of this binary. It returns
 * at once unless _RKEXEC_NSEXEC_INITPIPE names an fd; then this process is
 * stage 0 of the sequence drawn in doc.go:
 *
 *   stage 0  rkexec:[0:PRNT]  reads the bootstrap, spawns stage 1, relays its
 *                             id-map request to the Go caller, reports the pids
 *   stage 1  rkexec:[1:CHLD]  joins namespaces (user first and alone), unshares
 *                             a user namespace alone and waits for its maps,
 *                             unshares the rest, spawns stage 2
 *   stage 2  rkexec:[2:INIT]  setsid, root in the namespace, fds close-on-exec,
 *                             returns to start the Go runtime
 *
 * Stages 1 and 2 are spawned with CLONE_PARENT, so all three are children of
 * the Go caller, which reaps them; stage 2 is the process it waits for.
 * (PR_SET_NAME allows 15 characters, hence the short names.)
 *
 * No path after a join: once stage 1 has joined a mount namespace (or
 * unshared one, a copy of what it joined), every path it or stage 2 could
 * open resolves in a tree that the sandbox's root may have rearranged, /proc
 * included (a tmpfs over /proc can say anything). So every decision that
 * needs a file is taken, or its fd opened, before the joins: the namespace
 * files and /proc/self/ns are opened first in stage 1, the caller's /proc is
 * opened by stage 0 when close_range cannot be used, and setgroups(2) is
 * tried rather than /proc/self/setgroups read.
 *
 * Errors: bail() writes one JSON line naming the stage and the step on the
 * log fd, tells stage 0 (so it does not guess), and exits 1. Stage 0 then
 * kills what it spawned, reports the pids so the caller can reap them, and
 * exits 1. With the bootstrap's debug attribute, debugf() logs each step on
 * the same fd, at level "debug".
 *
 * Stale thread id: stages 1 and 2 are clone(2) children that never went
 * through fork() or pthread_create(), so glibc's thread descriptor still
 * holds the tid of the thread that called clone in stage 0 (stage 0 in
 * turn is a plain fork+exec and is fine). Anything that signals or locks
 * by that tid would hit the wrong task: raise(), abort(), assert(), the
 * pthread_* calls. None of them may appear in this file: fatal paths end
 * in _exit() (fail_with), and getpid() is a real system call in every
 * glibc since 2.25.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <dirent.h>
#include <poll.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <net/if.h>
#include <linux/if_tun.h>

#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/types.h>

#include "nsexec.h"
#include "init.h"
#include "exec.h"

#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif
#ifndef SYS_close_range
#define SYS_close_range 436
#endif
#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif
#ifndef PROC_SUPER_MAGIC
#define PROC_SUPER_MAGIC 0x9fa0
#endif

extern char **environ;

enum stage { STAGE_NONE = -1, STAGE_PARENT = 0, STAGE_CHILD = 1, STAGE_INIT = 2 };

/* Messages on the private socketpairs between the stages (C only). */
enum sync_msg {
	SYNC_USERMAP_REQ = 0x10,	/* stage 1 -> 0: write my id maps */
	SYNC_USERMAP_ACK = 0x11,	/* stage 0 -> 1: maps written */
	SYNC_STAGE2_PID = 0x12,	/* stage 1 -> 0: followed by an int32 pid */
	SYNC_STAGE1_DONE = 0x13,	/* stage 1 -> 0: about to exit 0 */
	SYNC_STAGE2_READY = 0x14,	/* stage 2 -> 0: returning to Go */
	SYNC_ERROR = 0x15,	/* stage 1/2 -> 0: error logged, exiting 1 */
	SYNC_STAGE2_GO = 0x16,	/* stage 0 -> 2: the caller has the pids */
};

/* Filled in by the kernel (CLONE_PARENT_SETTID), so stage 0 learns the pid of
 * stage 2 even if stage 1 dies right after spawning it. */
struct shared_page {
	pid_t stage2_pid;
};

/*
 * The state of this run. It is static because the stages reach their code
 * through longjmp from a clone child, where only static storage is safe to
 * rely on; each stage owns the copy of it in its own address space.
 */
static struct {
	enum stage stage;
	int logfd;		/* -1: log to stderr */
	int initpipe;		/* the socket to the Go caller, stage 0 only */
	int syncfd;		/* this stage's end towards stage 0; -1 in stage 0 */
	int sync1[2];		/* [0] stage 0, [1] stage 1 */
	int sync2[2];		/* [0] stage 0, [1] stage 2 */
	pid_t caller;		/* the Go process that started stage 0 */
	int caller_pidfd;	/* -1 without pidfd_open */
	int procfd;		/* the caller's /proc, opened by stage 0 when
				 * close_range cannot set close-on-exec; else -1 */
	pid_t stage1_pid, stage2_pid;	/* as seen by stage 0 */
	struct shared_page *shared;
	uint8_t *buf;		/* the bootstrap message; config points into it */
	struct rkx_bootstrap config;
	bool entered_userns;	/* stage 1 joined or created a user namespace */
} st = {
	.stage = STAGE_NONE,
	.logfd = -1,
	.initpipe = -1,
	.syncfd = -1,
	.sync1 = { -1, -1 },
	.sync2 = { -1, -1 },
	.caller_pidfd = -1,
	.procfd = -1,
};

static jmp_buf stage_env;

/* ---- logging ---------------------------------------------------------- */

/* json_escape copies src into dst (cap bytes, NUL included) as the inside
 * of a JSON string, stopping before an escape that would not fit. */
static void json_escape(char *dst, size_t cap, const char *src)
{
	size_t n = 0;

	for (; *src != '\0'; src++) {
		unsigned char c = (unsigned char)*src;
		char tmp[8];
		size_t l;

		switch (c) {
		case '"':
			strcpy(tmp, "\\\"");
			break;
		case '\\':
			strcpy(tmp, "\\\\");
			break;
		case '\n':
			strcpy(tmp, "\\n");
			break;
		case '\r':
			strcpy(tmp, "\\r");
			break;
		case '\t':
			strcpy(tmp, "\\t");
			break;
		default:
			if (c < 0x20 || c == 0x7f)
				snprintf(tmp, sizeof(tmp), "\\u%04x", c);
			else {
				tmp[0] = (char)c;
				tmp[1] = '\0';
			}
		}
		l = strlen(tmp);
		if (n + l >= cap)
			break;
		memcpy(dst + n, tmp, l);
		n += l;
	}
	dst[n] = '\0';
}

/* write_log writes one JSON line at level ("error" or "debug"), in one
 * write(2) of less than PIPE_BUF bytes, so lines of different stages never
 * interleave. It keeps errno. */
static void write_log(const char *level, const char *msg, int errnum)
{
	char esc[3900], line[PIPE_BUF];
	int fd = st.logfd >= 0 ? st.logfd : STDERR_FILENO;
	int saved = errno;
	int n;

	json_escape(esc, sizeof(esc), msg);
	if (errnum != 0)
		n = snprintf(line, sizeof(line), "{\"level\":\"%s\",\"msg\":\"%s\",\"errno\":%d}\n", level, esc,
			     errnum);
	else
		n = snprintf(line, sizeof(line), "{\"level\":\"%s\",\"msg\":\"%s\"}\n", level, esc);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof(line))
		n = sizeof(line) - 1;
	/* Nothing is left to report a failed log write to. */
	while (write(fd, line, n) < 0 && errno == EINTR) ;
	errno = saved;
}

/*
 * debugf logs one step at debug level, when the bootstrap asked for it
 * (rkexec --debug): the Go side prints it through the caller's logger. It
 * keeps errno. Before the bootstrap is read it logs nothing.
 */
__attribute__((format(printf, 1, 2)))
static void debugf(const char *fmt, ...)
{
	char msg[2048];
	int saved = errno;
	va_list ap;
	int n;

	if (!st.config.debug || st.logfd < 0)
		return;
	n = snprintf(msg, sizeof(msg), "nsexec stage-%d: ", st.stage == STAGE_NONE ? 0 : (int)st.stage);
	if (n > 0 && (size_t)n < sizeof(msg)) {
		va_start(ap, fmt);
		vsnprintf(msg + n, sizeof(msg) - n, fmt, ap);
		va_end(ap);
	}
	write_log("debug", msg, 0);
	errno = saved;
}

static void send_byte(int fd, uint8_t b)
{
	/* Best effort: used on the way out, when the peer may be gone. */
	while (send(fd, &b, 1, MSG_NOSIGNAL) < 0 && errno == EINTR) ;
}

/* report_pids tells the caller the pids of stages 1 and 2; it returns -1
 * with errno set when the caller cannot be told. */
static int report_pids(void)
{
	char line[64];
	int n = snprintf(line, sizeof(line), "{\"stage1_pid\":%d,\"stage2_pid\":%d}\n", st.stage1_pid,
			 st.stage2_pid);
	ssize_t done = 0;

	while (done < n) {
		ssize_t w = send(st.initpipe, line + done, n - done, MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -1;
		done += w;
	}
	return 0;
}

/* stage0_fail kills what stage 0 spawned, tells the caller their pids (it
 * is their parent and reaps them) and exits 1. */
__attribute__((noreturn))
static void stage0_fail(void)
{
	if (st.stage2_pid <= 0 && st.shared != NULL)
		st.stage2_pid = __atomic_load_n(&st.shared->stage2_pid, __ATOMIC_SEQ_CST);
	if (st.stage2_pid > 0)
		kill(st.stage2_pid, SIGKILL);
	if (st.stage1_pid > 0)
		kill(st.stage1_pid, SIGKILL);
	/* If the caller is gone there is nobody left to tell. */
	if (st.initpipe >= 0)
		(void)report_pids();
	_exit(1);
}

__attribute__((noreturn))
static void fail_with(int errnum, const char *fmt, va_list ap)
{
	char msg[2048];
	int n = snprintf(msg, sizeof(msg), "nsexec stage-%d: ", st.stage == STAGE_NONE ? 0 : (int)st.stage);

	if (n > 0 && (size_t)n < sizeof(msg))
		vsnprintf(msg + n, sizeof(msg) - n, fmt, ap);
	if (errnum != 0) {
		size_t l = strlen(msg);
		snprintf(msg + l, sizeof(msg) - l, ": %s", strerror(errnum));
	}
	write_log("error", msg, errnum);
	if (st.stage == STAGE_PARENT)
		stage0_fail();
	if (st.syncfd >= 0)
		send_byte(st.syncfd, SYNC_ERROR);
	_exit(1);
}

/* bail reports the failed step with strerror(errno) appended, and exits. */
__attribute__((noreturn, format(printf, 1, 2)))
static void bail(const char *fmt, ...)
{
	int errnum = errno;
	va_list ap;

	va_start(ap, fmt);
	fail_with(errnum, fmt, ap);
}

/* bailx is bail without errno. */
__attribute__((noreturn, format(printf, 1, 2)))
static void bailx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fail_with(0, fmt, ap);
}

/* ---- small steps ------------------------------------------------------ */

static ssize_t read_full(int fd, void *buf, size_t n)
{
	size_t done = 0;

	while (done < n) {
		ssize_t r = read(fd, (char *)buf + done, n - done);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -1;
		if (r == 0)
			break;
		done += r;
	}
	return done;
}

static void send_full(int fd, const void *buf, size_t n, const char *what)
{
	size_t done = 0;

	while (done < n) {
		ssize_t w = send(fd, (const char *)buf + done, n - done, MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			bail("write %s", what);
		done += w;
	}
}

static void send_msg(uint8_t msg, const char *what)
{
	send_full(st.syncfd, &msg, 1, what);
}

/* recv_byte reads one byte; it returns 0 at EOF. */
static int recv_byte(int fd, uint8_t *b, const char *what)
{
	ssize_t r = read_full(fd, b, 1);
	if (r < 0)
		bail("read %s", what);
	return (int)r;
}

static int parse_fd(const char *name, const char *s)
{
	long v = 0;

	if (*s == '\0')
		bailx("%s=%s: not an fd number", name, s);
	for (const char *p = s; *p != '\0'; p++) {
		if (*p < '0' || *p > '9' || v > INT_MAX / 10)
			bailx("%s=%s: not an fd number", name, s);
		v = v * 10 + (*p - '0');
	}
	if (v > INT_MAX)
		bailx("%s=%s: not an fd number", name, s);
	return (int)v;
}

/*
 * caller_alive says whether the Go caller still runs. A pidfd answers
 * exactly. Without one (Linux < 5.3) getppid() does in stages 0 and 1, which
 * are in the caller's pid namespace: a dead caller's children are reparented
 * to a process that existed before, so with another pid. Stage 2 may be in
 * a pid namespace below the caller's (joined or created), where the caller
 * and whoever inherits its children are invisible: getppid() is 0 whether
 * the caller lives or not. That 0 is accepted here because stage 0 checks
 * the caller again after stage 2's "ready", which stage 2 sends after its
 * last arm_pdeathsig(), and stage 2 runs nothing of the caller's before
 * stage 0's "go" (it exits at EOF instead): so the caller was alive after
 * the signal was armed, and its death kills stage 2.
 */
static bool caller_alive(void)
{
	pid_t ppid;

	if (st.caller_pidfd >= 0) {
		struct pollfd p = {.fd = st.caller_pidfd,.events = POLLIN };
		int r;
		while ((r = poll(&p, 1, 0)) < 0 && errno == EINTR) ;
		return r == 0;
	}
	ppid = getppid();
	return ppid == st.caller || (ppid == 0 && st.stage == STAGE_INIT);
}

/*
 * arm_pdeathsig makes this stage die with the Go caller. It must be called
 * again after every credential change, which clears the setting; the check
 * afterwards closes the race with a caller that died before the call.
 */
static void arm_pdeathsig(void)
{
	if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0)
		bail("prctl PR_SET_PDEATHSIG");
	if (!caller_alive())
		bailx("the caller (pid %d) exited", st.caller);
}

static void set_dumpable(int on)
{
	if (prctl(PR_SET_DUMPABLE, on, 0, 0, 0) < 0)
		bail("prctl PR_SET_DUMPABLE %d", on);
}

static void set_name(const char *name)
{
	/* Cosmetic (ps shows which stage hangs); a failure changes nothing else. */
	(void)prctl(PR_SET_NAME, (unsigned long)name, 0, 0, 0);
}

static void ns_names(uint32_t flags, char *out, size_t cap)
{
	out[0] = '\0';
	for (int i = 0; i < RKX_NS_COUNT; i++) {
		if (!(flags & rkx_ns_order[i]))
			continue;
		size_t l = strlen(out);
		snprintf(out + l, cap - l, "%s%s", l ? "," : "", rkx_ns_name(rkx_ns_order[i]));
	}
}

/* try_unshare retries EINVAL a few times: older kernels returned it
 * spuriously while another process read our /proc files. */
static void try_unshare(uint32_t flags)
{
	char names[64];
	int err = 0;

	for (int i = 0; i < 5; i++) {
		if (unshare((int)flags) == 0) {
			ns_names(flags, names, sizeof(names));
			debugf("unshared %s", names);
			return;
		}
		err = errno;
		if (err != EINVAL)
			break;
	}
	/* ns_names formats with snprintf, which may change errno: bail
	 * must report unshare's. */
	ns_names(flags, names, sizeof(names));
	errno = err;
	bail("unshare %s", names);
}

static void set_root_ids(void)
{
	if (setresgid(0, 0, 0) < 0)
		bail("setresgid 0");
	if (setresuid(0, 0, 0) < 0)
		bail("setresuid 0");
}

/*
 * become_root drops the supplementary groups and takes uid and gid 0 of the
 * user namespace this stage is in.
 *
 * setgroups(2) is always tried: /proc/self/setgroups would be read in the
 * joined mount namespace, whose /proc the sandbox may have replaced. EPERM
 * is the kernel's answer when the namespace denies it (kernel/groups.c:
 * may_setgroups() needs CAP_SETGID in the namespace, which setns and unshare
 * gave us, and userns_may_setgroups(): a gid map, which set_root_ids() in
 * stage 1 already relied on, and setgroups not "deny"). "deny" is fixed by
 * whoever created the namespace before writing its gid map, usually an
 * unprivileged creator with a single mapping; every process in such a
 * namespace keeps the groups it came with, so ours are no more exposed than
 * the sandbox's own. Any other error is fatal.
 */
static void become_root(void)
{
	if (setgroups(0, NULL) < 0 && errno != EPERM)
		bail("setgroups 0");
	set_root_ids();
}

/* close_range_cloexec says whether close_range(2) can set close-on-exec
 * (Linux 5.11; ENOSYS before 5.9, EINVAL on 5.9 and 5.10, anything a
 * seccomp profile chooses). The empty range at the top changes nothing. */
static bool close_range_cloexec(void)
{
	return syscall(SYS_close_range, ~0U, ~0U, CLOSE_RANGE_CLOEXEC) == 0;
}

/*
 * open_caller_proc opens the caller's /proc for cloexec_fds_from(), when
 * close_range cannot be used. Stage 0 does it: it never joins anything, so
 * this is the caller's /proc, where self/fd is really ours in stage 2 ("self"
 * resolves in the pid namespace of that /proc, which sees stage 2). After
 * the joins, /proc/self/fd could be a sandbox's empty directory, and the
 * caller's fds would cross into the sandbox.
 */
static void open_caller_proc(void)
{
	struct statfs sfs;

	st.procfd = open("/proc", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (st.procfd < 0)
		bail("close_range cannot set close-on-exec (Linux < 5.11 or seccomp), and open /proc");
	if (fstatfs(st.procfd, &sfs) < 0)
		bail("fstatfs /proc");
	if (sfs.f_type != PROC_SUPER_MAGIC)
		bailx("close_range cannot set close-on-exec (Linux < 5.11 or seccomp), and /proc is not a procfs (type %#lx)",
		      (unsigned long)sfs.f_type);
}

/* cloexec_fds_from makes every fd from lowfd up close-on-exec: with
 * close_range, or by listing self/fd in the caller's /proc (st.procfd). */
static void cloexec_fds_from(int lowfd)
{
	DIR *d;
	struct dirent *e;
	int dfd;

	if (st.procfd < 0) {
		/* Stage 0 found close_range able to do it. */
		if (syscall(SYS_close_range, lowfd, ~0U, CLOSE_RANGE_CLOEXEC) < 0)
			bail("close_range %d CLOSE_RANGE_CLOEXEC", lowfd);
		return;
	}
	dfd = openat(st.procfd, "self/fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		bail("open self/fd in the caller's /proc");
	d = fdopendir(dfd);
	if (d == NULL)
		bail("fdopendir self/fd in the caller's /proc");
	while ((errno = 0, e = readdir(d)) != NULL) {
		int fd, flags;
		if (e->d_name[0] < '0' || e->d_name[0] > '9')
			continue;
		fd = atoi(e->d_name);
		if (fd < lowfd || fd == dirfd(d))
			continue;
		flags = fcntl(fd, F_GETFD);
		if (flags < 0)
			bail("fcntl %d F_GETFD", fd);
		if (fcntl(fd, F_SETFD, flags | FD_CLOEXEC) < 0)
			bail("fcntl %d FD_CLOEXEC", fd);
	}
	if (errno != 0)
		bail("readdir self/fd in the caller's /proc");
	closedir(d);
}

/*
 * rewrite_env edits the environment strings in place. The Go runtime reads
 * the environment from the process stack, not from libc's environ, so
 * setenv/unsetenv would be invisible to it (and removing array entries
 * would hide the auxiliary vector that follows them). INITPIPE=N becomes
 * STAGE=2, which is shorter; LOGPIPE=N becomes "", which Go skips.
 */
static void rewrite_env(void)
{
	static const char init_eq[] = RKX_ENV_INITPIPE "=", log_eq[] = RKX_ENV_LOGPIPE "=";
	static const char stage2[] = RKX_ENV_STAGE "=2";

	_Static_assert(sizeof(stage2) <= sizeof(init_eq) + 1, "stage marker must fit in INITPIPE=N");
	for (char **e = environ; *e != NULL; e++) {
		size_t len = strlen(*e);

		/* Zero the whole string, so no tail of it shows in /proc/<pid>/environ. */
		if (strncmp(*e, init_eq, sizeof(init_eq) - 1) == 0 && len >= sizeof(init_eq)) {
			memset(*e, 0, len);
			memcpy(*e, stage2, sizeof(stage2));
		} else if (strncmp(*e, log_eq, sizeof(log_eq) - 1) == 0) {
			memset(*e, 0, len);
		}
	}
}

/* ---- spawning ----------------------------------------------------------- */

struct trampoline_arg {
	int stage;
};

static int trampoline(void *arg)
{
	longjmp(stage_env, ((struct trampoline_arg *)arg)->stage);
}

/*
 * spawn_stage clones a sibling (CLONE_PARENT: a child of the Go caller) that
 * jumps back into rkx_nsexec() as the given stage. Its stack lives in this
 * frame; the child has its own copy of it and leaves it with longjmp. The
 * child runs with glibc's stale thread id (see the top of this file): no
 * raise(), abort() or pthread_* call in any stage after this.
 */
__attribute__((noinline))
static pid_t spawn_stage(int stage, pid_t *ptid)
{
	char stack[16384] __attribute__((aligned(16)));
	struct trampoline_arg arg = {.stage = stage };
	int flags = CLONE_PARENT | SIGCHLD;

	if (ptid != NULL)
		flags |= CLONE_PARENT_SETTID;
	return clone(trampoline, stack + sizeof(stack), flags, &arg, ptid);
}

/* ---- stage 0 ------------------------------------------------------------ */

static void read_bootstrap(void)
{
	uint8_t hdr[RKX_BOOTSTRAP_HDR_LEN];
	char err[512];
	uint32_t len;
	ssize_t r;

	r = read_full(st.initpipe, hdr, sizeof(hdr));
	if (r < 0)
		bail("read bootstrap header");
	if ((size_t)r < sizeof(hdr))
		bailx("read bootstrap header: got %zd of %zu bytes", r, sizeof(hdr));
	memcpy(&len, hdr, sizeof(len));
	if (len < sizeof(hdr) || len > RKX_BOOTSTRAP_MAX_LEN)
		bailx("bootstrap: length %u out of range [%zu, %d]", len, sizeof(hdr), RKX_BOOTSTRAP_MAX_LEN);
	st.buf = malloc(len);
	if (st.buf == NULL)
		bail("allocate %u bytes for the bootstrap", len);
	memcpy(st.buf, hdr, sizeof(hdr));
	r = read_full(st.initpipe, st.buf + sizeof(hdr), len - sizeof(hdr));
	if (r < 0)
		bail("read bootstrap");
	if ((size_t)r < len - sizeof(hdr))
		bailx("read bootstrap: got %zd of %zu bytes", r, len - sizeof(hdr));
	if (rkx_parse_bootstrap(st.buf, len, &st.config, err, sizeof(err)) < 0)
		bailx("%s", err);
}

static void send_usermap_request(void)
{
	char line[64];
	int n = snprintf(line, sizeof(line), "{\"usermap_pid\":%d}\n", st.stage1_pid);

	send_full(st.initpipe, line, n, "id-map request to the caller");
}

/* await_usermap_reply waits for the caller to have written the maps, then
 * tells stage 1. */
static void await_usermap_reply(void)
{
	uint8_t reply;

	if (recv_byte(st.initpipe, &reply, "id-map reply from the caller") == 0)
		bailx("read id-map reply from the caller: EOF");
	if (reply == RKX_SYNC_MAPS_FAILED)
		stage0_fail();	/* the caller has the error */
	if (reply != RKX_SYNC_MAPS_DONE)
		bailx("read id-map reply from the caller: unexpected byte %#x", reply);
	send_full(st.sync1[0], (uint8_t[]) { SYNC_USERMAP_ACK }, 1, "id-map ack to stage-1");
}

static void relay_usermap_request(void)
{
	send_usermap_request();
	await_usermap_reply();
}

/* expect_from reads the next message of a stage: want, or its error (which
 * it logged: stage 0 then fails), or anything else, which is a bug. */
static void expect_from(int fd, uint8_t want, const char *stage, const char *eof)
{
	char what[32];
	uint8_t msg;

	snprintf(what, sizeof(what), "from %s", stage);
	if (recv_byte(fd, &msg, what) == 0)
		bailx("%s %s", stage, eof);
	if (msg == SYNC_ERROR)
		stage0_fail();
	if (msg != want)
		bailx("unexpected message %#x from %s", msg, stage);
}

__attribute__((noreturn))
static void stage0(void)
{
	uint8_t msg;
	int32_t pid;

	st.stage1_pid = spawn_stage(STAGE_CHILD, NULL);
	if (st.stage1_pid < 0)
		bail("clone stage-1");
	debugf("spawned stage-1, pid %d", st.stage1_pid);
	close(st.sync1[1]);
	close(st.sync2[1]);

	for (bool done = false; !done;) {
		if (recv_byte(st.sync1[0], &msg, "from stage-1") == 0)
			bailx("stage-1 exited without reporting");
		switch (msg) {
		case SYNC_USERMAP_REQ:
			debugf("stage-1 asks for its id maps: asking the caller");
			if (st.config.root_in_go) {
				/* Stage 1 goes on; the reply is awaited below. */
				send_usermap_request();
				break;
			}
			relay_usermap_request();
			debugf("the caller wrote the id maps of stage-1");
			break;
		case SYNC_STAGE2_PID:
			if (read_full(st.sync1[0], &pid, sizeof(pid)) != sizeof(pid))
				bailx("read stage-2 pid from stage-1: short read");
			st.stage2_pid = pid;
			debugf("stage-2 is pid %d", pid);
			/* With root-in-go, stage 1 is done once it has the ack. */
			done = st.config.root_in_go;
			break;
		case SYNC_STAGE1_DONE:
			done = true;
			break;
		case SYNC_ERROR:
			stage0_fail();	/* stage 1 logged it */
		default:
			bailx("unexpected message %#x from stage-1", msg);
		}
	}
	expect_from(st.sync2[0], SYNC_STAGE2_READY, "stage-2", "exited before it was ready");
	/* Stage 2 armed its parent-death signal before "ready": a caller alive
	 * now will kill it by dying (what caller_alive() in stage 2 cannot
	 * tell without a pidfd, in another pid namespace). */
	if (!caller_alive())
		bailx("the caller (pid %d) exited", st.caller);
	debugf("stage-2 is ready: reporting the pids to the caller");
	if (report_pids() < 0)
		bail("write the pids to the caller");
	/* Only now may stage 2 run the caller's code: had we died before
	 * reporting, nobody would know its pid. */
	send_full(st.sync2[0], (uint8_t[]) { SYNC_STAGE2_GO }, 1, "go to stage-2");
	if (st.config.root_in_go) {
		/* Stage 2 starts its Go runtime while the caller writes the
		 * maps; the caller tells it when they are (see RootInGo). */
		await_usermap_reply();
		debugf("the caller wrote the id maps of stage-1");
		expect_from(st.sync1[0], SYNC_STAGE1_DONE, "stage-1", "exited without reporting");
	}
	_exit(0);
}

/* ---- stage 1 ------------------------------------------------------------ */

struct nsfile {
	int fd;
	bool same;		/* already our namespace: setns would be EINVAL for user */
};

static void join_namespaces(void)
{
	struct nsfile f[RKX_NS_COUNT];
	const struct rkx_bootstrap *c = &st.config;

	/* Open every file before joining anything: after a join the paths may
	 * no longer resolve (another mount namespace, another /proc). */
	for (size_t i = 0; i < c->njoin; i++) {
		const struct rkx_join *j = &c->join[i];
		char own[64];
		struct stat want, have;

		f[i].fd = open(j->path, O_RDONLY | O_CLOEXEC);
		if (f[i].fd < 0)
			bail("open %s %s", j->name, j->path);
		if (fstat(f[i].fd, &want) < 0)
			bail("fstat %s %s", j->name, j->path);
		snprintf(own, sizeof(own), "/proc/self/ns/%s", j->name);
		if (stat(own, &have) < 0)
			bail("stat %s", own);
		f[i].same = want.st_dev == have.st_dev && want.st_ino == have.st_ino;
	}
	/* The list is sorted user first: the user namespace is joined alone,
	 * and its capabilities then allow joining the namespaces it owns. */
	for (size_t i = 0; i < c->njoin; i++) {
		const struct rkx_join *j = &c->join[i];

		if (!f[i].same && setns(f[i].fd, (int)j->flag) < 0)
			bail("setns %s %s", j->name, j->path);
		close(f[i].fd);
		debugf(f[i].same ? "%s %s is already ours: not joined" : "joined %s %s", j->name, j->path);
		if (j->flag == CLONE_NEWUSER && !f[i].same) {
			st.entered_userns = true;
			set_root_ids();
			arm_pdeathsig();
		}
	}
}

/* await_usermap_ack waits for stage 0 to say the id maps are written. */
static void await_usermap_ack(void)
{
	uint8_t msg;

	if (recv_byte(st.syncfd, &msg, "id-map ack from stage-0") == 0)
		bailx("read id-map ack from stage-0: EOF");
	if (msg != SYNC_USERMAP_ACK)
		bailx("read id-map ack from stage-0: unexpected byte %#x", msg);
	debugf("id maps written");
	/* Non-dumpable again, for good: see setup_stage0(). */
	set_dumpable(0);
}

/*
 * create_userns unshares the user namespace and has stage 0 ask the caller
 * for its id maps. With root-in-go it does not wait for them: stage 1 goes
 * on unsharing (the capabilities of a new user namespace come with it, maps
 * or not) and spawns stage 2, then waits, dumpable, so that the caller can
 * still write /proc/<stage 1>/{uid,gid}_map.
 */
static void create_userns(void)
{
	try_unshare(CLONE_NEWUSER);
	st.entered_userns = true;
	/* The Go caller writes /proc/<pid>/{uid,gid}_map: it must be able to
	 * open them, which needs us dumpable. */
	set_dumpable(1);
	send_msg(SYNC_USERMAP_REQ, "id-map request to stage-0");
	if (st.config.root_in_go)
		return;		/* stage1() waits, once stage 2 exists */
	await_usermap_ack();
	set_root_ids();
	arm_pdeathsig();
}

__attribute__((noreturn))
static void stage1(void)
{
	uint32_t rest = st.config.clone_flags & ~(uint32_t)CLONE_NEWUSER;
	int32_t pid;

	st.syncfd = st.sync1[1];
	close(st.sync1[0]);
	close(st.sync2[0]);
	close(st.initpipe);
	st.initpipe = -1;
	set_name("rkexec:[1:CHLD]");
	arm_pdeathsig();

	if (st.config.njoin > 0)
		join_namespaces();
	if (st.config.clone_flags & CLONE_NEWUSER)
		create_userns();
	if (rest != 0)
		try_unshare(rest);
	if (st.config.hostname != NULL) {
		if (sethostname(st.config.hostname, strlen(st.config.hostname)) < 0)
			bail("sethostname %s", st.config.hostname);
		debugf("hostname %s", st.config.hostname);
	}

	pid = spawn_stage(STAGE_INIT, &st.shared->stage2_pid);
	if (pid < 0)
		bail("clone stage-2");
	debugf("spawned stage-2, pid %d (in the caller's pid namespace)", pid);
	close(st.sync2[1]);
	send_msg(SYNC_STAGE2_PID, "stage-2 pid to stage-0");
	send_full(st.syncfd, &pid, sizeof(pid), "stage-2 pid to stage-0");
	if (st.config.root_in_go)
		await_usermap_ack();
	send_msg(SYNC_STAGE1_DONE, "done to stage-0");
	_exit(0);
}

/* ---- stage 2 ------------------------------------------------------------ */

/*
 * net_handoff creates the persistent tap device of RKX_ATTR_NET_HANDOFF in
 * this stage's new network namespace and sends the namespace (SCM_RIGHTS,
 * the way package nsfd does) on the socket the caller holds the other end
 * of: the caller starts slirp4netns on it while stage 2's Go runtime starts,
 * instead of after. Paths are safe here: the mount namespace is a fresh copy
 * of the caller's, in which nothing of the sandbox ran yet.
 */
static void net_handoff(void)
{
	static const char path[] = "/proc/self/ns/net";
	struct ifreq ifr;
	struct iovec iov = {.iov_base = (void *)path,.iov_len = sizeof(path) - 1 };
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(sizeof(int))];
	} ctl;
	struct msghdr msg = {.msg_iov = &iov,.msg_iovlen = 1,.msg_control = ctl.buf,.msg_controllen = sizeof(ctl.buf) };
	struct cmsghdr *c;
	int tun, ns;

	tun = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
	if (tun < 0)
		bail("open /dev/net/tun (slirp4netns needs it: load the tun module, modprobe tun, and let users open it, chmod 0666 /dev/net/tun)");
	memset(&ifr, 0, sizeof(ifr));
	memcpy(ifr.ifr_name, st.config.handoff_tap, strlen(st.config.handoff_tap));
	ifr.ifr_flags = IFF_TAP | IFF_NO_PI;
	if (ioctl(tun, TUNSETIFF, &ifr) < 0)
		bail("create tap device %s", st.config.handoff_tap);
	if (ioctl(tun, TUNSETPERSIST, 1) < 0)
		bail("make tap device %s persistent", st.config.handoff_tap);
	close(tun);
	ns = open(path, O_RDONLY | O_CLOEXEC);
	if (ns < 0)
		bail("open %s", path);
	memset(&ctl, 0, sizeof(ctl));
	c = CMSG_FIRSTHDR(&msg);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(c), &ns, sizeof(int));
	if (sendmsg(st.config.handoff_fd, &msg, MSG_NOSIGNAL) < 0)
		bail("send the network namespace on fd %d", st.config.handoff_fd);
	close(ns);
	debugf("tap device %s created, network namespace sent on fd %d", st.config.handoff_tap, st.config.handoff_fd);
}

static void stage2(void)
{
	uint8_t go;
	int clear_pdeathsig, init, init_reap, exec_in_c;

	st.syncfd = st.sync2[1];
	/* With root-in-go, spawned by a stage 1 made dumpable for the id
	 * maps: not us, from the first instruction on. */
	if (st.config.root_in_go)
		set_dumpable(0);
	close(st.sync1[1]);
	set_name(st.config.stage2_name != NULL ? st.config.stage2_name : "rkexec:[2:INIT]");
	arm_pdeathsig();

	if (st.config.setsid) {
		if (setsid() < 0)
			bail("setsid");
		debugf("new session");
	}
	if (st.config.root_in_go) {
		debugf("uid and gid 0 left to Go, once the id maps are written");
	} else if (st.entered_userns) {
		become_root();
		arm_pdeathsig();
		debugf("uid and gid 0 in the user namespace");
	}
	if (st.config.handoff_fd >= 0)
		net_handoff();
	if (st.config.mount_proc) {
		/* A path stage 2 uses (init.c), as net_handoff: this mount namespace is a
		 * copy of the caller's, in which nothing of the sandbox ran yet. */
		const char *step = rkx_mount_proc();
		if (step != NULL)
			bail("%s", step);
		debugf("mounted /proc");
	}
	cloexec_fds_from(3);
	debugf("fds from 3 up close-on-exec (%s); returning to Go", st.procfd < 0 ? "close_range" : "the caller's /proc");

	/* Nothing below can fail and be reported: close the log first. */
	if (st.procfd >= 0)
		close(st.procfd);
	st.procfd = -1;
	if (st.caller_pidfd >= 0)
		close(st.caller_pidfd);
	if (st.logfd >= 0)
		close(st.logfd);
	st.logfd = -1;
	clear_pdeathsig = st.config.clear_pdeathsig;
	init = st.config.init;
	init_reap = st.config.init_reap;
	exec_in_c = st.config.exec;
	free(st.buf);
	st.buf = NULL;
	memset(&st.config, 0, sizeof(st.config));
	/* With the log closed, a failure here can only exit: stage 0 then
	 * reports that stage 2 exited before it was ready, or has died. */
	if (send(st.syncfd, (uint8_t[]) { SYNC_STAGE2_READY }, 1, MSG_NOSIGNAL) != 1)
		_exit(1);
	if (read_full(st.syncfd, &go, 1) != 1 || go != SYNC_STAGE2_GO)
		_exit(1);
	close(st.syncfd);
	munmap(st.shared, sizeof(*st.shared));
	if (init)
		rkx_init_run(init_reap);	/* init.c: no Go runtime */
	rewrite_env();
	/* Last, after "go": until then the caller's death must kill us. The
	 * Go code that asked for it watches its parent another way. It cannot
	 * fail with a valid signal number (0). */
	if (clear_pdeathsig)
		(void)prctl(PR_SET_PDEATHSIG, 0, 0, 0, 0);
	if (exec_in_c)
		rkx_exec_stage2();	/* exec.c: no Go runtime */
}

/* ---- entry -------------------------------------------------------------- */

static void setup_stage0(const char *initpipe)
{
	const char *logpipe = getenv(RKX_ENV_LOGPIPE);
	struct ucred cred;
	socklen_t credlen = sizeof(cred);
	int pidfd_err;

	st.stage = STAGE_PARENT;
	if (logpipe != NULL)
		st.logfd = parse_fd(RKX_ENV_LOGPIPE, logpipe);
	st.initpipe = parse_fd(RKX_ENV_INITPIPE, initpipe);
	set_name("rkexec:[0:PRNT]");

	/* The init pipe is a socketpair the caller made: its peer credentials
	 * name the caller even if it has already died. */
	if (getsockopt(st.initpipe, SOL_SOCKET, SO_PEERCRED, &cred, &credlen) < 0)
		bail("getsockopt SO_PEERCRED on the init pipe %d", st.initpipe);
	st.caller = cred.pid;
	if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0)
		bail("prctl PR_SET_PDEATHSIG");
	if (getppid() != st.caller)
		bailx("the caller (pid %d) exited", st.caller);
	/* A pidfd answers caller_alive() exactly. Without one, getppid()
	 * does (see caller_alive): ENOSYS before Linux 5.3, and whatever a
	 * seccomp profile returns for a call it does not know (often EPERM),
	 * as close_range falls back to /proc. */
	st.caller_pidfd = (int)syscall(SYS_pidfd_open, st.caller, 0);
	pidfd_err = st.caller_pidfd < 0 ? errno : 0;

	read_bootstrap();
	debugf("bootstrap: clone flags %#x, %zu namespaces to join, setsid %d", st.config.clone_flags,
	       st.config.njoin, st.config.setsid);
	if (pidfd_err != 0)
		debugf("pidfd_open of the caller (pid %d): %s: watching getppid() instead", st.caller,
		       strerror(pidfd_err));
	if (!close_range_cloexec()) {
		debugf("close_range cannot set close-on-exec: stage-2 will list the caller's /proc");
		open_caller_proc();
	}

	/*
	 * Non-dumpable from here on, in every stage and in the Go code of
	 * stage 2 until it execs: a sandbox's root is the caller's uid, so a
	 * dumpable stage would let it ptrace us, read our fds, environment
	 * and memory, and open /proc/PID/exe, a handle to the binary on disk
	 * (CVE-2019-5736). For a process executed outside (mm owned by the
	 * caller's user namespace), non-dumpable closes all of that to
	 * whoever lacks CAP_SYS_PTRACE there. The one exception is stage 1
	 * while the caller writes the id maps of the user namespace it just
	 * created (create_userns), when nothing of the sandbox runs in it
	 * (with root-in-go, stage 2 does: our own code, non-dumpable, waiting).
	 */
	set_dumpable(0);
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, st.sync1) < 0)
		bail("socketpair for stage-1");
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, st.sync2) < 0)
		bail("socketpair for stage-2");
	st.shared = mmap(NULL, sizeof(*st.shared), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (st.shared == MAP_FAILED) {
		st.shared = NULL;
		bail("mmap shared page");
	}
}

static void rkx_nsexec(void)
{
	const char *initpipe = getenv(RKX_ENV_INITPIPE);

	if (initpipe == NULL)
		return;		/* an ordinary run of the binary */
	setup_stage0(initpipe);

	switch (setjmp(stage_env)) {
	case STAGE_PARENT:
		stage0();
	case STAGE_CHILD:
		st.stage = STAGE_CHILD;
		stage1();
	case STAGE_INIT:
		st.stage = STAGE_INIT;
		stage2();
		return;		/* into the Go runtime */
	default:
		bailx("unknown stage");
	}
}

__attribute__((constructor))
static void rkx_nsexec_constructor(int argc, char **argv, char **envp)
{
	(void)envp;
	rkx_init_args(argc, argv);	/* glibc passes them to constructors */
	rkx_nsexec();
}
