// SPDX-License-Identifier: BSD-2-Clause
/*
 * /proc/PID/cgroup: one "hierarchy-ID:controllers:path" line per hierarchy;
 * cgroup v2 is the line "0::PATH".  The file is the kernel's, but the path in
 * it names directories a container may have created: it is copied bounded
 * and escaped by whoever prints it.
 */
#include "proc/cgroup.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define CGROUP_FILE_MAX 8192

int sz_cgroup_parse(const char *text, size_t len, char *buf, size_t size)
{
	const char *p = text, *end = text + len;

	if (!size)
		return -EINVAL;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *eol = nl ? nl : end;

		if (eol - p >= 3 && !memcmp(p, "0::", 3)) {
			size_t n = (size_t)(eol - p - 3);

			if (n >= size)
				return -ENAMETOOLONG;
			memcpy(buf, p + 3, n);
			buf[n] = '\0';
			if (memchr(buf, '\0', n))
				return -EINVAL; /* not a path the kernel writes */
			return 0;
		}
		p = eol + 1;
	}
	return -ENOENT;
}

int sz_proc_cgroup(const char *proc, pid_t pid, char *buf, size_t size)
{
	char path[4096], text[CGROUP_FILE_MAX];
	ssize_t n, got = 0;
	int fd;

	snprintf(path, sizeof(path), "%s/%d/cgroup", proc ? proc : "/proc", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? -ESRCH : -errno;
	while ((size_t)got < sizeof(text) &&
	       (n = read(fd, text + got, sizeof(text) - (size_t)got)) > 0)
		got += n;
	close(fd);
	if (got <= 0)
		return got < 0 ? -errno : -ESRCH;
	return sz_cgroup_parse(text, (size_t)got, buf, size);
}
