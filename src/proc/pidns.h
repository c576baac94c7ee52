/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Our PID namespace, as the BPF programs need it (bpf/pidns.h): they report
 * and stop processes by the pids we see, and leave alone those we cannot see.
 */
#ifndef SZ_PIDNS_H
#define SZ_PIDNS_H

#include <stdint.h>

/* Inode of our PID namespace, or 0 in the initial one (no translation needed,
 * every process is visible) or if it cannot be told (then pids are the
 * kernel's, as before namespaces were handled). */
uint32_t sz_pidns_ino(void);

/* 0 if the procfs mounted at PROC numbers processes as our namespace does (its
 * "self" is getpid()); -EXDEV if it belongs to another PID namespace (e.g.
 * `unshare --pid --fork` without --mount-proc); another negative errno if it
 * cannot be read. */
int sz_proc_is_ours(const char *proc);

#endif /* SZ_PIDNS_H */
