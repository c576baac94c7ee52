// SPDX-License-Identifier: BSD-2-Clause
/*
 * Our PID namespace: its inode for the BPF programs, and whether the procfs we
 * read numbers processes the same way (else every pid of a record would name
 * some other process, or none, under PROC).
 */
#include "proc/pidns.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

/* PROC_PID_INIT_INO, include/linux/proc_ns.h: fixed since Linux 3.8. */
#define SZ_INIT_PIDNS_INO 0xEFFFFFFCu

uint32_t sz_pidns_ino(void)
{
	struct stat st;

	/* /proc/self/ns/pid is our own namespace whichever procfs is mounted
	 * there: "self" always resolves to the caller. */
	if (stat("/proc/self/ns/pid", &st) || st.st_ino == SZ_INIT_PIDNS_INO)
		return 0;
	return (uint32_t)st.st_ino;
}

int sz_proc_is_ours(const char *proc)
{
	char path[PATH_MAX], link[32], *end;
	ssize_t n;
	long pid;

	snprintf(path, sizeof(path), "%s/self", proc);
	n = readlink(path, link, sizeof(link) - 1);
	if (n < 0)
		return -errno;
	link[n] = '\0';
	pid = strtol(link, &end, 10);
	if (*end || end == link)
		return -EINVAL;
	return pid == (long)getpid() ? 0 : -EXDEV;
}
