/*
 * exec.h: the exec message of `rkexec exec` and its parser (execmsg.c,
 * free of side effects so it can be fuzzed in-process), and the stage-2
 * code that applies it (exec.c).
 *
 * Every number below is defined once in Go, in execmsg.go, and only
 * mirrored here; TestProtocolMatchesC checks that the two agree.
 */
#ifndef RKX_EXEC_H
#define RKX_EXEC_H

#include <stddef.h>
#include <stdint.h>

/* Message header and limits (execmsg.go: execMsgType, ...). */
#define RKX_EXEC_MSG_TYPE   0x5258
#define RKX_EXEC_VERSION    1
#define RKX_EXEC_HDR_LEN    8
#define RKX_EXEC_ATTR_HDR   8
#define RKX_EXEC_MAX_LEN    (64 << 20)
#define RKX_EXEC_MAX_FILTER 4096
#define RKX_EXEC_FD         3	/* execmsg.go: ExecFD */

/* Attribute types (execmsg.go: execAttrArg, ...). */
#define RKX_EXEC_ARG        1
#define RKX_EXEC_ENV        2
#define RKX_EXEC_CWD        3
#define RKX_EXEC_USER       4
#define RKX_EXEC_KEEP       5
#define RKX_EXEC_CAP_NAME   6
#define RKX_EXEC_BOUNDING   7
#define RKX_EXEC_NO_NEW_PRIVS 8
#define RKX_EXEC_TERMINAL   9
#define RKX_EXEC_PDEATHSIG  10
#define RKX_EXEC_PRESERVE   11
#define RKX_EXEC_DETACH     12
#define RKX_EXEC_SECCOMP    13

struct rkx_exec {
	char **argv;		/* NULL-terminated; strings point into the buffer */
	size_t argc;
	char **envp;		/* NULL-terminated */
	size_t envc;
	const char *cwd;	/* NULL: stay */
	int switch_user;
	uint32_t uid, gid;
	const uint8_t *groups;	/* ngroups native u32s, unaligned */
	size_t ngroups;
	int keep_set;
	uint64_t keep;
	const char *cap_name[64];	/* NULL when not given */
	int bounding_set;
	uint64_t bounding;
	int no_new_privs;
	int terminal;
	uint32_t pdeathsig;
	uint32_t preserve_fds;
	int detach;
	const uint8_t *filter;	/* nfilter struct sock_filter, unaligned */
	size_t nfilter;
};

/*
 * rkx_parse_exec parses a whole exec message (header included). Strings
 * point into buf, which must stay alive; argv and envp are malloc'd (the
 * caller frees them with rkx_free_exec). On error it returns -1 and writes
 * a one-line reason into err. It has no other side effect.
 */
int rkx_parse_exec(const uint8_t *buf, size_t len, struct rkx_exec *out, char *err, size_t errlen);
void rkx_free_exec(struct rkx_exec *x);

/* rkx_exec_stage2 reads the exec message on RKX_EXEC_FD and becomes its
 * command (exec.c); it never returns. */
__attribute__((noreturn)) void rkx_exec_stage2(void);

#endif
