/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * tracefs for the per-syscall tracepoints (tp/syscalls/...): libbpf reads a
 * tracepoint's id from tracefs, which many hosts do not mount by default.
 */
#ifndef SZ_TRACEFS_H
#define SZ_TRACEFS_H

#define SZ_TRACEFS_DIR "/sys/kernel/tracing"

/*
 * Make sure the tracefs libbpf uses is mounted: nothing to do if
 * /sys/kernel/debug/tracing or /sys/kernel/tracing holds events/, else mount
 * tracefs at SZ_TRACEFS_DIR (root can; the mount stays for later runs).
 * Returns 0 (*MOUNTED set to 1 if we mounted it), or a negative errno: -EPERM
 * or -EACCES without CAP_SYS_ADMIN, -ENODEV when the kernel has no tracefs,
 * -ENOENT when SZ_TRACEFS_DIR does not exist.
 */
int sz_tracefs_ensure(int *mounted);

#endif
