// SPDX-License-Identifier: BSD-2-Clause
/*
 * Checks and decodes `symbolyze watch` ring-buffer records (bpf/watch.h).
 * Records are untrusted bytes: every length is bounded before it is used.
 */
#include <errno.h>
#include <stddef.h>
#include <string.h>

#include "sources/watch_rec.h"
#include "pipeline/mapping.h"

#include <stdio.h>
#include <sys/mman.h>

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
	if (type < SZ_WATCH_EXEC || type > SZ_WATCH_HINT)
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

static unsigned vm_prot(uint64_t vm_flags)
{
	return (vm_flags & 1 ? PROT_READ : 0) | (vm_flags & 2 ? PROT_WRITE : 0) |
	       (vm_flags & 4 ? PROT_EXEC : 0);
}

int sz_watch_rec_mapping(const struct sz_watch_rec *r, char *path, size_t pathsz, char *comm,
			 struct sz_mapping *m)
{
	memset(m, 0, sizeof(*m));
	switch (r->type) {
	case SZ_WATCH_EXEC:
		m->source = SZ_SOURCE_EXEC;
		m->prot = vm_prot(r->vm_flags);
		break;
	case SZ_WATCH_EXEC_INTERP:
		/* The VMA at AT_BASE: the interpreter's first mapping. */
		m->source = SZ_SOURCE_EXEC;
		m->prot = vm_prot(r->vm_flags);
		m->flags |= SZ_MAPPING_LOAD_START;
		break;
	case SZ_WATCH_MMAP:
		m->source = SZ_SOURCE_MMAP;
		m->prot = r->prot & (PROT_READ | PROT_WRITE | PROT_EXEC);
		/* A shared mapping is someone reading the file, never a load. */
		if ((r->mflags & MAP_TYPE) == MAP_SHARED ||
		    (r->mflags & MAP_TYPE) == MAP_SHARED_VALIDATE)
			m->flags |= SZ_MAPPING_SHARED;
		break;
	default:
		return -EINVAL;
	}
	m->pid = (pid_t)r->tgid;
	m->start = r->start;
	m->end = r->end;
	m->pgoff = r->offset;
	m->dev = r->dev;
	m->ino = r->ino;
	m->ts_ns = r->ts_ns;
	m->cgroup_id = r->cgroup_id;
	if (r->path_flags & SZ_WATCH_PATH_DELETED)
		m->flags |= SZ_MAPPING_DELETED;
	/* A path from our mount tree's root opens from our root; one that ended
	 * in another mount namespace only from the process's. */
	if (!(r->path_flags & SZ_WATCH_PATH_FOREIGN))
		m->flags |= SZ_MAPPING_PATH_OURS;
	if (r->path_flags & SZ_WATCH_PATH_PSEUDO) {
		/* memfd, shmem: named as /proc/PID/maps and the scan name them,
		 * "/memfd:x (deleted)", and never opened by that name. */
		snprintf(path, pathsz, "/%.*s", (int)r->name_len, sz_watch_rec_name(r));
		m->flags |= SZ_MAPPING_DELETED;
	} else if (sz_watch_rec_path(r, path, pathsz)) {
		/* The base name, which the BPF side matched: enough for a base-name
		 * glob, never for opening. */
		snprintf(path, pathsz, "%.*s", (int)r->name_len, sz_watch_rec_name(r));
		m->flags |= SZ_MAPPING_PATH_INCOMPLETE;
	}
	m->path = path;
	memcpy(comm, r->comm, SZ_WATCH_COMM_LEN);
	comm[SZ_WATCH_COMM_LEN] = '\0';
	m->comm = comm;
	return 0;
}
