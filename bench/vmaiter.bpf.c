// SPDX-License-Identifier: BSD-2-Clause
/*
 * Prototype of a kernel-side initial scan (issue 10, "ready fast at scale"):
 * an iter/task_vma program walks every file VMA of every process and writes
 * one line-sized record per VMA whose file's base name passes the glob, so
 * userspace reads only matches instead of every /proc/PID/maps.
 * empty_vma and empty_task do nothing: the kernel's walk alone, per VMA and
 * per task, the floors the watch's iterator (bpf/iter.bpf.h) is measured by.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>

#include "glob.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

const volatile struct sz_glob glob = {};

struct vma_rec {
	__u32 tgid;
	__u32 dev;
	__u64 ino;
	__u64 start, end, pgoff, flags;
};

__u64 vmas = 0;	   /* file VMAs looked at */
__u64 matched = 0; /* records written */

struct name_buf {
	char s[SZ_GLOB_MAX_NAME];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct name_buf);
} names SEC(".maps");

struct glob_ctx {
	const char *s;
	int slen;
	int result;
	struct sz_glob_state st;
};

static long glob_cb(__u32 i, void *data)
{
	struct glob_ctx *c = data;
	const struct sz_glob *g = (const struct sz_glob *)&glob;
	int r;

	asm volatile("" : "+r"(g));
	r = sz_glob_step(g, c->s, c->slen, &c->st);
	if (r)
		c->result = r;
	return r != 0;
}

SEC("iter/task_vma")
int scan_vmas(struct bpf_iter__task_vma *ctx)
{
	struct vm_area_struct *vma = ctx->vma;
	struct task_struct *task = ctx->task;
	const struct sz_glob *g = (const struct sz_glob *)&glob;
	struct glob_ctx c = {};
	struct name_buf *nb;
	struct vma_rec rec;
	struct file *file;
	__u32 zero = 0;
	long n;

	if (!vma || !task)
		return 0;
	file = vma->vm_file;
	if (!file)
		return 0;
	vmas++;
	nb = bpf_map_lookup_elem(&names, &zero);
	if (!nb)
		return 0;
	n = bpf_probe_read_kernel_str(nb->s, sizeof(nb->s),
				      BPF_CORE_READ(file, f_path.dentry, d_name.name));
	if (n <= 0)
		return 0;
	asm volatile("" : "+r"(g));
	if (!sz_glob_prefilter(g, nb->s, n - 1, SZ_GLOB_MAX_NAME - 1))
		return 0;
	c.s = nb->s;
	c.slen = n - 1;
	sz_glob_state_init(&c.st);
	bpf_loop(SZ_GLOB_BUDGET, glob_cb, &c, 0);
	if (c.result < 0)
		return 0;
	rec.tgid = task->tgid;
	rec.dev = BPF_CORE_READ(file, f_inode, i_sb, s_dev);
	rec.ino = BPF_CORE_READ(file, f_inode, i_ino);
	rec.start = vma->vm_start;
	rec.end = vma->vm_end;
	rec.pgoff = vma->vm_pgoff;
	rec.flags = vma->vm_flags;
	matched++;
	bpf_seq_write(ctx->meta->seq, &rec, sizeof(rec));
	return 0;
}

/* The floor of any iter/task_vma scan: the kernel's walk of every VMA of
 * every process, one call each, nothing read, nothing written. */
SEC("iter/task_vma")
int empty_vma(struct bpf_iter__task_vma *ctx)
{
	return 0;
}

/* The walk plus what any filter reads first of each VMA (its flags and
 * file, the file's inode): the floor of a filter that looks at all VMAs. */
__u64 touched = 0;

SEC("iter/task_vma")
int touch_vma(struct bpf_iter__task_vma *ctx)
{
	struct vm_area_struct *vma = ctx->vma;
	struct file *file;

	if (!vma)
		return 0;
	touched++;
	file = vma->vm_file;
	if (file && (vma->vm_flags & 0x4))
		touched += BPF_CORE_READ(file, f_inode, i_ino) & 0;
	return 0;
}

/* The same walk from iter/task, one call per task, by the open-coded VMA
 * iterator (kfuncs, 6.7+): a program that picks the tasks it walks, here the
 * leaders whose tgid % parts == part, so that PARTS iterators (each a load of
 * its own) can walk disjoint halves of the host on PARTS CPUs at once. */
extern int bpf_iter_task_vma_new(struct bpf_iter_task_vma *it, struct task_struct *task,
				 __u64 addr) __weak __ksym;
extern struct vm_area_struct *bpf_iter_task_vma_next(struct bpf_iter_task_vma *it) __weak __ksym;
extern void bpf_iter_task_vma_destroy(struct bpf_iter_task_vma *it) __weak __ksym;

__u64 shared = 0;
__u32 part = 0;
__u32 parts = 1;

SEC("iter/task")
int split_vma(struct bpf_iter__task *ctx)
{
	struct task_struct *task = ctx->task;
	struct bpf_iter_task_vma it;
	struct vm_area_struct *vma;

	if (!task || task->pid != task->tgid || !parts || (__u32)task->tgid % parts != part)
		return 0;
	bpf_iter_task_vma_new(&it, task, 0);
	while ((vma = bpf_iter_task_vma_next(&it))) {
		touched++;
		if (vma->vm_flags & 0x80) /* the first touch, as any filter's */
			shared++;
	}
	bpf_iter_task_vma_destroy(&it);
	return 0;
}

/* One call per task instead of per VMA: what the per-VMA walk adds. */
SEC("iter/task")
int empty_task(struct bpf_iter__task *ctx)
{
	return 0;
}
