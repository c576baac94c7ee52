/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * A process's cgroup v2 path, from /proc/PID/cgroup (the "0::" line): the
 * label of found records and of metrics with --by cgroup.
 */
#ifndef SZ_PROC_CGROUP_H
#define SZ_PROC_CGROUP_H

#include <stddef.h>
#include <sys/types.h>

/* The cgroup v2 path of PID (e.g. "/system.slice/nginx.service") into BUF.
 * 0, -ESRCH (gone), -ENOENT (no v2 line: a v1-only host), -ENAMETOOLONG, or
 * another negative errno.  Bounded: reads at most 8 KiB of the file. */
int sz_proc_cgroup(const char *proc, pid_t pid, char *buf, size_t size);
/* The same parse over TEXT (LEN bytes): for the unit tests and the fuzzer. */
int sz_cgroup_parse(const char *text, size_t len, char *buf, size_t size);

#endif
