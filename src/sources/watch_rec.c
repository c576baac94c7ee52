// SPDX-License-Identifier: BSD-2-Clause
/*
 * Checks and decodes `symbolyze watch` ring-buffer records (bpf/watch.h).
 * Records are untrusted bytes: every length is bounded before it is used.
 */
#include <errno.h>
#include <stddef.h>
#include <string.h>

#include "sources/watch_rec.h"

static __u32 get_u32(const unsigned char *p, size_t off)
{
	__u32 v;

	memcpy(&v, p + off, sizeof(v));
	return v;
}

int sz_watch_rec_check(const void *data, size_t size)
{
	const unsigned char *p = data;
	__u32 type, name_len, path_len;

	if (!data || size < SZ_WATCH_HDR_LEN || size > SZ_WATCH_REC_MAX)
		return -EBADMSG;
	type = get_u32(p, offsetof(struct sz_watch_rec, type));
	name_len = get_u32(p, offsetof(struct sz_watch_rec, name_len));
	path_len = get_u32(p, offsetof(struct sz_watch_rec, path_len));
	if (type < SZ_WATCH_EXEC || type > SZ_WATCH_EXEC_OTHER)
		return -EBADMSG;
	if (name_len >= SZ_WATCH_NAME_LEN || path_len > SZ_WATCH_PATH_LEN)
		return -EBADMSG;
	/* both bounded above: no overflow, and the sum is <= SZ_WATCH_REC_MAX */
	if (size != SZ_WATCH_HDR_LEN + (size_t)name_len + 1 + path_len)
		return -EBADMSG;
	/* the name is a C string of exactly name_len bytes */
	if (p[SZ_WATCH_HDR_LEN + name_len] != '\0' || memchr(p + SZ_WATCH_HDR_LEN, '\0', name_len))
		return -EBADMSG;
	return 0;
}

/* "." and ".." never name a dentry; they would make the path mean another file */
static int bad_component(const char *c, size_t len)
{
	if (len == 0 || memchr(c, '/', len))
		return 1;
	return (len == 1 && c[0] == '.') || (len == 2 && c[0] == '.' && c[1] == '.');
}

int sz_watch_rec_path(const struct sz_watch_rec *r, char *out, size_t outsz)
{
	const char *path;
	size_t len = r->path_len, o = 0, end, start;

	if (outsz == 0)
		return -ENAMETOOLONG;
	out[0] = '\0';
	if (len > SZ_WATCH_PATH_LEN || r->name_len >= SZ_WATCH_NAME_LEN)
		return -EBADMSG;
	path = r->data + r->name_len + 1; /* + len stays within data[] */
	if (r->path_flags & SZ_WATCH_PATH_TRUNCATED)
		return -ENAMETOOLONG;
	if (len == 0)
		return -ENOENT;
	if (path[len - 1] != '\0')
		return -EBADMSG;
	/* n components, each "name\0", become "/name" each, plus the final NUL */
	if (len >= outsz)
		return -ENAMETOOLONG;

	/* components are leaf first: emit them from the last one back */
	end = len - 1; /* index of the NUL closing the current component */
	for (;;) {
		start = end;
		while (start > 0 && path[start - 1] != '\0')
			start--;
		if (bad_component(path + start, end - start)) {
			out[0] = '\0';
			return -EBADMSG;
		}
		out[o++] = '/';
		memcpy(out + o, path + start, end - start);
		o += end - start;
		if (start == 0)
			break;
		end = start - 1;
	}
	out[o] = '\0'; /* o == len < outsz */
	return 0;
}
