// SPDX-License-Identifier: BSD-2-Clause
/*
 * Mounts tracefs when it is missing, so that the watch can attach to the
 * per-syscall tracepoints of mmap(2) only (see bpf/watch.bpf.c for why).
 */
#include "sources/tracefs.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/mount.h>
#include <unistd.h>

/* libbpf 1.x looks at debugfs's tracing directory first when it exists. */
static int has_events(const char *dir)
{
	int fd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC), ok;

	if (fd < 0)
		return 0;
	ok = faccessat(fd, "events/syscalls", F_OK, AT_EACCESS) == 0;
	close(fd);
	return ok;
}

int sz_tracefs_ensure(int *mounted)
{
	*mounted = 0;
	if (has_events("/sys/kernel/debug/tracing") || has_events(SZ_TRACEFS_DIR))
		return 0;
	if (mount("tracefs", SZ_TRACEFS_DIR, "tracefs", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL)) {
		/* Another watcher may have mounted it in the meantime. */
		if (errno == EBUSY && has_events(SZ_TRACEFS_DIR))
			return 0;
		return -errno;
	}
	if (!has_events(SZ_TRACEFS_DIR))
		return -ENODEV; /* tracefs without syscall events (no CONFIG_FTRACE_SYSCALLS) */
	*mounted = 1;
	return 0;
}
