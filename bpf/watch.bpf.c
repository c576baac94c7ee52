// SPDX-License-Identifier: BSD-2-Clause
/*
 * BPF side of `symbolyze watch`: report executables, their ELF interpreter and
 * file mmap()s whose dentry base name matches the compiled glob (bpf/glob.h),
 * plus the exit of every process that produced such a record.
 *
 * Hooks (all BTF-typed tracepoints: no kprobe/fentry, no tracefs needed):
 *   tp_btf/sched_process_exec  -> SZ_WATCH_EXEC, SZ_WATCH_EXEC_INTERP
 *   tp_btf/sys_enter, sys_exit -> SZ_WATCH_MMAP (x86-64 __NR_mmap == 9)
 *   tp_btf/sched_process_exit  -> SZ_WATCH_EXIT
 * Every pointer is read with CO-RE (BPF_CORE_READ / bpf_probe_read_kernel), so
 * the sys_enter/sys_exit programs also verify as SEC("raw_tp/...").
 * Files that match also get their path (dentry + mount walk, see watch.h).
 *
 * Set before load (rodata): glob (compiled pattern), targ_tgid (0 = all), self_tgid,
 * root_mntns (inode number of the watcher's mount namespace, 0 = no check),
 * sz_pidns_ino (bpf/pidns.h: every pid here is as the watcher's PID namespace
 * numbers it; processes it cannot see are neither reported nor stopped).
 * Read by userspace: rb (ring buffer of struct sz_watch_rec), drops (.bss).
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>

#include "glob.h"
#include "watch.h"
#include "freeze.h"
#include "freeze.bpf.h"
#include "pidns.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#define SZ_NR_MMAP 9 /* x86-64 */
#define SZ_MAP_ANONYMOUS 0x20
#define SZ_AT_BASE 7
#define SZ_AUXV_MAX_PAIRS 64 /* bound for the verifier; the real size comes from BTF */
#define SZ_PAGE_SIZE 4096ULL
#define SZ_TS_COMPAT 0x0002 /* x86 thread_info.status: 32-bit syscall active */
#define SZ_NAME_MAX 255
/* path walk: every step consumes a component or hops one mount */
#define SZ_PATH_MAX_STEPS (2 * SZ_WATCH_PATH_MAX_COMPONENTS)

const volatile struct sz_glob glob = {};
const volatile __u32 targ_tgid = 0;
/* the watcher itself: its own mmaps of files it parses are not news */
const volatile __u32 self_tgid = 0;
const volatile __u32 root_mntns = 0;

__u64 drops = 0; /* ring buffer reservation failures */

/* --freeze: stop a process when it maps a matching file, until userspace has
 * attached its probes and sends SIGCONT; under a lease, see bpf/freeze.bpf.h. */
const volatile __u32 freeze = 0;
#define SZ_PROT_EXEC 4

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 20);
} rb SEC(".maps");

struct mmap_args {
	__u64 len;
	__u64 off;
	__s32 fd;
	__u32 prot;
	__u32 flags;
	__u32 pad;
};

/* sys_enter(mmap) -> sys_exit, keyed by pid_tgid */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 8192);
	__type(key, __u64);
	__type(value, struct mmap_args);
} mmap_args SEC(".maps");

/* tgids that produced a record, so their exit gets reported */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, __u32);
	__type(value, __u8);
} seen SEC(".maps");

/* --freeze: files whose probes userspace has attached.  The kernel puts a
 * registered uprobe into every later mapping of the inode by itself, so a
 * process mapping such a file need not be stopped. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, struct sz_file_key);
	__type(value, __u8);
} probed SEC(".maps");

/*
 * Record under construction (too big for the 512-byte stack).  The slack after
 * it lets the path walk write a component of up to NAME_MAX + 1 bytes at any
 * offset the verifier can only bound by [0, SZ_WATCH_PATH_LEN); at run time
 * nothing is written past rec.path (the length is checked first).
 */
struct scratch_val {
	struct sz_watch_rec rec;
	char slack[SZ_NAME_MAX + 1];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct scratch_val);
} scratch SEC(".maps");

static __always_inline struct sz_watch_rec *scratch_rec(void)
{
	struct scratch_val *v;
	__u32 zero = 0;

	v = bpf_map_lookup_elem(&scratch, &zero);
	return v ? &v->rec : NULL;
}

/*
 * Zero everything but path[] (filled, and zeroed first, only for files that
 * match: fill_path / zero_path).  BPF clang inlines a memset of at most 128
 * stores, so path[] is zeroed in two halves.
 */
static __always_inline void zero_rec(struct sz_watch_rec *r)
{
	/* path[] is the last member; offsetof() would be a CO-RE relocation */
	__builtin_memset(r, 0, sizeof(*r) - SZ_WATCH_PATH_LEN);
}

static __always_inline void zero_path(struct sz_watch_rec *r)
{
	__u64 *p = (__u64 *)r->path; /* offset 360: 8-aligned, so 8-byte stores */

	/* the barriers keep LLVM from merging the memsets back into one */
	asm volatile("" ::: "memory");
	__builtin_memset(p, 0, SZ_WATCH_PATH_LEN / 2);
	asm volatile("" ::: "memory");
	__builtin_memset(p + SZ_WATCH_PATH_LEN / 16, 0, SZ_WATCH_PATH_LEN / 2);
}

/* x86-64 task doing an int 0x80 / sysenter (ia32) syscall: numbers differ */
static __always_inline bool in_compat_syscall(void)
{
	struct task_struct *task = bpf_get_current_task_btf();

	return BPF_CORE_READ(task, thread_info.status) & SZ_TS_COMPAT;
}

/* ---- glob matching: sz_glob_step driven by bpf_loop ---- */

struct glob_ctx {
	const char *s; /* rec->name: a map value of >= SZ_GLOB_MAX_NAME bytes */
	int slen;
	int result;
	struct sz_glob_state st;
};

static long glob_cb(__u32 i, void *data)
{
	struct glob_ctx *c = data;
	/* Hide the const volatile object from the optimizer: reading it through a
	 * plain pointer must not be folded to the all-zero initializer. */
	const struct sz_glob *g = (const struct sz_glob *)&glob;
	int r;

	asm volatile("" : "+r"(g));
	r = sz_glob_step(g, c->s, c->slen, &c->st);
	if (r) {
		c->result = r;
		return 1;
	}
	return 0;
}

static __always_inline bool name_matches(struct sz_watch_rec *r)
{
	struct glob_ctx c = {};

	if (r->name_len >= SZ_GLOB_MAX_NAME)
		return false;
	c.s = r->name;
	c.slen = r->name_len;
	sz_glob_state_init(&c.st);
	bpf_loop(SZ_GLOB_MAX_STEPS, glob_cb, &c, 0);
	return c.result == 1;
}

/* ---- path walk: dentry -> d_parent, mount root -> mountpoint, bpf_loop ---- */

struct path_ctx {
	struct sz_watch_rec *r; /* map value (scratch) */
	struct dentry *dentry;
	struct mount *mnt;
	__u32 off; /* == r->path_len */
	__u32 ncomp;
	__u32 flags;
	int done;
};

static long path_cb(__u32 i, void *data)
{
	struct path_ctx *c = data;
	struct dentry *d = c->dentry, *parent;
	struct mount *m = c->mnt, *mparent;
	const unsigned char *name;
	__u32 len, off;
	long n;

	if (d == BPF_CORE_READ(m, mnt.mnt_root)) {
		/* at the root of this mount: continue at its mountpoint */
		mparent = BPF_CORE_READ(m, mnt_parent);
		if (!mparent)
			goto bad;
		if (mparent == m) {
			struct mnt_namespace *ns = BPF_CORE_READ(m, mnt_ns);
			unsigned int inum = 0;

			/* NULL: detached (lazy umount); MNT_NS_INTERNAL, ERR_PTR(-EINVAL):
			 * kern_mount (pipe, shm); else compare the namespace's inode */
			if (root_mntns &&
			    ((unsigned long)ns < 4096 || (unsigned long)ns >= -4095UL ||
			     bpf_core_read(&inum, sizeof(inum), &ns->ns.inum) ||
			     inum != root_mntns))
				c->flags |= SZ_WATCH_PATH_FOREIGN;
			c->done = 1;
			return 1;
		}
		c->dentry = BPF_CORE_READ(m, mnt_mountpoint);
		c->mnt = mparent;
		if (!c->dentry)
			goto bad;
		return 0;
	}
	parent = BPF_CORE_READ(d, d_parent);
	if (!parent || parent == d) /* a root that is no mount root: pseudo / disconnected */
		goto bad;
	if (c->ncomp >= SZ_WATCH_PATH_MAX_COMPONENTS)
		goto bad;
	len = BPF_CORE_READ(d, d_name.len);
	name = BPF_CORE_READ(d, d_name.name);
	off = c->off;
	if (len == 0 || len > SZ_NAME_MAX || off + len + 1 > SZ_WATCH_PATH_LEN)
		goto bad;
	/* off < SZ_WATCH_PATH_LEN, len + 1 <= NAME_MAX + 1: within rec.path + slack */
	n = bpf_probe_read_kernel_str(&c->r->path[off & (SZ_WATCH_PATH_LEN - 1)], len + 1, name);
	if (n != len + 1) /* fault, or renamed under us */
		goto bad;
	c->off = off + len + 1;
	c->ncomp++;
	c->dentry = parent;
	return 0;
bad:
	c->flags |= SZ_WATCH_PATH_TRUNCATED;
	return 1;
}

/* r->path, path_len, path_flags from FILE's f_path. */
static __always_inline void fill_path(struct sz_watch_rec *r, struct file *file)
{
	struct path_ctx c = {};
	struct vfsmount *vmnt;
	struct dentry *d;

	zero_path(r);
	d = BPF_CORE_READ(file, f_path.dentry);
	vmnt = BPF_CORE_READ(file, f_path.mnt);
	if (!d || !vmnt) {
		r->path_flags = SZ_WATCH_PATH_TRUNCATED;
		return;
	}
	/* d_unhashed() and not IS_ROOT(): unlinked */
	if (!BPF_CORE_READ(d, d_hash.pprev) && BPF_CORE_READ(d, d_parent) != d)
		c.flags |= SZ_WATCH_PATH_DELETED;
	c.r = r;
	c.dentry = d;
	c.mnt = (struct mount *)((void *)vmnt - bpf_core_field_offset(struct mount, mnt));
	bpf_loop(SZ_PATH_MAX_STEPS, path_cb, &c, 0);
	if (!c.done)
		c.flags |= SZ_WATCH_PATH_TRUNCATED;
	r->path_len = c.off;
	r->path_flags = c.flags;
}

/* ---- helpers ---- */

/* dev, ino, name of FILE into R.  Returns 0 on success. */
static __always_inline int fill_file(struct sz_watch_rec *r, struct file *file)
{
	struct inode *inode;
	const unsigned char *name;
	long n;

	if (!file)
		return -1;
	inode = BPF_CORE_READ(file, f_inode);
	if (!inode)
		return -1;
	r->ino = BPF_CORE_READ(inode, i_ino);
	r->dev = BPF_CORE_READ(inode, i_sb, s_dev);
	name = BPF_CORE_READ(file, f_path.dentry, d_name.name);
	n = bpf_probe_read_kernel_str(r->name, sizeof(r->name), name);
	if (n <= 0)
		return -1;
	r->name_len = n - 1;
	return 0;
}

static __always_inline void fill_task(struct sz_watch_rec *r, __u32 type, __u32 tgid, __u32 tid)
{
	r->type = type;
	r->tgid = tgid;
	r->tid = tid;
	r->ts_ns = bpf_ktime_get_ns();
	bpf_get_current_comm(r->comm, sizeof(r->comm));
}

static __always_inline void emit(struct sz_watch_rec *r)
{
	__u8 one = 1;
	__u64 prev = 0;
	struct sz_file_key fk = { r->dev, 0, r->ino };
	/* A forked child inherits its parent's uprobes: nothing to wait for.
	 * Before a mapping with PROT_EXEC no code of the file can run: one stop
	 * per load, at the mapping userspace attaches on. */
	int stop = freeze && r->type != SZ_WATCH_EXIT && r->type != SZ_WATCH_FORK &&
		   r->type != SZ_WATCH_EXEC_OTHER &&
		   (r->type != SZ_WATCH_MMAP || (r->prot & SZ_PROT_EXEC)) &&
		   !bpf_map_lookup_elem(&probed, &fk);

	if (!r->tgid) { /* no pid in our namespace: not ours to report or stop */
		__sync_fetch_and_add(&sz_pidns_invisible, 1);
		return;
	}
	/* Stop first, then publish: were the record visible first, userspace
	 * could send its SIGCONT before our SIGSTOP and leave the process
	 * stopped for good. */
	stop = stop && sz_freeze_stop(r, &prev);
	if (stop)
		r->flags |= SZ_WATCH_FROZEN;
	if (bpf_ringbuf_output(&rb, r, sizeof(*r), 0)) {
		/* Never leave stopped a process whose record userspace will not see. */
		__sync_fetch_and_add(&drops, 1);
		if (stop)
			sz_freeze_undo(r, prev, 1);
	}
	bpf_map_update_elem(&seen, &r->tgid, &one, BPF_ANY);
}

struct vma_ctx {
	__u64 start, end, pgoff, flags;
	__u64 file; /* struct file * */
	int found;
};

static long vma_cb(struct task_struct *task, struct vm_area_struct *vma, void *data)
{
	struct vma_ctx *v = data;

	v->start = BPF_CORE_READ(vma, vm_start);
	v->end = BPF_CORE_READ(vma, vm_end);
	v->pgoff = BPF_CORE_READ(vma, vm_pgoff);
	v->flags = BPF_CORE_READ(vma, vm_flags);
	v->file = (__u64)BPF_CORE_READ(vma, vm_file);
	v->found = 1;
	return 0;
}

static __always_inline void fill_vma(struct sz_watch_rec *r, struct vma_ctx *v)
{
	r->start = v->start;
	r->end = v->end;
	r->offset = v->pgoff * SZ_PAGE_SIZE;
	r->vm_flags = v->flags;
}

/* ---- exec ---- */

SEC("tp_btf/sched_process_exec")
int BPF_PROG(sz_exec, struct task_struct *p, pid_t old_pid, struct linux_binprm *bprm)
{
	struct task_struct *task = bpf_get_current_task_btf(); /* == p */
	struct sz_watch_rec *r;
	struct vma_ctx v = {};
	struct mm_struct *mm;
	__u32 tgid = sz_ns_tgid(p), tid = sz_ns_pid(p); /* 0: invisible, see emit() */
	__u64 at_base = 0;
	/* saved_auxv's length varies by kernel and arch (AT_VECTOR_SIZE) */
	int i, auxv_pairs = bpf_core_field_size(mm->saved_auxv) / 16, sent = 0;

	if (targ_tgid && tgid != targ_tgid)
		return 0;
	r = scratch_rec();
	if (!r)
		return 0;
	mm = BPF_CORE_READ(p, mm);

	/* the executable: identity from bprm->file, place from the text VMA */
	zero_rec(r);
	if (!fill_file(r, BPF_CORE_READ(bprm, file)) && name_matches(r)) {
		fill_task(r, SZ_WATCH_EXEC, tgid, tid);
		fill_path(r, BPF_CORE_READ(bprm, file));
		if (bpf_find_vma(task, BPF_CORE_READ(mm, start_code), vma_cb, &v, 0) == 0)
			fill_vma(r, &v);
		emit(r);
		sent = 1;
	}

	/* the interpreter: the VMA at AT_BASE of mm->saved_auxv */
	for (i = 0; i < SZ_AUXV_MAX_PAIRS && i < auxv_pairs; i++) {
		__u64 pair[2];

		if (bpf_probe_read_kernel(pair, sizeof(pair), &mm->saved_auxv[2 * i]))
			break;
		if (pair[0] == 0) /* AT_NULL */
			break;
		if (pair[0] == SZ_AT_BASE) {
			at_base = pair[1];
			break;
		}
	}
	if (!at_base)
		goto out;
	__builtin_memset(&v, 0, sizeof(v));
	if (bpf_find_vma(task, at_base, vma_cb, &v, 0) || !v.file)
		goto out;
	zero_rec(r);
	if (fill_file(r, (struct file *)v.file) || !name_matches(r))
		goto out;
	fill_task(r, SZ_WATCH_EXEC_INTERP, tgid, tid);
	fill_path(r, (struct file *)v.file);
	fill_vma(r, &v);
	emit(r);
	sent = 1;
out:
	/* A process we know of became something that matches nothing: its old
	 * loads are gone, and a pending fork is settled by this exec. */
	if (!sent && bpf_map_lookup_elem(&seen, &tgid)) {
		zero_rec(r);
		zero_path(r);
		fill_task(r, SZ_WATCH_EXEC_OTHER, tgid, tid);
		emit(r);
	}
	return 0;
}

/* ---- mmap ---- */

SEC("tp_btf/sys_enter")
int BPF_PROG(sz_sys_enter, struct pt_regs *regs, long id)
{
	struct mmap_args a = {};
	__u64 pid_tgid;
	__u32 tgid;

	if (id != SZ_NR_MMAP || in_compat_syscall())
		return 0;
	pid_tgid = bpf_get_current_pid_tgid(); /* the key: the kernel's ids */
	tgid = sz_ns_cur_tgid();	       /* the filters: ours */
	if ((targ_tgid && tgid != targ_tgid) || tgid == self_tgid)
		return 0;
	a.flags = BPF_CORE_READ(regs, r10);
	a.fd = BPF_CORE_READ(regs, r8);
	if ((a.flags & SZ_MAP_ANONYMOUS) || a.fd < 0)
		return 0;
	a.len = BPF_CORE_READ(regs, si);
	a.prot = BPF_CORE_READ(regs, dx);
	a.off = BPF_CORE_READ(regs, r9);
	bpf_map_update_elem(&mmap_args, &pid_tgid, &a, BPF_ANY);
	return 0;
}

SEC("tp_btf/sys_exit")
int BPF_PROG(sz_sys_exit, struct pt_regs *regs, long ret)
{
	struct task_struct *task;
	struct sz_watch_rec *r;
	struct mmap_args *ap, a;
	struct vma_ctx v = {};
	struct file **fdarr, *file = NULL;
	struct fdtable *fdt;
	__u64 pid_tgid;

	if (BPF_CORE_READ(regs, orig_ax) != SZ_NR_MMAP || in_compat_syscall())
		return 0;
	pid_tgid = bpf_get_current_pid_tgid();
	ap = bpf_map_lookup_elem(&mmap_args, &pid_tgid);
	if (!ap)
		return 0;
	a = *ap;
	bpf_map_delete_elem(&mmap_args, &pid_tgid);
	if ((unsigned long)ret >= (unsigned long)-4095) /* -errno */
		return 0;

	task = bpf_get_current_task_btf();
	fdt = BPF_CORE_READ(task, files, fdt);
	if (!fdt || (__u32)a.fd >= BPF_CORE_READ(fdt, max_fds))
		return 0;
	fdarr = BPF_CORE_READ(fdt, fd);
	if (bpf_probe_read_kernel(&file, sizeof(file), &fdarr[a.fd]) || !file)
		return 0;

	r = scratch_rec();
	if (!r)
		return 0;
	zero_rec(r);
	if (fill_file(r, file) || !name_matches(r))
		return 0;
	fill_task(r, SZ_WATCH_MMAP, sz_ns_tgid(task), sz_ns_pid(task));
	fill_path(r, file);
	r->start = ret;
	r->end = ret + ((a.len + SZ_PAGE_SIZE - 1) & ~(SZ_PAGE_SIZE - 1));
	r->offset = a.off;
	r->prot = a.prot;
	r->mflags = a.flags;
	if (bpf_find_vma(task, ret, vma_cb, &v, 0) == 0)
		r->vm_flags = v.flags;
	emit(r);
	return 0;
}

/* ---- exit ---- */

/* A process known to map a matching file forks: the child maps it too, without
 * any mmap or exec of its own (pre-fork servers, workers after a reload). */
SEC("tp_btf/sched_process_fork")
int BPF_PROG(sz_fork, struct task_struct *parent, struct task_struct *child)
{
	struct sz_watch_rec *r;
	__u32 ptgid, tgid;

	/* Threads share their process's mappings: only new processes count. */
	if (targ_tgid || BPF_CORE_READ(child, tgid) != BPF_CORE_READ(child, pid))
		return 0;
	ptgid = sz_ns_tgid(parent);
	tgid = sz_ns_tgid(child);
	if (!ptgid || !bpf_map_lookup_elem(&seen, &ptgid))
		return 0;
	r = scratch_rec();
	if (!r)
		return 0;
	zero_rec(r);
	zero_path(r);
	fill_task(r, SZ_WATCH_FORK, tgid, tgid);
	r->start = ptgid;
	emit(r);
	return 0;
}

/* Fires per thread; report once the whole thread group is dead
 * (signal->live hit 0 before this tracepoint; on >= 6.16 that is the
 * tracepoint's group_dead argument, read portably here). */
SEC("tp_btf/sched_process_exit")
int BPF_PROG(sz_exit, struct task_struct *p)
{
	struct sz_watch_rec *r;
	__u32 tgid;

	if (BPF_CORE_READ(p, signal, live.counter) != 0)
		return 0;
	tgid = sz_ns_tgid(p);
	if (!tgid)
		return 0;
	if (freeze)
		sz_freeze_forget(tgid);
	if (targ_tgid ? tgid != targ_tgid : !bpf_map_lookup_elem(&seen, &tgid))
		return 0;
	bpf_map_delete_elem(&seen, &tgid);
	r = scratch_rec();
	if (!r)
		return 0;
	zero_rec(r);
	zero_path(r);
	fill_task(r, SZ_WATCH_EXIT, tgid, sz_ns_pid(p));
	if (bpf_ringbuf_output(&rb, r, sizeof(*r), 0))
		__sync_fetch_and_add(&drops, 1);
	return 0;
}
