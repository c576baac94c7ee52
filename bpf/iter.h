/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Record layout of the kernel-side initial scan (bpf/iter.bpf.c, an
 * iter/task_vma program), shared with its reader src/sources/iter.c.
 * Fixed-size types only, explicit padding: the same bytes mean the same thing
 * to the BPF program and to userspace.
 */
#ifndef SZ_ITER_H
#define SZ_ITER_H

#define SZ_ITER_COMM_LEN 16
#define SZ_ITER_PATH_LEN 4096 /* PATH_MAX, d_path's bound: whole paths, NUL included */

/* flags */
#define SZ_ITER_PATH_FAILED 1 /* d_path failed (too long): path[] is the base name */

/*
 * One VMA of a file whose base name passed the glob, of a process's thread
 * group leader: its code (VM_EXEC) or its first page (offset 0), the mappings
 * that speak for a load or explain why it cannot be read; never a shared
 * mapping (never a load).  A record is SZ_ITER_HDR_LEN bytes, then path_len + 1
 * bytes of path (NUL-terminated), nothing more: len is the whole size.
 * path is d_path(): from the reader's root, " (deleted)" appended to an unlinked
 * file's, as in /proc/PID/maps.  dev is the kernel's s_dev (major << 20 | minor).
 */
struct sz_iter_rec {
	__u32 len;  /* whole record: SZ_ITER_HDR_LEN + path_len + 1 */
	__u32 tgid; /* in the reader's PID namespace */
	__u64 start, end;
	__u64 pgoff; /* bytes */
	__u64 vm_flags;
	__u64 ino;
	__u64 ts_ns;	 /* bpf_ktime_get_ns() when the process was visited */
	__u64 cgroup_id; /* the process's cgroup v2 id (kernfs id), 0: none */
	__u32 dev;
	__u16 path_len; /* bytes before the NUL */
	__u16 flags;
	char comm[SZ_ITER_COMM_LEN];
	char path[SZ_ITER_PATH_LEN];
};

#define SZ_ITER_HDR_LEN 88 /* offsetof(struct sz_iter_rec, path) */

#endif
