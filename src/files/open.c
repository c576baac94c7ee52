// SPDX-License-Identifier: BSD-2-Clause
/*
 * The one way symbolyze opens the file behind a mapping.  Whatever the
 * source, a path is only a hint: every descriptor is proven to be the mapped
 * inode before it is used, and nothing is opened through a symlink we did not
 * ask the kernel to follow.
 */
#include "files/files.h"
#include "proc/maps.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAPS_MAX (256u << 20)

/* /proc's view of the mapping, for the /proc helpers' identity checks. */
static void as_map(const struct sz_mapping *m, struct sz_map *out)
{
	memset(out, 0, sizeof(*out));
	out->start = m->start;
	out->end = m->end;
	out->pgoff = m->pgoff;
	out->ino = m->ino;
	out->dev_major = m->dev >> 20;
	out->dev_minor = m->dev & 0xfffff;
	out->prot = m->prot;
	out->deleted = !!(m->flags & SZ_MAPPING_DELETED);
	out->path = m->path ? m->path : "";
	out->path_len = strlen(out->path);
}

/* The kernel's own link: only the inode number is checked, since st_dev can
 * differ from the mapping's device on overlayfs and btrfs. */
static int by_map_files(const char *proc, pid_t pid, uint64_t start, uint64_t end, uint64_t ino,
			struct stat *st)
{
	char path[320];
	int pfd;

	snprintf(path, sizeof(path), "%s/%d/map_files/%llx-%llx", proc, (int)pid,
		 (unsigned long long)start, (unsigned long long)end);
	/* O_PATH first, so a mapped device or FIFO is never opened for real. */
	pfd = open(path, O_PATH | O_CLOEXEC);
	if (pfd < 0)
		return -errno;
	if (fstat(pfd, st) || !S_ISREG(st->st_mode) || (uint64_t)st->st_ino != ino) {
		close(pfd);
		return -ESTALE;
	}
	return sz_reopen_read(pfd);
}

static int by_path(const char *proc, const struct sz_mapping *m, struct stat *st)
{
	uint64_t resolve = RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS;
	int dirfd = AT_FDCWD, pfd;
	struct sz_map mm;

	if (!m->path || m->path[0] != '/' ||
	    (m->flags & (SZ_MAPPING_DELETED | SZ_MAPPING_PATH_INCOMPLETE)))
		return -ENOENT;
	if (!(m->flags & SZ_MAPPING_PATH_OURS)) {
		char root[320];

		snprintf(root, sizeof(root), "%s/%d/root", proc, (int)m->pid);
		dirfd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
		if (dirfd < 0 && errno == ENOENT && (m->flags & SZ_MAPPING_PATH_ROOT_OR_OURS))
			dirfd = AT_FDCWD; /* gone: from our root, only the very inode */
		else if (dirfd < 0)
			return errno == ENOENT ? -ESRCH : -errno;
		else
			resolve |= RESOLVE_IN_ROOT;
	}
	as_map(m, &mm);
	pfd = sz_open_checked(dirfd, m->path, resolve, &mm, 1, st);
	if (dirfd != AT_FDCWD)
		close(dirfd);
	return pfd < 0 ? pfd : sz_reopen_read(pfd);
}

/* The VMA holding START now, with the same inode. */
static int by_vma(const char *proc, const struct sz_mapping *m, struct stat *st)
{
	struct sz_maps_iter it;
	struct sz_map v;
	int err = sz_maps_open(&it, proc, m->pid, MAPS_MAX);

	if (err)
		return err == -ENOENT ? -ESRCH : err;
	err = -ESRCH;
	while (sz_maps_next(&it, &v))
		if (v.ino == m->ino && v.start <= m->start && m->start < v.end) {
			err = (v.start == m->start && v.end == m->end)
				      ? -ESRCH /* the same link that failed already */
				      : by_map_files(proc, m->pid, v.start, v.end, m->ino, st);
			break;
		}
	sz_maps_close(&it);
	return err;
}

/* A worse error replaces a milder one: "gone" explains least, "permission"
 * most. */
static int worse(int a, int b)
{
	if (a == -ENOENT || a == -ESRCH || a == -ESTALE)
		return b;
	return a;
}

int sz_open_mapping(const char *proc, const struct sz_mapping *m, struct stat *st)
{
	int fd, err;

	fd = by_map_files(proc, m->pid, m->start, m->end, m->ino, st);
	if (fd >= 0)
		return fd;
	err = fd;
	fd = by_path(proc, m, st);
	if (fd >= 0)
		return fd;
	err = worse(err, fd);
	fd = by_vma(proc, m, st);
	if (fd >= 0)
		return fd;
	err = worse(err, fd);
	if (err == -ENOENT || err == -ESTALE)
		err = -ESRCH;
	return err;
}
