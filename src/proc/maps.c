// SPDX-License-Identifier: BSD-2-Clause
/*
 * /proc/PID/maps lines: "start-end perms offset major:minor inode   path".
 * The path is everything after the padding, spaces included; the kernel adds
 * " (deleted)" for unlinked files and escapes only '\n' (as "\012").
 */
#include "maps.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/openat2.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

static const char deleted_suffix[] = " (deleted)";

static int hexnum(const char **p, const char *end, uint64_t *v, int maxdigits)
{
	int n = 0;

	*v = 0;
	while (*p < end && n < maxdigits) {
		char c = **p;
		unsigned d;

		if (c >= '0' && c <= '9')
			d = (unsigned)(c - '0');
		else if (c >= 'a' && c <= 'f')
			d = (unsigned)(c - 'a' + 10);
		else if (c >= 'A' && c <= 'F')
			d = (unsigned)(c - 'A' + 10);
		else
			break;
		*v = (*v << 4) | d;
		(*p)++;
		n++;
	}
	return n ? 0 : -EINVAL;
}

static int expect(const char **p, const char *end, char c)
{
	if (*p >= end || **p != c)
		return -EINVAL;
	(*p)++;
	return 0;
}

int sz_maps_parse_line(char *line, size_t len, struct sz_map *m)
{
	const char *p = line, *end = line + len;
	uint64_t maj, min;
	int n = 0;

	memset(m, 0, sizeof(*m));
	if (hexnum(&p, end, &m->start, 16) || expect(&p, end, '-') ||
	    hexnum(&p, end, &m->end, 16) || expect(&p, end, ' ') || m->end < m->start)
		return -EINVAL;
	if (end - p < 5)
		return -EINVAL;
	if (p[0] == 'r')
		m->prot |= PROT_READ;
	else if (p[0] != '-')
		return -EINVAL;
	if (p[1] == 'w')
		m->prot |= PROT_WRITE;
	else if (p[1] != '-')
		return -EINVAL;
	if (p[2] == 'x')
		m->prot |= PROT_EXEC;
	else if (p[2] != '-')
		return -EINVAL;
	if (p[3] == 's')
		m->shared = 1;
	else if (p[3] != 'p')
		return -EINVAL;
	p += 4;
	if (expect(&p, end, ' ') || hexnum(&p, end, &m->pgoff, 16) || expect(&p, end, ' ') ||
	    hexnum(&p, end, &maj, 8) || expect(&p, end, ':') || hexnum(&p, end, &min, 8) ||
	    expect(&p, end, ' ') || maj > 0xfff || min > 0xfffff)
		return -EINVAL;
	m->dev_major = (unsigned)maj;
	m->dev_minor = (unsigned)min;
	m->ino = 0;
	while (p < end && *p >= '0' && *p <= '9' && n < 20) {
		m->ino = m->ino * 10 + (uint64_t)(*p++ - '0');
		n++;
	}
	if (!n || (p < end && *p != ' '))
		return -EINVAL;
	while (p < end && *p == ' ')
		p++;
	m->path = p;
	m->path_len = (size_t)(end - p);
	if (m->path_len >= sizeof(deleted_suffix) - 1 &&
	    !memcmp(end - (sizeof(deleted_suffix) - 1), deleted_suffix,
		    sizeof(deleted_suffix) - 1)) {
		m->deleted = 1;
		m->path_len -= sizeof(deleted_suffix) - 1;
	}
	line[(size_t)(p - line) + m->path_len] = '\0';
	return 0;
}

int sz_maps_open(struct sz_maps_iter *it, const char *proc, pid_t pid, size_t max)
{
	char path[320];
	ssize_t n;

	snprintf(path, sizeof(path), "%s/%d/maps", proc, (int)pid);
	n = sz_read_file(AT_FDCWD, path, max, &it->buf);
	it->next = n < 0 ? NULL : it->buf;
	return n < 0 ? (int)n : 0;
}

int sz_maps_next(struct sz_maps_iter *it, struct sz_map *m)
{
	while (it->next && *it->next) {
		char *line = it->next, *nl = strchr(line, '\n');
		size_t len = nl ? (size_t)(nl - line) : strlen(line);

		it->next = nl ? nl + 1 : line + len;
		if (nl)
			*nl = '\0';
		if (sz_maps_parse_line(line, len, m) == 0)
			return 1;
	}
	return 0;
}

void sz_maps_close(struct sz_maps_iter *it)
{
	free(it->buf);
	it->buf = it->next = NULL;
}

int sz_map_is_file(const struct sz_map *m)
{
	return m->ino != 0 && m->path_len > 0 && m->path[0] == '/';
}

ssize_t sz_read_file(int dirfd, const char *path, size_t max, char **out)
{
	size_t cap = 16384, len = 0;
	char *buf = NULL;
	int fd, err = 0;

	*out = NULL;
	fd = openat(dirfd, path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	for (;;) {
		ssize_t n;

		if (!buf || len + 1 >= cap) {
			char *nb;

			if (buf)
				cap *= 2;
			if (cap > max + 1)
				cap = max + 1;
			if (buf && len + 1 >= cap) {
				err = -EFBIG;
				break;
			}
			nb = realloc(buf, cap);
			if (!nb) {
				err = -ENOMEM;
				break;
			}
			buf = nb;
		}
		n = read(fd, buf + len, cap - 1 - len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			err = -errno;
			break;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	close(fd);
	if (err) {
		free(buf);
		return err;
	}
	buf[len] = '\0';
	*out = buf;
	return (ssize_t)len;
}

/* True if ST is the file of mapping M: same inode and device. */
static int same_file(const struct sz_map *m, const struct stat *st)
{
	return (uint64_t)st->st_ino == m->ino && major(st->st_dev) == m->dev_major &&
	       minor(st->st_dev) == m->dev_minor;
}

/* openat2(2), 5.6+.  Without it (or under a seccomp policy that refuses it)
 * O_NOFOLLOW guards the last component only, and a path meant to be inside
 * DIRFD is made relative; the identity check that follows stays the guard. */
static int open_beneath(int dirfd, const char *path, uint64_t resolve)
{
	struct open_how how = { .flags = O_PATH | O_CLOEXEC, .resolve = resolve };
	int fd = -1;

	for (int tries = 0; tries < 3; tries++) {
		fd = (int)syscall(SYS_openat2, dirfd, path, &how, sizeof(how));
		if (fd >= 0 || errno != EAGAIN) /* EAGAIN: a rename raced the walk */
			break;
	}
	if (fd < 0 && (errno == ENOSYS || errno == EPERM)) {
		if (resolve & RESOLVE_IN_ROOT)
			while (*path == '/')
				path++;
		fd = openat(dirfd, path, O_PATH | O_CLOEXEC | O_NOFOLLOW);
	}
	return fd < 0 ? -errno : fd;
}

int sz_open_checked(int dirfd, const char *path, uint64_t resolve, const struct sz_map *m,
		    int check_dev, struct stat *st)
{
	int pfd = open_beneath(dirfd, path, resolve);

	if (pfd < 0)
		return pfd;
	if (fstat(pfd, st) || !S_ISREG(st->st_mode) || (uint64_t)st->st_ino != m->ino ||
	    (check_dev && !same_file(m, st))) {
		close(pfd);
		return -ESTALE;
	}
	return pfd;
}

int sz_reopen_read(int pfd)
{
	char path[64];
	int fd;

	/* Reopening an O_PATH descriptor through /proc/self/fd gets the very
	 * inode it holds, with no path walk. */
	snprintf(path, sizeof(path), "/proc/self/fd/%d", pfd);
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	fd = fd < 0 ? -errno : fd;
	close(pfd);
	return fd;
}

int sz_open_mapped(const char *proc, pid_t pid, const struct sz_map *m, struct stat *st)
{
	char path[PATH_MAX + 64];
	int pfd, rootfd;

	/* The kernel's own link to the mapped inode; O_PATH first so that a
	 * mapped device or FIFO is never opened for real.  Only the inode number
	 * is checked: st_dev can differ from maps' device on overlayfs, btrfs. */
	snprintf(path, sizeof(path), "%s/%d/map_files/%llx-%llx", proc, (int)pid,
		 (unsigned long long)m->start, (unsigned long long)m->end);
	pfd = open(path, O_PATH | O_CLOEXEC);
	if (pfd >= 0) {
		if (fstat(pfd, st) || !S_ISREG(st->st_mode) || (uint64_t)st->st_ino != m->ino) {
			close(pfd);
			return -ESTALE;
		}
		return sz_reopen_read(pfd);
	}
	if (errno == ENOENT || errno == ESRCH)
		return -ESRCH; /* mapping or process gone */
	/* No map_files (no CAP_SYS_ADMIN): the path inside the process's root,
	 * walked without symlinks, trusted only if it is the very inode mapped.
	 * A deleted file has no path: map_files' refusal is the reason. */
	if (m->deleted)
		return -errno;
	snprintf(path, sizeof(path), "%s/%d/root", proc, (int)pid);
	rootfd = open(path, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (rootfd < 0)
		return errno == ENOENT ? -ESRCH : -errno;
	pfd = sz_open_checked(rootfd, m->path,
			      RESOLVE_IN_ROOT | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS, m, 1,
			      st);
	close(rootfd);
	return pfd < 0 ? pfd : sz_reopen_read(pfd);
}
