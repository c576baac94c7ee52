/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Record layout of `symbolyze watch`, shared by bpf/watch.bpf.c and userspace.
 * Fixed-size types only, explicit padding, no pointers, no long: the same bytes
 * mean the same thing to a 64-bit BPF program and to userspace.
 *
 * Include after the definitions of __u32/__u64 (vmlinux.h in BPF,
 * <linux/types.h> in userspace).
 */
#ifndef SZ_WATCH_H
#define SZ_WATCH_H

#define SZ_WATCH_NAME_LEN 256		/* == SZ_GLOB_MAX_NAME; holds NAME_MAX + NUL */
#define SZ_WATCH_COMM_LEN 16		/* == TASK_COMM_LEN */
#define SZ_WATCH_PATH_LEN 1024		/* path[] bytes; longer paths are flagged TRUNCATED */
#define SZ_WATCH_PATH_MAX_COMPONENTS 32 /* deeper paths are flagged TRUNCATED */

/* flags: the BPF side sent SIGSTOP after delivering this record (watch
 * --freeze); userspace attaches its probes, then sends SIGCONT. */
#define SZ_WATCH_FROZEN 1
/* flags: the glob matcher ran out of its step budget (SZ_GLOB_BUDGET) before
 * deciding: the record is sent anyway and userspace matches the name/path. */
#define SZ_WATCH_GLOB_UNSURE 2

/* path_flags */
#define SZ_WATCH_PATH_TRUNCATED 1 /* walk stopped early: path[] is incomplete */
#define SZ_WATCH_PATH_DELETED 2	  /* dentry unlinked: the path will not open */
#define SZ_WATCH_PATH_FOREIGN \
	4 /* walk ended at the root of another mount
				   * namespace (or a detached/internal mount),
				   * not the watcher's: the path names some other
				   * file, or none, from the watcher's root */
/* a file in no directory (memfd, shmem): path[] is empty, the name is all
 * there is; TRUNCATED is set too */
#define SZ_WATCH_PATH_PSEUDO 8

enum sz_watch_type {
	SZ_WATCH_EXEC = 1,	  /* executable of a new image (sched_process_exec) */
	SZ_WATCH_EXEC_INTERP = 2, /* its ELF interpreter (VMA at AT_BASE) */
	SZ_WATCH_MMAP = 3,	  /* successful file mmap(2) */
	SZ_WATCH_EXIT = 4,	  /* thread group gone (only tgids that produced records) */
	SZ_WATCH_FORK = 5,	  /* new process forked by one we know of; start = parent tgid */
	SZ_WATCH_EXEC_OTHER = 6,  /* a process we know of exec'd nothing that matches */
	/* --mmap-hook perf: a matching file was just mapped executable; its
	 * mapping is perf's record, in the perf rings already (sz_mmap_hint) */
	SZ_WATCH_HINT = 7,
};

/*
 * dev is the kernel encoding of the superblock's s_dev: major << 20 | minor.
 * Userspace form: makedev(dev >> 20, dev & 0xfffff); /proc/PID/maps prints
 * "%02x:%02x" of those two numbers.
 *
 * EXEC / EXEC_INTERP: start/end/offset/vm_flags describe one VMA of the file:
 *   EXEC  : the VMA containing mm->start_code (the text segment),
 *   INTERP: the VMA containing AT_BASE (the interpreter's first, offset-0 VMA).
 *   offset = vm_pgoff * 4096.  prot/mflags are 0.
 * MMAP: start = mmap return value, end = start + page-rounded length,
 *   offset = the offset argument (bytes), prot/mflags = the arguments;
 *   vm_flags = flags of the VMA containing start (0 if it was not found).
 * EXIT: only tgid, tid (the exiting leader), comm, ts_ns are set.
 *
 * Variable length: a record is the header (SZ_WATCH_HDR_LEN bytes, every member
 * before data[]) followed by name_len + 1 bytes of name (NUL-terminated) and
 * path_len bytes of path, nothing more: its size in the ring is exactly
 * SZ_WATCH_HDR_LEN + name_len + 1 + path_len (sz_watch_rec_size).  EXIT,
 * FORK and EXEC_OTHER records carry an empty name ("\0") and no path.
 *
 * path (EXEC, EXEC_INTERP, MMAP): where the file was opened, as seen from the
 * root of its mount tree, built in BPF by walking d_parent to the mount root
 * and mnt_mountpoint/mnt_parent up to the mount that is its own parent.
 * Encoding: the components LEAF FIRST, each followed by one NUL byte:
 *   /work/lib dir/libx.so  ->  "libx.so\0lib dir\0work\0", path_len = 21
 * path_len counts every byte used, NULs included (0 <= path_len <=
 * SZ_WATCH_PATH_LEN).  Components are never
 * empty and hold no NUL (a dentry name may hold '/' for pseudo files, e.g.
 * memfd; such files are flagged).  path_len == 0 and path_flags == 0: no path
 * (EXIT records, and a file at the root itself).  The absolute path is "/"
 * followed by the components last to first, joined with '/'; see
 * sz_watch_rec_path() in src/sources/watch_rec.c.  The first component equals the name
 * unless the file was renamed in between.  When TRUNCATED is set, path[] holds
 * the components walked so far (leaf end), possibly none.  Userspace should
 * still fstat() what it opens and compare dev/ino: a file can be renamed or
 * replaced after the record was made.
 */
struct sz_watch_rec {
	__u32 type; /* enum sz_watch_type */
	__u32 tgid; /* process id */
	__u32 tid;  /* thread id */
	__u32 dev;  /* s_dev, kernel encoding (see above) */
	__u64 ino;
	__u64 start;
	__u64 end;
	__u64 offset;
	__u64 vm_flags; /* VM_READ 0x1, VM_WRITE 0x2, VM_EXEC 0x4, VM_SHARED 0x8 ... */
	__u64 ts_ns;	/* bpf_ktime_get_ns() (CLOCK_MONOTONIC) */
	__u32 prot;
	__u32 mflags;
	__u32 name_len; /* strlen(name) */
	__u32 flags;	/* SZ_WATCH_FROZEN, SZ_WATCH_GLOB_UNSURE */
	char comm[SZ_WATCH_COMM_LEN];
	__u32 path_len;	  /* bytes of path in use (see above) */
	__u32 path_flags; /* SZ_WATCH_PATH_* */
	/* the writing task's cgroup v2 id (kernfs id: its directory's inode),
	 * for the found record's "cgroup" without a /proc read per process */
	__u64 cgroup_id;
	/* name: dentry base name, name_len bytes + NUL; then path: components leaf
	 * first, NUL-terminated each, path_len bytes.  Only what is used is sent. */
	char data[SZ_WATCH_NAME_LEN + SZ_WATCH_PATH_LEN];
};

#define SZ_WATCH_HDR_LEN 112 /* offsetof(struct sz_watch_rec, data) */
#define SZ_WATCH_REC_MAX (SZ_WATCH_HDR_LEN + SZ_WATCH_NAME_LEN + SZ_WATCH_PATH_LEN)

/* Key of the BPF map of mappings already reported (dedupe in the kernel): one
 * process image (tgid, its leader's start time, its exec count) mapping one
 * file at one place the same way.  A new image, a reused pid or another place
 * is a new key. */
struct sz_map_key {
	__u32 tgid;
	__u32 exec_id;	  /* task->self_exec_id: +1 per exec */
	__u64 start_time; /* group leader's start_time (ns): pid reuse changes it */
	__u64 ino;
	__u32 dev;
	__u32 prot_flags; /* prot << 16 | (mflags & MAP_TYPE) */
	__u64 start;
	__u64 offset;
};

/* Key of the BPF map of files already probed (--freeze skips them). */
struct sz_file_key {
	__u32 dev; /* kernel encoding, as in the record */
	__u32 pad;
	__u64 ino;
};

_Static_assert(sizeof(struct sz_watch_rec) == 1392, "sz_watch_rec layout changed");
_Static_assert(__builtin_offsetof(struct sz_watch_rec, data) == SZ_WATCH_HDR_LEN,
	       "sz_watch_rec header changed");
/* prot_flags of a hint's key (sz_mmap_hint): no mmap's prot << 16 | type */
#define SZ_MAP_KEY_HINT 0xffffffffu

_Static_assert(sizeof(struct sz_map_key) == 48, "sz_map_key layout changed");

#endif /* SZ_WATCH_H */
