/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Options and stats structs grow the libbpf way: the caller's struct starts
 * with its size; a smaller (older) struct is read only as far as it goes, a
 * larger (newer) one is accepted only while the bytes we do not know are zero.
 */
#ifndef SZ_UTIL_OPTS_H
#define SZ_UTIL_OPTS_H

#include <errno.h>
#include <stddef.h>
#include <string.h>

/* 0 if the caller's struct at P, USER_SZ bytes long by its own account, can be
 * read by a library that knows OUR_SZ bytes of it; else -EINVAL. */
static inline int sz_opts_check(const void *p, size_t user_sz, size_t our_sz)
{
	const unsigned char *b = p;

	if (!p || user_sz < sizeof(size_t))
		return -EINVAL;
	for (size_t i = our_sz; i < user_sz; i++)
		if (b[i])
			return -EINVAL;
	return 0;
}

/* Validate the caller's struct SRC (its first field: size_t sz), then copy
 * what it holds into DST (DST_SZ bytes, ours), zeroing the fields an older
 * caller does not have, and set DST's sz to ours.  0 or -EINVAL. */
static inline int sz_opts_copy(void *dst, size_t dst_sz, const void *src)
{
	size_t user_sz;
	int err;

	if (!src)
		return -EINVAL;
	memcpy(&user_sz, src, sizeof(user_sz));
	err = sz_opts_check(src, user_sz, dst_sz);
	if (err)
		return err;
	memset(dst, 0, dst_sz);
	memcpy(dst, src, user_sz < dst_sz ? user_sz : dst_sz);
	memcpy(dst, &dst_sz, sizeof(dst_sz));
	return 0;
}

#define SZ_OPTS_COPY(dst, src) sz_opts_copy((dst), sizeof(*(dst)), (src))

/* Fill the caller's stats struct OUT (size in out->sz) from our full copy IN:
 * as many bytes as both know; -EINVAL if OUT cannot even hold its size. */
#define SZ_STATS_FILL(out, in)                                                                \
	({                                                                                    \
		size_t __n = (out) ? (out)->sz : 0;                                           \
		int __e = __n < sizeof(size_t) ? -EINVAL : 0;                                 \
		if (!__e) {                                                                   \
			memcpy((char *)(out) + sizeof(size_t),                                \
			       (const char *)(in) + sizeof(size_t),                           \
			       (__n < sizeof(*(in)) ? __n : sizeof(*(in))) - sizeof(size_t)); \
		}                                                                             \
		__e;                                                                          \
	})

#endif
