/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Record and map layouts shared by bpf/probe.bpf.c and src/consumers/probe.c.
 * Fixed-size types only, explicit padding.  Include after __u32/__u64 are
 * defined.  Symbol ids travel as the uprobe's BPF cookie, whole (no mask):
 * maps are sized from the number of symbols before load.
 */
#ifndef SZ_PROBE_H
#define SZ_PROBE_H

#define SZ_LAT_BUCKETS 64 /* log2(ns) buckets */
#define SZ_PROBE_NARGS 6

enum sz_probe_rec_type {
	SZ_PROBE_CALL = 1,
	SZ_PROBE_RETURN = 2,
};

/* --count: calls per (process, symbol), a per-CPU hash summed by userspace. */
struct sz_count_key {
	__u32 tgid;
	__u32 sym;
};

/* start time of a call in flight, for uretprobes */
struct sz_start_key {
	__u64 pid_tgid;
	__u32 sym;
	__u32 pad;
};

/* --trace: one record per call and per return. */
struct sz_probe_rec {
	__u32 type; /* enum sz_probe_rec_type */
	__u32 sym;
	__u32 tgid;
	__u32 tid;
	__u64 ts_ns;
	__u64 args[SZ_PROBE_NARGS]; /* CALL: the first six integer arguments */
	__u64 ret;		    /* RETURN: the return value */
	__u64 duration_ns;	    /* RETURN: 0 if the call's start was not seen */
	char comm[16];
};

_Static_assert(sizeof(struct sz_probe_rec) == 104, "sz_probe_rec layout changed");

#endif /* SZ_PROBE_H */
