/*
 * bootstrap.c: the strict parser of the bootstrap message that the Go side
 * (bootstrap.go) writes on the init pipe. It only reads its input and writes
 * *out and err, so FuzzBootstrapParse can call it in-process.
 *
 * Format (native byte order, like netlink):
 *   header: u32 total length (header included), u16 message type, u16 version
 *   then attributes until the end: u16 length (header included), u16 type,
 *   payload, zero padding up to a multiple of 4.
 */
#define _GNU_SOURCE
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "nsexec.h"
#include "msgparse.h"

#ifndef CLONE_NEWCGROUP
#define CLONE_NEWCGROUP 0x02000000
#endif
#ifndef CLONE_NEWTIME
#define CLONE_NEWTIME 0x00000080
#endif

const uint32_t rkx_ns_order[RKX_NS_COUNT] = {
	CLONE_NEWUSER, CLONE_NEWNS, CLONE_NEWNET, CLONE_NEWPID,
	CLONE_NEWUTS, CLONE_NEWIPC, CLONE_NEWCGROUP, CLONE_NEWTIME,
};

static const char *const ns_names[RKX_NS_COUNT] = {
	"user", "mnt", "net", "pid", "uts", "ipc", "cgroup", "time",
};

const char *rkx_ns_name(uint32_t flag)
{
	for (int i = 0; i < RKX_NS_COUNT; i++)
		if (rkx_ns_order[i] == flag)
			return ns_names[i];
	return NULL;
}

static uint32_t all_ns_flags(void)
{
	uint32_t all = 0;
	for (int i = 0; i < RKX_NS_COUNT; i++)
		all |= rkx_ns_order[i];
	return all;
}

static int fail(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	rkx_vfail("bootstrap", err, errlen, fmt, ap);
	va_end(ap);
	return -1;
}

/* check_string accepts a payload of 1..max bytes plus exactly one final NUL. */
static int check_string(const uint8_t *p, size_t n, size_t max, const char *what, char *err, size_t errlen)
{
	if (n < 2)
		return fail(err, errlen, "%s: empty", what);
	if (p[n - 1] != '\0')
		return fail(err, errlen, "%s: not NUL-terminated", what);
	if (memchr(p, '\0', n - 1) != NULL)
		return fail(err, errlen, "%s: contains a NUL byte", what);
	if (n - 1 > max)
		return fail(err, errlen, "%s: longer than %zu bytes", what, max);
	return 0;
}

static int get_bool(const uint8_t *p, size_t n, const char *what, int *out, char *err, size_t errlen)
{
	if (n != 1)
		return fail(err, errlen, "%s: payload is %zu bytes, want 1", what, n);
	if (p[0] > 1)
		return fail(err, errlen, "%s: boolean is %u, want 0 or 1", what, p[0]);
	*out = p[0];
	return 0;
}

static int add_join(struct rkx_bootstrap *out, const char *spec, char *err, size_t errlen)
{
	const char *colon = strchr(spec, ':');
	uint32_t flag = 0;

	if (colon == NULL)
		return fail(err, errlen, "namespace %s: want type:path", spec);
	for (int i = 0; i < RKX_NS_COUNT; i++) {
		size_t l = strlen(ns_names[i]);
		if ((size_t)(colon - spec) == l && strncmp(spec, ns_names[i], l) == 0)
			flag = rkx_ns_order[i];
	}
	if (flag == 0)
		return fail(err, errlen, "namespace %s: unknown type", spec);
	if (colon[1] != '/')
		return fail(err, errlen, "namespace %s: path is not absolute", spec);
	for (size_t i = 0; i < out->njoin; i++)
		if (out->join[i].flag == flag)
			return fail(err, errlen, "namespace %s: type listed twice", spec);
	/* Unreachable with distinct types, kept as a bound for the array. */
	if (out->njoin >= RKX_NS_COUNT)
		return fail(err, errlen, "too many namespaces");
	out->join[out->njoin].flag = flag;
	out->join[out->njoin].name = rkx_ns_name(flag);
	out->join[out->njoin].path = colon + 1;
	out->njoin++;
	return 0;
}

/* parse_handoff reads "FD:TAP" (check_string passed): FD a decimal from 3 up,
 * TAP an interface name (1 to 15 bytes, no '/', ':' or white space). Mirrors
 * parseNetHandoff in bootstrap.go. */
static int parse_handoff(const char *s, struct rkx_bootstrap *out, char *err, size_t errlen)
{
	const char *colon = strchr(s, ':');
	long fd = 0;
	size_t l;

	if (colon == NULL || colon == s)
		return fail(err, errlen, "net-handoff %s: want FD:TAP", s);
	for (const char *c = s; c < colon; c++) {
		if (*c < '0' || *c > '9' || fd > 1000000)
			return fail(err, errlen, "net-handoff %s: bad fd", s);
		fd = fd * 10 + (*c - '0');
	}
	if (fd < 3)
		return fail(err, errlen, "net-handoff %s: fd below 3", s);
	l = strlen(colon + 1);
	if (l == 0 || l >= sizeof(out->handoff_tap))
		return fail(err, errlen, "net-handoff %s: tap name of %zu bytes, want 1 to %zu", s, l,
			    sizeof(out->handoff_tap) - 1);
	for (const char *c = colon + 1; *c != '\0'; c++)
		if (*c == '/' || *c == ':' || *c == ' ' || *c == '\t' || *c == '\n')
			return fail(err, errlen, "net-handoff %s: bad tap name", s);
	out->handoff_fd = (int)fd;
	memcpy(out->handoff_tap, colon + 1, l + 1);
	return 0;
}

/* sort_joins puts the namespaces in rkx_ns_order: user first and alone. */
static void sort_joins(struct rkx_bootstrap *out)
{
	struct rkx_join sorted[RKX_NS_COUNT];
	size_t n = 0;

	for (int i = 0; i < RKX_NS_COUNT; i++)
		for (size_t j = 0; j < out->njoin; j++)
			if (out->join[j].flag == rkx_ns_order[i])
				sorted[n++] = out->join[j];
	memcpy(out->join, sorted, n * sizeof(sorted[0]));
}

/*
 * once_attr_name names, for errors, the attributes that may appear once;
 * NULL for the others. Mirrors onceAttrName in bootstrap.go.
 */
static const char *once_attr_name(uint16_t type)
{
	switch (type) {
	case RKX_ATTR_CLONE_FLAGS:
		return "clone flags";
	case RKX_ATTR_MAPS_BY_GO:
		return "maps-by-go";
	case RKX_ATTR_HOSTNAME:
		return "hostname";
	case RKX_ATTR_SETSID:
		return "setsid";
	case RKX_ATTR_CLEAR_PDEATHSIG:
		return "clear-pdeathsig";
	case RKX_ATTR_STAGE2_NAME:
		return "stage-2 name";
	case RKX_ATTR_DEBUG:
		return "debug";
	case RKX_ATTR_INIT:
		return "init";
	case RKX_ATTR_INIT_REAP:
		return "init-reap";
	case RKX_ATTR_MOUNT_PROC:
		return "mount-proc";
	case RKX_ATTR_EXEC:
		return "exec";
	case RKX_ATTR_ROOT_IN_GO:
		return "root-in-go";
	case RKX_ATTR_NET_HANDOFF:
		return "net-handoff";
	}
	return NULL;
}

int rkx_parse_bootstrap(const uint8_t *buf, size_t len, struct rkx_bootstrap *out, char *err, size_t errlen)
{
	uint32_t seen = 0; /* bit N: attribute type N was read */
	uint32_t joined = 0;
	size_t off;

	memset(out, 0, sizeof(*out));
	out->handoff_fd = -1;
	if (len < RKX_BOOTSTRAP_HDR_LEN)
		return fail(err, errlen, "message is %zu bytes, shorter than its header", len);
	if (rkx_get_u32(buf) != len)
		return fail(err, errlen, "header says %u bytes, message is %zu", rkx_get_u32(buf), len);
	if (len > RKX_BOOTSTRAP_MAX_LEN)
		return fail(err, errlen, "message is %zu bytes, limit is %d", len, RKX_BOOTSTRAP_MAX_LEN);
	if (len % RKX_ATTR_ALIGN != 0)
		return fail(err, errlen, "message length %zu is not a multiple of %d", len, RKX_ATTR_ALIGN);
	if (rkx_get_u16(buf + 4) != RKX_BOOTSTRAP_MSG_TYPE)
		return fail(err, errlen, "message type %#x, want %#x", rkx_get_u16(buf + 4), RKX_BOOTSTRAP_MSG_TYPE);
	if (rkx_get_u16(buf + 6) != RKX_BOOTSTRAP_VERSION)
		return fail(err, errlen, "version %u, want %u", rkx_get_u16(buf + 6), RKX_BOOTSTRAP_VERSION);

	for (off = RKX_BOOTSTRAP_HDR_LEN; off < len;) {
		size_t alen, padded, plen;
		uint16_t atype;
		const uint8_t *p;
		const char *name;

		if (len - off < RKX_ATTR_HDR_LEN)
			return fail(err, errlen, "attribute at offset %zu: truncated header", off);
		alen = rkx_get_u16(buf + off);
		atype = rkx_get_u16(buf + off + 2);
		if (alen < RKX_ATTR_HDR_LEN)
			return fail(err, errlen, "attribute %u at offset %zu: length %zu is too small", atype, off, alen);
		padded = (alen + RKX_ATTR_ALIGN - 1) & ~(size_t)(RKX_ATTR_ALIGN - 1);
		if (padded > len - off)
			return fail(err, errlen, "attribute %u at offset %zu: length %zu runs past the end", atype, off, alen);
		for (size_t i = alen; i < padded; i++)
			if (buf[off + i] != 0)
				return fail(err, errlen, "attribute %u at offset %zu: non-zero padding", atype, off);
		p = buf + off + RKX_ATTR_HDR_LEN;
		plen = alen - RKX_ATTR_HDR_LEN;
		off += padded;

		name = once_attr_name(atype);
		if (name != NULL) {
			if (seen & (UINT32_C(1) << atype))
				return fail(err, errlen, "%s: attribute repeated", name);
			seen |= UINT32_C(1) << atype;
		}
		switch (atype) {
		case RKX_ATTR_CLONE_FLAGS:
			if (plen != 4)
				return fail(err, errlen, "clone flags: payload is %zu bytes, want 4", plen);
			out->clone_flags = rkx_get_u32(p);
			if (out->clone_flags & ~all_ns_flags())
				return fail(err, errlen, "clone flags %#x: not CLONE_NEW* flags: %#x",
					    out->clone_flags, out->clone_flags & ~all_ns_flags());
			break;
		case RKX_ATTR_JOIN_NS:
			if (check_string(p, plen, RKX_MAX_NS_PATH + 8, "namespace", err, errlen) < 0)
				return -1;
			if (add_join(out, (const char *)p, err, errlen) < 0)
				return -1;
			if (strlen(out->join[out->njoin - 1].path) > RKX_MAX_NS_PATH)
				return fail(err, errlen, "namespace %s: path longer than %d bytes",
					    out->join[out->njoin - 1].name, RKX_MAX_NS_PATH);
			break;
		case RKX_ATTR_MAPS_BY_GO:
			if (get_bool(p, plen, name, &out->maps_by_go, err, errlen) < 0)
				return -1;
			break;
		case RKX_ATTR_HOSTNAME:
			if (check_string(p, plen, RKX_MAX_HOSTNAME, name, err, errlen) < 0)
				return -1;
			out->hostname = (const char *)p;
			break;
		case RKX_ATTR_SETSID:
			if (get_bool(p, plen, name, &out->setsid, err, errlen) < 0)
				return -1;
			break;
		case RKX_ATTR_CLEAR_PDEATHSIG:
			if (get_bool(p, plen, name, &out->clear_pdeathsig, err, errlen) < 0)
				return -1;
			break;
		case RKX_ATTR_STAGE2_NAME:
			if (check_string(p, plen, RKX_MAX_STAGE_NAME, name, err, errlen) < 0)
				return -1;
			out->stage2_name = (const char *)p;
			break;
		case RKX_ATTR_DEBUG:
			if (get_bool(p, plen, name, &out->debug, err, errlen) < 0)
				return -1;
			break;
		case RKX_ATTR_INIT:
			if (get_bool(p, plen, name, &out->init, err, errlen) < 0)
				return -1;
			break;
		case RKX_ATTR_INIT_REAP:
			if (get_bool(p, plen, name, &out->init_reap, err, errlen) < 0)
				return -1;
			break;
		case RKX_ATTR_MOUNT_PROC:
			if (get_bool(p, plen, name, &out->mount_proc, err, errlen) < 0)
				return -1;
			break;
		case RKX_ATTR_EXEC:
			if (get_bool(p, plen, name, &out->exec, err, errlen) < 0)
				return -1;
			break;
		case RKX_ATTR_ROOT_IN_GO:
			if (get_bool(p, plen, name, &out->root_in_go, err, errlen) < 0)
				return -1;
			break;
		case RKX_ATTR_NET_HANDOFF:
			if (check_string(p, plen, RKX_MAX_NET_HANDOFF, name, err, errlen) < 0 ||
			    parse_handoff((const char *)p, out, err, errlen) < 0)
				return -1;
			break;
		default:
			return fail(err, errlen, "unknown attribute type %u at offset %zu", atype,
				    off - padded);
		}
	}

	/* Conflicting options are rejected before anything is created. */
	for (size_t i = 0; i < out->njoin; i++)
		joined |= out->join[i].flag;
	if (joined & out->clone_flags)
		return fail(err, errlen, "namespace %s both joined and unshared",
			    rkx_ns_name(joined & out->clone_flags & -(joined & out->clone_flags)));
	if (out->hostname != NULL && !(out->clone_flags & CLONE_NEWUTS))
		return fail(err, errlen, "hostname needs CLONE_NEWUTS in the clone flags");
	if (out->maps_by_go != !!(out->clone_flags & CLONE_NEWUSER))
		return fail(err, errlen, "maps-by-go must be set exactly when CLONE_NEWUSER is unshared");
	if (out->init_reap && !out->init)
		return fail(err, errlen, "init-reap needs init");
	if (out->mount_proc && !(out->clone_flags & CLONE_NEWNS))
		return fail(err, errlen, "mount-proc needs CLONE_NEWNS in the clone flags");
	if (out->root_in_go && (!(out->clone_flags & CLONE_NEWUSER) || (out->clone_flags & CLONE_NEWNET)))
		return fail(err, errlen, "root-in-go needs CLONE_NEWUSER and no CLONE_NEWNET in the clone flags");
	if (out->handoff_fd >= 0 && !(out->clone_flags & CLONE_NEWNET))
		return fail(err, errlen, "net-handoff needs CLONE_NEWNET in the clone flags");
	if (out->root_in_go && (out->init || out->mount_proc || out->exec))
		return fail(err, errlen, "root-in-go cannot be combined with init, mount-proc or exec");
	sort_joins(out);
	return 0;
}
