// SPDX-License-Identifier: BSD-2-Clause
/*
 * BPF side of `symbolyze watch`: report executables, their ELF interpreter and
 * file mmap()s whose dentry base name matches the compiled glob (bpf/glob.h),
 * plus the exit of every process that produced such a record.
 *
 * Hooks:
 *   raw_tp/sched_process_exec      -> SZ_WATCH_EXEC, SZ_WATCH_EXEC_INTERP
 *   tp/syscalls/sys_exit_mmap      -> SZ_WATCH_MMAP
 *   raw_tp/sched_process_fork/exit -> SZ_WATCH_FORK, SZ_WATCH_EXIT
 *   raw_tp/mmap_lock_released      -> SZ_WATCH_HINT (--mmap-hook perf, instead
 *                                     of sys_exit_mmap: see sz_mmap_hint)
 * raw_tp, not tp_btf: a tp_btf program makes libbpf 1.1 parse the kernel's
 * whole BTF to find its target (~10 ms of start-up, 2 x 5.5 MB of memory);
 * the arguments are read with BPF_CORE_READ either way (util/kbtf.h).
 * mmap is hooked at the per-syscall tracepoint, not at tp_btf/sys_enter and
 * sys_exit, which run a program on every system call of every process: a
 * getppid loop ran 1.9x slower under those, 1.3x under this one (bench/NOTES.md;
 * the remaining tax is the kernel's slow syscall path, taken by every task while
 * any syscall tracepoint is on).  Only the exit is hooked: the arguments are
 * still in the task's pt_regs there, and the file is the new VMA's vm_file,
 * so no fd table is read (an fd closed or reused by another thread in between
 * cannot lie to us) and no map carries state from entry to exit.
 * Files that match also get their path (dentry + mount walk, see watch.h).
 *
 * Cost on the matching path: a first filter (bpf/glob.h) rejects most names in a
 * few comparisons; the step matcher gives up after SZ_GLOB_BUDGET steps and
 * lets userspace decide; a mapping already reported for the same process image,
 * place and file is not reported again (map `reported`).
 *
 * Set before load (rodata): glob (compiled pattern for base names), glob_path
 * and path_glob (the whole pattern, when it holds '/'), targ_tgid (0 = all),
 * self_tgid, root_mntns (inode number of the watcher's mount namespace, 0 = no
 * check).  Read by userspace: rb (ring buffer of variable-length struct
 * sz_watch_rec), and counters in .bss: drops, glob_unsure, deduped.
 * sz_pidns_ino (bpf/pidns.h): every pid here is as the watcher's PID namespace
 * numbers it; processes it cannot see are neither reported nor stopped.
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
#include "cgroup.h" /* issue 13: --cgroup */

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#define SZ_MAP_ANONYMOUS 0x20
#define SZ_MAP_TYPE 0x0f
#define SZ_MAP_SHARED 0x01
#define SZ_MAP_SHARED_VALIDATE 0x03
#define SZ_AT_BASE 7
#define SZ_AUXV_MAX_PAIRS 64 /* bound for the verifier; the real size comes from BTF */
#define SZ_PAGE_SIZE 4096ULL
#define SZ_ENOENT 2 /* [safety] errno values: no uapi headers here */
#define SZ_E2BIG 7
#define SZ_NAME_MAX 255
/* path walk: every step consumes a component or hops one mount */
#define SZ_PATH_MAX_STEPS (2 * SZ_WATCH_PATH_MAX_COMPONENTS)

const volatile struct sz_glob glob = {};
/* path patterns: glob holds the last component's pattern (cheap, checked
 * first), glob_path the whole pattern, matched on the whole path */
const volatile struct sz_glob glob_path = {};
const volatile __u32 path_glob = 0;
const volatile __u32 targ_tgid = 0;
/* the watcher itself: its own mmaps of files it parses are not news */
const volatile __u32 self_tgid = 0;
const volatile __u32 root_mntns = 0;

__u64 drops = 0;       /* ring buffer reservation failures */
__u64 glob_unsure = 0; /* records sent with SZ_WATCH_GLOB_UNSURE */
__u64 deduped = 0;     /* mmaps not reported: same image, file, place (map reported) */
__u64 dedupe_full = 0; /* a reported mapping the map could not remember (reported again later) */
/* [safety] losses, each with its reason (userspace reports them as lost):
 * drops_loads: of drops, records that each stood for a load (see is_load);
 * seen_full: loads whose process `seen` could not take (its forks go unreported);
 * vma_busy: mmaps not examined, the VMA lookup refused (mmap lock contended) */
__u64 drops_loads = 0;
__u64 seen_full = 0;
__u64 vma_busy = 0;

/* --freeze: stop a process when it maps a matching file, until userspace has
 * attached its probes and sends SIGCONT; under a lease, see bpf/freeze.bpf.h. */
const volatile __u32 freeze = 0;
#define SZ_PROT_EXEC 4

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 20);
} rb SEC(".maps");

/* Mappings already reported (struct sz_map_key).  An LRU: an entry it evicts
 * costs one record more (userspace counts it as a duplicate), never one less,
 * because an entry is only added once its record is in the ring. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, struct sz_map_key);
	__type(value, __u8);
} reported SEC(".maps");

/* tgids that produced a record, so their exit (and forks) get reported.  A
 * hash, not an LRU: an entry leaves only at its process's exit, and a full map
 * is counted (seen_full), never an entry evicted silently. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
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
 * offset the verifier can only bound by [0, SZ_DATA_MASK]; at run time nothing
 * is written past rec.data (the length is checked first).  fwd: the whole path
 * in reading order, built for path patterns only.
 */
#define SZ_DATA_MASK 2047 /* >= SZ_WATCH_NAME_LEN + SZ_WATCH_PATH_LEN - 1 */
#define SZ_FWD_MASK (SZ_GLOB_MAX_PATH - 1)
struct scratch_val {
	struct sz_watch_rec rec;
	char slack[SZ_DATA_MASK + 1 + SZ_NAME_MAX + 1 - SZ_WATCH_NAME_LEN - SZ_WATCH_PATH_LEN];
	char fwd[SZ_GLOB_MAX_PATH + SZ_NAME_MAX + 1];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct scratch_val);
} scratch SEC(".maps");

static __always_inline struct scratch_val *scratch_get(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&scratch, &zero);
}

/* Zero the header and the empty name: only the bytes sent are ever filled
 * (a record is sent up to name + path, see rec_size). */
static __always_inline void zero_rec(struct sz_watch_rec *r)
{
	__builtin_memset(r, 0, SZ_WATCH_HDR_LEN + 8);
}

/* Bytes of R that go into the ring: the header, name and NUL, path. */
static __always_inline __u32 rec_size(const struct sz_watch_rec *r)
{
	__u32 n = SZ_WATCH_HDR_LEN + (r->name_len & (SZ_WATCH_NAME_LEN - 1)) + 1 +
		  (r->path_len & (2 * SZ_WATCH_PATH_LEN - 1));

	return n > SZ_WATCH_REC_MAX ? SZ_WATCH_REC_MAX : n;
}

/* ---- glob matching: first filter, then sz_glob_step driven by bpf_loop ---- */

struct glob_ctx {
	const char *s; /* a map value of >= smask + 1 bytes */
	int slen;
	int result;
	struct sz_glob_state st;
};

/* Hide the const volatile objects from the optimizer: reading them through a
 * plain pointer must not be folded to their all-zero initializers. */
static __always_inline const struct sz_glob *glob_of(const volatile struct sz_glob *v)
{
	const struct sz_glob *g = (const struct sz_glob *)v;

	asm volatile("" : "+r"(g));
	return g;
}

static long glob_name_cb(__u32 i, void *data)
{
	struct glob_ctx *c = data;
	int r = sz_glob_step_m(glob_of(&glob), c->s, c->slen, &c->st, SZ_GLOB_MAX_NAME - 1);

	if (r)
		c->result = r;
	return r != 0;
}

static long glob_path_cb(__u32 i, void *data)
{
	struct glob_ctx *c = data;
	int r = sz_glob_step_m(glob_of(&glob_path), c->s, c->slen, &c->st, SZ_FWD_MASK);

	if (r)
		c->result = r;
	return r != 0;
}

#define SZ_NO 0
#define SZ_YES 1
#define SZ_UNSURE 2 /* out of budget: userspace decides */

/* Full match of the name (r->data), after the first filter said it may. */
static __always_inline int name_matches(struct sz_watch_rec *r)
{
	struct glob_ctx c = {};

	c.s = r->data;
	c.slen = r->name_len;
	sz_glob_state_init(&c.st);
	bpf_loop(SZ_GLOB_BUDGET, glob_name_cb, &c, 0);
	return c.result == 1 ? SZ_YES : c.result ? SZ_NO : SZ_UNSURE;
}

/* The first filter on the name: a few comparisons, no loop over the name. */
static __always_inline bool name_may_match(struct sz_watch_rec *r)
{
	if (r->name_len >= SZ_GLOB_MAX_NAME)
		return false;
	return sz_glob_prefilter(glob_of(&glob), r->data, r->name_len, SZ_GLOB_MAX_NAME - 1);
}

/* [perf] The first filter as a global function: verified once per program,
 * not at each call site (its checks are unrolled per pattern token). */
__noinline int name_may_match_once(struct scratch_val *v)
{
	return v && name_may_match(&v->rec);
}

/* ---- path walk: dentry -> d_parent, mount root -> mountpoint, bpf_loop ---- */

struct path_ctx {
	struct sz_watch_rec *r; /* map value (scratch) */
	struct dentry *dentry;
	struct mount *mnt;
	__u32 base; /* where the path starts in r->data: after the name's NUL */
	__u32 off;  /* == r->path_len */
	__u32 ncomp;
	__u32 flags;
	int done;
	__u16 coff[SZ_WATCH_PATH_MAX_COMPONENTS]; /* each component's offset, length */
	__u16 clen[SZ_WATCH_PATH_MAX_COMPONENTS];
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
	if (!parent || parent == d) { /* a root that is no mount root: pseudo / disconnected */
		/* [safety] a file with no directory at all (memfd, shmem): userspace
		 * names it "/NAME", as /proc/PID/maps does */
		if (parent == d && c->ncomp == 0)
			c->flags |= SZ_WATCH_PATH_PSEUDO;
		goto bad;
	}
	if (c->ncomp >= SZ_WATCH_PATH_MAX_COMPONENTS)
		goto bad;
	len = BPF_CORE_READ(d, d_name.len);
	name = BPF_CORE_READ(d, d_name.name);
	off = c->off;
	if (len == 0 || len > SZ_NAME_MAX || off + len + 1 > SZ_WATCH_PATH_LEN)
		goto bad;
	/* base + off < SZ_DATA_MASK, len + 1 <= NAME_MAX + 1: within rec.data + slack */
	n = bpf_probe_read_kernel_str(&c->r->data[(c->base + off) & SZ_DATA_MASK], len + 1, name);
	if (n != len + 1) /* fault, or renamed under us */
		goto bad;
	c->coff[c->ncomp & (SZ_WATCH_PATH_MAX_COMPONENTS - 1)] = off;
	c->clen[c->ncomp & (SZ_WATCH_PATH_MAX_COMPONENTS - 1)] = len;
	c->off = off + len + 1;
	c->ncomp++;
	c->dentry = parent;
	return 0;
bad:
	c->flags |= SZ_WATCH_PATH_TRUNCATED;
	return 1;
}

/*
 * The path after the name in r->data, path_len, path_flags, from FILE's
 * f_path.  For a path pattern, also the decision on the whole path: SZ_YES,
 * SZ_NO or SZ_UNSURE (and SZ_YES when there is no path pattern, or no whole
 * path to match: userspace then reports the path as unknown).
 */
static __always_inline int fill_path(struct scratch_val *v, struct file *file)
{
	struct sz_watch_rec *r = &v->rec;
	struct path_ctx c = {};
	struct glob_ctx g = {};
	struct vfsmount *vmnt;
	struct dentry *d;
	__u32 k, pos, len;

	r->path_len = 0;
	d = BPF_CORE_READ(file, f_path.dentry);
	vmnt = BPF_CORE_READ(file, f_path.mnt);
	if (!d || !vmnt) {
		r->path_flags = SZ_WATCH_PATH_TRUNCATED;
		return SZ_YES;
	}
	/* d_unhashed() and not IS_ROOT(): unlinked */
	if (!BPF_CORE_READ(d, d_hash.pprev) && BPF_CORE_READ(d, d_parent) != d)
		c.flags |= SZ_WATCH_PATH_DELETED;
	c.r = r;
	c.base = (r->name_len & (SZ_WATCH_NAME_LEN - 1)) + 1;
	c.dentry = d;
	c.mnt = (struct mount *)((void *)vmnt - bpf_core_field_offset(struct mount, mnt));
	bpf_loop(SZ_PATH_MAX_STEPS, path_cb, &c, 0);
	if (!c.done)
		c.flags |= SZ_WATCH_PATH_TRUNCATED;
	r->path_len = c.off;
	r->path_flags = c.flags;
	if (!path_glob || (c.flags & SZ_WATCH_PATH_TRUNCATED) || c.off == 0)
		return SZ_YES;

	/* The whole path in reading order: "/" + name for each component, the
	 * last one walked first; component k ends where component k+1 starts. */
	for (k = 0; k < SZ_WATCH_PATH_MAX_COMPONENTS; k++) {
		if (k >= c.ncomp)
			break;
		len = c.clen[k];
		pos = c.off - (c.coff[k] + len + 1);
		v->fwd[pos & SZ_FWD_MASK] = '/';
		bpf_probe_read_kernel(&v->fwd[(pos + 1) & SZ_FWD_MASK], len & SZ_NAME_MAX,
				      &r->data[(c.base + c.coff[k]) & SZ_DATA_MASK]);
	}
	if (!sz_glob_prefilter(glob_of(&glob_path), v->fwd, c.off, SZ_FWD_MASK))
		return SZ_NO;
	g.s = v->fwd;
	g.slen = c.off;
	sz_glob_state_init(&g.st);
	bpf_loop(SZ_GLOB_BUDGET, glob_path_cb, &g, 0);
	return g.result == 1 ? SZ_YES : g.result ? SZ_NO : SZ_UNSURE;
}

/* ---- helpers ---- */

/* [safety] The dentry whose name the process sees for FILE.  A file
 * bind-mounted onto another (mount --bind src.so /mnt/x/bind.so) is the root
 * of its own mount, and its dentry is the source's ("src.so"); the process, its
 * /proc/PID/maps and the path walk name it by the mountpoint ("bind.so").  A
 * few hops: a bind mount of a bind-mounted file. */
#define SZ_BIND_HOPS 4
static __always_inline struct dentry *seen_dentry(struct file *file)
{
	struct dentry *d = BPF_CORE_READ(file, f_path.dentry);
	struct vfsmount *vmnt = BPF_CORE_READ(file, f_path.mnt);
	struct mount *m, *mp;
	int i;

	if (!d || !vmnt)
		return d;
	m = (struct mount *)((void *)vmnt - bpf_core_field_offset(struct mount, mnt));
	for (i = 0; i < SZ_BIND_HOPS; i++) {
		if (d != BPF_CORE_READ(m, mnt.mnt_root))
			break;
		mp = BPF_CORE_READ(m, mnt_parent);
		if (!mp || mp == m) /* the root of the tree: no name to see */
			break;
		d = BPF_CORE_READ(m, mnt_mountpoint);
		m = mp;
		if (!d)
			return BPF_CORE_READ(file, f_path.dentry);
	}
	return d;
}

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
	name = BPF_CORE_READ(seen_dentry(file), d_name.name);
	n = bpf_probe_read_kernel_str(r->data, SZ_WATCH_NAME_LEN, name);
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
	/* [perf] issue 10: the JSON "cgroup" from this id, resolved once per id */
	r->cgroup_id = bpf_get_current_cgroup_id();
	bpf_get_current_comm(r->comm, sizeof(r->comm));
}

/* [safety] Records that each stand for one load userspace reports: the
 * executable, the interpreter, a forked child, the code mapping of a file. */
static __always_inline bool is_load(const struct sz_watch_rec *r)
{
	return r->type == SZ_WATCH_EXEC || r->type == SZ_WATCH_EXEC_INTERP ||
	       r->type == SZ_WATCH_FORK || (r->type == SZ_WATCH_MMAP && (r->prot & SZ_PROT_EXEC));
}

/* [safety] Remember R's process; a load whose process cannot be remembered
 * is counted (its forks and exit will not be reported). */
static __always_inline void remember(const struct sz_watch_rec *r)
{
	__u8 one = 1;

	if (bpf_map_lookup_elem(&seen, &r->tgid))
		return;
	/* a hint stands for the load perf's record brings: its forks and exit
	 * go unreported just the same */
	if (bpf_map_update_elem(&seen, &r->tgid, &one, BPF_NOEXIST) == -SZ_E2BIG &&
	    (is_load(r) || r->type == SZ_WATCH_HINT))
		__sync_fetch_and_add(&seen_full, 1);
}

/* [perf] issue 10: a wake-up costs the consumer a context switch and the
 * process writing the record an irq_work (a self-IPI), per record: an exec
 * storm's every exec made four.  Records that only keep books (an exit, an
 * exec that matches nothing) wake nobody: they ride with the next load's
 * wake-up, or wait for the consumer's own poll period (sz_watch_poll
 * consumes on every return, and waits at most SZ_WATCH_SILENT_MS: their
 * bound).  A fork is one of them: userspace scans the child only after a
 * grace period anyway (most children exec at once).  A load wakes as before, at once;
 * when only such silent records sit unconsumed before it, the kernel's
 * default (wake only a consumer that has caught up) would not, so it forces
 * the wake-up.  wake_pos is the producer position before the last load was
 * written: while the consumer has not passed it, that load's own wake-up is
 * still coming, and a burst of loads costs one wake-up, not one each. */
__u64 wake_pos = 0;

static __always_inline __u64 wake_flags(__u32 type)
{
	__u64 cons, prod;

	if (type == SZ_WATCH_EXIT || type == SZ_WATCH_EXEC_OTHER || type == SZ_WATCH_FORK)
		return BPF_RB_NO_WAKEUP;
	cons = bpf_ringbuf_query(&rb, BPF_RB_CONS_POS);
	prod = bpf_ringbuf_query(&rb, BPF_RB_PROD_POS);
	if (wake_pos > cons)
		return 0; /* a load before this one is not consumed yet */
	wake_pos = prod;
	return prod != cons ? BPF_RB_FORCE_WAKEUP : 0;
}

/* Send R (and stop its process for --freeze); 0 if it is in the ring. */
static __always_inline int emit(struct sz_watch_rec *r)
{
	struct sz_file_key fk = { r->dev, 0, r->ino };
	/* A forked child inherits its parent's uprobes: nothing to wait for.
	 * Before a mapping with PROT_EXEC no code of the file can run: one stop
	 * per load, at the mapping userspace attaches on. */
	int stop = freeze && r->type != SZ_WATCH_EXIT && r->type != SZ_WATCH_FORK &&
		   r->type != SZ_WATCH_EXEC_OTHER && r->type != SZ_WATCH_HINT &&
		   (r->type != SZ_WATCH_MMAP || (r->prot & SZ_PROT_EXEC)) &&
		   !bpf_map_lookup_elem(&probed, &fk);

	if (!r->tgid) { /* no pid in our namespace: not ours to report or stop */
		__sync_fetch_and_add(&sz_pidns_invisible, 1);
		return -1;
	}
	/* Stop first, then publish: were the record visible first, userspace
	 * could send its SIGCONT before our SIGSTOP and leave the process
	 * stopped for good. */
	stop = stop && sz_freeze_stop(r);
	if (stop)
		r->flags |= SZ_WATCH_FROZEN;
	if (r->flags & SZ_WATCH_GLOB_UNSURE)
		__sync_fetch_and_add(&glob_unsure, 1);
	if (bpf_ringbuf_output(&rb, r, rec_size(r), wake_flags(r->type))) {
		/* Never leave stopped a process whose record userspace will not see. */
		__sync_fetch_and_add(&drops, 1);
		if (is_load(r))
			__sync_fetch_and_add(&drops_loads, 1);
		if (stop)
			sz_freeze_undo(r, 1);
		remember(r);
		return -1;
	}
	remember(r);
	return 0;
}

/*
 * After the first filter passed: the name's match, then the path and (path
 * patterns) the whole-path match.  Returns whether R is to be sent; sets
 * SZ_WATCH_GLOB_UNSURE when the matcher ran out of budget on what decided.
 */
static __always_inline bool file_matches(struct scratch_val *v, struct file *file)
{
	struct sz_watch_rec *r = &v->rec;
	int m;

	m = name_matches(r);
	if (m == SZ_NO)
		return false;
	if (!path_glob && m == SZ_UNSURE)
		r->flags |= SZ_WATCH_GLOB_UNSURE;
	/* a path pattern decides on the whole path */
	m = fill_path(v, file);
	if (m == SZ_NO)
		return false;
	if (m == SZ_UNSURE)
		r->flags |= SZ_WATCH_GLOB_UNSURE;
	return true;
}

/* [perf] file_matches as a global function: verified once on its own, not
 * again at each of its three call sites (start-up is mostly verification).
 * FILE is a struct file *, passed as a number (only read through CO-RE). */
__noinline int file_matches_once(struct scratch_val *v, __u64 file)
{
	return v && file_matches(v, (struct file *)file);
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

struct auxv_ctx {
	__u64 auxv; /* &mm->saved_auxv[0] */
	__u64 at_base;
};

/* [perf] One pair of the auxiliary vector per call: a bpf_loop callback is
 * verified once, where a loop was walked once per pair (64). */
static long auxv_cb(__u32 i, void *data)
{
	struct auxv_ctx *c = data;
	__u64 pair[2];

	if (bpf_probe_read_kernel(pair, sizeof(pair), (void *)(c->auxv + 16ull * i)))
		return 1;
	if (pair[0] == 0) /* AT_NULL */
		return 1;
	if (pair[0] == SZ_AT_BASE) {
		c->at_base = pair[1];
		return 1;
	}
	return 0;
}

SEC("raw_tp/sched_process_exec")
int BPF_PROG(sz_exec, struct task_struct *p, pid_t old_pid, struct linux_binprm *bprm)
{
	struct task_struct *task = bpf_get_current_task_btf(); /* == p */
	struct scratch_val *sv;
	struct sz_watch_rec *r;
	struct vma_ctx v = {};
	struct auxv_ctx ac = {};
	struct mm_struct *mm;
	__u32 tgid = sz_ns_tgid(p), tid = sz_ns_pid(p); /* 0: invisible, see emit() */
	__u64 at_base = 0;
	/* saved_auxv's length varies by kernel and arch (AT_VECTOR_SIZE) */
	int auxv_pairs = bpf_core_field_size(mm->saved_auxv) / 16, sent = 0;

	if ((targ_tgid && tgid != targ_tgid) || !sz_cg_ok(p))
		return 0;
	sv = scratch_get();
	if (!sv)
		return 0;
	r = &sv->rec;
	mm = BPF_CORE_READ(p, mm);

	/* the executable: identity from bprm->file, place from the text VMA */
	zero_rec(r);
	if (!fill_file(r, BPF_CORE_READ(bprm, file)) && name_may_match_once(sv) &&
	    file_matches_once(sv, (__u64)BPF_CORE_READ(bprm, file))) {
		fill_task(r, SZ_WATCH_EXEC, tgid, tid);
		if (bpf_find_vma(task, BPF_CORE_READ(mm, start_code), vma_cb, &v, 0) == 0)
			fill_vma(r, &v);
		emit(r);
		sent = 1;
	}

	/* the interpreter: the VMA at AT_BASE of mm->saved_auxv */
	ac.auxv = (__u64)&mm->saved_auxv[0];
	bpf_loop(auxv_pairs < SZ_AUXV_MAX_PAIRS ? auxv_pairs : SZ_AUXV_MAX_PAIRS, auxv_cb, &ac, 0);
	at_base = ac.at_base;
	if (!at_base)
		goto out;
	__builtin_memset(&v, 0, sizeof(v));
	if (bpf_find_vma(task, at_base, vma_cb, &v, 0) || !v.file)
		goto out;
	zero_rec(r);
	if (fill_file(r, (struct file *)v.file) || !name_may_match_once(sv) ||
	    !file_matches_once(sv, v.file))
		goto out;
	fill_task(r, SZ_WATCH_EXEC_INTERP, tgid, tid);
	fill_vma(r, &v);
	emit(r);
	sent = 1;
out:
	/* A process we know of became something that matches nothing: its old
	 * loads are gone, and a pending fork is settled by this exec. */
	if (!sent && bpf_map_lookup_elem(&seen, &tgid)) {
		zero_rec(r);
		fill_task(r, SZ_WATCH_EXEC_OTHER, tgid, tid);
		emit(r);
	}
	return 0;
}

/* ---- mmap ---- */

/*
 * At the exit of mmap(2) (the per-syscall tracepoint: no program runs for other
 * syscalls, and it ignores ia32 syscalls, whose numbers differ): the arguments
 * from the task's saved registers, the file from the VMA now at the returned
 * address.
 */
/* [perf] The tracepoint's record and x86-64's saved registers as their ABI
 * lays them out (events/syscalls/sys_exit_mmap/format, uapi asm/ptrace.h),
 * not through CO-RE: each CO-RE type costs libbpf 1.1 a pass over the
 * kernel's ~126,000 BTF types at load (~1 ms here). */
struct sz_sys_exit {
	__u64 common;
	int syscall_nr;
	int pad;
	long ret;
};

struct sz_regs {
	unsigned long r15, r14, r13, r12, bp, bx, r11, r10, r9, r8;
	unsigned long ax, cx, dx, si, di, orig_ax, ip, cs, flags, sp, ss;
};

/* The mmap hooks' first filter on the call: a private file mapping (a shared
 * one is someone reading or writing the file, never a load). */
static __always_inline bool private_file_map(__u32 mflags)
{
	return !(mflags & SZ_MAP_ANONYMOUS) && (mflags & SZ_MAP_TYPE) != SZ_MAP_SHARED &&
	       (mflags & SZ_MAP_TYPE) != SZ_MAP_SHARED_VALIDATE;
}

/* The key in `reported` of R's file for the current process image (the
 * kernel's tgid, its exec count and its leader's start time: an exec or a
 * reused pid makes another), with PROT_FLAGS; the caller adds the place. */
static __always_inline void image_key(struct sz_map_key *k, struct task_struct *task,
				      const struct sz_watch_rec *r, __u32 prot_flags)
{
	__builtin_memset(k, 0, sizeof(*k));
	k->tgid = bpf_get_current_pid_tgid() >> 32;
	k->exec_id = BPF_CORE_READ(task, self_exec_id);
	k->start_time = BPF_CORE_READ(task, group_leader, start_time);
	k->ino = r->ino;
	k->dev = r->dev;
	k->prot_flags = prot_flags;
}

SEC("tp/syscalls/sys_exit_mmap")
int sz_mmap(struct sz_sys_exit *ctx)
{
	struct task_struct *task;
	struct scratch_val *sv;
	struct sz_watch_rec *r;
	struct sz_map_key key;
	struct vma_ctx v = {};
	struct sz_regs regs;
	__u64 len, offset;
	long ret = ctx->ret;
	__u32 mflags, prot;
	__u8 one = 1;
	__u32 tgid;
	long err;

	if ((unsigned long)ret >= (unsigned long)-4095) /* -errno */
		return 0;
	tgid = sz_ns_cur_tgid(); /* the filters: ours (the key: the kernel's ids) */
	if ((targ_tgid && tgid != targ_tgid) || tgid == self_tgid)
		return 0;
	task = bpf_get_current_task_btf();
	if (!sz_cg_ok(task)) /* issue 13: --cgroup */
		return 0;
	if (bpf_probe_read_kernel(&regs, sizeof(regs), (void *)bpf_task_pt_regs(task)))
		return 0;
	mflags = regs.r10;
	if (!private_file_map(mflags))
		return 0;
	prot = regs.dx;
	offset = regs.r9;
	/* [perf] issue 10: only the code (a load) and the first page (where
	 * userspace explains a file it cannot open) speak for anything, as in
	 * the scan; a library's data segments were two records in four. */
	if (!(prot & SZ_PROT_EXEC) && offset)
		return 0;
	/* [safety] -EBUSY: the mmap lock is taken (another thread maps or
	 * faults); the mapping goes unexamined, which is counted */
	err = bpf_find_vma(task, ret, vma_cb, &v, 0);
	if (err && err != -SZ_ENOENT)
		__sync_fetch_and_add(&vma_busy, 1);
	if (err || !v.file)
		return 0;

	sv = scratch_get();
	if (!sv)
		return 0;
	r = &sv->rec;
	zero_rec(r);
	if (fill_file(r, (struct file *)v.file) || !name_may_match(r))
		return 0;
	r->prot = prot;
	r->offset = offset;
	/* The same image mapping the same file at the same place again (a loop of
	 * dlopen/dlclose, a reader re-mapping a file): reported already. */
	image_key(&key, task, r, r->prot << 16 | (mflags & SZ_MAP_TYPE));
	key.start = ret;
	key.offset = r->offset;
	if (bpf_map_lookup_elem(&reported, &key)) {
		__sync_fetch_and_add(&deduped, 1);
		return 0;
	}
	if (!file_matches_once(sv, v.file))
		return 0;
	fill_task(r, SZ_WATCH_MMAP, sz_ns_tgid(task), sz_ns_pid(task));
	len = regs.si;
	r->start = ret;
	r->end = ret + ((len + SZ_PAGE_SIZE - 1) & ~(SZ_PAGE_SIZE - 1));
	r->mflags = mflags;
	r->vm_flags = v.flags;
	if (emit(r) == 0 && bpf_map_update_elem(&reported, &key, &one, BPF_ANY))
		__sync_fetch_and_add(&dedupe_full, 1);
	return 0;
}

/* ---- issue 10: the perf hook's wake-up (--mmap-hook perf) ---- */

#define SZ_NR_MMAP 9 /* x86-64 */

/* The file behind descriptor FD of TASK, or NULL. */
static __always_inline struct file *fd_file_of(struct task_struct *task, __u64 fd)
{
	struct fdtable *fdt = BPF_CORE_READ(task, files, fdt);
	struct file **arr;
	struct file *f = NULL;

	if (!fdt || fd >= BPF_CORE_READ(fdt, max_fds))
		return NULL;
	arr = BPF_CORE_READ(fdt, fd);
	if (!arr || bpf_probe_read_kernel(&f, sizeof(f), &arr[fd]))
		return NULL;
	return f;
}

/*
 * With --mmap-hook perf, perf's own MMAP2 record of a mapping carries its
 * data, read from per-CPU rings that wake the watch per 8 KiB, or its 10 ms
 * poll.  This program makes a matching load as prompt as under the
 * tracepoint hook, without a syscall tracepoint (which would send every
 * syscall of the host through the slow path): it runs where mmap(2) drops the
 * mmap lock, after perf_event_mmap() wrote the record, so a wake-up here
 * finds the record in its ring.  The call is still the task's mmap(2)
 * (orig_ax); its arguments are in pt_regs, its file in the fd table (another
 * thread may have closed or reused the fd since: then this only wakes the
 * watch for nothing, or not, and the record is read at the next poll).  It
 * also puts the process in `seen` at once, as sz_mmap does, so its forks and
 * exit are reported.  One hint per process image and file (map `reported`):
 * a loop mapping the same library wakes nobody.  No record is ever stopped
 * here (no --freeze with this hook).
 */
SEC("raw_tp/mmap_lock_released")
int BPF_PROG(sz_mmap_hint, struct mm_struct *mm, bool write)
{
	struct task_struct *task;
	struct scratch_val *sv;
	struct sz_watch_rec *r;
	struct sz_map_key key;
	struct sz_regs regs, *p;
	struct file *file;
	__u32 mflags, prot;
	__u8 one = 1;
	__u32 tgid;

	/* before 6.14 the tracepoint was (mm, memcg_path, write): userspace
	 * does not attach this there (watch.c, choose_hook); were it attached,
	 * it would do nothing */
	if (!bpf_core_field_exists(struct trace_event_raw_mmap_lock, memcg_id) || !write)
		return 0;
	task = bpf_get_current_task_btf();
	p = (struct sz_regs *)bpf_task_pt_regs(task);
	/* [perf] the call first, alone: munmap, mprotect and brk drop the lock
	 * too, and stop here */
	if (bpf_probe_read_kernel(&regs.orig_ax, sizeof(regs.orig_ax), &p->orig_ax) ||
	    regs.orig_ax != SZ_NR_MMAP)
		return 0;
	if (BPF_CORE_READ(task, mm) != mm || /* another process's lock (ptrace, GUP) */
	    bpf_probe_read_kernel(&regs, sizeof(regs), p))
		return 0;
	mflags = regs.r10;
	prot = regs.dx;
	/* perf records executable mappings only: the code of a load */
	if (!(prot & SZ_PROT_EXEC) || !private_file_map(mflags))
		return 0;
	tgid = sz_ns_cur_tgid();
	if ((targ_tgid && tgid != targ_tgid) || tgid == self_tgid || !sz_cg_ok(task))
		return 0;
	file = fd_file_of(task, regs.r8);
	sv = scratch_get();
	if (!file || !sv)
		return 0;
	r = &sv->rec;
	zero_rec(r);
	if (fill_file(r, file) || !name_may_match(r))
		return 0;
	image_key(&key, task, r, SZ_MAP_KEY_HINT);
	if (bpf_map_lookup_elem(&reported, &key)) {
		__sync_fetch_and_add(&deduped, 1);
		return 0;
	}
	if (!file_matches_once(sv, (__u64)file))
		return 0;
	fill_task(r, SZ_WATCH_HINT, sz_ns_tgid(task), sz_ns_pid(task));
	r->prot = prot;
	r->offset = regs.r9;
	r->mflags = mflags;
	/* header only: the name and path are perf's record's */
	r->name_len = 0;
	r->path_len = 0;
	r->data[0] = '\0';
	if (emit(r) == 0 && bpf_map_update_elem(&reported, &key, &one, BPF_ANY))
		__sync_fetch_and_add(&dedupe_full, 1);
	return 0;
}

/* ---- exit ---- */

/* A process known to map a matching file forks: the child maps it too, without
 * any mmap or exec of its own (pre-fork servers, workers after a reload). */
SEC("raw_tp/sched_process_fork")
int BPF_PROG(sz_fork, struct task_struct *parent, struct task_struct *child)
{
	struct scratch_val *sv;
	struct sz_watch_rec *r;
	__u32 ptgid, tgid;

	/* Threads share their process's mappings: only new processes count. */
	if (targ_tgid || BPF_CORE_READ(child, tgid) != BPF_CORE_READ(child, pid) ||
	    !sz_cg_ok(child))
		return 0;
	ptgid = sz_ns_tgid(parent);
	tgid = sz_ns_tgid(child);
	if (!ptgid || !bpf_map_lookup_elem(&seen, &ptgid))
		return 0;
	sv = scratch_get();
	if (!sv)
		return 0;
	r = &sv->rec;
	zero_rec(r);
	fill_task(r, SZ_WATCH_FORK, tgid, tgid);
	r->start = ptgid;
	emit(r);
	return 0;
}

/* Fires per thread; report once the whole thread group is dead
 * (signal->live hit 0 before this tracepoint; on >= 6.16 that is the
 * tracepoint's group_dead argument, read portably here). */
SEC("raw_tp/sched_process_exit")
int BPF_PROG(sz_exit, struct task_struct *p)
{
	struct scratch_val *sv;
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
	sv = scratch_get();
	if (!sv)
		return 0;
	r = &sv->rec;
	zero_rec(r);
	fill_task(r, SZ_WATCH_EXIT, tgid, sz_ns_pid(p));
	if (bpf_ringbuf_output(&rb, r, rec_size(r), BPF_RB_NO_WAKEUP))
		__sync_fetch_and_add(&drops, 1);
	return 0;
}

#include "iter.bpf.h" /* issue 10: the initial scan by iter/task_vma */
