/*
 * execmsg.c: the strict parser of the exec message that the Go side
 * (execmsg.go) writes on the exec socket for a stage 2 that execs from C.
 * It only reads its input and writes *out and err (and mallocs argv and
 * envp), so FuzzExecParse can call it in-process.
 *
 * Format (native byte order):
 *   header: u32 total length (header included), u16 message type, u16 version
 *   then attributes until the end: u32 length (header included), u32 type,
 *   payload, zero padding up to a multiple of 4.
 */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "exec.h"
#include "msgparse.h"

static int fail(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	rkx_vfail("exec message", err, errlen, fmt, ap);
	va_end(ap);
	return -1;
}

/* is_string accepts a payload of 0 or more bytes and exactly one final NUL. */
static int is_string(const uint8_t *p, size_t n)
{
	return n >= 1 && p[n - 1] == '\0' && memchr(p, '\0', n - 1) == NULL;
}

static const char *attr_name(uint32_t t)
{
	static const char *const names[] = {
		[RKX_EXEC_ARG] = "argument", [RKX_EXEC_ENV] = "environment", [RKX_EXEC_CWD] = "cwd",
		[RKX_EXEC_USER] = "user", [RKX_EXEC_KEEP] = "keep", [RKX_EXEC_CAP_NAME] = "capability name",
		[RKX_EXEC_BOUNDING] = "bounding", [RKX_EXEC_NO_NEW_PRIVS] = "no-new-privs",
		[RKX_EXEC_TERMINAL] = "terminal", [RKX_EXEC_PDEATHSIG] = "parent-death signal",
		[RKX_EXEC_PRESERVE] = "preserve-fds", [RKX_EXEC_DETACH] = "detach", [RKX_EXEC_SECCOMP] = "seccomp",
	};
	return t < sizeof(names) / sizeof(names[0]) ? names[t] : NULL;
}

void rkx_free_exec(struct rkx_exec *x)
{
	free(x->argv);
	free(x->envp);
	x->argv = x->envp = NULL;
}

/* walk checks the framing and counts the repeated strings; with fill set it
 * stores every value in *out. */
static int walk(const uint8_t *buf, size_t len, struct rkx_exec *out, int fill, char *err, size_t errlen)
{
	uint32_t seen = 0;
	size_t off, argc = 0, envc = 0;

	for (off = RKX_EXEC_HDR_LEN; off < len;) {
		size_t alen, padded, plen;
		uint32_t atype;
		const uint8_t *p;
		const char *name;

		if (len - off < RKX_EXEC_ATTR_HDR)
			return fail(err, errlen, "attribute at offset %zu: truncated header", off);
		alen = rkx_get_u32(buf + off);
		atype = rkx_get_u32(buf + off + 4);
		name = attr_name(atype);
		if (name == NULL)
			return fail(err, errlen, "unknown attribute type %u at offset %zu", atype, off);
		if (alen < RKX_EXEC_ATTR_HDR)
			return fail(err, errlen, "%s at offset %zu: length %zu is too small", name, off, alen);
		if (alen > len - off)
			return fail(err, errlen, "%s at offset %zu: length %zu runs past the end", name, off, alen);
		padded = (alen + 3) & ~(size_t)3;
		if (padded > len - off)
			return fail(err, errlen, "%s at offset %zu: padding runs past the end", name, off);
		for (size_t i = alen; i < padded; i++)
			if (buf[off + i] != 0)
				return fail(err, errlen, "%s at offset %zu: non-zero padding", name, off);
		p = buf + off + RKX_EXEC_ATTR_HDR;
		plen = alen - RKX_EXEC_ATTR_HDR;
		off += padded;

		if (atype != RKX_EXEC_ARG && atype != RKX_EXEC_ENV && atype != RKX_EXEC_CAP_NAME) {
			if (seen & (UINT32_C(1) << atype))
				return fail(err, errlen, "%s: attribute repeated", name);
			seen |= UINT32_C(1) << atype;
		}
		switch (atype) {
		case RKX_EXEC_ARG:
		case RKX_EXEC_ENV:
			if (!is_string(p, plen))
				return fail(err, errlen, "%s: not one NUL-terminated string", name);
			if (fill && atype == RKX_EXEC_ARG)
				out->argv[argc] = (char *)p;
			if (fill && atype == RKX_EXEC_ENV)
				out->envp[envc] = (char *)p;
			if (atype == RKX_EXEC_ARG)
				argc++;
			else
				envc++;
			break;
		case RKX_EXEC_CWD:
			if (!is_string(p, plen) || plen < 2)
				return fail(err, errlen, "%s: not one non-empty NUL-terminated string", name);
			if (fill)
				out->cwd = (const char *)p;
			break;
		case RKX_EXEC_USER:
			if (plen < 8 || plen % 4 != 0)
				return fail(err, errlen, "%s: payload is %zu bytes, want 8 + 4 per group", name, plen);
			if (fill) {
				out->switch_user = 1;
				out->uid = rkx_get_u32(p);
				out->gid = rkx_get_u32(p + 4);
				out->groups = p + 8;
				out->ngroups = (plen - 8) / 4;
			}
			break;
		case RKX_EXEC_KEEP:
		case RKX_EXEC_BOUNDING:
			if (plen != 8)
				return fail(err, errlen, "%s: payload is %zu bytes, want 8", name, plen);
			if (fill && atype == RKX_EXEC_KEEP) {
				out->keep_set = 1;
				out->keep = rkx_get_u64(p);
			}
			if (fill && atype == RKX_EXEC_BOUNDING) {
				out->bounding_set = 1;
				out->bounding = rkx_get_u64(p);
			}
			break;
		case RKX_EXEC_CAP_NAME:
			if (plen < 6 || !is_string(p + 4, plen - 4))
				return fail(err, errlen, "%s: want a u32 and a non-empty NUL-terminated string", name);
			if (rkx_get_u32(p) > 63)
				return fail(err, errlen, "%s: capability %u out of range", name, rkx_get_u32(p));
			if (fill)
				out->cap_name[rkx_get_u32(p)] = (const char *)p + 4;
			break;
		case RKX_EXEC_NO_NEW_PRIVS:
		case RKX_EXEC_TERMINAL:
		case RKX_EXEC_DETACH:
			if (plen != 0)
				return fail(err, errlen, "%s: payload is %zu bytes, want none", name, plen);
			if (fill)
				*(atype == RKX_EXEC_NO_NEW_PRIVS ? &out->no_new_privs :
				  atype == RKX_EXEC_TERMINAL ? &out->terminal : &out->detach) = 1;
			break;
		case RKX_EXEC_PDEATHSIG:
		case RKX_EXEC_PRESERVE:
			if (plen != 4)
				return fail(err, errlen, "%s: payload is %zu bytes, want 4", name, plen);
			if (atype == RKX_EXEC_PDEATHSIG && rkx_get_u32(p) > 64)
				return fail(err, errlen, "%s %u: out of range", name, rkx_get_u32(p));
			if (atype == RKX_EXEC_PRESERVE && rkx_get_u32(p) > (1 << 20))
				return fail(err, errlen, "%s %u: out of range", name, rkx_get_u32(p));
			if (fill)
				*(atype == RKX_EXEC_PDEATHSIG ? &out->pdeathsig : &out->preserve_fds) = rkx_get_u32(p);
			break;
		case RKX_EXEC_SECCOMP:
			if (plen == 0 || plen % 8 != 0 || plen / 8 > RKX_EXEC_MAX_FILTER)
				return fail(err, errlen, "%s: payload is %zu bytes, want 8 per instruction, 1 to %d", name,
					    plen, RKX_EXEC_MAX_FILTER);
			if (fill) {
				out->filter = p;
				out->nfilter = plen / 8;
			}
			break;
		}
	}
	if (argc == 0)
		return fail(err, errlen, "no argument");
	if (!(seen & (UINT32_C(1) << RKX_EXEC_PDEATHSIG)) || !(seen & (UINT32_C(1) << RKX_EXEC_PRESERVE)))
		return fail(err, errlen, "parent-death signal or preserve-fds missing");
	if (!fill) {
		out->argc = argc;
		out->envc = envc;
	}
	return 0;
}

int rkx_parse_exec(const uint8_t *buf, size_t len, struct rkx_exec *out, char *err, size_t errlen)
{
	memset(out, 0, sizeof(*out));
	if (len < RKX_EXEC_HDR_LEN)
		return fail(err, errlen, "%zu bytes, shorter than its header", len);
	if (rkx_get_u32(buf) != len)
		return fail(err, errlen, "header says %u bytes, message is %zu", rkx_get_u32(buf), len);
	if (len > RKX_EXEC_MAX_LEN)
		return fail(err, errlen, "%zu bytes, limit is %d", len, RKX_EXEC_MAX_LEN);
	if (len % 4 != 0)
		return fail(err, errlen, "length %zu is not a multiple of 4", len);
	if (rkx_get_u16(buf + 4) != RKX_EXEC_MSG_TYPE)
		return fail(err, errlen, "type %#x, want %#x", rkx_get_u16(buf + 4), RKX_EXEC_MSG_TYPE);
	if (rkx_get_u16(buf + 6) != RKX_EXEC_VERSION)
		return fail(err, errlen, "version %u, want %u", rkx_get_u16(buf + 6), RKX_EXEC_VERSION);
	if (walk(buf, len, out, 0, err, errlen) < 0)
		return -1;
	out->argv = calloc(out->argc + 1, sizeof(char *));
	out->envp = calloc(out->envc + 1, sizeof(char *));
	if (out->argv == NULL || out->envp == NULL) {
		rkx_free_exec(out);
		return fail(err, errlen, "out of memory");
	}
	if (walk(buf, len, out, 1, err, errlen) < 0) {
		rkx_free_exec(out);
		return -1;
	}
	if (out->keep_set)
		for (int c = 0; c < 64; c++)
			if ((out->keep & (UINT64_C(1) << c)) && out->cap_name[c] == NULL) {
				rkx_free_exec(out);
				return fail(err, errlen, "capability %d kept without a name", c);
			}
	return 0;
}
