/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * The watch's initial scan in the kernel: an iter/task_vma program walks every
 * VMA of every process and writes a record (bpf/iter.h) only for the few that
 * can matter, the code and first page of files whose base name passes the
 * glob, so userspace reads matches instead of every /proc/PID/maps.
 *
 * Part of the watch's object (included at the end of watch.bpf.c): loaded and
 * verified with it, one BTF parse, and it uses the watch's `glob` (the base
 * name's pattern), `self_tgid`, seen_dentry() and pidns.h.
 * Userspace: src/sources/iter.c.
 */
#ifndef SZ_ITER_BPF_H
#define SZ_ITER_BPF_H

#include "iter.h"

#define SZ_IT_VM_EXEC 0x4
#define SZ_IT_VM_MAYSHARE 0x80
#define SZ_IT_CACHE 64 /* paths remembered per CPU, by (mount, dentry) */

/* Per run (userspace zeroes them before each): processes with an address
 * space visited, VMAs looked at.  Iteration goes task by task, VMA by VMA in
 * address order, so a file's consecutive VMAs share one glob verdict, and
 * what is read of the task is read once per task. */
__u64 sz_it_processes = 0;
__u64 sz_it_vmas = 0;
__u32 sz_it_tid = 0;	   /* the task being walked (its tid as the kernel numbers it) */
__u32 sz_it_skip = 0;	   /* its VMAs need no look: not a leader, ourselves, not in --cgroup */
__u32 sz_it_gen = 0;	   /* bumped by userspace per run: invalidates the per-CPU caches */
__u32 sz_it_have_task = 0; /* the task's fields below are filled (its first record) */
__u64 sz_it_ts = 0;
__u64 sz_it_file = 0;
int sz_it_match = 0;
/* The task's fields every record carries, read once per task (its first
 * record), not once per record.  Globals, not per-CPU: the reader may move to
 * another CPU between two VMAs. */
__u32 sz_it_ns_tgid = 0;
__u64 sz_it_cgroup_id = 0;
char sz_it_comm[SZ_ITER_COMM_LEN] = {};

struct sz_it_path {
	__u64 mnt, dentry, ino;
	__u32 gen, dev;
	__u32 len; /* d_path's: NUL included; 0 = d_path failed */
	__u32 pad;
	char path[SZ_ITER_PATH_LEN];
};

/* [perf] A glob verdict per (mount, dentry): every process opens and maps its
 * libraries itself (its own struct file each), but 10,000 processes map the
 * same few dozen files: the name read and the matcher run once per file and
 * CPU, not once per file and process.  The verdict is the seen name's
 * (seen_dentry: a function of the mount and the dentry alone). */
struct sz_it_verdict {
	__u64 mnt, dentry;
	__u32 gen;
	__u32 match;
};

#define SZ_IT_VERDICTS 1024

struct sz_it_name {
	char s[SZ_GLOB_MAX_NAME];
};

/* A record being built; the name being matched. */
struct sz_it_scratch {
	struct sz_iter_rec rec;
	struct sz_it_name name;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct sz_it_scratch);
} sz_it_scratch SEC(".maps");

/* The last paths of files that matched (most processes map the same few
 * libraries: one d_path per library and CPU). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, SZ_IT_CACHE);
	__type(key, __u32);
	__type(value, struct sz_it_path);
} sz_it_paths SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, SZ_IT_VERDICTS);
	__type(key, __u32);
	__type(value, struct sz_it_verdict);
} sz_it_verdicts SEC(".maps");

struct sz_it_glob {
	const char *s;
	int slen;
	int result;
	struct sz_glob_state st;
};

static long sz_it_glob_cb(__u32 i, void *data)
{
	const struct sz_glob *g = (const struct sz_glob *)&glob;
	struct sz_it_glob *c = data;
	int r;

	asm volatile("" : "+r"(g)); /* not folded to glob's all-zero initializer */
	r = sz_glob_step(g, c->s, c->slen, &c->st);
	if (r)
		c->result = r;
	return r != 0;
}

/* NAME (LEN bytes before its NUL) against the glob: the first filter, then
 * the matcher; out of budget counts as a match (userspace matches every
 * record again).  A global function: verified once on its own, not again
 * inside the iterator's every path (start-up is mostly verification). */
__noinline int sz_it_glob_ok(struct sz_it_name *name, int len)
{
	const struct sz_glob *g = (const struct sz_glob *)&glob;
	struct sz_it_glob c = {};

	if (!name || len < 0 || len >= SZ_GLOB_MAX_NAME)
		return 0;
	asm volatile("" : "+r"(g));
	if (!sz_glob_prefilter(g, name->s, len, SZ_GLOB_MAX_NAME - 1))
		return 0;
	c.s = name->s;
	c.slen = len;
	sz_glob_state_init(&c.st);
	bpf_loop(SZ_GLOB_BUDGET, sz_it_glob_cb, &c, 0);
	return c.result == 1 || !c.result;
}

static __always_inline int sz_it_name_matches(struct sz_it_name *name, struct dentry *d)
{
	long n =
		bpf_probe_read_kernel_str(name->s, SZ_GLOB_MAX_NAME, BPF_CORE_READ(d, d_name.name));

	return n > 0 && sz_it_glob_ok(name, (int)n - 1);
}

/* Where FILE's mount and dentry become numbers (the verifier allows no
 * arithmetic on pointers, and a map value holds what is stored as it is). */
__u64 sz_it_key[2] = {};

/* FILE's mount and dentry as numbers: two direct loads (made fault-safe by
 * the verifier), not a bpf_probe_read_kernel call, once per file and process
 * (~170,000 times for 10,000 sleeps). */
static __always_inline int sz_it_path_key(struct file *file, __u64 *mnt, __u64 *dentry)
{
	sz_it_key[0] = (__u64)file->f_path.mnt;
	sz_it_key[1] = (__u64)file->f_path.dentry;
	*mnt = *(volatile __u64 *)&sz_it_key[0];
	*dentry = *(volatile __u64 *)&sz_it_key[1];
	return 0;
}

/* FILE's glob verdict, from this CPU's cache when it was made during this
 * run for the same mount and dentry. */
static __always_inline int sz_it_verdict_of(struct file *file, struct sz_it_name *name)
{
	struct sz_it_verdict *v;
	__u64 mnt, dentry;
	__u32 slot;

	if (sz_it_path_key(file, &mnt, &dentry))
		return 0;
	slot = (__u32)((dentry >> 6) ^ (mnt >> 6)) % SZ_IT_VERDICTS;
	v = bpf_map_lookup_elem(&sz_it_verdicts, &slot);
	if (!v)
		return sz_it_name_matches(name, seen_dentry(file));
	if (v->gen == sz_it_gen && v->mnt == mnt && v->dentry == dentry)
		return v->match;
	v->match = sz_it_name_matches(name, seen_dentry(file));
	v->mnt = mnt;
	v->dentry = dentry;
	v->gen = sz_it_gen;
	return v->match;
}

/* FILE's path (d_path: from our root, " (deleted)" appended as in /proc's
 * maps), from the cache when this CPU made it for the same mount, dentry and
 * inode during this run. */
static __always_inline struct sz_it_path *sz_it_path_of(struct file *file, __u64 ino, __u32 dev)
{
	struct sz_it_path *e;
	__u64 mnt, dentry;
	__u32 slot;
	long n;

	if (sz_it_path_key(file, &mnt, &dentry))
		return NULL;
	slot = (__u32)((dentry >> 6) ^ (mnt >> 6)) % SZ_IT_CACHE;
	e = bpf_map_lookup_elem(&sz_it_paths, &slot);
	if (!e)
		return NULL;
	if (e->gen == sz_it_gen && e->mnt == mnt && e->dentry == dentry && e->ino == ino &&
	    e->dev == dev)
		return e;
	n = bpf_d_path((struct path *)&file->f_path, e->path, sizeof(e->path));
	e->len = n > 0 && n <= SZ_ITER_PATH_LEN ? (__u32)n : 0;
	e->mnt = mnt;
	e->dentry = dentry;
	e->ino = ino;
	e->dev = dev;
	e->gen = sz_it_gen;
	return e;
}

/* The task's fields every record carries, once per task: 0, or -1 when the
 * process is not visible from our PID namespace. */
static __always_inline int sz_it_task_fields(struct task_struct *task)
{
	struct kernfs_node *kn;

	if (sz_it_have_task)
		return 0;
	sz_it_ns_tgid = sz_ns_tgid(task);
	if (!sz_it_ns_tgid) {
		sz_pidns_invisible++; /* per record not made, as the hooks count */
		return -1;
	}
	kn = task->cgroups->dfl_cgrp->kn;
	sz_it_cgroup_id = kn ? kn->id : 0;
	bpf_probe_read_kernel_str(sz_it_comm, sizeof(sz_it_comm), task->comm);
	sz_it_have_task = 1;
	return 0;
}

/* iter/task_vma, under a section of ours: its attach target comes from our
 * pass over the kernel's BTF, not libbpf's (src/util/kbtf_load.c) */
SEC("sz_iter/task_vma")
int sz_scan_vmas(struct bpf_iter__task_vma *ctx)
{
	struct vm_area_struct *vma = ctx->vma;
	struct task_struct *task = ctx->task;
	struct sz_it_scratch *s;
	struct sz_iter_rec *r;
	struct sz_it_path *pe;
	struct file *file;
	struct inode *inode;
	__u32 zero = 0, n;
	__u64 flags;

	if (!vma || !task)
		return 0;
	/* A task's first VMA: what is decided of the task, decided once.  The
	 * leader speaks for the thread group, as /proc/PID/maps does. */
	if ((__u32)task->pid != sz_it_tid) {
		sz_it_tid = (__u32)task->pid;
		sz_it_skip = task->pid != task->tgid || task->tgid == self_tgid || !sz_cg_ok(task);
		if (sz_it_skip)
			return 0;
		sz_it_ts = bpf_ktime_get_ns();
		sz_it_file = 0;
		sz_it_have_task = 0;
		sz_it_processes++;
	}
	if (sz_it_skip)
		return 0;
	sz_it_vmas++;
	/* What the VMA itself says first: most are decided without the file. */
	flags = vma->vm_flags;
	if (flags & SZ_IT_VM_MAYSHARE)
		return 0;
	if (!(flags & SZ_IT_VM_EXEC) && vma->vm_pgoff)
		return 0;
	file = vma->vm_file;
	if (!file)
		return 0;
	s = bpf_map_lookup_elem(&sz_it_scratch, &zero);
	if (!s)
		return 0;
	r = &s->rec;
	/* One verdict per open file: a load's VMAs share it.  The name is the one
	 * the process sees (a bind-mounted file's mountpoint: watch.bpf.c). */
	if ((__u64)file != sz_it_file) {
		sz_it_file = (__u64)file;
		sz_it_match = sz_it_verdict_of(file, &s->name);
	}
	if (!sz_it_match)
		return 0;
	if (sz_it_task_fields(task))
		return 0;
	inode = file->f_inode;
	r->tgid = sz_it_ns_tgid;
	r->start = vma->vm_start;
	r->end = vma->vm_end;
	r->pgoff = vma->vm_pgoff * 4096;
	r->vm_flags = flags;
	r->ino = inode->i_ino;
	r->dev = inode->i_sb->s_dev;
	r->ts_ns = sz_it_ts;
	r->cgroup_id = sz_it_cgroup_id;
	r->flags = 0;
	__builtin_memcpy(r->comm, sz_it_comm, sizeof(r->comm));
	pe = sz_it_path_of(file, r->ino, r->dev);
	if (!pe)
		return 0;
	n = pe->len;
	if (n > 0 && n < SZ_ITER_PATH_LEN) {
		/* the mask shows the verifier the bound just checked */
		asm volatile("" : "+r"(n));
		n &= SZ_ITER_PATH_LEN - 1;
		if (bpf_probe_read_kernel(r->path, n, pe->path))
			return 0;
	} else {
		/* d_path failed (too long): the base name, flagged */
		r->flags = SZ_ITER_PATH_FAILED;
		n = (__u32)bpf_probe_read_kernel_str(r->path, SZ_GLOB_MAX_NAME,
						     BPF_CORE_READ(seen_dentry(file), d_name.name));
		if (n == 0 || n > SZ_GLOB_MAX_NAME)
			return 0;
	}
	asm volatile("" : "+r"(n));
	n &= SZ_ITER_PATH_LEN - 1;
	if (!n)
		return 0;
	r->path_len = (__u16)(n - 1);
	r->len = SZ_ITER_HDR_LEN + n;
	bpf_seq_write(ctx->meta->seq, r, SZ_ITER_HDR_LEN + n);
	return 0;
}

#endif
