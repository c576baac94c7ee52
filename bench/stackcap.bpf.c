// SPDX-License-Identifier: BSD-2-Clause
/*
 * The two ways to capture a user stack for --stacks=fp, measured by bench/stackcap.c on
 * the same uprobe: plain addresses (what probe.bpf.c does; frames are tied to files by the
 * mappings recorded when a process is first seen) and the kernel's build-ID form
 * (BPF_F_USER_BUILD_ID: each frame becomes build-ID + file offset at capture).  Both write
 * into a per-CPU scratch record, so only the capture differs; cap_empty is the floor.
 * cap_ring and cap_ring_nowake add what --stacks=fp does besides: a 1,216-byte record
 * per hit into a ring a consumer thread reads, woken per record or not at all.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#define FRAMES 127 /* as SZ_STACK_FP_MAX */

struct scratch {
	__s64 n; /* bpf_get_stack's result of the last hit on this CPU */
	__u64 ips[FRAMES];
	struct bpf_stack_build_id ids[FRAMES];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct scratch);
} scratch SEC(".maps");

__u64 hits = 0;
__u64 errors = 0;

SEC("uprobe")
int cap_empty(struct pt_regs *ctx)
{
	__sync_fetch_and_add(&hits, 1);
	return 0;
}

SEC("uprobe")
int cap_ips(struct pt_regs *ctx)
{
	__u32 zero = 0;
	struct scratch *s = bpf_map_lookup_elem(&scratch, &zero);

	if (!s)
		return 0;
	s->n = bpf_get_stack(ctx, s->ips, sizeof(s->ips), BPF_F_USER_STACK);
	if (s->n < 0)
		__sync_fetch_and_add(&errors, 1);
	__sync_fetch_and_add(&hits, 1);
	return 0;
}

SEC("uprobe")
int cap_buildid(struct pt_regs *ctx)
{
	__u32 zero = 0;
	struct scratch *s = bpf_map_lookup_elem(&scratch, &zero);

	if (!s)
		return 0;
	s->n = bpf_get_stack(ctx, s->ids, sizeof(s->ids), BPF_F_USER_STACK | BPF_F_USER_BUILD_ID);
	if (s->n < 0)
		__sync_fetch_and_add(&errors, 1);
	__sync_fetch_and_add(&hits, 1);
	return 0;
}

/* as struct sz_stack_rec: 1,216 bytes */
struct ringrec {
	__s64 n;
	__u64 ips[FRAMES];
	__u8 rest[1216 - 8 - 8 * FRAMES];
};

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 64 << 20);
} ring SEC(".maps");

__u64 ring_drops = 0;

static __always_inline int to_ring(struct pt_regs *ctx, __u64 flags)
{
	struct ringrec *r = bpf_ringbuf_reserve(&ring, sizeof(*r), 0);

	if (!r) {
		__sync_fetch_and_add(&ring_drops, 1);
		return 0;
	}
	r->n = bpf_get_stack(ctx, r->ips, sizeof(r->ips), BPF_F_USER_STACK);
	bpf_ringbuf_submit(r, flags);
	__sync_fetch_and_add(&hits, 1);
	return 0;
}

SEC("uprobe")
int cap_ring(struct pt_regs *ctx)
{
	return to_ring(ctx, 0);
}

SEC("uprobe")
int cap_ring_nowake(struct pt_regs *ctx)
{
	return to_ring(ctx, BPF_RB_NO_WAKEUP);
}
