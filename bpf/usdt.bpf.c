// SPDX-License-Identifier: BSD-2-Clause
/*
 * BPF side of USDT probes, on libbpf's usdt.bpf.h: libbpf turns each site's
 * argument spec into a table entry, bpf_usdt_arg() reads an argument with its
 * size and sign, and the probe id travels as the USDT cookie.  --count keeps a
 * per-CPU hash; --trace sends each hit with its arguments and, for arguments
 * marked as strings (str_mask, per probe id), the bytes they point to.
 * --stacks: each hit's user stack (bpf/stack.bpf.h) into usdt_events, ahead
 * of its hit record.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>
#include <bpf/usdt.bpf.h>

#include "usdt_rec.h"
#include "count.bpf.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

__u64 drops = 0;

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, 65536);
	__type(key, struct sz_usdt_key);
	__type(value, __u64);
} usdt_counts SEC(".maps");

/* Which arguments of probe id K are strings: bit i for argument i. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, SZ_USDT_MAX_IDS);
	__type(key, __u32);
	__type(value, __u32);
} str_mask SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 22);
} usdt_events SEC(".maps");

#include "pidns.h" /* stack records carry pids as the watcher's namespace sees them */
#define SZ_STACK_RING usdt_events
#include "stack.bpf.h"

/* Stack records and hit records share usdt_events: told apart by size. */
_Static_assert(sizeof(struct sz_usdt_rec) < sizeof(struct sz_stack_rec), "records' sizes");

SEC("usdt")
int sz_usdt_count(struct pt_regs *ctx)
{
	struct sz_usdt_key k = { bpf_get_current_pid_tgid() >> 32, (__u32)bpf_usdt_cookie(ctx) };

	if (sz_is_self(sz_ns_cur_tgid())) /* self.h */
		return 0;
	sz_stack_capture_at(ctx, k.probe, 1);
	sz_count_add(&usdt_counts, &k, &drops);
	return 0;
}

SEC("usdt")
int sz_usdt_trace(struct pt_regs *ctx)
{
	__u32 probe = (__u32)bpf_usdt_cookie(ctx), mask = 0, *m;
	__u64 id = bpf_get_current_pid_tgid();
	struct sz_usdt_rec *r;
	int slot = 0;

	if (sz_is_self(sz_ns_cur_tgid())) /* self.h */
		return 0;
	sz_stack_capture_at(ctx, probe, 1); /* ahead of the hit: userspace pairs them by thread */
	r = bpf_ringbuf_reserve(&usdt_events, sizeof(*r), 0);
	if (!r) {
		__sync_fetch_and_add(&drops, 1);
		return 0;
	}
	m = bpf_map_lookup_elem(&str_mask, &probe);
	if (m)
		mask = *m;
	r->probe = probe;
	r->tgid = id >> 32;
	r->tid = (__u32)id;
	r->ts_ns = bpf_ktime_get_ns();
	r->nargs = bpf_usdt_arg_cnt(ctx);
	bpf_get_current_comm(r->comm, sizeof(r->comm));
#pragma unroll
	for (int i = 0; i < SZ_USDT_NARGS; i++) {
		long v = 0;

		if (i < r->nargs && bpf_usdt_arg(ctx, i, &v))
			v = 0;
		r->args[i] = (__u64)v;
		if (slot < SZ_USDT_NSTR && (mask & (1u << i))) {
			if (bpf_probe_read_user_str(r->str[slot], SZ_USDT_STR_LEN, (void *)v) < 0)
				r->str[slot][0] = 0;
			slot++;
		}
	}
	/* unused string slots: no stale ring memory leaks out */
	for (int s = 0; s < SZ_USDT_NSTR; s++)
		if (s >= slot)
			r->str[s][0] = 0;
	bpf_ringbuf_submit(r, sz_lazy_wakeup(&usdt_events));
	return 0;
}
