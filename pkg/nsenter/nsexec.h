/*
 * nsexec.h: the bootstrap protocol and parser shared by nsexec.c (the
 * stages) and bootstrap.c (the parser, free of side effects so it can be
 * fuzzed in-process).
 *
 * Every number and name below is defined once in Go, in protocol.go, and
 * only mirrored here; TestProtocolMatchesC checks that the two agree.
 */
#ifndef RKX_NSEXEC_H
#define RKX_NSEXEC_H

#include <stddef.h>
#include <stdint.h>

/* Environment variables (protocol.go: EnvInitPipe, EnvLogPipe, EnvStage). */
#define RKX_ENV_INITPIPE "_RKEXEC_NSEXEC_INITPIPE"
#define RKX_ENV_LOGPIPE  "_RKEXEC_NSEXEC_LOGPIPE"
#define RKX_ENV_STAGE    "_RKEXEC_NSEXEC_STAGE"

/* Message header (protocol.go: bootstrapMsgType, bootstrapVersion, ...). */
#define RKX_BOOTSTRAP_MSG_TYPE 0x524b
#define RKX_BOOTSTRAP_VERSION  1
#define RKX_BOOTSTRAP_HDR_LEN  8
#define RKX_BOOTSTRAP_MAX_LEN  (1 << 20)
#define RKX_ATTR_HDR_LEN       4
#define RKX_ATTR_ALIGN         4

/* Attribute types (protocol.go: attrCloneFlags, ...). */
#define RKX_ATTR_CLONE_FLAGS 1	/* u32: CLONE_NEW* to unshare */
#define RKX_ATTR_JOIN_NS     2	/* string "type:/abs/path", repeated */
#define RKX_ATTR_MAPS_BY_GO  3	/* u8 bool: Go writes the id maps of stage 1 */
#define RKX_ATTR_HOSTNAME    4	/* string: sethostname after unsharing UTS */
#define RKX_ATTR_SETSID      5	/* u8 bool: stage 2 calls setsid() */
#define RKX_ATTR_CLEAR_PDEATHSIG 6	/* u8 bool: stage 2 clears its parent-death signal last */
#define RKX_ATTR_STAGE2_NAME 7	/* string: PR_SET_NAME of stage 2 */
#define RKX_ATTR_DEBUG       8	/* u8 bool: log each step at debug level */
#define RKX_ATTR_INIT        24	/* u8 bool: stage 2 runs its arguments' command in C (init.c) */
#define RKX_ATTR_INIT_REAP   25	/* u8 bool: ... as its child, reaping (needs RKX_ATTR_INIT) */
#define RKX_ATTR_MOUNT_PROC  26	/* u8 bool: stage 2 mounts a fresh /proc (needs CLONE_NEWNS) */
#define RKX_ATTR_EXEC        16	/* u8 bool: stage 2 execs an exec message in C (exec.c) */
#define RKX_ATTR_ROOT_IN_GO  27	/* u8 bool: stage 2 returns to Go while the id maps are written;
				 * Go takes uid 0 (needs CLONE_NEWUSER; not with CLONE_NEWNET,
				 * init, mount-proc or exec) */

#define RKX_ATTR_NET_HANDOFF 28	/* string "FD:TAP": stage 2 creates the persistent tap device
				 * TAP and sends its network namespace on the socket FD
				 * (needs CLONE_NEWNET) */

/* Limits (protocol.go: maxNamespacePath, maxHostname, maxStageName). */
#define RKX_MAX_NS_PATH  4095
#define RKX_MAX_HOSTNAME 64
#define RKX_MAX_STAGE_NAME 15
#define RKX_MAX_NET_HANDOFF 32	/* "FD:TAP": a decimal fd, ':', an interface name of 15 bytes at most */

/* Bytes the Go side sends on the init pipe (protocol.go: syncMapsDone, ...). */
#define RKX_SYNC_MAPS_DONE   0x41
#define RKX_SYNC_MAPS_FAILED 0x42

/* The namespace types, in the order stage 1 joins them (user first). */
#define RKX_NS_COUNT 8

struct rkx_join {
	uint32_t flag;		/* CLONE_NEW* */
	const char *name;	/* "net", points at a static string */
	const char *path;	/* points into the parsed buffer */
};

struct rkx_bootstrap {
	uint32_t clone_flags;
	int maps_by_go;
	int setsid;
	int clear_pdeathsig;
	int debug;
	int init;		/* stage 2 calls rkx_init_run() instead of returning */
	int init_reap;
	int mount_proc;
	int exec;		/* stage 2 calls rkx_exec_stage2() instead of returning */
	int root_in_go;		/* stage 2 returns to Go before the id maps are written */
	int handoff_fd;		/* RKX_ATTR_NET_HANDOFF's socket; -1 without one */
	char handoff_tap[16];	/* ... and its tap device's name */
	const char *hostname;	/* NULL when absent; points into the buffer */
	const char *stage2_name;	/* NULL when absent; points into the buffer */
	size_t njoin;
	struct rkx_join join[RKX_NS_COUNT];	/* sorted in join order */
};

/*
 * rkx_parse_bootstrap parses a whole bootstrap message (header included).
 * Strings in *out point into buf, which must stay alive. On error it returns
 * -1 and writes a one-line reason into err. It has no other side effect.
 */
int rkx_parse_bootstrap(const uint8_t *buf, size_t len, struct rkx_bootstrap *out, char *err, size_t errlen);

/* rkx_ns_name returns the name of a CLONE_NEW* flag, or NULL. */
const char *rkx_ns_name(uint32_t flag);

/* The flags of all namespace types, in join order. */
extern const uint32_t rkx_ns_order[RKX_NS_COUNT];

#endif
