/*
 * msgparse.h: what the parsers of nsexec's two messages (bootstrap.c: the bootstrap message;
 * execmsg.c: the exec message) share: unaligned little-endian reads and the error text.
 */
#ifndef RKX_MSGPARSE_H
#define RKX_MSGPARSE_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

/* rkx_vfail writes "PREFIX: REASON" into err (errlen bytes, truncated) and returns -1. */
static inline int rkx_vfail(const char *prefix, char *err, size_t errlen, const char *fmt, va_list ap)
{
	int n = snprintf(err, errlen, "%s: ", prefix);

	if (n < 0 || (size_t)n >= errlen)
		return -1;
	vsnprintf(err + n, errlen - n, fmt, ap);
	return -1;
}

/* The messages' integers are in the host's byte order, at any alignment. */
static inline uint16_t rkx_get_u16(const uint8_t *p)
{
	uint16_t v;
	memcpy(&v, p, sizeof(v));
	return v;
}

static inline uint32_t rkx_get_u32(const uint8_t *p)
{
	uint32_t v;
	memcpy(&v, p, sizeof(v));
	return v;
}

static inline uint64_t rkx_get_u64(const uint8_t *p)
{
	uint64_t v;
	memcpy(&v, p, sizeof(v));
	return v;
}

#endif
