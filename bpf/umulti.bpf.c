// SPDX-License-Identifier: BSD-2-Clause
/*
 * Counting behind thousands of uprobes: the cookie of the uprobe (one per
 * function or probe site) indexes a per-CPU array sized before load, so a
 * hit costs one lookup and one add, whether it came through one multi-uprobe
 * link or one perf-event uprobe per site.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

#include "umulti.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

__u64 misses = 0; /* a cookie beyond the array: never expected */

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1); /* set to the number of cookies before load */
	__type(key, __u32);
	__type(value, __u64);
} hits SEC(".maps");

/* SEC("uprobe"): libbpf 1.1 knows no "uprobe.multi"; the loader sets the
 * expected attach type to BPF_TRACE_UPROBE_MULTI when the kernel has it. */
SEC("uprobe")
int sz_umulti_count(struct pt_regs *ctx)
{
	__u32 k = (__u32)bpf_get_attach_cookie(ctx);
	__u64 *v = bpf_map_lookup_elem(&hits, &k);

	if (v)
		*v += 1;
	else
		__sync_fetch_and_add(&misses, 1);
	return 0;
}
