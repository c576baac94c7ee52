/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * One add to a per-CPU counting hash, for every table that counts per key
 * (calls per process and symbol, per USDT probe, per argument value).
 */
#ifndef SZ_COUNT_BPF_H
#define SZ_COUNT_BPF_H

/* Add one to KEY's slot of MAP on this CPU (no atomics needed).  The first
 * call of a key inserts it; another CPU may create it at the same moment,
 * then ours fails with -EEXIST and the lookup finds it.  A full table:
 * one more in *FULL. */
static __always_inline void sz_count_add(void *map, const void *key, __u64 *full)
{
	__u64 one = 1, *v = bpf_map_lookup_elem(map, key);

	if (v) {
		*v += 1;
		return;
	}
	if (bpf_map_update_elem(map, key, &one, BPF_NOEXIST)) {
		v = bpf_map_lookup_elem(map, key);
		if (v)
			*v += 1;
		else
			__sync_fetch_and_add(full, 1);
	}
}

#endif /* SZ_COUNT_BPF_H */
