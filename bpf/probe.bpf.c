// SPDX-License-Identifier: BSD-2-Clause
/*
 * BPF side of probes: uprobes/uretprobes on the functions scan and watch find.
 * The symbol id travels as the uprobe's BPF cookie.  --count aggregates in a
 * per-CPU hash (no per-call ring-buffer traffic), --latency in per-CPU log2
 * histograms, --trace sends one record per call/return.  sz_empty is the
 * kernel's floor for the benchmark: a uprobe that does nothing.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>

#include "probe.h"
#include "pidns.h"  /* pids as the watcher's PID namespace sees them */
#include "cgroup.h" /* issue 13: --cgroup */
#include "self.h"   /* our own calls are not probed */
#include "count.bpf.h"

/* libbpf 1.1 defines five argument registers for x86; the ABI has six. */
#if !defined(PT_REGS_PARM6) && defined(__TARGET_ARCH_x86)
#define PT_REGS_PARM6(x) (((struct pt_regs *)(x))->r9)
#endif

char LICENSE[] SEC("license") = "Dual BSD/GPL";

__u64 drops = 0;      /* call records the ring could not take; counts the hash could not */
__u64 lat_misses = 0; /* returns whose start was evicted or never seen */
const volatile __u32 nsyms = 1;

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, 65536);
	__type(key, struct sz_count_key);
	__type(value, __u64);
} counts SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, struct sz_start_key);
	__type(value, __u64);
} starts SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, SZ_LAT_BUCKETS); /* set to nsyms * SZ_LAT_BUCKETS before load */
	__type(key, __u32);
	__type(value, __u64);
} hist SEC(".maps");

/* --latency: the sum of durations per symbol (ns), for a histogram's _sum
 * (the log2 buckets alone cannot give it); set to nsyms entries before load. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} lat_sum SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 22);
} events SEC(".maps");

/* --arg, --filter, --comm, --key, --hist (issue 11) */
#include "args.bpf.h"
#include "stack.bpf.h" /* --stacks: sz_stack_capture() into events, lazywake.h */

/* --cgroup: calls of tasks outside the subtree are not seen at all; nor are our own
 * (self.h, through stack.bpf.h). */
static __always_inline int cg_cur_ok(void)
{
	return sz_cg_ok(bpf_get_current_task_btf()) && !sz_is_self(sz_ns_cur_tgid());
}

static __always_inline __u32 sym_id(struct pt_regs *ctx)
{
	return (__u32)bpf_get_attach_cookie(ctx);
}

SEC("uprobe")
int sz_empty(struct pt_regs *ctx)
{
	return 0;
}

SEC("uprobe")
int sz_count(struct pt_regs *ctx)
{
	struct sz_count_key k = { sz_ns_cur_tgid(), sym_id(ctx) };

	if (!cg_cur_ok() || !sz_args_pass(ctx))
		return 0;
	if (!k.tgid) { /* a process we cannot see (uprobes are per inode) */
		__sync_fetch_and_add(&sz_pidns_invisible, 1);
		return 0;
	}
	sz_stack_capture(ctx, k.sym);
	sz_count_add(&counts, &k, &drops);
	return 0;
}

static __always_inline void start_call(struct pt_regs *ctx, __u32 sym)
{
	struct sz_start_key k = { bpf_get_current_pid_tgid(), sym };
	__u64 now = bpf_ktime_get_ns();

	bpf_map_update_elem(&starts, &k, &now, BPF_ANY);
}

/* Duration of the call now returning, 0 if its start was not seen. */
static __always_inline __u64 end_call(__u32 sym, __u64 now)
{
	struct sz_start_key k = { bpf_get_current_pid_tgid(), sym };
	__u64 *t = bpf_map_lookup_elem(&starts, &k), d = 0;

	if (t) {
		d = now - *t;
		bpf_map_delete_elem(&starts, &k);
	}
	return d;
}

SEC("uprobe")
int sz_lat_entry(struct pt_regs *ctx)
{
	if (!cg_cur_ok() || !sz_args_pass(ctx))
		return 0;
	start_call(ctx, sym_id(ctx));
	return 0;
}

SEC("uretprobe")
int sz_lat_exit(struct pt_regs *ctx)
{
	__u32 sym = sym_id(ctx), slot, b;
	__u64 d, *v;

	if (!cg_cur_ok() || !sz_args_ret_pass(sym))
		return 0;
	d = end_call(sym, bpf_ktime_get_ns());
	if (!d) {
		__sync_fetch_and_add(&lat_misses, 1);
		return 0;
	}
	if (sym >= nsyms)
		return 0;
	v = bpf_map_lookup_elem(&lat_sum, &sym);
	if (v)
		*v += d;
	b = sz_args_log2(d); /* d > 0 */
	slot = sym * SZ_LAT_BUCKETS + (b & (SZ_LAT_BUCKETS - 1));
	v = bpf_map_lookup_elem(&hist, &slot);
	if (v)
		*v += 1;
	else
		__sync_fetch_and_add(&drops, 1);
	return 0;
}

static __always_inline struct sz_probe_rec *new_rec(__u32 type, __u32 sym)
{
	struct sz_probe_rec *r;
	__u32 tgid = sz_ns_cur_tgid();

	if (!cg_cur_ok())
		return NULL;
	if (!tgid) {
		__sync_fetch_and_add(&sz_pidns_invisible, 1);
		return NULL;
	}
	r = bpf_ringbuf_reserve(&events, sizeof(*r) + sz_args_extra(type), 0);
	if (!r) {
		__sync_fetch_and_add(&drops, 1);
		return NULL;
	}
	__builtin_memset(r, 0, sizeof(*r));
	r->type = type;
	r->sym = sym;
	r->tgid = tgid;
	r->tid = sz_ns_cur_pid();
	r->ts_ns = bpf_ktime_get_ns();
	bpf_get_current_comm(r->comm, sizeof(r->comm));
	return r;
}

SEC("uprobe")
int sz_trace_entry(struct pt_regs *ctx)
{
	__u32 sym = sym_id(ctx);
	struct sz_probe_rec *r;

	if (!sz_args_pass(ctx))
		return 0;
	sz_stack_capture(ctx, sym); /* ahead of the call: userspace pairs them by thread */
	r = new_rec(SZ_PROBE_CALL, sym);
	if (!r)
		return 0;
	r->args[0] = PT_REGS_PARM1(ctx);
	r->args[1] = PT_REGS_PARM2(ctx);
	r->args[2] = PT_REGS_PARM3(ctx);
	r->args[3] = PT_REGS_PARM4(ctx);
	r->args[4] = PT_REGS_PARM5(ctx);
	r->args[5] = PT_REGS_PARM6(ctx);
	sz_args_fill(ctx, (char *)(r + 1));
	bpf_ringbuf_submit(r, sz_lazy_wakeup(&events));
	start_call(ctx, sym);
	return 0;
}

SEC("uretprobe")
int sz_trace_exit(struct pt_regs *ctx)
{
	__u32 sym = sym_id(ctx);
	__u64 now = bpf_ktime_get_ns(), d;
	struct sz_probe_rec *r;

	if (!sz_args_ret_pass(sym))
		return 0;
	d = end_call(sym, now);
	r = new_rec(SZ_PROBE_RETURN, sym);
	if (!r)
		return 0;
	r->ts_ns = now;
	r->ret = PT_REGS_RC(ctx);
	r->duration_ns = d;
	bpf_ringbuf_submit(r, sz_lazy_wakeup(&events));
	return 0;
}
